//! Users, logins and account memberships.

use std::net::IpAddr;

use entity::{account_user, enums::Role, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, Set,
};

use super::{Page, PageOf, paginate, unique_violation};
use crate::{
    auth::{LoginLimiter, Principal},
    crypto::{self, Keys},
    domain::{Checks, NAME_MAX, PASSWORD_MAX, PASSWORD_MIN},
    error::{Error, Result},
};

pub struct NewUser {
    pub email: String,
    pub password: String,
    pub name: Option<String>,
    pub platform_admin: bool,
}

/// Creates a user; the email is stored lowercase and must be unique.
pub async fn create<C: ConnectionTrait>(db: &C, input: NewUser) -> Result<user::Model> {
    let mut c = Checks::new();
    let email = c.email("email", Some(&input.email));
    if email.is_none() {
        c.push("email", "BLANK", "can't be blank");
    }
    let n = input.password.chars().count();
    if n < PASSWORD_MIN {
        c.push(
            "password",
            "TOO_SHORT",
            format!("must be at least {PASSWORD_MIN} characters"),
        );
    } else if n > PASSWORD_MAX {
        c.push(
            "password",
            "TOO_LONG",
            format!("must be at most {PASSWORD_MAX} characters"),
        );
    }
    let name = c.optional("name", input.name.as_deref(), NAME_MAX);
    c.finish()?;
    let email = email.unwrap_or_default();
    let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string());
    let am = user::ActiveModel {
        email: Set(email),
        password_hash: Set(crypto::hash_password(&input.password)),
        name: Set(name),
        is_platform_admin: Set(input.platform_admin),
        ..Default::default()
    };
    am.insert(db).await.map_err(|e| match unique_violation(&e) {
        Some(_) => Error::invalid("email", "TAKEN", "is already taken"),
        None => e.into(),
    })
}

/// Creates a platform administrator only while none exists (first-run setup, from the console).
pub async fn create_first_admin(db: &DatabaseConnection, input: NewUser) -> Result<user::Model> {
    let txn = crate::db::begin_write(db).await?;
    if has_platform_admin(&txn).await? {
        return Err(Error::Forbidden(
            "an administrator already exists; log in instead".into(),
        ));
    }
    let u = create(
        &txn,
        NewUser {
            platform_admin: true,
            ..input
        },
    )
    .await?;
    txn.commit().await?;
    Ok(u)
}

pub async fn has_platform_admin<C: ConnectionTrait>(db: &C) -> Result<bool> {
    Ok(user::Entity::find()
        .filter(user::Column::IsPlatformAdmin.eq(true))
        .count(db)
        .await?
        > 0)
}

pub struct LoginOk {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub user: user::Model,
}

/// Checks the password (argon2, constant time, also for unknown emails) under a per-email and
/// per-IP rate limit, and issues a JWT.
pub async fn login(
    db: &DatabaseConnection,
    keys: &Keys,
    limiter: &LoginLimiter,
    ttl: std::time::Duration,
    email: &str,
    password: &str,
    ip: Option<IpAddr>,
) -> Result<LoginOk> {
    let email = email.trim().to_lowercase();
    limiter.check(&email, ip).map_err(Error::RateLimited)?;
    let found = user::Entity::find()
        .filter(user::Column::Email.eq(&email))
        .one(db)
        .await?;
    let hash = found
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| crypto::dummy_password_hash().to_string());
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || crypto::verify_password(&password, &hash))
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    match found {
        Some(user) if ok => {
            let (token, expires_at) = crate::auth::issue_jwt(keys, user.id, ttl);
            Ok(LoginOk {
                token,
                expires_at,
                user,
            })
        }
        _ => Err(Error::Unauthenticated("invalid email or password".into())),
    }
}

pub async fn get(db: &DatabaseConnection, principal: &Principal, id: i64) -> Result<user::Model> {
    principal.require_authenticated()?;
    let u = user::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("user"))?;
    if principal.is_platform_admin()
        || principal.user_id() == Some(id)
        || shares_account(db, principal, id).await?
    {
        Ok(u)
    } else {
        Err(Error::not_found("user"))
    }
}

