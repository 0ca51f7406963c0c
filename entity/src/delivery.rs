use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::DeliveryStatus;

/// One event on its way to one destination.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub event_id: i64,
    pub subscription_id: i64,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub event_type: String,
    /// Standard Webhooks `webhook-id`, the same for every attempt.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub webhook_id: String,
    pub status: DeliveryStatus,
    pub attempt_count: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    /// A worker holds the delivery until then (crash recovery: expired claims are retaken).
    pub claimed_until: Option<DateTimeUtc>,
    /// The rendered body, identical for every attempt.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub last_response_status: Option<i32>,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    pub completed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::webhook_subscription::Entity",
        from = "Column::SubscriptionId",
        to = "super::webhook_subscription::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_deliveries_subscription_id"
    )]
    Subscription,
    #[sea_orm(
        belongs_to = "super::event::Entity",
        from = "Column::EventId",
        to = "super::event::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_deliveries_event_id"
    )]
    Event,
}

impl Related<super::webhook_subscription::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Subscription.def()
    }
}

impl Related<super::event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

timestamped!(created_at, updated_at);
