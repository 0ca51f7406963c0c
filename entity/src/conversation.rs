use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::ConversationStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub inbox_id: i64,
    pub contact_id: i64,
    pub contact_inbox_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub department_id: Option<i64>,
    pub goal_id: Option<i64>,
    pub status: ConversationStatus,
    pub unread_count: i32,
    pub last_message_id: Option<i64>,
    pub last_message_at: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
    pub snoozed_until: Option<DateTimeUtc>,
    pub agent_last_seen_at: Option<DateTimeUtc>,
    pub contact_last_seen_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Option<Json>,
    #[sea_orm(column_type = "Text")]
    pub reason: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub additional_attributes: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub custom_attributes: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::account::Entity",
        from = "Column::AccountId",
        to = "super::account::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_conversations_account_id"
    )]
    Account,
    #[sea_orm(
        belongs_to = "super::inbox::Entity",
        from = "Column::InboxId",
        to = "super::inbox::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_conversations_inbox_id"
    )]
    Inbox,
    #[sea_orm(
        belongs_to = "super::contact::Entity",
        from = "Column::ContactId",
        to = "super::contact::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_conversations_contact_id"
    )]
    Contact,
    #[sea_orm(
        belongs_to = "super::contact_inbox::Entity",
        from = "Column::ContactInboxId",
        to = "super::contact_inbox::Column::Id",
        on_delete = "SetNull",
        fk_name = "fk_conversations_contact_inbox_id"
    )]
    ContactInbox,
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::AssigneeId",
        to = "super::user::Column::Id",
        on_delete = "SetNull",
        fk_name = "fk_conversations_assignee_id"
    )]
    Assignee,
    #[sea_orm(has_many = "super::message::Entity")]
    Messages,
}

impl Related<super::account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

impl Related<super::inbox::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Inbox.def()
    }
}

impl Related<super::contact::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Contact.def()
    }
}

impl Related<super::contact_inbox::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ContactInbox.def()
    }
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Assignee.def()
    }
}

impl Related<super::message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Messages.def()
    }
}

timestamped!(created_at, updated_at);
