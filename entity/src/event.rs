use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An outbox row: written in the transaction of the change that caused it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub event_type: String,
    pub channel_id: Option<i64>,
    pub inbox_id: Option<i64>,
    /// The snapshot (`switchboard::events::data::EventData`).
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    /// Set once deliveries were created for every matching destination.
    pub dispatched_at: Option<DateTimeUtc>,
    /// The partner a partner event is for (only that partner's webhook receives it).
    pub partner_id: Option<i64>,
    /// The bot connection a `bot_call` event is for.
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
        fk_name = "fk_events_account_id"
    )]
    Account,
}

impl Related<super::account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

timestamped!(created_at, updated_at);
