//! Partners (seed 003): API clients of one account, created by its administrators. A partner
//! exchanges its client id and secret for a short-lived bearer token, sets and reads its one
//! webhook, and receives the partner events of its account in the `PARTNER` format.
//!
//! The webhook is an ordinary subscription (format `PARTNER`, the partner events, `partner_id`
//! set), so it is signed, retried and logged like every other, and operators see it in
//! `webhookSubscriptions`.

use entity::{
    enums::{PayloadFormat, SubscriptionState},
    partner, webhook_subscription as ws,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

use super::{Page, PageOf, load_owned_admin, paginate};
use crate::{
    auth::Principal,
    crypto::{self, Keys},
    delivery::ssrf::{self, Allow},
    domain::Checks,
    error::Result,
    events::PARTNER_EVENTS,
};

pub const CLIENT_ID_PREFIX: &str = "sbp_";
pub const CLIENT_SECRET_PREFIX: &str = "sbps_";
/// Seed 003: the webhook URL is at most 512 characters.
pub const PARTNER_URL_MAX: usize = 512;
const REFERENCE_MAX: usize = 255;

pub struct NewPartner {
    pub name: String,
    pub whatsapp_reference: Option<String>,
    pub builder_reference: Option<String>,
    pub online_reference: Option<String>,
}

/// Creates a partner; the client secret is returned here only (it is stored as SHA-256).
pub async fn create(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    input: NewPartner,
) -> Result<(partner::Model, String)> {
    principal.require_member_in(account_id, "accountId")?;
    principal.require_admin(account_id)?;
    let mut c = Checks::new();
    let name = c.required("name", &input.name, 128);
    let whatsapp_reference = c.optional(
        "whatsappReference",
        input.whatsapp_reference.as_deref(),
        REFERENCE_MAX,
    );
    let builder_reference = c.optional(
        "builderReference",
        input.builder_reference.as_deref(),
        REFERENCE_MAX,
    );
    let online_reference = c.optional(
        "onlineReference",
        input.online_reference.as_deref(),
        REFERENCE_MAX,
    );
    c.finish()?;
    let secret = format!("{CLIENT_SECRET_PREFIX}{}", crypto::random_token(32));
    let m = partner::ActiveModel {
        account_id: Set(account_id),
        name: Set(name),
        client_id: Set(format!("{CLIENT_ID_PREFIX}{}", crypto::random_token(16))),
        client_secret_hash: Set(crypto::token_hash(&secret)),
        whatsapp_reference: Set(whatsapp_reference),
        builder_reference: Set(builder_reference),
        online_reference: Set(online_reference),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((m, secret))
}

pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    page: Page,
) -> Result<PageOf<partner::Model>> {
    principal.require_admin(account_id)?;
    let q = partner::Entity::find().filter(partner::Column::AccountId.eq(account_id));
    paginate(db, q, partner::Column::Id, page).await
}

/// Deletes the partner and its webhook subscription (with that subscription's delivery log).
pub async fn delete(db: &DatabaseConnection, principal: &Principal, id: i64) -> Result<()> {
    let p =
        load_owned_admin::<partner::Entity, _>(db, principal, id, "partner", Some("id")).await?;
    let txn = crate::db::begin_write(db).await?;
    ws::Entity::delete_many()
        .filter(ws::Column::PartnerId.eq(p.id))
        .exec(&txn)
        .await?;
    partner::Entity::delete_by_id(p.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// The partner whose credentials these are, or `None`.
pub async fn authenticate(
    db: &DatabaseConnection,
    client_id: &str,
    client_secret: &str,
) -> Result<Option<partner::Model>> {
    if client_id.is_empty() || client_id.len() > 64 || client_secret.len() > 256 {
        return Ok(None);
    }
    // Looked up by the secret's hash, as API tokens are: no secret comparison in our code.
    Ok(partner::Entity::find()
        .filter(partner::Column::ClientId.eq(client_id))
        .filter(partner::Column::ClientSecretHash.eq(crypto::token_hash(client_secret)))
        .one(db)
        .await?)
}

pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
) -> Result<partner::Model> {
    load_owned_admin::<partner::Entity, _>(db, principal, id, "partner", None).await
}

pub async fn find(db: &DatabaseConnection, id: i64) -> Result<Option<partner::Model>> {
    Ok(partner::Entity::find_by_id(id).one(db).await?)
}

/// Why a webhook could not be set or read; the numbers are the `reason` codes of the partner
/// REST API (README, "Partner API").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 2: the body is not JSON with a string `url`.
    MissingUrl = 2,
    /// 3: not a URL.
    InvalidUrl = 3,
    /// 4: longer than 512 characters.
    TooLong = 4,
    /// 5: not http or https.
    BadScheme = 5,
    /// 6: a loopback, private or otherwise non-public destination.
    Blocked = 6,
    /// 7: no webhook set yet.
    NotSet = 7,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::MissingUrl => "send a JSON body with a string field `url`",
            Refusal::InvalidUrl => "url is not a valid URL",
            Refusal::TooLong => "url is longer than 512 characters",
            Refusal::BadScheme => "url must start with http:// or https://",
            Refusal::Blocked => {
                "url points to a non-public address; webhooks must reach public hosts"
            }
            Refusal::NotSet => "no webhook has been set yet",
        }
    }
}

