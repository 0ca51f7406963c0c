//! Webhook subscriptions: where an account's events go, in which format, signed with which
//! secret. The signing secret and receiver credentials are stored encrypted; the secret is
//! revealed once, in the response that creates it.

use std::collections::BTreeSet;

use entity::{
    channel,
    enums::{PayloadFormat, SubscriptionState},
    inbox, webhook_subscription as ws,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use super::{Page, PageOf, load_owned_admin, paginate};
use crate::{
    auth::Principal,
    crypto::{self, Keys},
    delivery::ssrf::{Allow, check_url_host},
    domain::{Checks, NAME_MAX},
    error::{Error, Result},
    events,
};

pub const MAX_HEADERS: usize = 20;
/// Headers the platform sets itself; a subscription cannot override them.
const RESERVED_HEADERS: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "transfer-encoding",
    "connection",
];

#[derive(Default)]
pub struct SubscriptionFields {
    pub name: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub format: Option<PayloadFormat>,
    pub channel_id: Option<Option<i64>>,
    pub inbox_id: Option<Option<i64>>,
    pub headers: Option<Vec<(String, String)>>,
    pub bearer_token: Option<Option<String>>,
    pub basic_auth: Option<Option<(String, String)>>,
    /// Operators may pause and re-enable; DISABLED is set by the delivery engine.
    pub state: Option<SubscriptionState>,
}

fn valid_header_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub fn check_headers(
    c: &mut Checks,
    headers: &[(String, String)],
    has_auth: bool,
) -> serde_json::Value {
    if headers.len() > MAX_HEADERS {
        c.push(
            "headers",
            "TOO_LONG",
            format!("at most {MAX_HEADERS} headers"),
        );
    }
    let mut seen = BTreeSet::new();
    let mut map = serde_json::Map::new();
    for (name, value) in headers {
        let lower = name.trim().to_ascii_lowercase();
        if !valid_header_name(&lower) {
            c.push(
                "headers.name",
                "INVALID",
                format!("`{name}` is not a valid header name"),
            );
        } else if RESERVED_HEADERS.contains(&lower.as_str())
            || (has_auth && lower == "authorization")
        {
            c.push(
                "headers.name",
                "NOT_ALLOWED",
                format!("`{name}` is set by Switchboard"),
            );
        } else if !seen.insert(lower.clone()) {
            c.push("headers.name", "TAKEN", format!("`{name}` appears twice"));
        }
        if value.len() > 1024 || value.chars().any(|ch| ch.is_control()) {
            c.push(
                "headers.value",
                "INVALID",
                format!("value of `{name}` must be at most 1024 printable characters"),
            );
        }
        map.insert(
            name.trim().to_string(),
            serde_json::Value::String(value.clone()),
        );
    }
    serde_json::Value::Object(map)
}

fn check_events(c: &mut Checks, events: &[String], format: PayloadFormat) -> Vec<String> {
    if events.is_empty() {
        c.push("events", "BLANK", "choose at least one event");
    }
    let mut out = BTreeSet::new();
    for e in events {
        if !events::is_known(e) {
            c.push(
                "events",
                "INVALID",
                format!(
                    "`{e}` is not an event (known: {})",
                    events::EVENT_NAMES.join(", ")
                ),
            );
        } else if !events::format_supports(format, e) {
            c.push(
                "events",
                "NOT_ALLOWED",
                format!("the {} format has no payload for `{e}`", format.as_str()),
            );
        } else {
            out.insert(e.clone());
        }
    }
    out.into_iter().collect()
}

async fn check_scope(
    db: &DatabaseConnection,
    c: &mut Checks,
    account_id: i64,
    channel_id: Option<i64>,
    inbox_id: Option<i64>,
) -> Result<()> {
    if channel_id.is_some() && inbox_id.is_some() {
        c.push(
            "inboxId",
            "INVALID",
            "scope a subscription to a channel or to an inbox, not both",
        );
    }
    if let Some(id) = channel_id
        && channel::Entity::find_by_id(id)
            .one(db)
            .await?
            .is_none_or(|ch| ch.account_id != account_id)
    {
        return Err(Error::not_found_in("channel", "channelId"));
    }
    if let Some(id) = inbox_id
        && inbox::Entity::find_by_id(id)
            .one(db)
            .await?
            .is_none_or(|i| i.account_id != account_id)
    {
        return Err(Error::not_found_in("inbox", "inboxId"));
    }
    Ok(())
}