async fn shares_account(
    db: &DatabaseConnection,
    principal: &Principal,
    user_id: i64,
) -> Result<bool> {
    let crate::auth::AccountScope::Only(ids) = principal.account_scope() else {
        return Ok(true);
    };
    Ok(account_user::Entity::find()
        .filter(account_user::Column::UserId.eq(user_id))
        .filter(account_user::Column::AccountId.is_in(ids))
        .count(db)
        .await?
        > 0)
}

/// Adds (or re-roles) a member of an account, by the user's email. Administrators only.
pub async fn set_membership(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    email: &str,
    role: Role,
) -> Result<account_user::Model> {
    principal.require_member_in(account_id, "accountId")?;
    principal.require_admin(account_id)?;
    let email = email.trim().to_lowercase();
    let u = user::Entity::find()
        .filter(user::Column::Email.eq(&email))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found_in("user", "email"))?;
    let existing = account_user::Entity::find()
        .filter(account_user::Column::AccountId.eq(account_id))
        .filter(account_user::Column::UserId.eq(u.id))
        .one(db)
        .await?;
    Ok(match existing {
        Some(m) => {
            let mut am: account_user::ActiveModel = m.into();
            am.role = Set(role);
            am.update(db).await?
        }
        None => {
            account_user::ActiveModel {
                account_id: Set(account_id),
                user_id: Set(u.id),
                role: Set(role),
                ..Default::default()
            }
            .insert(db)
            .await?
        }
    })
}

pub async fn remove_membership(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    user_id: i64,
) -> Result<()> {
    principal.require_member_in(account_id, "accountId")?;
    principal.require_admin(account_id)?;
    let res = account_user::Entity::delete_many()
        .filter(account_user::Column::AccountId.eq(account_id))
        .filter(account_user::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Err(Error::not_found_in("membership", "userId"));
    }
    Ok(())
}

pub async fn members(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    page: Page,
) -> Result<PageOf<account_user::Model>> {
    principal.require_member(account_id)?;
    let q = account_user::Entity::find().filter(account_user::Column::AccountId.eq(account_id));
    paginate(db, q, account_user::Column::Id, page).await
}

#[derive(Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub password: Option<String>,
    pub platform_admin: Option<bool>,
}

/// Users change their own name and password; platform administrators change anyone's, and
/// grant or revoke platform administration (not their own).
pub async fn update(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
    p: UserPatch,
) -> Result<user::Model> {
    principal.require_authenticated()?;
    let own = principal.user_id() == Some(id);
    if !own && !principal.is_platform_admin() {
        return Err(Error::not_found_in("user", "id"));
    }
    let u = user::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found_in("user", "id"))?;
    let mut c = Checks::new();
    let name = p.name.as_deref().map(|n| c.required("name", n, NAME_MAX));
    if let Some(pw) = &p.password {
        let n = pw.chars().count();
        if n < PASSWORD_MIN {
            c.push(
                "password",
                "TOO_SHORT",
                format!("must be at least {PASSWORD_MIN} characters"),
            );
        } else if n > PASSWORD_MAX {
            c.push(
                "password",
                "TOO_LONG",
                format!("must be at most {PASSWORD_MAX} characters"),
            );
        }
    }
    if p.platform_admin.is_some() && (own || !principal.is_platform_admin()) {
        c.push(
            "isPlatformAdmin",
            "NOT_ALLOWED",
            "only another platform administrator can change this",
        );
    }
    c.finish()?;
    let mut am: user::ActiveModel = u.into();
    if let Some(n) = name {
        am.name = Set(n);
    }
    if let Some(pw) = p.password {
        am.password_hash = Set(crypto::hash_password(&pw));
    }
    if let Some(a) = p.platform_admin {
        am.is_platform_admin = Set(a);
    }
    Ok(am.update(db).await?)
}

/// Platform administrators delete other users (their memberships go with them).
pub async fn delete(db: &DatabaseConnection, principal: &Principal, id: i64) -> Result<()> {
    principal.require_platform_admin()?;
    if principal.user_id() == Some(id) {
        return Err(Error::invalid(
            "id",
            "NOT_ALLOWED",
            "you cannot delete yourself",
        ));
    }
    let r = user::Entity::delete_by_id(id).exec(db).await?;
    if r.rows_affected == 0 {
        return Err(Error::not_found_in("user", "id"));
    }
    Ok(())
}
