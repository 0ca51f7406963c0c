use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{PayloadFormat, SubscriptionState};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "webhook_subscriptions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub channel_id: Option<i64>,
    pub inbox_id: Option<i64>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    #[sea_orm(column_type = "String(StringLen::N(2048))")]
    pub url: String,
    /// Array of event names.
    #[sea_orm(column_type = "JsonBinary")]
    pub events: Json,
    pub format: PayloadFormat,
    #[sea_orm(column_type = "Text")]
    pub secret_encrypted: String,
    #[sea_orm(column_type = "Text")]
    pub previous_secret_encrypted: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    /// Object of header name to value.
    #[sea_orm(column_type = "JsonBinary")]
    pub headers: Json,
    #[sea_orm(column_type = "Text")]
    pub bearer_token_encrypted: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub basic_auth_username: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub basic_auth_password_encrypted: Option<String>,
    pub state: SubscriptionState,
    #[sea_orm(column_type = "Text")]
    pub state_reason: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    pub is_channel_webhook: bool,
    /// Since when every delivery exhausted its retries (cleared by a success).
    pub failing_since: Option<DateTimeUtc>,
    /// Set on a partner's webhook (seed 003): it receives that partner's events only.
    pub partner_id: Option<i64>,
    /// Set on the subscription that carries a bot connection's calls (seed 004).
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
        fk_name = "fk_webhook_subscriptions_account_id"
    )]
    Account,
    #[sea_orm(
        belongs_to = "super::channel::Entity",
        from = "Column::ChannelId",
        to = "super::channel::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_webhook_subscriptions_channel_id"
    )]
    Channel,
    #[sea_orm(
        belongs_to = "super::inbox::Entity",
        from = "Column::InboxId",
        to = "super::inbox::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_webhook_subscriptions_inbox_id"
    )]
    Inbox,
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

impl Related<super::inbox::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Inbox.def()
    }
}

timestamped!(created_at, updated_at);