/// Applies the changes in `f` to `am`; `current` is the stored row on update.
async fn apply(
    db: &DatabaseConnection,
    keys: &Keys,
    allow: &Allow,
    account_id: i64,
    am: &mut ws::ActiveModel,
    current: Option<&ws::Model>,
    f: SubscriptionFields,
) -> Result<()> {
    let mut c = Checks::new();
    if let Some(u) = &f.url {
        let url = c.url("url", Some(u));
        if url.is_none() {
            c.push("url", "BLANK", "can't be blank");
        }
        check_destination(&mut c, "url", url.as_deref(), allow);
        am.url = Set(url.unwrap_or_default());
    }
    if let Some(n) = &f.name {
        am.name = Set(c.required("name", n, NAME_MAX));
    }
    let format = f
        .format
        .or(current.map(|m| m.format))
        .unwrap_or(PayloadFormat::Standard);
    am.format = Set(format);
    let events = match (&f.events, current) {
        (Some(e), _) => Some(e.clone()),
        // A new format must still fit the stored events.
        (None, Some(m)) if f.format.is_some() => {
            serde_json::from_value::<Vec<String>>(m.events.clone()).ok()
        }
        _ => None,
    };
    if let Some(e) = events {
        am.events = Set(serde_json::json!(check_events(&mut c, &e, format)));
    }
    let has_bearer = match &f.bearer_token {
        Some(v) => v.is_some(),
        None => current.is_some_and(|m| m.bearer_token_encrypted.is_some()),
    };
    let has_basic = match &f.basic_auth {
        Some(v) => v.is_some(),
        None => current.is_some_and(|m| m.basic_auth_username.is_some()),
    };
    if has_bearer && has_basic {
        c.push(
            "basicAuth",
            "INVALID",
            "use a bearer token or basic auth, not both",
        );
    }
    if let Some(h) = &f.headers {
        am.headers = Set(check_headers(&mut c, h, has_bearer || has_basic));
    }
    if let Some(t) = f.bearer_token {
        let t = c.optional("bearerToken", t.as_deref(), 1024);
        am.bearer_token_encrypted = Set(t.map(|t| keys.encrypt(&t)));
    }
    if let Some(b) = f.basic_auth {
        match b {
            Some((user, pass)) => {
                let user = c.required("basicAuth.username", &user, NAME_MAX);
                if user.contains(':') {
                    c.push("basicAuth.username", "INVALID", "must not contain ':'");
                }
                c.max_len("basicAuth.password", &pass, 1024);
                am.basic_auth_username = Set(Some(user));
                am.basic_auth_password_encrypted = Set(Some(keys.encrypt(&pass)));
            }
            None => {
                am.basic_auth_username = Set(None);
                am.basic_auth_password_encrypted = Set(None);
            }
        }
    }
    if let Some(s) = f.state {
        if s == SubscriptionState::Disabled
            && current.is_none_or(|m| m.state != SubscriptionState::Disabled)
        {
            c.push(
                "state",
                "NOT_ALLOWED",
                "DISABLED is set by the delivery engine; use PAUSED",
            );
        }
        am.state = Set(s);
        am.state_reason = Set(None);
    }
    let channel_id = f.channel_id.unwrap_or(current.and_then(|m| m.channel_id));
    let inbox_id = f.inbox_id.unwrap_or(current.and_then(|m| m.inbox_id));
    check_scope(db, &mut c, account_id, channel_id, inbox_id).await?;
    am.channel_id = Set(channel_id);
    am.inbox_id = Set(inbox_id);
    c.finish()
}

/// Creates a subscription and returns it with its new signing secret (shown this once).
pub async fn create(
    db: &DatabaseConnection,
    keys: &Keys,
    allow: &Allow,
    principal: &Principal,
    account_id: i64,
    mut f: SubscriptionFields,
) -> Result<(ws::Model, String)> {
    principal.require_member_in(account_id, "accountId")?;
    principal.require_admin(account_id)?;
    let mut c = Checks::new();
    if f.url.is_none() {
        c.push("url", "BLANK", "can't be blank");
    }
    if f.events.is_none() {
        c.push("events", "BLANK", "choose at least one event");
    }
    c.finish()?;
    if f.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        f.name = Some(
            f.url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .and_then(|u| u.host_str().map(String::from))
                .unwrap_or_else(|| "webhook".into()),
        );
    }
    let (mut am, secret) = blank(keys, account_id);
    apply(db, keys, allow, account_id, &mut am, None, f).await?;
    Ok((am.insert(db).await?, secret))
}

/// A new enabled subscription of the account: a fresh signing secret (returned in clear),
/// no scope, headers or credentials. Callers set name, URL, events and format. Partner webhooks,
/// channel webhooks and bot connections start from it too.
pub fn blank(keys: &Keys, account_id: i64) -> (ws::ActiveModel, String) {
    let secret = crypto::new_webhook_secret();
    let am = ws::ActiveModel {
        account_id: Set(account_id),
        channel_id: Set(None),
        inbox_id: Set(None),
        secret_encrypted: Set(keys.encrypt(&secret)),
        previous_secret_encrypted: Set(None),
        previous_secret_expires_at: Set(None),
        headers: Set(serde_json::json!({})),
        bearer_token_encrypted: Set(None),
        basic_auth_username: Set(None),
        basic_auth_password_encrypted: Set(None),
        state: Set(SubscriptionState::Enabled),
        state_reason: Set(None),
        last_error: Set(None),
        is_channel_webhook: Set(false),
        failing_since: Set(None),
        partner_id: Set(None),
        bot_connection_id: Set(None),
        ..Default::default()
    };
    (am, secret)
}

