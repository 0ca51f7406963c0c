//! Contacts with their tags (seed 000 `contact_tag`), meta key/values (`contacts_meta`) and
//! contact inboxes (`source_id` per inbox).

use std::collections::BTreeSet;

use entity::{contact, contact_inbox, contact_meta, contact_tag, inbox, tag};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, Set,
    sea_query::{Expr, ExprTrait, Func, OnConflict},
};

use super::{Page, PageOf, load_owned, paginate};
use crate::{
    auth::Principal,
    domain::{Checks, NAME_MAX},
    error::{Error, Result},
    events::outbox,
};

pub const MAX_TAGS: usize = 50;
pub const MAX_META: usize = 50;
pub const TAG_MAX: usize = 64;

#[derive(Default)]
pub struct ContactFields {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub phone_number: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub custom_attributes: Option<serde_json::Value>,
    /// Replaces the contact's tags.
    pub tags: Option<Vec<String>>,
    /// Replaces the contact's meta key/values.
    pub meta: Option<Vec<(String, String)>>,
}

struct Extras {
    tags: Option<Vec<String>>,
    meta: Option<Vec<(String, String)>>,
}

fn apply(c: &mut Checks, am: &mut contact::ActiveModel, f: ContactFields) -> Extras {
    if let Some(v) = f.first_name {
        am.first_name = Set(c.optional("firstName", v.as_deref(), NAME_MAX));
    }
    if let Some(v) = f.last_name {
        am.last_name = Set(c.optional("lastName", v.as_deref(), NAME_MAX));
    }
    if let Some(v) = f.phone_number {
        am.phone_number = Set(c.phone("phoneNumber", v.as_deref()));
    }
    if let Some(v) = f.email {
        am.email = Set(c.email("email", v.as_deref()));
    }
    if let Some(v) = f.avatar_url {
        am.avatar_url = Set(c.url("avatarUrl", v.as_deref()));
    }
    if let Some(v) = f.custom_attributes {
        c.json_object("customAttributes", &v);
        am.custom_attributes = Set(v);
    }
    let tags = f.tags.map(|tags| {
        if tags.len() > MAX_TAGS {
            c.push("tags", "TOO_LONG", format!("at most {MAX_TAGS} tags"));
        }
        let set: BTreeSet<String> = tags
            .iter()
            .map(|t| c.required("tags", t, TAG_MAX))
            .collect();
        set.into_iter().collect()
    });
    let meta = f.meta.map(|meta| {
        if meta.len() > MAX_META {
            c.push("meta", "TOO_LONG", format!("at most {MAX_META} entries"));
        }
        let mut seen = BTreeSet::new();
        meta.into_iter()
            .map(|(k, v)| {
                let k = c.required("meta.key", &k, NAME_MAX);
                c.max_len("meta.value", &v, 4096);
                if !seen.insert(k.clone()) {
                    c.push("meta.key", "TAKEN", format!("`{k}` appears twice"));
                }
                (k, v)
            })
            .collect()
    });
    Extras { tags, meta }
}

