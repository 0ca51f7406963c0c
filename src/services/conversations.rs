//! Conversations: one contact talking to an account through one inbox.

use chrono::{DateTime, Utc};
use entity::{contact, conversation, enums::ConversationStatus, inbox};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};

use super::{Page, PageOf, contacts, load_owned, load_owned_admin, paginate};
use crate::{
    auth::Principal,
    domain::Checks,
    error::{Error, Result},
    events::outbox,
};

#[derive(Default)]
pub struct ConversationFields {
    pub status: Option<ConversationStatus>,
    pub assignee_id: Option<Option<i64>>,
    pub department_id: Option<Option<i64>>,
    pub goal_id: Option<Option<i64>>,
    pub snoozed_until: Option<Option<DateTime<Utc>>>,
    pub metadata: Option<Option<serde_json::Value>>,
    pub reason: Option<Option<String>>,
    pub additional_attributes: Option<serde_json::Value>,
    pub custom_attributes: Option<serde_json::Value>,
}

pub struct NewConversation {
    pub account_id: i64,
    pub inbox_id: i64,
    pub contact_id: i64,
    /// The contact's id in the inbox's channel (phone number, widget session…).
    pub source_id: Option<String>,
    pub fields: ConversationFields,
}

async fn check_assignee<C: ConnectionTrait>(db: &C, account_id: i64, user_id: i64) -> Result<()> {
    if super::is_member(db, account_id, user_id).await? {
        Ok(())
    } else {
        Err(Error::not_found_in(
            "assignee (a member of the account)",
            "assigneeId",
        ))
    }
}

fn apply(
    c: &mut Checks,
    am: &mut conversation::ActiveModel,
    f: &ConversationFields,
    now: DateTime<Utc>,
) {
    if let Some(s) = f.status {
        am.status = Set(s);
        match s {
            ConversationStatus::Resolved => am.ended_at = Set(Some(now)),
            _ => am.ended_at = Set(None),
        }
        if s != ConversationStatus::Snoozed {
            am.snoozed_until = Set(None);
        }
    }
    if let Some(v) = f.assignee_id {
        am.assignee_id = Set(v);
    }
    if let Some(v) = f.department_id {
        am.department_id = Set(v);
    }
    if let Some(v) = f.goal_id {
        am.goal_id = Set(v);
    }
    if let Some(v) = f.snoozed_until {
        am.snoozed_until = Set(v);
    }
    if let Some(v) = &f.metadata {
        if let Some(m) = v {
            c.json_object("metadata", m);
        }
        am.metadata = Set(v.clone());
    }
    if let Some(v) = &f.reason {
        am.reason = Set(c.optional("reason", v.as_deref(), 1024));
    }
    if let Some(v) = &f.additional_attributes {
        c.json_object("additionalAttributes", v);
        am.additional_attributes = Set(v.clone());
    }
    if let Some(v) = &f.custom_attributes {
        c.json_object("customAttributes", v);
        am.custom_attributes = Set(v.clone());
    }
}