pub async fn update(
    db: &DatabaseConnection,
    keys: &Keys,
    allow: &Allow,
    principal: &Principal,
    id: i64,
    f: SubscriptionFields,
) -> Result<ws::Model> {
    let m =
        load_owned_admin::<ws::Entity, _>(db, principal, id, "webhook subscription", Some("id"))
            .await?;
    managed_elsewhere(&m)?;
    let mut am: ws::ActiveModel = m.clone().into();
    apply(db, keys, allow, m.account_id, &mut am, Some(&m), f).await?;
    let updated = am.update(db).await?;
    if m.state == SubscriptionState::Paused && updated.state == SubscriptionState::Enabled {
        super::deliveries::release_paused(db, updated.id).await?;
    }
    Ok(updated)
}

/// A bot connection's subscription follows its connection; edit that instead.
fn managed_elsewhere(m: &ws::Model) -> Result<()> {
    match m.bot_connection_id {
        Some(c) => Err(Error::invalid(
            "id",
            "NOT_ALLOWED",
            format!(
                "this subscription carries bot connection {}'s calls; change the connection instead",
                super::bot_connections::rest_id(c)
            ),
        )),
        None => Ok(()),
    }
}

pub async fn delete(db: &DatabaseConnection, principal: &Principal, id: i64) -> Result<()> {
    let m =
        load_owned_admin::<ws::Entity, _>(db, principal, id, "webhook subscription", Some("id"))
            .await?;
    managed_elsewhere(&m)?;
    ws::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// Agents cannot see webhook subscriptions (they carry receiver credentials).
pub async fn get(db: &DatabaseConnection, principal: &Principal, id: i64) -> Result<ws::Model> {
    load_owned_admin::<ws::Entity, _>(db, principal, id, "webhook subscription", None).await
}

pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    page: Page,
) -> Result<PageOf<ws::Model>> {
    principal.require_admin(account_id)?;
    let q = ws::Entity::find().filter(ws::Column::AccountId.eq(account_id));
    paginate(db, q, ws::Column::Id, page).await
}

pub fn events_of(m: &ws::Model) -> Vec<String> {
    serde_json::from_value(m.events.clone()).unwrap_or_default()
}

pub fn headers_of(m: &ws::Model) -> Vec<(String, String)> {
    m.headers
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Refuses destinations that are not public (unless allowed by configuration).
pub fn check_destination(c: &mut Checks, field: &str, url: Option<&str>, allow: &Allow) {
    if let Some(u) = url.and_then(|u| crate::domain::check_url(u).ok())
        && let Err(why) = check_url_host(&u, allow)
    {
        c.push(field, "NOT_ALLOWED", why);
    }
}

/// Keeps a channel's own `webhookUrl` (seed 001) as a subscription scoped to the channel:
/// created with the `NEW_MESSAGE` format and `message_created` (what that document defines),
/// its URL following the channel's, deleted when the URL is cleared. Its format, events and
/// secret are then managed like any subscription's.
pub async fn sync_channel_webhook<C: sea_orm::ConnectionTrait>(
    db: &C,
    keys: &Keys,
    ch: &channel::Model,
) -> Result<()> {
    let existing = ws::Entity::find()
        .filter(ws::Column::ChannelId.eq(ch.id))
        .filter(ws::Column::IsChannelWebhook.eq(true))
        .one(db)
        .await?;
    match (&ch.webhook_url, existing) {
        (None, Some(sub)) => {
            ws::Entity::delete_by_id(sub.id).exec(db).await?;
        }
        (Some(url), Some(sub)) if &sub.url != url => {
            let mut am: ws::ActiveModel = sub.into();
            am.url = Set(url.clone());
            am.update(db).await?;
        }
        (Some(url), None) => {
            let (mut am, _) = blank(keys, ch.account_id);
            am.channel_id = Set(Some(ch.id));
            am.name = Set(format!("{} (channel webhook)", ch.name)
                .chars()
                .take(NAME_MAX)
                .collect());
            am.url = Set(url.clone());
            am.events = Set(serde_json::json!(["message_created"]));
            am.format = Set(PayloadFormat::NewMessage);
            am.is_channel_webhook = Set(true);
            am.insert(db).await?;
        }
        _ => {}
    }
    Ok(())
}