async fn write_extras<C: ConnectionTrait>(
    db: &C,
    account_id: i64,
    contact_id: i64,
    x: Extras,
) -> Result<()> {
    if let Some(tags) = x.tags {
        contact_tag::Entity::delete_many()
            .filter(contact_tag::Column::ContactId.eq(contact_id))
            .exec(db)
            .await?;
        if !tags.is_empty() {
            // insert_many skips ActiveModelBehavior, so timestamps are set here.
            let now = chrono::Utc::now();
            let rows = tags.iter().map(|n| tag::ActiveModel {
                account_id: Set(account_id),
                name: Set(n.clone()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            });
            tag::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([tag::Column::AccountId, tag::Column::Name])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
            let ids = tag::Entity::find()
                .filter(tag::Column::AccountId.eq(account_id))
                .filter(tag::Column::Name.is_in(tags))
                .all(db)
                .await?;
            let links = ids.into_iter().map(|t| contact_tag::ActiveModel {
                contact_id: Set(contact_id),
                tag_id: Set(t.id),
                created_at: Set(chrono::Utc::now()),
            });
            contact_tag::Entity::insert_many(links)
                .exec_without_returning(db)
                .await?;
        }
    }
    if let Some(meta) = x.meta {
        contact_meta::Entity::delete_many()
            .filter(contact_meta::Column::ContactId.eq(contact_id))
            .exec(db)
            .await?;
        if !meta.is_empty() {
            let rows = meta.into_iter().map(|(k, v)| contact_meta::ActiveModel {
                contact_id: Set(contact_id),
                meta_key: Set(k),
                meta_value: Set(v),
                created_at: Set(chrono::Utc::now()),
                updated_at: Set(chrono::Utc::now()),
                ..Default::default()
            });
            contact_meta::Entity::insert_many(rows)
                .exec_without_returning(db)
                .await?;
        }
    }
    Ok(())
}

pub async fn create(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    f: ContactFields,
) -> Result<contact::Model> {
    principal.require_member_in(account_id, "accountId")?;
    let mut c = Checks::new();
    let mut am = contact::ActiveModel {
        account_id: Set(account_id),
        first_name: Set(None),
        last_name: Set(None),
        phone_number: Set(None),
        email: Set(None),
        avatar_url: Set(None),
        custom_attributes: Set(serde_json::json!({})),
        ..Default::default()
    };
    let extras = apply(&mut c, &mut am, f);
    c.finish()?;
    let txn = crate::db::begin_write(db).await?;
    let ct = am.insert(&txn).await?;
    write_extras(&txn, account_id, ct.id, extras).await?;
    outbox::record(
        &txn,
        "contact_created",
        outbox::for_contact(&txn, &ct).await?,
    )
    .await?;
    txn.commit().await?;
    crate::delivery::events_committed();
    Ok(ct)
}

pub async fn update(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
    f: ContactFields,
) -> Result<contact::Model> {
    let (ct, _) =
        load_owned::<contact::Entity, _>(db, principal, id, "contact", Some("id")).await?;
    let account_id = ct.account_id;
    let mut c = Checks::new();
    let mut am: contact::ActiveModel = ct.into();
    let extras = apply(&mut c, &mut am, f);
    c.finish()?;
    let txn = crate::db::begin_write(db).await?;
    // Always stamps updated_at, also when only tags or meta changed.
    let ct = am.reset_all().update(&txn).await?;
    write_extras(&txn, account_id, id, extras).await?;
    outbox::record(
        &txn,
        "contact_updated",
        outbox::for_contact(&txn, &ct).await?,
    )
    .await?;
    txn.commit().await?;
    crate::delivery::events_committed();
    Ok(ct)
}

pub async fn delete(db: &DatabaseConnection, principal: &Principal, id: i64) -> Result<()> {
    load_owned::<contact::Entity, _>(db, principal, id, "contact", Some("id")).await?;
    contact::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
) -> Result<contact::Model> {
    Ok(
        load_owned::<contact::Entity, _>(db, principal, id, "contact", None)
            .await?
            .0,
    )
}

/// Contacts of an account; `search` matches name, email or phone, case-insensitively.
pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    search: Option<&str>,
    page: Page,
) -> Result<PageOf<contact::Model>> {
    principal.require_member(account_id)?;
    let mut q = contact::Entity::find().filter(contact::Column::AccountId.eq(account_id));
    if let Some(s) = search.map(str::trim).filter(|s| !s.is_empty()) {
        if s.chars().count() > NAME_MAX {
            return Err(Error::BadInput(format!(
                "`search` is longer than {NAME_MAX} characters"
            )));
        }
        let escaped = s
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pat = format!("%{escaped}%");
        let like = |col: contact::Column| {
            Expr::expr(Func::lower(Expr::col(col)))
                .like(sea_orm::sea_query::LikeExpr::new(&pat).escape('\\'))
        };
        q = q.filter(
            Condition::any()
                .add(like(contact::Column::FirstName))
                .add(like(contact::Column::LastName))
                .add(like(contact::Column::Email))
                .add(like(contact::Column::PhoneNumber)),
        );
    }
    paginate(db, q, contact::Column::Id, page).await
}

/// The contact's identity in an inbox, created on first use.
pub async fn contact_inbox_for<C: ConnectionTrait>(
    db: &C,
    contact: &contact::Model,
    inbox: &inbox::Model,
    source_id: Option<String>,
) -> Result<contact_inbox::Model> {
    let existing = contact_inbox::Entity::find()
        .filter(contact_inbox::Column::ContactId.eq(contact.id))
        .filter(contact_inbox::Column::InboxId.eq(inbox.id));
    let existing = match &source_id {
        Some(s) => existing.filter(contact_inbox::Column::SourceId.eq(s.clone())),
        None => existing,
    };
    if let Some(ci) = existing.one(db).await? {
        return Ok(ci);
    }
    let source_id = source_id.unwrap_or_else(|| crate::crypto::random_token(12));
    let taken = contact_inbox::Entity::find()
        .filter(contact_inbox::Column::InboxId.eq(inbox.id))
        .filter(contact_inbox::Column::SourceId.eq(source_id.clone()))
        .one(db)
        .await?;
    if taken.is_some() {
        return Err(Error::invalid(
            "sourceId",
            "TAKEN",
            "belongs to another contact in this inbox",
        ));
    }
    Ok(contact_inbox::ActiveModel {
        contact_id: Set(contact.id),
        inbox_id: Set(inbox.id),
        source_id: Set(source_id),
        hmac_verified: Set(false),
        ..Default::default()
    }
    .insert(db)
    .await?)
}
