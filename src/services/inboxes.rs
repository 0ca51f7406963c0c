//! Inboxes: where conversations of one channel land, in one account.

use entity::{channel, inbox};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use super::{Page, PageOf, load_owned, load_owned_admin, paginate};
use crate::{
    auth::Principal,
    domain::{Checks, NAME_MAX},
    error::{Error, Result},
};

pub async fn create(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    channel_id: i64,
    name: &str,
) -> Result<inbox::Model> {
    principal.require_member_in(account_id, "accountId")?;
    principal.require_admin(account_id)?;
    let mut c = Checks::new();
    let name = c.required("name", name, NAME_MAX);
    c.finish()?;
    let ch = channel::Entity::find_by_id(channel_id).one(db).await?;
    if ch.is_none_or(|ch| ch.account_id != account_id) {
        return Err(Error::not_found_in("channel", "channelId"));
    }
    Ok(inbox::ActiveModel {
        account_id: Set(account_id),
        channel_id: Set(channel_id),
        name: Set(name),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

pub async fn update(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
    name: Option<&str>,
) -> Result<inbox::Model> {
    let ib = load_owned_admin::<inbox::Entity, _>(db, principal, id, "inbox", Some("id")).await?;
    let mut c = Checks::new();
    let name = name.map(|n| c.required("name", n, NAME_MAX));
    c.finish()?;
    let mut am: inbox::ActiveModel = ib.into();
    if let Some(n) = name {
        am.name = Set(n);
    }
    Ok(am.update(db).await?)
}

pub async fn delete(db: &DatabaseConnection, principal: &Principal, id: i64) -> Result<()> {
    load_owned_admin::<inbox::Entity, _>(db, principal, id, "inbox", Some("id")).await?;
    inbox::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

pub async fn get(db: &DatabaseConnection, principal: &Principal, id: i64) -> Result<inbox::Model> {
    Ok(
        load_owned::<inbox::Entity, _>(db, principal, id, "inbox", None)
            .await?
            .0,
    )
}

pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    page: Page,
) -> Result<PageOf<inbox::Model>> {
    principal.require_member(account_id)?;
    let q = inbox::Entity::find().filter(inbox::Column::AccountId.eq(account_id));
    paginate(db, q, inbox::Column::Id, page).await
}
