//! Channels (a WhatsApp number, a web widget, an API channel…) and their credentials, which
//! are stored encrypted and never returned.

use entity::{
    channel,
    enums::{ChannelEnv, ChannelKind, ChannelStatus},
};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use super::{Page, PageOf, load_owned, load_owned_admin, paginate};
use crate::{
    auth::Principal,
    crypto::Keys,
    delivery::ssrf::Allow,
    domain::{Checks, JSON_MAX, NAME_MAX},
    error::Result,
};

#[derive(Default)]
pub struct ChannelFields {
    pub kind: Option<ChannelKind>,
    pub name: Option<String>,
    pub phone: Option<Option<String>>,
    pub identifier: Option<Option<String>>,
    pub provider: Option<Option<String>>,
    pub country: Option<Option<String>>,
    pub env: Option<ChannelEnv>,
    pub status: Option<ChannelStatus>,
    pub description: Option<Option<String>>,
    pub webhook_url: Option<Option<String>>,
    /// Provider credentials (any JSON object); write-only.
    pub credentials: Option<Option<serde_json::Value>>,
    /// A WhatsApp line's daily business-conversation limit.
    pub daily_limit: Option<Option<i32>>,
}

/// The `whatsapp` partner event code for a WhatsApp line's change (see `events::partner`).
fn whatsapp_code(before: Option<ChannelStatus>, after: Option<ChannelStatus>) -> Option<u8> {
    use ChannelStatus::*;
    match (before, after) {
        (None, Some(Active)) => Some(1),
        (None, Some(Pending)) => Some(2),
        (Some(b), Some(a)) if b == a => None,
        (Some(_), Some(Active)) => Some(3),
        (Some(_), Some(Inactive)) => Some(4),
        (Some(_), Some(Disabled)) => Some(5),
        (Some(_), None) => Some(6),
        _ => None,
    }
}

/// Records the `whatsapp` partner event for a WhatsApp line's change, if it is one.
async fn whatsapp_event<C: sea_orm::ConnectionTrait>(
    db: &C,
    keys: &Keys,
    ch: &channel::Model,
    before: Option<ChannelStatus>,
    after: Option<ChannelStatus>,
) -> Result<()> {
    if ch.kind != ChannelKind::Whatsapp {
        return Ok(());
    }
    let Some(extra_info) = whatsapp_code(before, after) else {
        return Ok(());
    };
    // The line's API key, when its credentials hold one.
    let api_key = ch
        .credentials_encrypted
        .as_deref()
        .and_then(|c| keys.decrypt(c).ok())
        .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
        .and_then(|v| v.get("apiKey").and_then(|k| k.as_str()).map(String::from));
    crate::events::partner::emit(
        db,
        ch.account_id,
        crate::events::partner::PartnerEvent::Whatsapp {
            channel: ch,
            extra_info,
            api_key,
        },
    )
    .await
}

fn apply(
    c: &mut Checks,
    keys: &Keys,
    allow: &Allow,
    am: &mut channel::ActiveModel,
    f: ChannelFields,
) {
    if let Some(k) = f.kind {
        am.kind = Set(k);
    }
    if let Some(n) = f.name {
        am.name = Set(c.required("name", &n, NAME_MAX));
    }
    if let Some(p) = f.phone {
        am.phone = Set(c.phone("phone", p.as_deref()));
    }
    if let Some(v) = f.identifier {
        am.identifier = Set(c.optional("identifier", v.as_deref(), NAME_MAX));
    }
    if let Some(v) = f.provider {
        am.provider = Set(c.optional("provider", v.as_deref(), 64));
    }
    if let Some(v) = f.country {
        let v = c
            .optional("country", v.as_deref(), 8)
            .map(|s| s.to_uppercase());
        if v.as_ref().is_some_and(|s| {
            !(2..=3).contains(&s.len()) || !s.chars().all(|ch| ch.is_ascii_alphabetic())
        }) {
            c.push(
                "country",
                "INVALID",
                "must be an ISO 3166 country code such as NG or ISR",
            );
        }
        am.country = Set(v);
    }
    if let Some(e) = f.env {
        am.env = Set(e);
    }
    if let Some(s) = f.status {
        am.status = Set(s);
    }
    if let Some(v) = f.description {
        am.description = Set(c.optional("description", v.as_deref(), 4096));
    }
    if let Some(v) = f.webhook_url {
        let url = c.url("webhookUrl", v.as_deref());
        super::webhook_subscriptions::check_destination(c, "webhookUrl", url.as_deref(), allow);
        am.webhook_url = Set(url);
    }
    if let Some(v) = f.daily_limit {
        if v.is_some_and(|n| n < 0) {
            c.push("dailyLimit", "INVALID", "must be 0 or more");
        }
        am.daily_limit = Set(v);
    }
    if let Some(v) = f.credentials {
        am.credentials_encrypted = Set(v.map(|json| {
            c.json_object("credentials", &json);
            if json.to_string().len() > JSON_MAX {
                c.push("credentials", "TOO_LONG", "is too large");
            }
            keys.encrypt(&json.to_string())
        }));
    }
}

