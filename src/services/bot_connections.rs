//! Bot webhook connections (seed 004): a story's webhook, managed over the bearer REST API
//! (`/v2/integrations/webhook`) and GraphQL, attached to inboxes whose incoming messages it
//! answers while a conversation is with the bot. Token and basic-auth password are stored
//! encrypted (the REST API shows them back, as the document does).

use entity::{
    bot_connection,
    enums::{PayloadFormat, SubscriptionState},
    inbox, story, webhook_subscription as ws,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::{Page, PageOf, load_owned, load_owned_admin, paginate};
use crate::{
    auth::Principal,
    crypto::Keys,
    delivery::ssrf::Allow,
    domain::Checks,
    error::{Error, Result},
};

pub const NAME_MAX: usize = 128;
pub const URL_MAX: usize = 1024;
pub const SECRET_MAX: usize = 1024;
pub const HEADERS_MAX: usize = 10;

/// The writable fields, as seed 004 names them. On update (PUT) the whole set is replaced.
pub struct ConnectionFields {
    pub name: String,
    pub url: String,
    pub token: Option<String>,
    pub headers: Option<Vec<(String, String)>>,
    /// `auth.username`, `auth.password`.
    pub auth: Option<(String, String)>,
}

/// The 24-character id the REST API shows (seed 004 ids are `size(24)`): the database id in
/// zero-padded lowercase hex.
pub fn rest_id(id: i64) -> String {
    format!("{id:024x}")
}

/// The database id of a REST id, if it is one.
pub fn parse_rest_id(s: &str) -> Option<i64> {
    if s.len() != 24 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(s, 16).ok().filter(|n| *n > 0)
}

fn apply(
    c: &mut Checks,
    keys: &Keys,
    allow: &Allow,
    am: &mut bot_connection::ActiveModel,
    f: ConnectionFields,
) {
    am.name = Set(c.required("name", &f.name, NAME_MAX));
    let url = c.required("url", &f.url, URL_MAX);
    if !url.is_empty() {
        match crate::domain::check_url(&url) {
            Err(why) => c.push("url", "INVALID", why),
            Ok(_) => super::webhook_subscriptions::check_destination(c, "url", Some(&url), allow),
        }
    }
    am.url = Set(url);
    let has_auth = f.token.is_some() || f.auth.is_some();
    am.token_encrypted = Set(match f.token {
        Some(t) => {
            let t = c.required("token", &t, SECRET_MAX);
            Some(keys.encrypt(&t))
        }
        None => None,
    });
    let headers = match f.headers {
        Some(h) => {
            if h.is_empty() || h.len() > HEADERS_MAX {
                c.push(
                    "headers",
                    "INVALID",
                    format!("must have 1..{HEADERS_MAX} entries"),
                );
            }
            super::webhook_subscriptions::check_headers(c, &h, has_auth)
        }
        None => serde_json::json!({}),
    };
    am.headers = Set(headers);
    match f.auth {
        Some((user, pass)) => {
            let user = c.required("auth.username", &user, SECRET_MAX);
            let pass = c.required("auth.password", &pass, SECRET_MAX);
            am.basic_auth_username = Set(Some(user));
            am.basic_auth_password_encrypted = Set(Some(keys.encrypt(&pass)));
        }
        None => {
            am.basic_auth_username = Set(None);
            am.basic_auth_password_encrypted = Set(None);
        }
    }
}

async fn story_in(
    db: &DatabaseConnection,
    account_id: i64,
    story_id: Option<i64>,
) -> Result<story::Model> {
    let nf = || Error::invalid("storyId", "NOT_FOUND", "no such story in this account");
    let id = story_id.ok_or_else(nf)?;
    story::Entity::find_by_id(id)
        .filter(story::Column::AccountId.eq(account_id))
        .one(db)
        .await?
        .ok_or_else(nf)
}

pub async fn create(
    db: &DatabaseConnection,
    keys: &Keys,
    allow: &Allow,
    principal: &Principal,
    account_id: i64,
    story_id: Option<i64>,
    f: ConnectionFields,
) -> Result<bot_connection::Model> {
    principal.require_member_in(account_id, "accountId")?;
    principal.require_admin(account_id)?;
    let mut c = Checks::new();
    let mut am = bot_connection::ActiveModel {
        account_id: Set(account_id),
        error: Set(None),
        ..Default::default()
    };
    apply(&mut c, keys, allow, &mut am, f);
    c.finish()?;
    let s = story_in(db, account_id, story_id).await?;
    am.story_id = Set(s.id);
    let txn = crate::db::begin_write(db).await?;
    let m = am.insert(&txn).await?;
    sync_subscription(&txn, keys, &m).await?;
    txn.commit().await?;
    Ok(m)
}

/// Keeps the subscription that carries the connection's calls in step with it: same URL,
/// name, headers, token (sent as `Authorization: Bearer`) or else basic auth. Calls are
/// signed like every delivery (the subscription's own `whsec_` secret).
async fn sync_subscription<C: sea_orm::ConnectionTrait>(
    txn: &C,
    keys: &Keys,
    m: &bot_connection::Model,
) -> Result<()> {
    let existing = ws::Entity::find()
        .filter(ws::Column::BotConnectionId.eq(m.id))
        .one(txn)
        .await?;
    let mut am = match existing {
        Some(s) => s.into(),
        None => {
            let (mut am, _) = super::webhook_subscriptions::blank(keys, m.account_id);
            am.events = Set(serde_json::json!([crate::bots::context::EVENT]));
            am.format = Set(PayloadFormat::Standard);
            am.bot_connection_id = Set(Some(m.id));
            am
        }
    };
    am.name = Set(m.name.clone());
    am.url = Set(m.url.clone());
    am.headers = Set(m.headers.clone());
    am.bearer_token_encrypted = Set(m.token_encrypted.clone());
    if m.token_encrypted.is_none() {
        am.basic_auth_username = Set(m.basic_auth_username.clone());
        am.basic_auth_password_encrypted = Set(m.basic_auth_password_encrypted.clone());
    } else {
        am.basic_auth_username = Set(None);
        am.basic_auth_password_encrypted = Set(None);
    }
    // Saving the connection again revives a subscription disabled by a 410.
    am.state = Set(SubscriptionState::Enabled);
    am.state_reason = Set(None);
    am.save(txn).await?;
    Ok(())
}

pub async fn update(
    db: &DatabaseConnection,
    keys: &Keys,
    allow: &Allow,
    principal: &Principal,
    id: i64,
    story_id: Option<i64>,
    f: ConnectionFields,
) -> Result<bot_connection::Model> {
    let m = load_owned_admin::<bot_connection::Entity, _>(
        db,
        principal,
        id,
        "bot connection",
        Some("id"),
    )
    .await?;
    let account_id = m.account_id;
    let mut c = Checks::new();
    let mut am: bot_connection::ActiveModel = m.into();
    apply(&mut c, keys, allow, &mut am, f);
    c.finish()?;
    if story_id.is_some() {
        am.story_id = Set(story_in(db, account_id, story_id).await?.id);
    }
    let txn = crate::db::begin_write(db).await?;
    let m = am.update(&txn).await?;
    sync_subscription(&txn, keys, &m).await?;
    txn.commit().await?;
    Ok(m)
}

pub async fn delete(db: &DatabaseConnection, principal: &Principal, id: i64) -> Result<()> {
    let m = load_owned_admin::<bot_connection::Entity, _>(
        db,
        principal,
        id,
        "bot connection",
        Some("id"),
    )
    .await?;
    let txn = crate::db::begin_write(db).await?;
    inbox::Entity::update_many()
        .col_expr(
            inbox::Column::BotConnectionId,
            sea_orm::sea_query::Expr::value(Option::<i64>::None),
        )
        .filter(inbox::Column::BotConnectionId.eq(m.id))
        .exec(&txn)
        .await?;
    ws::Entity::delete_many()
        .filter(ws::Column::BotConnectionId.eq(m.id))
        .exec(&txn)
        .await?;
    bot_connection::Entity::delete_by_id(m.id)
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
) -> Result<bot_connection::Model> {
    Ok(
        load_owned::<bot_connection::Entity, _>(db, principal, id, "bot connection", None)
            .await?
            .0,
    )
}

pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    page: Page,
) -> Result<PageOf<bot_connection::Model>> {
    principal.require_member(account_id)?;
    let q = bot_connection::Entity::find().filter(bot_connection::Column::AccountId.eq(account_id));
    paginate(db, q, bot_connection::Column::Id, page).await
}

