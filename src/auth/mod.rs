//! Who is calling, and what they may touch.
//!
//! A bearer token is either an API token (`sbt_…`, acts for one account with one role) or a
//! login JWT (HS256 only, issuer `switchboard`, expiring). Platform administrators see every
//! account; other users see the accounts they are members of, with their role there.

mod cache;
mod jwt;
mod rate_limit;

use std::collections::HashMap;

use chrono::Utc;
use entity::enums::Role;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

pub use cache::PrincipalCache;
pub use jwt::{Claims, issue_jwt, issue_partner_jwt, verify_jwt, verify_partner_jwt};
pub use rate_limit::LoginLimiter;

use crate::{
    crypto::{Keys, token_hash},
    error::{Error, Result},
};

/// Prefix of API tokens; anything else in a bearer header is read as a JWT.
pub const API_TOKEN_PREFIX: &str = "sbt_";

#[derive(Debug, Clone)]
pub enum Principal {
    Anonymous,
    /// A bearer token was sent but is not valid (expired, tampered, revoked…).
    Invalid(String),
    User {
        user_id: i64,
        platform_admin: bool,
        memberships: HashMap<i64, Role>,
    },
    ApiToken {
        token_id: i64,
        account_id: i64,
        role: Role,
    },
}

/// Which accounts a principal can list.
pub enum AccountScope {
    All,
    Only(Vec<i64>),
}

impl Principal {
    /// Fails with `UNAUTHENTICATED` unless a valid token was presented.
    pub fn require_authenticated(&self) -> Result<()> {
        match self {
            Principal::Anonymous => Err(Error::Unauthenticated(
                "authentication required: send Authorization: Bearer <token>".into(),
            )),
            Principal::Invalid(why) => Err(Error::Unauthenticated(format!("invalid token: {why}"))),
            _ => Ok(()),
        }
    }

    pub fn user_id(&self) -> Option<i64> {
        match self {
            Principal::User { user_id, .. } => Some(*user_id),
            _ => None,
        }
    }

    pub fn is_platform_admin(&self) -> bool {
        matches!(
            self,
            Principal::User {
                platform_admin: true,
                ..
            }
        )
    }

    pub fn require_platform_admin(&self) -> Result<()> {
        self.require_authenticated()?;
        if self.is_platform_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "only platform administrators may do this".into(),
            ))
        }
    }

    /// The caller's role in `account_id`, or `None` when the account is not theirs to see.
    pub fn role_in(&self, account_id: i64) -> Option<Role> {
        match self {
            Principal::User {
                platform_admin: true,
                ..
            } => Some(Role::Administrator),
            Principal::User { memberships, .. } => memberships.get(&account_id).copied(),
            Principal::ApiToken {
                account_id: a,
                role,
                ..
            } if *a == account_id => Some(*role),
            _ => None,
        }
    }

    /// Any member (agent or administrator) of the account; others get `NOT_FOUND`.
    pub fn require_member(&self, account_id: i64) -> Result<Role> {
        self.require_authenticated()?;
        self.role_in(account_id)
            .ok_or_else(|| Error::not_found("account"))
    }

    /// Same as [`Self::require_member`] but a missing account is reported against an input field.
    pub fn require_member_in(&self, account_id: i64, field: &str) -> Result<Role> {
        self.require_authenticated()?;
        self.role_in(account_id)
            .ok_or_else(|| Error::not_found_in("account", field))
    }

    /// Administrators of the account only (agents get `FORBIDDEN`, strangers `NOT_FOUND`).
    pub fn require_admin(&self, account_id: i64) -> Result<()> {
        match self.require_member(account_id)? {
            Role::Administrator => Ok(()),
            Role::Agent => Err(Error::Forbidden(
                "this needs the ADMINISTRATOR role in the account".into(),
            )),
        }
    }

    pub fn account_scope(&self) -> AccountScope {
        match self {
            Principal::User {
                platform_admin: true,
                ..
            } => AccountScope::All,
            Principal::User { memberships, .. } => {
                AccountScope::Only(memberships.keys().copied().collect())
            }
            Principal::ApiToken { account_id, .. } => AccountScope::Only(vec![*account_id]),
            _ => AccountScope::Only(vec![]),
        }
    }
}

/// Reads `Authorization: Bearer <token>` (or the bare token) into a principal.
pub async fn resolve_bearer(
    db: &DatabaseConnection,
    keys: &Keys,
    cache: &PrincipalCache,
    header: Option<&str>,
) -> Result<Principal> {
    let Some(raw) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(Principal::Anonymous);
    };
    let token = match raw.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        Some(_) => {
            return Ok(Principal::Invalid(
                "unsupported authorization scheme (use Bearer)".into(),
            ));
        }
        None => raw,
    };
    if token.starts_with(API_TOKEN_PREFIX) {
        let hash = token_hash(token);
        let key = cache::Key::Token(hash.clone());
        if let Some(p) = cache.get(&key) {
            return Ok(p);
        }
        let (p, expires_at) = api_token_principal(db, &hash).await?;
        cache.put(key, &p, expires_at);
        return Ok(p);
    }
    let claims = match verify_jwt(keys, token) {
        Ok(c) => c,
        Err(why) => return Ok(Principal::Invalid(why)),
    };
    let Ok(user_id) = claims.sub.parse::<i64>() else {
        return Ok(Principal::Invalid("malformed subject".into()));
    };
    let key = cache::Key::User(user_id);
    if let Some(p) = cache.get(&key) {
        return Ok(p);
    }
    let p = user_principal(db, user_id).await?;
    cache.put(key, &p, None);
    Ok(p)
}

/// The principal of an existing user (memberships loaded once per request).
pub async fn user_principal(db: &DatabaseConnection, user_id: i64) -> Result<Principal> {
    let Some(user) = entity::user::Entity::find_by_id(user_id).one(db).await? else {
        return Ok(Principal::Invalid("user no longer exists".into()));
    };
    let memberships = entity::account_user::Entity::find()
        .filter(entity::account_user::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.account_id, m.role))
        .collect();
    Ok(Principal::User {
        user_id,
        platform_admin: user.is_platform_admin,
        memberships,
    })
}

/// The principal of an API token (by its stored hash), and when the token expires.
async fn api_token_principal(
    db: &DatabaseConnection,
    hash: &str,
) -> Result<(Principal, Option<chrono::DateTime<Utc>>)> {
    use entity::api_token::{Column, Entity};
    let Some(t) = Entity::find()
        .filter(Column::TokenHash.eq(hash))
        .one(db)
        .await?
    else {
        return Ok((Principal::Invalid("unknown API token".into()), None));
    };
    let now = Utc::now();
    if t.revoked_at.is_some() {
        return Ok((Principal::Invalid("API token revoked".into()), None));
    }
    if t.expires_at.is_some_and(|e| e <= now) {
        return Ok((Principal::Invalid("API token expired".into()), None));
    }
    let expires_at = t.expires_at;
    // Recording use at most once a minute keeps authentication read-only on the hot path.
    if t.last_used_at.is_none_or(|l| (now - l).num_seconds() >= 60) {
        let (id, account_id, role) = (t.id, t.account_id, t.role);
        let mut am: entity::api_token::ActiveModel = t.into();
        am.last_used_at = Set(Some(now));
        am.update(db).await?;
        return Ok((
            Principal::ApiToken {
                token_id: id,
                account_id,
                role,
            },
            expires_at,
        ));
    }
    Ok((
        Principal::ApiToken {
            token_id: t.id,
            account_id: t.account_id,
            role: t.role,
        },
        expires_at,
    ))
}
