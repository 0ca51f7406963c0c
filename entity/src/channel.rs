use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{ChannelEnv, ChannelKind, ChannelStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "channels")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub kind: ChannelKind,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub phone: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub identifier: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub provider: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(8))")]
    pub country: Option<String>,
    pub env: ChannelEnv,
    pub status: ChannelStatus,
    #[sea_orm(column_type = "Text")]
    pub description: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(2048))")]
    pub webhook_url: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub credentials_encrypted: Option<String>,
    /// A WhatsApp line's daily business-conversation limit (reported in `whatsapp` events).
    pub daily_limit: Option<i32>,
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
        fk_name = "fk_channels_account_id"
    )]
    Account,
    #[sea_orm(has_many = "super::inbox::Entity")]
    Inboxes,
    #[sea_orm(has_many = "super::webhook_subscription::Entity")]
    WebhookSubscriptions,
}

impl Related<super::account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

impl Related<super::inbox::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Inboxes.def()
    }
}

impl Related<super::webhook_subscription::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::WebhookSubscriptions.def()
    }
}

timestamped!(created_at, updated_at);