pub async fn create(
    db: &DatabaseConnection,
    principal: &Principal,
    input: NewConversation,
) -> Result<conversation::Model> {
    let account_id = input.account_id;
    principal.require_member_in(account_id, "accountId")?;
    let ib = inbox::Entity::find_by_id(input.inbox_id)
        .one(db)
        .await?
        .filter(|i| i.account_id == account_id);
    let ib = ib.ok_or_else(|| Error::not_found_in("inbox", "inboxId"))?;
    let ct = contact::Entity::find_by_id(input.contact_id)
        .one(db)
        .await?
        .filter(|c| c.account_id == account_id);
    let ct = ct.ok_or_else(|| Error::not_found_in("contact", "contactId"))?;
    let mut c = Checks::new();
    let source_id = c.optional("sourceId", input.source_id.as_deref(), 255);
    let now = Utc::now();
    let mut am = conversation::ActiveModel {
        account_id: Set(account_id),
        inbox_id: Set(ib.id),
        contact_id: Set(ct.id),
        status: Set(ConversationStatus::Open),
        unread_count: Set(0),
        started_at: Set(Some(now)),
        ended_at: Set(None),
        assignee_id: Set(None),
        department_id: Set(None),
        goal_id: Set(None),
        snoozed_until: Set(None),
        metadata: Set(None),
        reason: Set(None),
        last_message_id: Set(None),
        last_message_at: Set(None),
        agent_last_seen_at: Set(None),
        contact_last_seen_at: Set(None),
        additional_attributes: Set(serde_json::json!({})),
        custom_attributes: Set(serde_json::json!({})),
        ..Default::default()
    };
    apply(&mut c, &mut am, &input.fields, now);
    c.finish()?;
    let txn = crate::db::begin_write(db).await?;
    if let Some(Some(a)) = input.fields.assignee_id {
        check_assignee(&txn, account_id, a).await?;
    }
    let ci = contacts::contact_inbox_for(&txn, &ct, &ib, source_id).await?;
    am.contact_inbox_id = Set(Some(ci.id));
    let conv = am.insert(&txn).await?;
    outbox::record(
        &txn,
        "conversation_created",
        outbox::for_conversation(&txn, &conv).await?,
    )
    .await?;
    txn.commit().await?;
    crate::delivery::events_committed();
    Ok(conv)
}

pub async fn update(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
    f: ConversationFields,
) -> Result<conversation::Model> {
    let (conv, _) =
        load_owned::<conversation::Entity, _>(db, principal, id, "conversation", Some("id"))
            .await?;
    let account_id = conv.account_id;
    let before = conv.clone();
    let mut c = Checks::new();
    let mut am: conversation::ActiveModel = conv.into();
    apply(&mut c, &mut am, &f, Utc::now());
    c.finish()?;
    let txn = crate::db::begin_write(db).await?;
    if let Some(Some(a)) = f.assignee_id {
        check_assignee(&txn, account_id, a).await?;
    }
    let conv = am.update(&txn).await?;
    let changes = outbox::conversation_changes(&before, &conv);
    if !changes.is_empty() {
        let mut data = outbox::for_conversation(&txn, &conv).await?;
        if before.status != conv.status {
            outbox::record(&txn, "conversation_status_changed", data.clone()).await?;
        }
        data.changes = changes;
        outbox::record(&txn, "conversation_updated", data).await?;
    }
    txn.commit().await?;
    crate::delivery::events_committed();
    Ok(conv)
}

pub async fn delete(db: &DatabaseConnection, principal: &Principal, id: i64) -> Result<()> {
    load_owned_admin::<conversation::Entity, _>(db, principal, id, "conversation", Some("id"))
        .await?;
    conversation::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
) -> Result<conversation::Model> {
    Ok(
        load_owned::<conversation::Entity, _>(db, principal, id, "conversation", None)
            .await?
            .0,
    )
}

#[derive(Default)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub inbox_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub unassigned: bool,
}

pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    filter: ConversationFilter,
    page: Page,
) -> Result<PageOf<conversation::Model>> {
    principal.require_member(account_id)?;
    let mut q = conversation::Entity::find().filter(conversation::Column::AccountId.eq(account_id));
    if let Some(s) = filter.status {
        q = q.filter(conversation::Column::Status.eq(s));
    }
    if let Some(i) = filter.inbox_id {
        q = q.filter(conversation::Column::InboxId.eq(i));
    }
    if let Some(a) = filter.assignee_id {
        q = q.filter(conversation::Column::AssigneeId.eq(a));
    }
    if filter.unassigned {
        q = q.filter(conversation::Column::AssigneeId.is_null());
    }
    if let Some(ct) = filter.contact_id {
        q = q.filter(conversation::Column::ContactId.eq(ct));
    }
    paginate(db, q, conversation::Column::Id, page).await
}