/// Every connection of the account, oldest first (the REST list is not paginated).
pub async fn all(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
) -> Result<Vec<(bot_connection::Model, Option<story::Model>)>> {
    principal.require_member(account_id)?;
    Ok(bot_connection::Entity::find()
        .filter(bot_connection::Column::AccountId.eq(account_id))
        .order_by_asc(bot_connection::Column::Id)
        .find_also_related(story::Entity)
        .all(db)
        .await?)
}

/// Attaches the connection to an inbox (or detaches with `None`).
pub async fn attach(
    db: &DatabaseConnection,
    principal: &Principal,
    inbox_id: i64,
    connection_id: Option<i64>,
) -> Result<inbox::Model> {
    let ib =
        load_owned_admin::<inbox::Entity, _>(db, principal, inbox_id, "inbox", Some("inboxId"))
            .await?;
    if let Some(cid) = connection_id {
        let conn = bot_connection::Entity::find_by_id(cid)
            .filter(bot_connection::Column::AccountId.eq(ib.account_id))
            .one(db)
            .await?;
        if conn.is_none() {
            return Err(Error::not_found_in("bot connection", "botConnectionId"));
        }
    }
    let mut am: inbox::ActiveModel = ib.into();
    am.bot_connection_id = Set(connection_id);
    Ok(am.update(db).await?)
}

/// The decrypted secrets of a connection: (token, (username, password)).
pub fn secrets(
    keys: &Keys,
    m: &bot_connection::Model,
) -> (Option<String>, Option<(String, String)>) {
    let token = m
        .token_encrypted
        .as_deref()
        .and_then(|t| keys.decrypt(t).ok());
    let auth = match (&m.basic_auth_username, &m.basic_auth_password_encrypted) {
        (Some(u), Some(p)) => keys.decrypt(p).ok().map(|p| (u.clone(), p)),
        _ => None,
    };
    (token, auth)
}
