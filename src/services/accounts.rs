//! Accounts (tenants). Platform administrators create and delete them; account
//! administrators rename theirs.

use entity::{account, account_user, enums::Role};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use super::{Page, PageOf, paginate};
use crate::{
    auth::{AccountScope, Principal},
    domain::{Checks, NAME_MAX},
    error::{Error, Result},
};

/// Creates an account; the creating user becomes its administrator.
pub async fn create(
    db: &DatabaseConnection,
    principal: &Principal,
    name: &str,
) -> Result<account::Model> {
    principal.require_platform_admin()?;
    let mut c = Checks::new();
    let name = c.required("name", name, NAME_MAX);
    c.finish()?;
    let txn = crate::db::begin_write(db).await?;
    let acc = account::ActiveModel {
        name: Set(name),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    if let Some(user_id) = principal.user_id() {
        account_user::ActiveModel {
            account_id: Set(acc.id),
            user_id: Set(user_id),
            role: Set(Role::Administrator),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(acc)
}

pub async fn update(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
    name: Option<&str>,
) -> Result<account::Model> {
    principal.require_member_in(id, "id")?;
    principal.require_admin(id)?;
    let mut c = Checks::new();
    let name = name.map(|n| c.required("name", n, NAME_MAX));
    c.finish()?;
    let acc = get(db, principal, id).await?;
    let mut am: account::ActiveModel = acc.into();
    if let Some(n) = name {
        am.name = Set(n);
    }
    Ok(am.update(db).await?)
}

/// Deletes an account and everything in it (foreign keys cascade).
pub async fn delete(db: &DatabaseConnection, principal: &Principal, id: i64) -> Result<()> {
    principal.require_platform_admin()?;
    let res = account::Entity::delete_by_id(id).exec(db).await?;
    if res.rows_affected == 0 {
        return Err(Error::not_found_in("account", "id"));
    }
    Ok(())
}

pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
) -> Result<account::Model> {
    principal.require_member(id)?;
    account::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("account"))
}

pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    page: Page,
) -> Result<PageOf<account::Model>> {
    principal.require_authenticated()?;
    let q = match principal.account_scope() {
        AccountScope::All => account::Entity::find(),
        AccountScope::Only(ids) => account::Entity::find().filter(account::Column::Id.is_in(ids)),
    };
    paginate(db, q, account::Column::Id, page).await
}
