//! GraphQL object types. Each wraps an entity model; secrets never appear here.

use async_graphql::{
    Context, ID, Interface, Json, Object, Result, SimpleObject, Union, connection::Connection,
};
use chrono::{DateTime, Utc};
use entity::enums as e;

use super::{
    conn,
    enums::*,
    helpers::{loaders, principal, state},
    ids,
};
use crate::services::{self, Page, conversations::ConversationFilter, deliveries::DeliveryFilter};

/// Anything with a global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Account(Account),
    User(User),
    Channel(Channel),
    Inbox(Inbox),
    Contact(Contact),
    Conversation(Conversation),
    Message(Message),
    WebhookSubscription(WebhookSubscription),
    ApiToken(ApiToken),
    Partner(Partner),
    Story(Story),
    BotConnection(BotConnection),
    Delivery(Delivery),
    DeliveryAttempt(DeliveryAttempt),
}

fn page(first: Option<i32>, after: Option<String>) -> Result<Page> {
    Ok(Page::new(first, ids::parse_cursor(after.as_deref())?)?)
}

pub struct Account(pub entity::account::Model);

#[Object]
impl Account {
    async fn id(&self) -> ID {
        ids::encode("Account", self.0.id)
    }
    /// The numeric id receivers see in webhook payloads (`company_id`, `account_id`…).
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The caller's role here.
    async fn viewer_role(&self, ctx: &Context<'_>) -> Option<Role> {
        principal(ctx).role_in(self.0.id).map(Into::into)
    }
    async fn channels(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Channel>> {
        let p = services::channels::list(
            &state(ctx).db,
            principal(ctx),
            self.0.id,
            page(first, after)?,
        )
        .await?;
        Ok(conn(p, |m| m.id, Channel))
    }
    async fn inboxes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Inbox>> {
        let p = services::inboxes::list(
            &state(ctx).db,
            principal(ctx),
            self.0.id,
            page(first, after)?,
        )
        .await?;
        Ok(conn(p, |m| m.id, Inbox))
    }
    /// Contacts; `search` matches first/last name, email or phone number (case-insensitive).
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
    ) -> Result<Connection<String, Contact>> {
        let p = services::contacts::list(
            &state(ctx).db,
            principal(ctx),
            self.0.id,
            search.as_deref(),
            page(first, after)?,
        )
        .await?;
        Ok(conn(p, |m| m.id, Contact))
    }
    #[allow(clippy::too_many_arguments)]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<ConversationStatus>,
        inbox_id: Option<ID>,
        assignee_id: Option<ID>,
        contact_id: Option<ID>,
        #[graphql(desc = "Only conversations without an assignee.")] unassigned: Option<bool>,
    ) -> Result<Connection<String, Conversation>> {
        let filter = ConversationFilter {
            status: status.map(Into::into),
            inbox_id: inbox_id
                .as_ref()
                .map(|i| ids::decode_arg(i, "Inbox"))
                .transpose()?,
            assignee_id: assignee_id
                .as_ref()
                .map(|i| ids::decode_arg(i, "User"))
                .transpose()?,
            contact_id: contact_id
                .as_ref()
                .map(|i| ids::decode_arg(i, "Contact"))
                .transpose()?,
            unassigned: unassigned.unwrap_or(false),
        };
        let p = services::conversations::list(
            &state(ctx).db,
            principal(ctx),
            self.0.id,
            filter,
            page(first, after)?,
        )
        .await?;
        Ok(conn(p, |m| m.id, Conversation))
    }
    /// Administrators only.
    async fn webhook_subscriptions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, WebhookSubscription>> {
        let p = services::webhook_subscriptions::list(
            &state(ctx).db,
            principal(ctx),
            self.0.id,
            page(first, after)?,
        )
        .await?;
        Ok(conn(p, |m| m.id, WebhookSubscription))
    }
    /// Webhook deliveries of the account (administrators only), oldest first, filtered.
    #[allow(clippy::too_many_arguments)]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        subscription_id: Option<ID>,
        status: Option<DeliveryStatus>,
        event: Option<String>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        #[graphql(desc = "Newest first; `after` then pages towards older deliveries.")]
        newest_first: Option<bool>,
    ) -> Result<Connection<String, Delivery>> {
        let filter = DeliveryFilter {
            newest_first: newest_first.unwrap_or(false),
            subscription_id: subscription_id
                .as_ref()
                .map(|i| ids::decode_arg(i, "WebhookSubscription"))
                .transpose()?,
            status: status.map(Into::into),
            event,
            since,
            until,
        };
        let p = services::deliveries::list(
            &state(ctx).db,
            principal(ctx),
            self.0.id,
            filter,
            page(first, after)?,
        )
        .await?;
        Ok(conn(p, |m| m.id, Delivery))
    }
    /// Bot webhook connections (seed 004) of the account.
    async fn bot_connections(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, BotConnection>> {
        let p = services::bot_connections::list(
            &state(ctx).db,
            principal(ctx),
            self.0.id,
            page(first, after)?,
        )
        .await?;
        Ok(conn(p, |m| m.id, BotConnection))
    }
    /// Stories (bot flows) of the account.
    async fn stories(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Story>> {
        let p = services::stories::list(
            &state(ctx).db,
            principal(ctx),
            self.0.id,
            page(first, after)?,
        )
        .await?;
        Ok(conn(p, |m| m.id, Story))
    }
    /// Partner API clients (seed 003). Administrators only.
    async fn partners(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Partner>> {
        let p = services::partners::list(
            &state(ctx).db,
            principal(ctx),
            self.0.id,
            page(first, after)?,
        )
        .await?;
        Ok(conn(p, |m| m.id, Partner))
    }
    /// Administrators only.
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, ApiToken>> {
        let p = services::api_tokens::list(
            &state(ctx).db,
            principal(ctx),
            self.0.id,
            page(first, after)?,
        )
        .await?;
        Ok(conn(p, |m| m.id, ApiToken))
    }
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Membership>> {
        let p = services::users::members(
            &state(ctx).db,
            principal(ctx),
            self.0.id,
            page(first, after)?,
        )
        .await?;
        Ok(conn(p, |m| m.id, Membership))
    }
    /// Attempts per time bucket by outcome, with attempt latency, over the last `minutes`
    /// (default 60, at most 1440) in buckets of `bucketSeconds` (default 60, 10–3600), for
    /// the whole account or one subscription. Administrators only.
    async fn delivery_stats(
        &self,
        ctx: &Context<'_>,
        subscription_id: Option<ID>,
        minutes: Option<i32>,
        bucket_seconds: Option<i32>,
    ) -> Result<DeliveryStats> {
        let sub = subscription_id
            .as_ref()
            .map(|i| ids::decode_arg(i, "WebhookSubscription"))
            .transpose()?;
        let s = services::delivery_stats::stats(
            &state(ctx).db,
            principal(ctx),
            self.0.id,
            sub,
            minutes.map_or(60, i64::from),
            bucket_seconds.map_or(60, i64::from),
        )
        .await?;
        Ok(DeliveryStats {
            since: s.since,
            until: s.until,
            bucket_seconds: s.bucket_seconds as i32,
            total: s.total.into(),
            buckets: s.buckets.into_iter().map(Into::into).collect(),
        })
    }
}

/// Delivery attempts over a window, for charts.
#[derive(SimpleObject)]
pub struct DeliveryStats {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub bucket_seconds: i32,
    /// The whole window.
    pub total: DeliveryStatsBucket,
    /// Every bucket of the window, oldest first, empty ones included.
    pub buckets: Vec<DeliveryStatsBucket>,
}

/// Attempts that completed in one time bucket, by what they meant for their delivery.
#[derive(SimpleObject)]
pub struct DeliveryStatsBucket {
    pub start: DateTime<Utc>,
    pub attempts: i32,
    /// 2xx answers.
    pub succeeded: i32,
    /// Failed attempts after which another one is scheduled.
    pub retrying: i32,
    /// Failed attempts that ended their delivery (retries spent, `410 Gone`, …).
    pub failed: i32,
    /// Mean attempt duration; null when the bucket is empty.
    pub latency_avg_ms: Option<f64>,
    pub latency_max_ms: Option<i32>,
}

impl From<services::delivery_stats::Bucket> for DeliveryStatsBucket {
    fn from(b: services::delivery_stats::Bucket) -> Self {
        let n = |v: i64| v.clamp(0, i32::MAX as i64) as i32;
        DeliveryStatsBucket {
            start: b.start,
            attempts: n(b.attempts()),
            succeeded: n(b.succeeded),
            retrying: n(b.retrying),
            failed: n(b.failed),
            latency_avg_ms: b.latency_avg_ms,
            latency_max_ms: b.latency_max_ms.map(n),
        }
    }
}

pub struct User(pub entity::user::Model);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ids::encode("User", self.0.id)
    }
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn is_platform_admin(&self) -> bool {
        self.0.is_platform_admin
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A user's role in one account.
pub struct Membership(pub entity::account_user::Model);

#[Object]
impl Membership {
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loaders(ctx).users.load_one(self.0.user_id).await?.map(User))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct Channel(pub entity::channel::Model);

#[Object]
impl Channel {
    async fn id(&self) -> ID {
        ids::encode("Channel", self.0.id)
    }
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn account_id(&self) -> ID {
        ids::encode("Account", self.0.account_id)
    }
    async fn kind(&self) -> ChannelKind {
        self.0.kind.into()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    async fn identifier(&self) -> Option<&str> {
        self.0.identifier.as_deref()
    }
    async fn provider(&self) -> Option<&str> {
        self.0.provider.as_deref()
    }
    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }
    async fn env(&self) -> ChannelEnv {
        self.0.env.into()
    }
    async fn status(&self) -> ChannelStatus {
        self.0.status.into()
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// A WhatsApp line's daily business-conversation limit, if set.
    async fn daily_limit(&self) -> Option<i32> {
        self.0.daily_limit
    }
    /// The channel's own webhook URL (seed 001): receives every event of this channel.
    async fn webhook_url(&self) -> Option<&str> {
        self.0.webhook_url.as_deref()
    }
    /// Whether provider credentials are stored (they are write-only).
    async fn has_credentials(&self) -> bool {
        services::channels::has_credentials(&self.0)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub struct Inbox(pub entity::inbox::Model);

#[Object]
impl Inbox {
    async fn id(&self) -> ID {
        ids::encode("Inbox", self.0.id)
    }
    /// The bot webhook connection answering this inbox's incoming messages while a
    /// conversation is PENDING.
    async fn bot_connection(&self, ctx: &Context<'_>) -> Result<Option<BotConnection>> {
        let Some(id) = self.0.bot_connection_id else {
            return Ok(None);
        };
        Ok(
            services::bot_connections::get(&state(ctx).db, principal(ctx), id)
                .await
                .ok()
                .map(BotConnection),
        )
    }
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn account_id(&self) -> ID {
        ids::encode("Account", self.0.account_id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn channel(&self, ctx: &Context<'_>) -> Result<Option<Channel>> {
        Ok(loaders(ctx)
            .channels
            .load_one(self.0.channel_id)
            .await?
            .map(Channel))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(SimpleObject)]
pub struct Tag {
    pub database_id: i64,
    pub name: String,
}

#[derive(SimpleObject)]
pub struct ContactMeta {
    pub key: String,
    pub value: String,
}

pub struct Contact(pub entity::contact::Model);

#[Object]
impl Contact {
    async fn id(&self) -> ID {
        ids::encode("Contact", self.0.id)
    }
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn account_id(&self) -> ID {
        ids::encode("Account", self.0.account_id)
    }
    async fn first_name(&self) -> Option<&str> {
        self.0.first_name.as_deref()
    }
    async fn last_name(&self) -> Option<&str> {
        self.0.last_name.as_deref()
    }
    /// First and last name joined, or null.
    async fn name(&self) -> Option<String> {
        let n = [self.0.first_name.as_deref(), self.0.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        (!n.is_empty()).then_some(n)
    }
    async fn phone_number(&self) -> Option<&str> {
        self.0.phone_number.as_deref()
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn avatar_url(&self) -> Option<&str> {
        self.0.avatar_url.as_deref()
    }
    async fn custom_attributes(&self) -> Json<serde_json::Value> {
        Json(self.0.custom_attributes.clone())
    }
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<Tag>> {
        let tags = loaders(ctx)
            .tags
            .load_one(self.0.id)
            .await?
            .unwrap_or_default();
        Ok(tags
            .into_iter()
            .map(|t| Tag {
                database_id: t.id,
                name: t.name,
            })
            .collect())
    }
    async fn meta(&self, ctx: &Context<'_>) -> Result<Vec<ContactMeta>> {
        let meta = loaders(ctx)
            .meta
            .load_one(self.0.id)
            .await?
            .unwrap_or_default();
        Ok(meta
            .into_iter()
            .map(|m| ContactMeta {
                key: m.meta_key,
                value: m.meta_value,
            })
            .collect())
    }
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Conversation>> {
        let filter = ConversationFilter {
            contact_id: Some(self.0.id),
            ..Default::default()
        };
        let p = services::conversations::list(
            &state(ctx).db,
            principal(ctx),
            self.0.account_id,
            filter,
            page(first, after)?,
        )
        .await?;
        Ok(conn(p, |m| m.id, Conversation))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub struct Conversation(pub entity::conversation::Model);

#[Object]
impl Conversation {
    async fn id(&self) -> ID {
        ids::encode("Conversation", self.0.id)
    }
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn account_id(&self) -> ID {
        ids::encode("Account", self.0.account_id)
    }
    async fn status(&self) -> ConversationStatus {
        self.0.status.into()
    }
    async fn inbox(&self, ctx: &Context<'_>) -> Result<Option<Inbox>> {
        Ok(loaders(ctx)
            .inboxes
            .load_one(self.0.inbox_id)
            .await?
            .map(Inbox))
    }
    async fn contact(&self, ctx: &Context<'_>) -> Result<Option<Contact>> {
        Ok(loaders(ctx)
            .contacts
            .load_one(self.0.contact_id)
            .await?
            .map(Contact))
    }
    /// The contact's id in the inbox's channel.
    async fn source_id(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let Some(ci) = self.0.contact_inbox_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)
            .contact_inboxes
            .load_one(ci)
            .await?
            .map(|c| c.source_id))
    }
    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(a) = self.0.assignee_id else {
            return Ok(None);
        };
        Ok(loaders(ctx).users.load_one(a).await?.map(User))
    }
    async fn department_id(&self) -> Option<i64> {
        self.0.department_id
    }
    async fn goal_id(&self) -> Option<i64> {
        self.0.goal_id
    }
    async fn unread_count(&self) -> i32 {
        self.0.unread_count
    }
    async fn last_message(&self, ctx: &Context<'_>) -> Result<Option<Message>> {
        let Some(m) = self.0.last_message_id else {
            return Ok(None);
        };
        Ok(loaders(ctx).messages.load_one(m).await?.map(Message))
    }
    async fn last_message_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_message_at
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.0.ended_at
    }
    async fn snoozed_until(&self) -> Option<DateTime<Utc>> {
        self.0.snoozed_until
    }
    async fn metadata(&self) -> Option<Json<serde_json::Value>> {
        self.0.metadata.clone().map(Json)
    }
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    async fn additional_attributes(&self) -> Json<serde_json::Value> {
        Json(self.0.additional_attributes.clone())
    }
    async fn custom_attributes(&self) -> Json<serde_json::Value> {
        Json(self.0.custom_attributes.clone())
    }
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Message>> {
        let p = services::messages::list(
            &state(ctx).db,
            principal(ctx),
            self.0.id,
            page(first, after)?,
        )
        .await?;
        Ok(conn(p, |m| m.id, Message))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A bot that wrote a message.
#[derive(SimpleObject)]
pub struct Bot {
    pub database_id: Option<i64>,
}

#[derive(Union)]
pub enum MessageSender {
    Contact(Contact),
    User(User),
    Bot(Bot),
}

pub struct Message(pub entity::message::Model);

#[Object]
impl Message {
    async fn id(&self) -> ID {
        ids::encode("Message", self.0.id)
    }
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn account_id(&self) -> ID {
        ids::encode("Account", self.0.account_id)
    }
    async fn conversation(&self, ctx: &Context<'_>) -> Result<Option<Conversation>> {
        Ok(loaders(ctx)
            .conversations
            .load_one(self.0.conversation_id)
            .await?
            .map(Conversation))
    }
    async fn message_type(&self) -> MessageType {
        self.0.message_type.into()
    }
    async fn sender_type(&self) -> SenderType {
        self.0.sender_type.into()
    }
    async fn sender(&self, ctx: &Context<'_>) -> Result<Option<MessageSender>> {
        let l = loaders(ctx);
        Ok(match (self.0.sender_type, self.0.sender_id) {
            (e::SenderType::Contact, Some(id)) => l
                .contacts
                .load_one(id)
                .await?
                .map(|c| MessageSender::Contact(Contact(c))),
            (e::SenderType::User, Some(id)) => l
                .users
                .load_one(id)
                .await?
                .map(|u| MessageSender::User(User(u))),
            (e::SenderType::Bot, id) => Some(MessageSender::Bot(Bot { database_id: id })),
            _ => None,
        })
    }
    async fn content(&self) -> Option<&str> {
        self.0.content.as_deref()
    }
    async fn content_type(&self) -> ContentType {
        self.0.content_type.into()
    }
    async fn media_url(&self) -> Option<&str> {
        self.0.media_url.as_deref()
    }
    async fn source_id(&self) -> Option<&str> {
        self.0.source_id.as_deref()
    }
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }
    async fn delivery_status(&self) -> MessageDeliveryStatus {
        self.0.delivery_status.into()
    }
    async fn private(&self) -> bool {
        self.0.private
    }
    async fn content_attributes(&self) -> Json<serde_json::Value> {
        Json(self.0.content_attributes.clone())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(SimpleObject)]
pub struct Header {
    pub name: String,
    pub value: String,
}

pub struct WebhookSubscription(pub entity::webhook_subscription::Model);

#[Object]
impl WebhookSubscription {
    async fn id(&self) -> ID {
        ids::encode("WebhookSubscription", self.0.id)
    }
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn account_id(&self) -> ID {
        ids::encode("Account", self.0.account_id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// Event names exactly as receivers see them.
    async fn events(&self) -> Vec<String> {
        services::webhook_subscriptions::events_of(&self.0)
    }
    async fn format(&self) -> PayloadFormat {
        self.0.format.into()
    }
    async fn channel(&self, ctx: &Context<'_>) -> Result<Option<Channel>> {
        let Some(id) = self.0.channel_id else {
            return Ok(None);
        };
        Ok(loaders(ctx).channels.load_one(id).await?.map(Channel))
    }
    async fn inbox(&self, ctx: &Context<'_>) -> Result<Option<Inbox>> {
        let Some(id) = self.0.inbox_id else {
            return Ok(None);
        };
        Ok(loaders(ctx).inboxes.load_one(id).await?.map(Inbox))
    }
    /// Custom headers sent with every delivery.
    async fn headers(&self) -> Vec<Header> {
        services::webhook_subscriptions::headers_of(&self.0)
            .into_iter()
            .map(|(name, value)| Header { name, value })
            .collect()
    }
    async fn has_bearer_token(&self) -> bool {
        self.0.bearer_token_encrypted.is_some()
    }
    async fn basic_auth_username(&self) -> Option<&str> {
        self.0.basic_auth_username.as_deref()
    }
    async fn state(&self) -> SubscriptionState {
        self.0.state.into()
    }
    async fn state_reason(&self) -> Option<&str> {
        self.0.state_reason.as_deref()
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    #[allow(clippy::too_many_arguments)]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<DeliveryStatus>,
        event: Option<String>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        #[graphql(desc = "Newest first; `after` then pages towards older deliveries.")]
        newest_first: Option<bool>,
    ) -> Result<Connection<String, Delivery>> {
        let filter = DeliveryFilter {
            newest_first: newest_first.unwrap_or(false),
            subscription_id: Some(self.0.id),
            status: status.map(Into::into),
            event,
            since,
            until,
        };
        let p = services::deliveries::list(
            &state(ctx).db,
            principal(ctx),
            self.0.account_id,
            filter,
            page(first, after)?,
        )
        .await?;
        Ok(conn(p, |m| m.id, Delivery))
    }
    /// Since when every delivery exhausted its retries (null once one succeeds).
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.failing_since
    }
    /// True for the subscription that carries a channel's own `webhookUrl`.
    async fn is_channel_webhook(&self) -> bool {
        self.0.is_channel_webhook
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub struct ApiToken(pub entity::api_token::Model);

#[Object]
impl ApiToken {
    async fn id(&self) -> ID {
        ids::encode("ApiToken", self.0.id)
    }
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn account_id(&self) -> ID {
        ids::encode("Account", self.0.account_id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The first characters of the token, to recognise it.
    async fn prefix(&self) -> &str {
        &self.0.token_prefix
    }
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A partner API client (seed 003). It exchanges `clientId` and its secret at
/// `POST /partner/v1/token`, then sets its webhook with `POST /partner/v1/webhook`.
pub struct Partner(pub entity::partner::Model);

#[Object]
impl Partner {
    async fn id(&self) -> ID {
        ids::encode("Partner", self.0.id)
    }
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn account_id(&self) -> ID {
        ids::encode("Account", self.0.account_id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn client_id(&self) -> &str {
        &self.0.client_id
    }
    /// Sent as `whatsapp_reference` in `whatsapp` events.
    async fn whatsapp_reference(&self) -> Option<&str> {
        self.0.whatsapp_reference.as_deref()
    }
    /// Sent as `builder_reference` in `builder` events.
    async fn builder_reference(&self) -> Option<&str> {
        self.0.builder_reference.as_deref()
    }
    /// Sent as `online_reference` in `online` events.
    async fn online_reference(&self) -> Option<&str> {
        self.0.online_reference.as_deref()
    }
    /// The webhook the partner set over REST, once it has.
    async fn webhook_subscription(&self, ctx: &Context<'_>) -> Result<Option<WebhookSubscription>> {
        Ok(services::partners::webhook(&state(ctx).db, &self.0)
            .await?
            .map(WebhookSubscription))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A story: a bot flow built in the builder. Its changes are the partner `builder` events.
pub struct Story(pub entity::story::Model);

#[Object]
impl Story {
    async fn id(&self) -> ID {
        ids::encode("Story", self.0.id)
    }
    /// Sent as `builderID` in `builder` events.
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn account_id(&self) -> ID {
        ids::encode("Account", self.0.account_id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn status(&self) -> StoryStatus {
        self.0.status.into()
    }
    /// Sent as `builder_url` in `builder` events.
    async fn url(&self, ctx: &Context<'_>) -> String {
        services::stories::story_url(&state(ctx).config.public_base(), self.0.id)
    }
    async fn published_at(&self) -> Option<DateTime<Utc>> {
        self.0.published_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A bot webhook connection (seed 004). Its token and basic-auth password are write-only here
/// (the REST API shows them, as the document does).
pub struct BotConnection(pub entity::bot_connection::Model);

#[Object]
impl BotConnection {
    async fn id(&self) -> ID {
        ids::encode("BotConnection", self.0.id)
    }
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    /// The id the REST API (`/v2/integrations/webhook/{id}`) and the bot see.
    async fn rest_id(&self) -> String {
        services::bot_connections::rest_id(self.0.id)
    }
    async fn story(&self, ctx: &Context<'_>) -> Result<Option<Story>> {
        Ok(
            services::stories::get(&state(ctx).db, principal(ctx), self.0.story_id)
                .await
                .ok()
                .map(Story),
        )
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    async fn has_token(&self) -> bool {
        self.0.token_encrypted.is_some()
    }
    async fn basic_auth_username(&self) -> Option<&str> {
        self.0.basic_auth_username.as_deref()
    }
    /// Custom headers sent with each call.
    async fn headers(&self) -> Json<serde_json::Value> {
        Json(self.0.headers.clone())
    }
    /// Why the last call failed; null after a good answer.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Whether an agent is online in an inbox.
pub struct AgentPresence(pub entity::agent_presence::Model);

#[Object]
impl AgentPresence {
    async fn inbox_id(&self) -> ID {
        ids::encode("Inbox", self.0.inbox_id)
    }
    async fn user_id(&self) -> ID {
        ids::encode("User", self.0.user_id)
    }
    async fn online(&self) -> bool {
        self.0.online
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// The caller.
pub struct Viewer;

#[Object]
impl Viewer {
    /// The logged-in user (null for API tokens).
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = principal(ctx).user_id() else {
            return Ok(None);
        };
        Ok(loaders(ctx).users.load_one(id).await?.map(User))
    }
    async fn is_platform_admin(&self, ctx: &Context<'_>) -> bool {
        principal(ctx).is_platform_admin()
    }
    /// For API tokens: the one account the token acts for.
    async fn api_token_account_id(&self, ctx: &Context<'_>) -> Option<ID> {
        match principal(ctx) {
            crate::auth::Principal::ApiToken { account_id, .. } => {
                Some(ids::encode("Account", *account_id))
            }
            _ => None,
        }
    }
}

fn header_list(v: &serde_json::Value) -> Vec<Header> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let p = p.as_array()?;
                    Some(Header {
                        name: p.first()?.as_str()?.to_string(),
                        value: p.get(1)?.as_str()?.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One event on its way to one subscription.
pub struct Delivery(pub entity::delivery::Model);

#[Object]
impl Delivery {
    async fn id(&self) -> ID {
        ids::encode("Delivery", self.0.id)
    }
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn account_id(&self) -> ID {
        ids::encode("Account", self.0.account_id)
    }
    async fn subscription_id(&self) -> ID {
        ids::encode("WebhookSubscription", self.0.subscription_id)
    }
    /// Event name as the receiver sees it.
    async fn event(&self) -> &str {
        &self.0.event_type
    }
    /// Standard Webhooks `webhook-id`: the same on every attempt.
    async fn webhook_id(&self) -> &str {
        &self.0.webhook_id
    }
    async fn status(&self) -> DeliveryStatus {
        self.0.status.into()
    }
    async fn attempt_count(&self) -> i32 {
        self.0.attempt_count
    }
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_attempt_at
    }
    async fn last_response_status(&self) -> Option<i32> {
        self.0.last_response_status
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// The body sent on every attempt (a `whatsapp` partner payload's `whatsapp_apiKey` shows
    /// as `[redacted]`).
    async fn payload(&self) -> std::borrow::Cow<'_, str> {
        crate::events::partner::redact_body(&self.0.payload)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }
    async fn attempts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, DeliveryAttempt>> {
        let p =
            services::deliveries::attempts(&state(ctx).db, self.0.id, page(first, after)?).await?;
        Ok(conn(p, |m| m.id, DeliveryAttempt))
    }
}

/// One HTTP attempt: the request as sent (credentials redacted) and the answer.
pub struct DeliveryAttempt(pub entity::delivery_attempt::Model);

#[Object]
impl DeliveryAttempt {
    async fn id(&self) -> ID {
        ids::encode("DeliveryAttempt", self.0.id)
    }
    /// The delivery this attempt belongs to (its event, and its status now).
    async fn delivery(&self, ctx: &Context<'_>) -> Result<Option<Delivery>> {
        Ok(
            services::deliveries::get(&state(ctx).db, principal(ctx), self.0.delivery_id)
                .await
                .ok()
                .map(Delivery),
        )
    }
    async fn database_id(&self) -> i64 {
        self.0.id
    }
    async fn account_id(&self) -> ID {
        ids::encode("Account", self.0.account_id)
    }
    async fn delivery_id(&self) -> ID {
        ids::encode("Delivery", self.0.delivery_id)
    }
    async fn subscription_id(&self) -> ID {
        ids::encode("WebhookSubscription", self.0.subscription_id)
    }
    /// 1 for the first attempt.
    async fn attempt_number(&self) -> i32 {
        self.0.attempt_number
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    async fn request_headers(&self) -> Vec<Header> {
        header_list(&self.0.request_headers)
    }
    async fn request_body(&self) -> &str {
        &self.0.request_body
    }
    async fn response_status(&self) -> Option<i32> {
        self.0.response_status
    }
    async fn response_headers(&self) -> Vec<Header> {
        self.0
            .response_headers
            .as_ref()
            .map(header_list)
            .unwrap_or_default()
    }
    /// The first bytes of the answer (see `responseTruncated`).
    async fn response_body(&self) -> Option<&str> {
        self.0.response_body.as_deref()
    }
    async fn response_truncated(&self) -> bool {
        self.0.response_truncated
    }
    async fn duration_ms(&self) -> i32 {
        self.0.duration_ms
    }
    /// `TIMEOUT`, `CONNECT`, `TLS`, `HTTP_STATUS`, `BLOCKED`, `REDIRECT`, `BODY` or `OTHER`; null on success.
    async fn error_kind(&self) -> Option<&str> {
        self.0.error_kind.as_deref()
    }
    async fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }
    /// When the next attempt is due, if this one scheduled a retry.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_attempt_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
