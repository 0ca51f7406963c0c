use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{ContentType, MessageDeliveryStatus, MessageType, SenderType};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub conversation_id: i64,
    pub sender_type: SenderType,
    pub sender_id: Option<i64>,
    pub message_type: MessageType,
    #[sea_orm(column_type = "Text")]
    pub content: Option<String>,
    pub content_type: ContentType,
    #[sea_orm(column_type = "String(StringLen::N(2048))")]
    pub media_url: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub source_id: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub external_id: Option<String>,
    pub delivery_status: MessageDeliveryStatus,
    pub private: bool,
    #[sea_orm(column_type = "JsonBinary")]
    pub content_attributes: Json,
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
        fk_name = "fk_messages_account_id"
    )]
    Account,
    #[sea_orm(
        belongs_to = "super::conversation::Entity",
        from = "Column::ConversationId",
        to = "super::conversation::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_messages_conversation_id"
    )]
    Conversation,
}

impl Related<super::account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

impl Related<super::conversation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Conversation.def()
    }
}

timestamped!(created_at, updated_at);