/// Checks a partner webhook URL as seed 003 and the SSRF guard require.
pub fn check_partner_url(raw: &str, allow: &Allow) -> std::result::Result<String, Refusal> {
    let url = raw.trim();
    if url.is_empty() {
        return Err(Refusal::MissingUrl);
    }
    if url.chars().count() > PARTNER_URL_MAX {
        return Err(Refusal::TooLong);
    }
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(if url::Url::parse(url).is_ok() {
            Refusal::BadScheme
        } else {
            Refusal::InvalidUrl
        });
    }
    let parsed = url::Url::parse(url).map_err(|_| Refusal::InvalidUrl)?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(Refusal::InvalidUrl);
    }
    ssrf::check_url_host(&parsed, allow).map_err(|_| Refusal::Blocked)?;
    Ok(url.to_string())
}

/// The partner's webhook subscription, if one was set.
pub async fn webhook<C: ConnectionTrait>(db: &C, p: &partner::Model) -> Result<Option<ws::Model>> {
    Ok(ws::Entity::find()
        .filter(ws::Column::PartnerId.eq(p.id))
        .order_by_asc(ws::Column::Id)
        .one(db)
        .await?)
}

/// Sets (creates or replaces the URL of) the partner's one webhook. A new webhook gets a fresh
/// signing secret; operators read it by rotating it (`webhookSubscriptionRotateSecret`).
pub async fn set_webhook(
    db: &DatabaseConnection,
    keys: &Keys,
    allow: &Allow,
    p: &partner::Model,
    raw_url: &str,
) -> Result<std::result::Result<ws::Model, Refusal>> {
    let url = match check_partner_url(raw_url, allow) {
        Ok(u) => u,
        Err(r) => return Ok(Err(r)),
    };
    let txn = crate::db::begin_write(db).await?;
    let saved = match webhook(&txn, p).await? {
        Some(existing) => {
            let mut am: ws::ActiveModel = existing.into();
            am.url = Set(url);
            // Setting the URL again is how a partner revives a webhook that was disabled
            // (410 Gone, or failing for days).
            am.state = Set(SubscriptionState::Enabled);
            am.state_reason = Set(None);
            am.failing_since = Set(None);
            am.update(&txn).await?
        }
        None => {
            let (mut am, _) = super::webhook_subscriptions::blank(keys, p.account_id);
            am.name = Set(format!("partner: {}", p.name));
            am.url = Set(url);
            am.events = Set(serde_json::json!(PARTNER_EVENTS));
            am.format = Set(PayloadFormat::Partner);
            am.partner_id = Set(Some(p.id));
            am.insert(&txn).await?
        }
    };
    txn.commit().await?;
    Ok(Ok(saved))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_urls_are_checked_in_the_documents_order() {
        let none = Allow::None;
        assert_eq!(
            check_partner_url("https://hooks.example.com/p", &none).as_deref(),
            Ok("https://hooks.example.com/p")
        );
        assert_eq!(check_partner_url("  ", &none), Err(Refusal::MissingUrl));
        let long = format!("https://example.com/{}", "a".repeat(500));
        assert_eq!(check_partner_url(&long, &none), Err(Refusal::TooLong));
        assert_eq!(
            check_partner_url("ftp://example.com/x", &none),
            Err(Refusal::BadScheme)
        );
        assert_eq!(
            check_partner_url("your-webhook.example.com", &none),
            Err(Refusal::InvalidUrl)
        );
        assert_eq!(
            check_partner_url("http://", &none),
            Err(Refusal::InvalidUrl)
        );
        assert_eq!(
            check_partner_url("http://127.0.0.1:9/x", &none),
            Err(Refusal::Blocked)
        );
        assert_eq!(
            check_partner_url("http://localhost/x", &none),
            Err(Refusal::Blocked)
        );
    }
}
