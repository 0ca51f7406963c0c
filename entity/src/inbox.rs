use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "inboxes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub channel_id: i64,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    /// The bot webhook connection (seed 004) that answers this inbox's incoming messages
    /// while a conversation is PENDING.
    pub bot_connection_id: Option<i64>,
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
        fk_name = "fk_inboxes_account_id"
    )]
    Account,
    #[sea_orm(
        belongs_to = "super::channel::Entity",
        from = "Column::ChannelId",
        to = "super::channel::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_inboxes_channel_id"
    )]
    Channel,
    #[sea_orm(has_many = "super::contact_inbox::Entity")]
    ContactInboxes,
    #[sea_orm(has_many = "super::conversation::Entity")]
    Conversations,
    #[sea_orm(has_many = "super::webhook_subscription::Entity")]
    WebhookSubscriptions,
}

impl Related<super::account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

impl Related<super::channel::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Channel.def()
    }
}

impl Related<super::contact_inbox::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ContactInboxes.def()
    }
}

impl Related<super::conversation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Conversations.def()
    }
}

impl Related<super::webhook_subscription::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::WebhookSubscriptions.def()
    }
}

timestamped!(created_at, updated_at);
