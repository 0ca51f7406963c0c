//! Stories: bot flows built in the builder. Creating, publishing, unpublishing and deleting
//! one emits the partner `builder` event (seed 003); bot webhook connections (seed 004) belong
//! to a story.

use chrono::Utc;
use entity::{enums::StoryStatus, story};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use super::{Page, PageOf, load_owned, load_owned_admin, paginate};
use crate::{
    auth::Principal,
    domain::Checks,
    error::Result,
    events::partner::{PartnerEvent, emit},
};

pub const STORY_NAME_MAX: usize = 128;

/// Where a story is edited; sent as `builder_url`.
pub fn story_url(public_base: &str, id: i64) -> String {
    format!("{public_base}/#/stories/{id}")
}

pub async fn create(
    db: &DatabaseConnection,
    public_base: &str,
    principal: &Principal,
    account_id: i64,
    name: &str,
    status: Option<StoryStatus>,
) -> Result<story::Model> {
    principal.require_member_in(account_id, "accountId")?;
    principal.require_admin(account_id)?;
    let mut c = Checks::new();
    let name = c.required("name", name, STORY_NAME_MAX);
    c.finish()?;
    let status = status.unwrap_or(StoryStatus::Draft);
    let txn = crate::db::begin_write(db).await?;
    let s = story::ActiveModel {
        account_id: Set(account_id),
        name: Set(name),
        status: Set(status),
        published_at: Set((status == StoryStatus::Published).then(Utc::now)),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    builder_event(&txn, public_base, &s, 1).await?;
    if status == StoryStatus::Published {
        builder_event(&txn, public_base, &s, 2).await?;
    }
    txn.commit().await?;
    crate::delivery::events_committed();
    Ok(s)
}

async fn builder_event<C: sea_orm::ConnectionTrait>(
    db: &C,
    public_base: &str,
    s: &story::Model,
    extra_info: u8,
) -> Result<()> {
    emit(
        db,
        s.account_id,
        PartnerEvent::Builder {
            story: s,
            extra_info,
            url: story_url(public_base, s.id),
        },
    )
    .await
}

pub async fn update(
    db: &DatabaseConnection,
    public_base: &str,
    principal: &Principal,
    id: i64,
    name: Option<&str>,
    status: Option<StoryStatus>,
) -> Result<story::Model> {
    let s = load_owned_admin::<story::Entity, _>(db, principal, id, "story", Some("id")).await?;
    let mut c = Checks::new();
    let name = name.map(|n| c.required("name", n, STORY_NAME_MAX));
    c.finish()?;
    let before = s.status;
    let mut am: story::ActiveModel = s.into();
    if let Some(n) = name {
        am.name = Set(n);
    }
    if let Some(st) = status {
        am.status = Set(st);
        if st == StoryStatus::Published && before != st {
            am.published_at = Set(Some(Utc::now()));
        }
    }
    let txn = crate::db::begin_write(db).await?;
    let s = am.update(&txn).await?;
    match (before, s.status) {
        (StoryStatus::Draft, StoryStatus::Published) => {
            builder_event(&txn, public_base, &s, 2).await?
        }
        (StoryStatus::Published, StoryStatus::Draft) => {
            builder_event(&txn, public_base, &s, 3).await?
        }
        _ => {}
    }
    txn.commit().await?;
    crate::delivery::events_committed();
    Ok(s)
}

pub async fn delete(
    db: &DatabaseConnection,
    public_base: &str,
    principal: &Principal,
    id: i64,
) -> Result<()> {
    let s = load_owned_admin::<story::Entity, _>(db, principal, id, "story", Some("id")).await?;
    let txn = crate::db::begin_write(db).await?;
    builder_event(&txn, public_base, &s, 4).await?;
    story::Entity::delete_by_id(s.id).exec(&txn).await?;
    txn.commit().await?;
    crate::delivery::events_committed();
    Ok(())
}

pub async fn get(db: &DatabaseConnection, principal: &Principal, id: i64) -> Result<story::Model> {
    Ok(
        load_owned::<story::Entity, _>(db, principal, id, "story", None)
            .await?
            .0,
    )
}

pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    page: Page,
) -> Result<PageOf<story::Model>> {
    principal.require_member(account_id)?;
    let q = story::Entity::find().filter(story::Column::AccountId.eq(account_id));
    paginate(db, q, story::Column::Id, page).await
}
