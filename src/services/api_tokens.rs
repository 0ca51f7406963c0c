//! API tokens: `sbt_…` bearer tokens that act for one account with one role. Shown once,
//! stored as SHA-256, revocable. Only users (not other tokens) create them.

use chrono::{DateTime, Utc};
use entity::{api_token, enums::Role};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use super::{Page, PageOf, load_owned_admin, paginate};
use crate::{
    auth::{API_TOKEN_PREFIX, Principal},
    crypto,
    domain::{Checks, NAME_MAX},
    error::{Error, Result},
};

pub async fn create(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    name: &str,
    role: Option<Role>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(api_token::Model, String)> {
    principal.require_member_in(account_id, "accountId")?;
    principal.require_admin(account_id)?;
    let Some(user_id) = principal.user_id() else {
        return Err(Error::Forbidden(
            "API tokens are created by users, not by other API tokens".into(),
        ));
    };
    let mut c = Checks::new();
    let name = c.required("name", name, NAME_MAX);
    if expires_at.is_some_and(|e| e <= Utc::now()) {
        c.push("expiresAt", "INVALID", "must be in the future");
    }
    c.finish()?;
    let token = format!("{API_TOKEN_PREFIX}{}", crypto::random_token(32));
    let m = api_token::ActiveModel {
        account_id: Set(account_id),
        name: Set(name),
        token_hash: Set(crypto::token_hash(&token)),
        token_prefix: Set(token.chars().take(10).collect()),
        role: Set(role.unwrap_or(Role::Administrator)),
        created_by_user_id: Set(Some(user_id)),
        last_used_at: Set(None),
        revoked_at: Set(None),
        expires_at: Set(expires_at),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((m, token))
}

pub async fn revoke(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
) -> Result<api_token::Model> {
    let t = load_owned_admin::<api_token::Entity, _>(db, principal, id, "API token", Some("id"))
        .await?;
    if t.revoked_at.is_some() {
        return Ok(t);
    }
    let mut am: api_token::ActiveModel = t.into();
    am.revoked_at = Set(Some(Utc::now()));
    Ok(am.update(db).await?)
}

pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    page: Page,
) -> Result<PageOf<api_token::Model>> {
    principal.require_admin(account_id)?;
    let q = api_token::Entity::find().filter(api_token::Column::AccountId.eq(account_id));
    paginate(db, q, api_token::Column::Id, page).await
}