pub async fn create(
    db: &DatabaseConnection,
    keys: &Keys,
    allow: &Allow,
    principal: &Principal,
    account_id: i64,
    f: ChannelFields,
) -> Result<channel::Model> {
    principal.require_member_in(account_id, "accountId")?;
    principal.require_admin(account_id)?;
    let mut c = Checks::new();
    if f.kind.is_none() {
        c.push("kind", "BLANK", "can't be blank");
    }
    if f.name.is_none() {
        c.push("name", "BLANK", "can't be blank");
    }
    let mut am = channel::ActiveModel {
        account_id: Set(account_id),
        env: Set(ChannelEnv::Live),
        status: Set(ChannelStatus::Active),
        phone: Set(None),
        identifier: Set(None),
        provider: Set(None),
        country: Set(None),
        description: Set(None),
        webhook_url: Set(None),
        credentials_encrypted: Set(None),
        daily_limit: Set(None),
        ..Default::default()
    };
    apply(&mut c, keys, allow, &mut am, f);
    c.finish()?;
    let txn = crate::db::begin_write(db).await?;
    let ch = am.insert(&txn).await?;
    super::webhook_subscriptions::sync_channel_webhook(&txn, keys, &ch).await?;
    whatsapp_event(&txn, keys, &ch, None, Some(ch.status)).await?;
    txn.commit().await?;
    crate::delivery::events_committed();
    Ok(ch)
}

pub async fn update(
    db: &DatabaseConnection,
    keys: &Keys,
    allow: &Allow,
    principal: &Principal,
    id: i64,
    f: ChannelFields,
) -> Result<channel::Model> {
    let ch =
        load_owned_admin::<channel::Entity, _>(db, principal, id, "channel", Some("id")).await?;
    let mut c = Checks::new();
    let before = ch.status;
    let mut am: channel::ActiveModel = ch.into();
    apply(&mut c, keys, allow, &mut am, f);
    c.finish()?;
    let txn = crate::db::begin_write(db).await?;
    let ch = am.update(&txn).await?;
    super::webhook_subscriptions::sync_channel_webhook(&txn, keys, &ch).await?;
    whatsapp_event(&txn, keys, &ch, Some(before), Some(ch.status)).await?;
    txn.commit().await?;
    crate::delivery::events_committed();
    Ok(ch)
}

pub async fn delete(
    db: &DatabaseConnection,
    keys: &Keys,
    principal: &Principal,
    id: i64,
) -> Result<()> {
    let ch =
        load_owned_admin::<channel::Entity, _>(db, principal, id, "channel", Some("id")).await?;
    let txn = crate::db::begin_write(db).await?;
    whatsapp_event(&txn, keys, &ch, Some(ch.status), None).await?;
    channel::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    crate::delivery::events_committed();
    Ok(())
}

pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
) -> Result<channel::Model> {
    Ok(
        load_owned::<channel::Entity, _>(db, principal, id, "channel", None)
            .await?
            .0,
    )
}

pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    page: Page,
) -> Result<PageOf<channel::Model>> {
    principal.require_member(account_id)?;
    let q = channel::Entity::find().filter(channel::Column::AccountId.eq(account_id));
    paginate(db, q, channel::Column::Id, page).await
}

/// Whether credentials are stored (their value is never returned).
pub fn has_credentials(ch: &channel::Model) -> bool {
    ch.credentials_encrypted.is_some()
}
