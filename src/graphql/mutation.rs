//! Mutations: one `input` object each, and a payload with the changed object and `userErrors`.
//! Input problems (validation, unknown or foreign ids) come back as `userErrors` and store
//! nothing; authentication and permission problems are errors with `extensions.code`.

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::{
    enums::*,
    helpers::{ClientIp, principal, state},
    ids,
    types::*,
};
use crate::{
    error::UserError,
    services::{
        self, channels::ChannelFields, contacts::ContactFields, conversations::ConversationFields,
        messages::MessageFields, webhook_subscriptions::SubscriptionFields,
    },
};

/// `Ok` → the object; input errors → `userErrors`; anything else → a GraphQL error.
fn settle<T, U>(
    r: crate::error::Result<T>,
    wrap: impl FnOnce(T) -> U,
) -> Result<(Option<U>, Vec<UserError>)> {
    match r {
        Ok(v) => Ok((Some(wrap(v)), vec![])),
        Err(e) => match e.into_user_errors() {
            Ok(errs) => Ok((None, errs)),
            Err(e) => Err(e.into()),
        },
    }
}

/// Undefined → unchanged; null → cleared; value → set.
fn patch<T>(m: MaybeUndefined<T>) -> Option<Option<T>> {
    match m {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

fn patch_id(
    m: MaybeUndefined<ID>,
    kind: &str,
    field: &str,
) -> crate::error::Result<Option<Option<i64>>> {
    patch(m)
        .map(|o| o.map(|id| ids::decode(&id, kind, field)).transpose())
        .transpose()
}

macro_rules! payload {
    ($name:ident, $field:ident: $ty:ty) => {
        #[derive(SimpleObject)]
        pub struct $name {
            pub $field: Option<$ty>,
            pub user_errors: Vec<UserError>,
        }
        impl From<(Option<$ty>, Vec<UserError>)> for $name {
            fn from((v, user_errors): (Option<$ty>, Vec<UserError>)) -> Self {
                Self {
                    $field: v,
                    user_errors,
                }
            }
        }
    };
}

payload!(AccountPayload, account: Account);
payload!(UserPayload, user: User);
payload!(MembershipPayload, membership: Membership);
payload!(ChannelPayload, channel: Channel);
payload!(InboxPayload, inbox: Inbox);
payload!(ContactPayload, contact: Contact);
payload!(ConversationPayload, conversation: Conversation);
payload!(MessagePayload, message: Message);
payload!(WebhookSubscriptionPayload, webhook_subscription: WebhookSubscription);
payload!(ApiTokenPayload, api_token: ApiToken);
payload!(DeletePayload, deleted_id: ID);
payload!(DeliveryPayload, delivery: Delivery);
payload!(DeliveryAttemptPayload, attempt: DeliveryAttempt);

#[derive(SimpleObject)]
pub struct WebhookSubscriptionRecoverPayload {
    /// How many failed deliveries were queued again.
    pub requeued: Option<u64>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct WebhookSubscriptionRotateSecretPayload {
    pub webhook_subscription: Option<WebhookSubscription>,
    /// The new signing secret, shown in this response only. The previous secret keeps
    /// signing (a second `v1,` signature) for 24 hours.
    pub secret: Option<String>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct WebWidgetTriggerPayload {
    /// The contact's id in the inbox (created on first use).
    pub source_id: Option<String>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct IdInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct WebhookSubscriptionRecoverInput {
    pub id: ID,
    /// Re-queue FAILED deliveries created at or after this time.
    pub since: DateTime<Utc>,
}

#[derive(InputObject)]
pub struct WebWidgetTriggerInput {
    pub inbox_id: ID,
    pub contact_id: ID,
    pub source_id: Option<String>,
    /// Seed 002 `event_info`: `initiated_at`, `referer`, `widget_language`, `browser_language`, `browser{…}`.
    pub event_info: Option<Json<serde_json::Value>>,
}

#[derive(SimpleObject)]
pub struct LoginPayload {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

#[derive(SimpleObject)]
pub struct WebhookSubscriptionCreatePayload {
    pub webhook_subscription: Option<WebhookSubscription>,
    /// The signing secret (`whsec_…`). Shown in this response only: store it now.
    pub secret: Option<String>,
    pub user_errors: Vec<UserError>,
}

payload!(StoryPayload, story: Story);
payload!(BotConnectionPayload, bot_connection: BotConnection);

#[derive(InputObject)]
pub struct BotConnectionAuthInput {
    pub username: String,
    pub password: String,
}

/// Seed 004's fields. On update the whole set is replaced, as the REST PUT does.
#[derive(InputObject)]
pub struct BotConnectionInput {
    /// Create: the story; update: moves the connection to another story when given.
    pub story_id: Option<ID>,
    /// 1..128 characters.
    pub name: String,
    /// http/https, 1..1024 characters.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// 1..10 custom headers.
    pub headers: Option<Vec<HeaderInput>>,
    pub auth: Option<BotConnectionAuthInput>,
}

#[derive(InputObject)]
pub struct BotConnectionCreateInput {
    pub account_id: ID,
    pub connection: BotConnectionInput,
}

#[derive(InputObject)]
pub struct BotConnectionUpdateInput {
    pub id: ID,
    pub connection: BotConnectionInput,
}

#[derive(InputObject)]
pub struct InboxBotConnectionSetInput {
    pub inbox_id: ID,
    /// `null` detaches the bot.
    pub bot_connection_id: Option<ID>,
}

fn connection_fields(
    c: BotConnectionInput,
) -> Result<(Option<i64>, services::bot_connections::ConnectionFields), crate::error::Error> {
    let story_id = c
        .story_id
        .as_ref()
        .map(|s| ids::decode(s, "Story", "storyId"))
        .transpose()?;
    Ok((
        story_id,
        services::bot_connections::ConnectionFields {
            name: c.name,
            url: c.url,
            token: c.token,
            headers: c
                .headers
                .map(|h| h.into_iter().map(|h| (h.name, h.value)).collect()),
            auth: c.auth.map(|a| (a.username, a.password)),
        },
    ))
}
payload!(AgentPresencePayload, agent_presence: AgentPresence);

#[derive(InputObject)]
pub struct StoryCreateInput {
    pub account_id: ID,
    /// 1..128 characters.
    pub name: String,
    /// Default `DRAFT`.
    pub status: Option<StoryStatus>,
}

#[derive(InputObject)]
pub struct StoryUpdateInput {
    pub id: ID,
    pub name: Option<String>,
    /// `PUBLISHED` publishes the story, `DRAFT` takes it back.
    pub status: Option<StoryStatus>,
}

#[derive(InputObject)]
pub struct AgentPresenceSetInput {
    pub inbox_id: ID,
    /// Default: the caller. Administrators may set another member's presence.
    pub user_id: Option<ID>,
    pub online: bool,
}

#[derive(SimpleObject)]
pub struct PartnerCreatePayload {
    pub partner: Option<Partner>,
    /// The client secret (`sbps_…`). Shown in this response only; with `partner.clientId` it
    /// buys access tokens at `POST /partner/v1/token`.
    pub client_secret: Option<String>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct PartnerCreateInput {
    pub account_id: ID,
    /// 1..128 characters.
    pub name: String,
    /// Sent as `whatsapp_reference` in this partner's `whatsapp` events (≤ 255).
    pub whatsapp_reference: Option<String>,
    /// Sent as `builder_reference` in `builder` events (≤ 255).
    pub builder_reference: Option<String>,
    /// Sent as `online_reference` in `online` events (≤ 255).
    pub online_reference: Option<String>,
}

#[derive(SimpleObject)]
pub struct ApiTokenCreatePayload {
    pub api_token: Option<ApiToken>,
    /// The bearer token (`sbt_…`). Shown in this response only.
    pub token: Option<String>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct FirstAdminCreateInput {
    pub email: String,
    pub password: String,
    pub name: Option<String>,
}

#[derive(InputObject)]
pub struct UserCreateInput {
    pub email: String,
    pub password: String,
    pub name: Option<String>,
    #[graphql(default)]
    pub is_platform_admin: bool,
}

#[derive(InputObject)]
pub struct UserUpdateInput {
    pub id: ID,
    pub name: Option<String>,
    pub password: Option<String>,
    /// Platform administrators only, and not for themselves.
    pub is_platform_admin: Option<bool>,
}

#[derive(InputObject)]
pub struct AccountCreateInput {
    pub name: String,
}

#[derive(InputObject)]
pub struct AccountUpdateInput {
    pub id: ID,
    pub name: Option<String>,
}

#[derive(InputObject)]
pub struct DeleteInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct MembershipSetInput {
    pub account_id: ID,
    /// Email of an existing user.
    pub email: String,
    pub role: Role,
}

#[derive(InputObject)]
pub struct MembershipRemoveInput {
    pub account_id: ID,
    pub user_id: ID,
}

#[derive(InputObject)]
pub struct ChannelCreateInput {
    pub account_id: ID,
    pub kind: ChannelKind,
    pub name: String,
    pub phone: Option<String>,
    pub identifier: Option<String>,
    pub provider: Option<String>,
    /// ISO 3166 code, e.g. `NG`.
    pub country: Option<String>,
    pub env: Option<ChannelEnv>,
    pub status: Option<ChannelStatus>,
    pub description: Option<String>,
    pub webhook_url: Option<String>,
    /// Provider credentials (JSON object), stored encrypted and never returned. For a
    /// WhatsApp line, `apiKey` is sent to partners as `whatsapp_apiKey` (seed 003).
    pub credentials: Option<Json<serde_json::Value>>,
    /// A WhatsApp line's daily business-conversation limit (partner `whatsapp` events;
    /// 250 when unset).
    pub daily_limit: Option<i32>,
}

#[derive(InputObject)]
pub struct ChannelUpdateInput {
    pub id: ID,
    pub kind: Option<ChannelKind>,
    pub name: Option<String>,
    pub phone: MaybeUndefined<String>,
    pub identifier: MaybeUndefined<String>,
    pub provider: MaybeUndefined<String>,
    pub country: MaybeUndefined<String>,
    pub env: Option<ChannelEnv>,
    pub status: Option<ChannelStatus>,
    pub description: MaybeUndefined<String>,
    pub webhook_url: MaybeUndefined<String>,
    pub credentials: MaybeUndefined<Json<serde_json::Value>>,
    pub daily_limit: MaybeUndefined<i32>,
}

#[derive(InputObject)]
pub struct InboxCreateInput {
    pub account_id: ID,
    pub channel_id: ID,
    pub name: String,
}

#[derive(InputObject)]
pub struct InboxUpdateInput {
    pub id: ID,
    pub name: Option<String>,
}

#[derive(InputObject)]
pub struct ContactMetaInput {
    pub key: String,
    pub value: String,
}

#[derive(InputObject)]
pub struct ContactCreateInput {
    pub account_id: ID,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub custom_attributes: Option<Json<serde_json::Value>>,
    pub tags: Option<Vec<String>>,
    pub meta: Option<Vec<ContactMetaInput>>,
}

#[derive(InputObject)]
pub struct ContactUpdateInput {
    pub id: ID,
    pub first_name: MaybeUndefined<String>,
    pub last_name: MaybeUndefined<String>,
    pub phone_number: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    pub avatar_url: MaybeUndefined<String>,
    pub custom_attributes: Option<Json<serde_json::Value>>,
    /// Replaces all tags.
    pub tags: Option<Vec<String>>,
    /// Replaces all meta entries.
    pub meta: Option<Vec<ContactMetaInput>>,
}

#[derive(InputObject)]
pub struct ConversationCreateInput {
    pub account_id: ID,
    pub inbox_id: ID,
    pub contact_id: ID,
    pub source_id: Option<String>,
    pub status: Option<ConversationStatus>,
    pub assignee_id: Option<ID>,
    pub department_id: Option<i64>,
    pub goal_id: Option<i64>,
    pub metadata: Option<Json<serde_json::Value>>,
    pub reason: Option<String>,
    pub additional_attributes: Option<Json<serde_json::Value>>,
    pub custom_attributes: Option<Json<serde_json::Value>>,
}

#[derive(InputObject)]
pub struct ConversationUpdateInput {
    pub id: ID,
    pub status: Option<ConversationStatus>,
    pub assignee_id: MaybeUndefined<ID>,
    pub department_id: MaybeUndefined<i64>,
    pub goal_id: MaybeUndefined<i64>,
    pub snoozed_until: MaybeUndefined<DateTime<Utc>>,
    pub metadata: MaybeUndefined<Json<serde_json::Value>>,
    pub reason: MaybeUndefined<String>,
    pub additional_attributes: Option<Json<serde_json::Value>>,
    pub custom_attributes: Option<Json<serde_json::Value>>,
}

#[derive(InputObject)]
pub struct MessageCreateInput {
    pub conversation_id: ID,
    /// Default `OUTGOING`.
    pub message_type: Option<MessageType>,
    /// Default: `CONTACT` for incoming messages, else the calling user (`USER`) or `BOT`.
    pub sender_type: Option<SenderType>,
    /// A `User` id for USER senders; ignored for CONTACT (always the conversation's contact).
    pub sender_id: Option<ID>,
    pub content: Option<String>,
    pub content_type: Option<ContentType>,
    pub media_url: Option<String>,
    pub source_id: Option<String>,
    pub external_id: Option<String>,
    #[graphql(default)]
    pub private: bool,
    pub content_attributes: Option<Json<serde_json::Value>>,
}

#[derive(InputObject)]
pub struct MessageUpdateInput {
    pub id: ID,
    pub content: MaybeUndefined<String>,
    /// Moves forward only: SENT → DELIVERED → READ (or FAILED).
    pub delivery_status: Option<MessageDeliveryStatus>,
    pub external_id: MaybeUndefined<String>,
    pub content_attributes: Option<Json<serde_json::Value>>,
    pub private: Option<bool>,
}

#[derive(InputObject)]
pub struct HeaderInput {
    pub name: String,
    pub value: String,
}

#[derive(InputObject)]
pub struct BasicAuthInput {
    pub username: String,
    pub password: String,
}

#[derive(InputObject)]
pub struct WebhookSubscriptionCreateInput {
    pub account_id: ID,
    pub url: String,
    /// Event names as receivers see them, e.g. `message_created`.
    pub events: Vec<String>,
    /// Default `STANDARD`.
    pub format: Option<PayloadFormat>,
    pub name: Option<String>,
    /// Only events of this channel.
    pub channel_id: Option<ID>,
    /// Only events of this inbox.
    pub inbox_id: Option<ID>,
    pub headers: Option<Vec<HeaderInput>>,
    /// Sent as `Authorization: Bearer …` to the receiver.
    pub bearer_token: Option<String>,
    pub basic_auth: Option<BasicAuthInput>,
}

#[derive(InputObject)]
pub struct WebhookSubscriptionUpdateInput {
    pub id: ID,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub format: Option<PayloadFormat>,
    pub name: Option<String>,
    pub channel_id: MaybeUndefined<ID>,
    pub inbox_id: MaybeUndefined<ID>,
    pub headers: Option<Vec<HeaderInput>>,
    pub bearer_token: MaybeUndefined<String>,
    pub basic_auth: MaybeUndefined<BasicAuthInput>,
    /// `PAUSED` or `ENABLED`.
    pub state: Option<SubscriptionState>,
}

#[derive(InputObject)]
pub struct ApiTokenCreateInput {
    pub account_id: ID,
    pub name: String,
    /// Default `ADMINISTRATOR`.
    pub role: Option<Role>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn contact_meta(m: Option<Vec<ContactMetaInput>>) -> Option<Vec<(String, String)>> {
    m.map(|v| v.into_iter().map(|m| (m.key, m.value)).collect())
}

fn headers(h: Option<Vec<HeaderInput>>) -> Option<Vec<(String, String)>> {
    h.map(|v| v.into_iter().map(|h| (h.name, h.value)).collect())
}

pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Exchanges email and password for a JWT. Rate-limited per email and per client IP.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> Result<LoginPayload> {
        let st = state(ctx);
        let ip = ctx.data_opt::<ClientIp>().and_then(|c| c.0);
        let ok = services::users::login(
            &st.db,
            &st.keys,
            &st.login_limiter,
            st.config.jwt_ttl,
            &email,
            &password,
            ip,
        )
        .await?;
        Ok(LoginPayload {
            token: ok.token,
            expires_at: ok.expires_at,
            user: User(ok.user),
        })
    }

    /// Creates the first platform administrator. Works only while none exists.
    async fn first_admin_create(
        &self,
        ctx: &Context<'_>,
        input: FirstAdminCreateInput,
    ) -> Result<LoginPayload> {
        let st = state(ctx);
        let u = services::users::create_first_admin(
            &st.db,
            services::users::NewUser {
                email: input.email,
                password: input.password,
                name: input.name,
                platform_admin: true,
            },
        )
        .await?;
        let (token, expires_at) = crate::auth::issue_jwt(&st.keys, u.id, st.config.jwt_ttl);
        Ok(LoginPayload {
            token,
            expires_at,
            user: User(u),
        })
    }

    /// Platform administrators only.
    async fn user_create(&self, ctx: &Context<'_>, input: UserCreateInput) -> Result<UserPayload> {
        principal(ctx).require_platform_admin()?;
        let r = services::users::create(
            &state(ctx).db,
            services::users::NewUser {
                email: input.email,
                password: input.password,
                name: input.name,
                platform_admin: input.is_platform_admin,
            },
        )
        .await;
        Ok(settle(r, User)?.into())
    }

    /// Your own name and password; platform administrators change anyone's.
    async fn user_update(&self, ctx: &Context<'_>, input: UserUpdateInput) -> Result<UserPayload> {
        let r = async {
            let id = ids::decode(&input.id, "User", "id")?;
            let patch = services::users::UserPatch {
                name: input.name,
                password: input.password,
                platform_admin: input.is_platform_admin,
            };
            services::users::update(&state(ctx).db, principal(ctx), id, patch).await
        };
        let r = r.await;
        // Who may do what changed: forget cached principals.
        state(ctx).principals.clear();
        Ok(settle(r, User)?.into())
    }

    /// Platform administrators only; not yourself.
    async fn user_delete(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<DeletePayload> {
        let r = async {
            let id = ids::decode(&input.id, "User", "id")?;
            services::users::delete(&state(ctx).db, principal(ctx), id).await
        };
        let r = r.await;
        // Who may do what changed: forget cached principals.
        state(ctx).principals.clear();
        Ok(settle(r, |_| input.id.clone())?.into())
    }

    /// Platform administrators only; the creator becomes the account's administrator.
    async fn account_create(
        &self,
        ctx: &Context<'_>,
        input: AccountCreateInput,
    ) -> Result<AccountPayload> {
        let r = services::accounts::create(&state(ctx).db, principal(ctx), &input.name).await;
        Ok(settle(r, Account)?.into())
    }

    async fn account_update(
        &self,
        ctx: &Context<'_>,
        input: AccountUpdateInput,
    ) -> Result<AccountPayload> {
        let r = async {
            let id = ids::decode(&input.id, "Account", "id")?;
            services::accounts::update(&state(ctx).db, principal(ctx), id, input.name.as_deref())
                .await
        };
        Ok(settle(r.await, Account)?.into())
    }

    /// Deletes the account and everything in it. Platform administrators only.
    async fn account_delete(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<DeletePayload> {
        let r = async {
            let id = ids::decode(&input.id, "Account", "id")?;
            services::accounts::delete(&state(ctx).db, principal(ctx), id).await
        };
        let r = r.await;
        // Who may do what changed: forget cached principals.
        state(ctx).principals.clear();
        Ok(settle(r, |_| input.id.clone())?.into())
    }

    /// Adds an existing user to an account, or changes their role there.
    async fn membership_set(
        &self,
        ctx: &Context<'_>,
        input: MembershipSetInput,
    ) -> Result<MembershipPayload> {
        let r = async {
            let account_id = ids::decode(&input.account_id, "Account", "accountId")?;
            services::users::set_membership(
                &state(ctx).db,
                principal(ctx),
                account_id,
                &input.email,
                input.role.into(),
            )
            .await
        };
        let r = r.await;
        // Who may do what changed: forget cached principals.
        state(ctx).principals.clear();
        Ok(settle(r, Membership)?.into())
    }

    async fn membership_remove(
        &self,
        ctx: &Context<'_>,
        input: MembershipRemoveInput,
    ) -> Result<DeletePayload> {
        let r = async {
            let account_id = ids::decode(&input.account_id, "Account", "accountId")?;
            let user_id = ids::decode(&input.user_id, "User", "userId")?;
            services::users::remove_membership(&state(ctx).db, principal(ctx), account_id, user_id)
                .await
        };
        let r = r.await;
        // Who may do what changed: forget cached principals.
        state(ctx).principals.clear();
        Ok(settle(r, |_| input.user_id.clone())?.into())
    }

    async fn channel_create(
        &self,
        ctx: &Context<'_>,
        input: ChannelCreateInput,
    ) -> Result<ChannelPayload> {
        let st = state(ctx);
        let r = async {
            let account_id = ids::decode(&input.account_id, "Account", "accountId")?;
            let f = ChannelFields {
                kind: Some(input.kind.into()),
                name: Some(input.name),
                phone: Some(input.phone),
                identifier: Some(input.identifier),
                provider: Some(input.provider),
                country: Some(input.country),
                env: input.env.map(Into::into),
                status: input.status.map(Into::into),
                description: Some(input.description),
                webhook_url: Some(input.webhook_url),
                credentials: input.credentials.map(|j| Some(j.0)),
                daily_limit: Some(input.daily_limit),
            };
            services::channels::create(
                &st.db,
                &st.keys,
                &st.engine.allow,
                principal(ctx),
                account_id,
                f,
            )
            .await
        };
        Ok(settle(r.await, Channel)?.into())
    }

    async fn channel_update(
        &self,
        ctx: &Context<'_>,
        input: ChannelUpdateInput,
    ) -> Result<ChannelPayload> {
        let st = state(ctx);
        let r = async {
            let id = ids::decode(&input.id, "Channel", "id")?;
            let f = ChannelFields {
                kind: input.kind.map(Into::into),
                name: input.name,
                phone: patch(input.phone),
                identifier: patch(input.identifier),
                provider: patch(input.provider),
                country: patch(input.country),
                env: input.env.map(Into::into),
                status: input.status.map(Into::into),
                description: patch(input.description),
                webhook_url: patch(input.webhook_url),
                credentials: patch(input.credentials).map(|o| o.map(|j| j.0)),
                daily_limit: patch(input.daily_limit),
            };
            services::channels::update(&st.db, &st.keys, &st.engine.allow, principal(ctx), id, f)
                .await
        };
        Ok(settle(r.await, Channel)?.into())
    }

    async fn channel_delete(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<DeletePayload> {
        let r = async {
            let id = ids::decode(&input.id, "Channel", "id")?;
            services::channels::delete(&state(ctx).db, &state(ctx).keys, principal(ctx), id).await
        };
        Ok(settle(r.await, |_| input.id.clone())?.into())
    }

    async fn inbox_create(
        &self,
        ctx: &Context<'_>,
        input: InboxCreateInput,
    ) -> Result<InboxPayload> {
        let r = async {
            let account_id = ids::decode(&input.account_id, "Account", "accountId")?;
            let channel_id = ids::decode(&input.channel_id, "Channel", "channelId")?;
            services::inboxes::create(
                &state(ctx).db,
                principal(ctx),
                account_id,
                channel_id,
                &input.name,
            )
            .await
        };
        Ok(settle(r.await, Inbox)?.into())
    }

    async fn inbox_update(
        &self,
        ctx: &Context<'_>,
        input: InboxUpdateInput,
    ) -> Result<InboxPayload> {
        let r = async {
            let id = ids::decode(&input.id, "Inbox", "id")?;
            services::inboxes::update(&state(ctx).db, principal(ctx), id, input.name.as_deref())
                .await
        };
        Ok(settle(r.await, Inbox)?.into())
    }

    async fn inbox_delete(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<DeletePayload> {
        let r = async {
            let id = ids::decode(&input.id, "Inbox", "id")?;
            services::inboxes::delete(&state(ctx).db, principal(ctx), id).await
        };
        Ok(settle(r.await, |_| input.id.clone())?.into())
    }

    async fn contact_create(
        &self,
        ctx: &Context<'_>,
        input: ContactCreateInput,
    ) -> Result<ContactPayload> {
        let r = async {
            let account_id = ids::decode(&input.account_id, "Account", "accountId")?;
            let f = ContactFields {
                first_name: Some(input.first_name),
                last_name: Some(input.last_name),
                phone_number: Some(input.phone_number),
                email: Some(input.email),
                avatar_url: Some(input.avatar_url),
                custom_attributes: input.custom_attributes.map(|j| j.0),
                tags: input.tags,
                meta: contact_meta(input.meta),
            };
            services::contacts::create(&state(ctx).db, principal(ctx), account_id, f).await
        };
        Ok(settle(r.await, Contact)?.into())
    }

    async fn contact_update(
        &self,
        ctx: &Context<'_>,
        input: ContactUpdateInput,
    ) -> Result<ContactPayload> {
        let r = async {
            let id = ids::decode(&input.id, "Contact", "id")?;
            let f = ContactFields {
                first_name: patch(input.first_name),
                last_name: patch(input.last_name),
                phone_number: patch(input.phone_number),
                email: patch(input.email),
                avatar_url: patch(input.avatar_url),
                custom_attributes: input.custom_attributes.map(|j| j.0),
                tags: input.tags,
                meta: contact_meta(input.meta),
            };
            services::contacts::update(&state(ctx).db, principal(ctx), id, f).await
        };
        Ok(settle(r.await, Contact)?.into())
    }

    async fn contact_delete(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<DeletePayload> {
        let r = async {
            let id = ids::decode(&input.id, "Contact", "id")?;
            services::contacts::delete(&state(ctx).db, principal(ctx), id).await
        };
        Ok(settle(r.await, |_| input.id.clone())?.into())
    }

    async fn conversation_create(
        &self,
        ctx: &Context<'_>,
        input: ConversationCreateInput,
    ) -> Result<ConversationPayload> {
        let r = async {
            let new = services::conversations::NewConversation {
                account_id: ids::decode(&input.account_id, "Account", "accountId")?,
                inbox_id: ids::decode(&input.inbox_id, "Inbox", "inboxId")?,
                contact_id: ids::decode(&input.contact_id, "Contact", "contactId")?,
                source_id: input.source_id,
                fields: ConversationFields {
                    status: input.status.map(Into::into),
                    assignee_id: Some(ids::opt(input.assignee_id.as_ref(), "User", "assigneeId")?),
                    department_id: Some(input.department_id),
                    goal_id: Some(input.goal_id),
                    snoozed_until: None,
                    metadata: Some(input.metadata.map(|j| j.0)),
                    reason: Some(input.reason),
                    additional_attributes: input.additional_attributes.map(|j| j.0),
                    custom_attributes: input.custom_attributes.map(|j| j.0),
                },
            };
            services::conversations::create(&state(ctx).db, principal(ctx), new).await
        };
        Ok(settle(r.await, Conversation)?.into())
    }

    async fn conversation_update(
        &self,
        ctx: &Context<'_>,
        input: ConversationUpdateInput,
    ) -> Result<ConversationPayload> {
        let r = async {
            let id = ids::decode(&input.id, "Conversation", "id")?;
            let f = ConversationFields {
                status: input.status.map(Into::into),
                assignee_id: patch_id(input.assignee_id, "User", "assigneeId")?,
                department_id: patch(input.department_id),
                goal_id: patch(input.goal_id),
                snoozed_until: patch(input.snoozed_until),
                metadata: patch(input.metadata).map(|o| o.map(|j| j.0)),
                reason: patch(input.reason),
                additional_attributes: input.additional_attributes.map(|j| j.0),
                custom_attributes: input.custom_attributes.map(|j| j.0),
            };
            services::conversations::update(&state(ctx).db, principal(ctx), id, f).await
        };
        Ok(settle(r.await, Conversation)?.into())
    }

    /// Administrators only.
    async fn conversation_delete(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> Result<DeletePayload> {
        let r = async {
            let id = ids::decode(&input.id, "Conversation", "id")?;
            services::conversations::delete(&state(ctx).db, principal(ctx), id).await
        };
        Ok(settle(r.await, |_| input.id.clone())?.into())
    }

    async fn message_create(
        &self,
        ctx: &Context<'_>,
        input: MessageCreateInput,
    ) -> Result<MessagePayload> {
        let r = async {
            let new = services::messages::NewMessage {
                conversation_id: ids::decode(
                    &input.conversation_id,
                    "Conversation",
                    "conversationId",
                )?,
                message_type: input.message_type.map(Into::into),
                sender_type: input.sender_type.map(Into::into),
                sender_id: match input.sender_type {
                    Some(SenderType::Contact) => {
                        ids::opt(input.sender_id.as_ref(), "Contact", "senderId")?
                    }
                    _ => ids::opt(input.sender_id.as_ref(), "User", "senderId")?,
                },
                content: input.content,
                content_type: input.content_type.map(Into::into),
                media_url: input.media_url,
                source_id: input.source_id,
                external_id: input.external_id,
                private: input.private,
                content_attributes: input.content_attributes.map(|j| j.0),
            };
            services::messages::create(&state(ctx).engine, principal(ctx), new).await
        };
        Ok(settle(r.await, Message)?.into())
    }

    async fn message_update(
        &self,
        ctx: &Context<'_>,
        input: MessageUpdateInput,
    ) -> Result<MessagePayload> {
        let r = async {
            let id = ids::decode(&input.id, "Message", "id")?;
            let f = MessageFields {
                content: patch(input.content),
                delivery_status: input.delivery_status.map(Into::into),
                external_id: patch(input.external_id),
                content_attributes: input.content_attributes.map(|j| j.0),
                private: input.private,
            };
            services::messages::update(&state(ctx).engine, principal(ctx), id, f).await
        };
        Ok(settle(r.await, Message)?.into())
    }

    /// Administrators only.
    async fn message_delete(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<DeletePayload> {
        let r = async {
            let id = ids::decode(&input.id, "Message", "id")?;
            services::messages::delete(&state(ctx).db, principal(ctx), id).await
        };
        Ok(settle(r.await, |_| input.id.clone())?.into())
    }

    /// Administrators only. The response carries the signing secret, once.
    async fn webhook_subscription_create(
        &self,
        ctx: &Context<'_>,
        input: WebhookSubscriptionCreateInput,
    ) -> Result<WebhookSubscriptionCreatePayload> {
        let st = state(ctx);
        let r = async {
            let account_id = ids::decode(&input.account_id, "Account", "accountId")?;
            let f = SubscriptionFields {
                name: input.name,
                url: Some(input.url),
                events: Some(input.events),
                format: input.format.map(Into::into),
                channel_id: Some(ids::opt(input.channel_id.as_ref(), "Channel", "channelId")?),
                inbox_id: Some(ids::opt(input.inbox_id.as_ref(), "Inbox", "inboxId")?),
                headers: headers(input.headers),
                bearer_token: input.bearer_token.map(Some),
                basic_auth: input.basic_auth.map(|b| Some((b.username, b.password))),
                state: None,
            };
            services::webhook_subscriptions::create(
                &st.db,
                &st.keys,
                &st.engine.allow,
                principal(ctx),
                account_id,
                f,
            )
            .await
        };
        let (pair, user_errors) = settle(r.await, |x| x)?;
        let (sub, secret) = pair.map(|(m, s)| (WebhookSubscription(m), s)).unzip();
        Ok(WebhookSubscriptionCreatePayload {
            webhook_subscription: sub,
            secret,
            user_errors,
        })
    }

    async fn webhook_subscription_update(
        &self,
        ctx: &Context<'_>,
        input: WebhookSubscriptionUpdateInput,
    ) -> Result<WebhookSubscriptionPayload> {
        let st = state(ctx);
        let r = async {
            let id = ids::decode(&input.id, "WebhookSubscription", "id")?;
            let f = SubscriptionFields {
                name: input.name,
                url: input.url,
                events: input.events,
                format: input.format.map(Into::into),
                channel_id: patch_id(input.channel_id, "Channel", "channelId")?,
                inbox_id: patch_id(input.inbox_id, "Inbox", "inboxId")?,
                headers: headers(input.headers),
                bearer_token: patch(input.bearer_token),
                basic_auth: patch(input.basic_auth).map(|o| o.map(|b| (b.username, b.password))),
                state: input.state.map(Into::into),
            };
            services::webhook_subscriptions::update(
                &st.db,
                &st.keys,
                &st.engine.allow,
                principal(ctx),
                id,
                f,
            )
            .await
        };
        let out = settle(r.await, WebhookSubscription)?;
        st.engine.wake();
        Ok(out.into())
    }

    async fn webhook_subscription_delete(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> Result<DeletePayload> {
        let r = async {
            let id = ids::decode(&input.id, "WebhookSubscription", "id")?;
            services::webhook_subscriptions::delete(&state(ctx).db, principal(ctx), id).await
        };
        Ok(settle(r.await, |_| input.id.clone())?.into())
    }

    /// Account administrators (users) only. The response carries the token, once.
    async fn api_token_create(
        &self,
        ctx: &Context<'_>,
        input: ApiTokenCreateInput,
    ) -> Result<ApiTokenCreatePayload> {
        let r = async {
            let account_id = ids::decode(&input.account_id, "Account", "accountId")?;
            services::api_tokens::create(
                &state(ctx).db,
                principal(ctx),
                account_id,
                &input.name,
                input.role.map(Into::into),
                input.expires_at,
            )
            .await
        };
        let (pair, user_errors) = settle(r.await, |x| x)?;
        let (tok, token) = pair.map(|(m, t)| (ApiToken(m), t)).unzip();
        Ok(ApiTokenCreatePayload {
            api_token: tok,
            token,
            user_errors,
        })
    }

    /// Creates a bot webhook connection (seed 004) for a story (administrators).
    async fn bot_connection_create(
        &self,
        ctx: &Context<'_>,
        input: BotConnectionCreateInput,
    ) -> Result<BotConnectionPayload> {
        let st = state(ctx);
        let r = async {
            let account_id = ids::decode(&input.account_id, "Account", "accountId")?;
            let (story_id, f) = connection_fields(input.connection)?;
            services::bot_connections::create(
                &st.db,
                &st.keys,
                &st.engine.allow,
                principal(ctx),
                account_id,
                story_id,
                f,
            )
            .await
        };
        Ok(settle(r.await, BotConnection)?.into())
    }

    async fn bot_connection_update(
        &self,
        ctx: &Context<'_>,
        input: BotConnectionUpdateInput,
    ) -> Result<BotConnectionPayload> {
        let st = state(ctx);
        let r = async {
            let id = ids::decode(&input.id, "BotConnection", "id")?;
            let (story_id, f) = connection_fields(input.connection)?;
            services::bot_connections::update(
                &st.db,
                &st.keys,
                &st.engine.allow,
                principal(ctx),
                id,
                story_id,
                f,
            )
            .await
        };
        Ok(settle(r.await, BotConnection)?.into())
    }

    /// Deletes a bot connection and detaches it from its inboxes.
    async fn bot_connection_delete(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> Result<DeletePayload> {
        let r = async {
            let id = ids::decode(&input.id, "BotConnection", "id")?;
            services::bot_connections::delete(&state(ctx).db, principal(ctx), id).await
        };
        Ok(settle(r.await, |_| input.id.clone())?.into())
    }

    /// Attaches a bot connection to an inbox (or detaches it with `botConnectionId: null`).
    async fn inbox_bot_connection_set(
        &self,
        ctx: &Context<'_>,
        input: InboxBotConnectionSetInput,
    ) -> Result<InboxPayload> {
        let r = async {
            let inbox_id = ids::decode(&input.inbox_id, "Inbox", "inboxId")?;
            let conn = input
                .bot_connection_id
                .as_ref()
                .map(|c| ids::decode(c, "BotConnection", "botConnectionId"))
                .transpose()?;
            services::bot_connections::attach(&state(ctx).db, principal(ctx), inbox_id, conn).await
        };
        Ok(settle(r.await, Inbox)?.into())
    }

    /// Creates a story (bot flow); emits the partner `builder` event (code 1, and 2 when
    /// created published).
    async fn story_create(
        &self,
        ctx: &Context<'_>,
        input: StoryCreateInput,
    ) -> Result<StoryPayload> {
        let st = state(ctx);
        let r = async {
            let account_id = ids::decode(&input.account_id, "Account", "accountId")?;
            services::stories::create(
                &st.db,
                &st.config.public_base(),
                principal(ctx),
                account_id,
                &input.name,
                input.status.map(Into::into),
            )
            .await
        };
        Ok(settle(r.await, Story)?.into())
    }

    /// Renames, publishes (`builder` code 2) or unpublishes (code 3) a story.
    async fn story_update(
        &self,
        ctx: &Context<'_>,
        input: StoryUpdateInput,
    ) -> Result<StoryPayload> {
        let st = state(ctx);
        let r = async {
            let id = ids::decode(&input.id, "Story", "id")?;
            services::stories::update(
                &st.db,
                &st.config.public_base(),
                principal(ctx),
                id,
                input.name.as_deref(),
                input.status.map(Into::into),
            )
            .await
        };
        Ok(settle(r.await, Story)?.into())
    }

    /// Deletes a story (`builder` code 4).
    async fn story_delete(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<DeletePayload> {
        let st = state(ctx);
        let r = async {
            let id = ids::decode(&input.id, "Story", "id")?;
            services::stories::delete(&st.db, &st.config.public_base(), principal(ctx), id).await
        };
        Ok(settle(r.await, |_| input.id.clone())?.into())
    }

    /// An agent goes online or offline in an inbox; a change emits the partner `online` event
    /// (code 1 online, 2 offline).
    async fn agent_presence_set(
        &self,
        ctx: &Context<'_>,
        input: AgentPresenceSetInput,
    ) -> Result<AgentPresencePayload> {
        let st = state(ctx);
        let r = async {
            let inbox_id = ids::decode(&input.inbox_id, "Inbox", "inboxId")?;
            let user_id = input
                .user_id
                .as_ref()
                .map(|u| ids::decode(u, "User", "userId"))
                .transpose()?;
            services::presence::set(
                &st.db,
                &st.config.server_name,
                principal(ctx),
                inbox_id,
                user_id,
                input.online,
            )
            .await
        };
        Ok(settle(r.await, AgentPresence)?.into())
    }

    /// Creates a partner API client in an account (administrators). The response carries the
    /// client secret, once.
    async fn partner_create(
        &self,
        ctx: &Context<'_>,
        input: PartnerCreateInput,
    ) -> Result<PartnerCreatePayload> {
        let r = async {
            let account_id = ids::decode(&input.account_id, "Account", "accountId")?;
            services::partners::create(
                &state(ctx).db,
                principal(ctx),
                account_id,
                services::partners::NewPartner {
                    name: input.name,
                    whatsapp_reference: input.whatsapp_reference,
                    builder_reference: input.builder_reference,
                    online_reference: input.online_reference,
                },
            )
            .await
        };
        let (pair, user_errors) = settle(r.await, |x| x)?;
        let (partner, client_secret) = pair.map(|(m, s)| (Partner(m), s)).unzip();
        Ok(PartnerCreatePayload {
            partner,
            client_secret,
            user_errors,
        })
    }

    /// Deletes a partner, its webhook subscription and that subscription's delivery log.
    async fn partner_delete(&self, ctx: &Context<'_>, input: DeleteInput) -> Result<DeletePayload> {
        let r = async {
            let id = ids::decode(&input.id, "Partner", "id")?;
            services::partners::delete(&state(ctx).db, principal(ctx), id).await
        };
        Ok(settle(r.await, |_| input.id.clone())?.into())
    }

    async fn api_token_revoke(
        &self,
        ctx: &Context<'_>,
        input: DeleteInput,
    ) -> Result<ApiTokenPayload> {
        let r = async {
            let id = ids::decode(&input.id, "ApiToken", "id")?;
            services::api_tokens::revoke(&state(ctx).db, principal(ctx), id).await
        };
        let r = r.await;
        // Who may do what changed: forget cached principals.
        state(ctx).principals.clear();
        Ok(settle(r, ApiToken)?.into())
    }

    /// Queues one delivery for an attempt now (administrators).
    async fn delivery_retry(&self, ctx: &Context<'_>, input: IdInput) -> Result<DeliveryPayload> {
        let st = state(ctx);
        let r = async {
            let id = ids::decode(&input.id, "Delivery", "id")?;
            services::deliveries::retry(&st.db, principal(ctx), id).await
        };
        let out = settle(r.await, Delivery)?;
        st.engine.wake();
        Ok(out.into())
    }

    /// Queues again every FAILED delivery of a subscription created since `since`.
    async fn webhook_subscription_recover(
        &self,
        ctx: &Context<'_>,
        input: WebhookSubscriptionRecoverInput,
    ) -> Result<WebhookSubscriptionRecoverPayload> {
        let st = state(ctx);
        let r = async {
            let id = ids::decode(&input.id, "WebhookSubscription", "id")?;
            services::deliveries::recover(&st.db, principal(ctx), id, input.since).await
        };
        let (requeued, user_errors) = settle(r.await, |n| n)?;
        st.engine.wake();
        Ok(WebhookSubscriptionRecoverPayload {
            requeued,
            user_errors,
        })
    }

    /// Sends a signed `webhook_test` ping now and returns the attempt.
    async fn webhook_subscription_test(
        &self,
        ctx: &Context<'_>,
        input: IdInput,
    ) -> Result<DeliveryAttemptPayload> {
        let st = state(ctx);
        let r = async {
            let id = ids::decode(&input.id, "WebhookSubscription", "id")?;
            services::deliveries::test(&st.engine, principal(ctx), id).await
        };
        Ok(settle(r.await, DeliveryAttempt)?.into())
    }

    /// Replaces the signing secret; the old one keeps signing for 24 hours.
    async fn webhook_subscription_rotate_secret(
        &self,
        ctx: &Context<'_>,
        input: IdInput,
    ) -> Result<WebhookSubscriptionRotateSecretPayload> {
        let st = state(ctx);
        let r = async {
            let id = ids::decode(&input.id, "WebhookSubscription", "id")?;
            services::deliveries::rotate_secret(&st.db, &st.keys, principal(ctx), id).await
        };
        let (pair, user_errors) = settle(r.await, |x| x)?;
        let (sub, secret) = pair.map(|(m, s)| (WebhookSubscription(m), s)).unzip();
        Ok(WebhookSubscriptionRotateSecretPayload {
            webhook_subscription: sub,
            secret,
            user_errors,
        })
    }

    /// Records that a contact opened the live-chat widget (`webwidget_triggered`).
    async fn web_widget_trigger(
        &self,
        ctx: &Context<'_>,
        input: WebWidgetTriggerInput,
    ) -> Result<WebWidgetTriggerPayload> {
        let r = async {
            let inbox_id = ids::decode(&input.inbox_id, "Inbox", "inboxId")?;
            let contact_id = ids::decode(&input.contact_id, "Contact", "contactId")?;
            services::widget::trigger(
                &state(ctx).db,
                principal(ctx),
                inbox_id,
                contact_id,
                input.source_id,
                input.event_info.map(|j| j.0),
            )
            .await
        };
        let (source_id, user_errors) = settle(r.await, |s| s)?;
        Ok(WebWidgetTriggerPayload {
            source_id,
            user_errors,
        })
    }
}
