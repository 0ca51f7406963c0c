use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One HTTP attempt of a delivery: what was sent and what came back.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "delivery_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub delivery_id: i64,
    pub account_id: i64,
    pub subscription_id: i64,
    pub attempt_number: i32,
    #[sea_orm(column_type = "String(StringLen::N(2048))")]
    pub url: String,
    /// Headers as sent, with credentials and signatures redacted.
    #[sea_orm(column_type = "JsonBinary")]
    pub request_headers: Json,
    #[sea_orm(column_type = "Text")]
    pub request_body: String,
    pub response_status: Option<i32>,
    #[sea_orm(column_type = "JsonBinary")]
    pub response_headers: Option<Json>,
    #[sea_orm(column_type = "Text")]
    pub response_body: Option<String>,
    pub response_truncated: bool,
    pub duration_ms: i32,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub error_kind: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub error_message: Option<String>,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::delivery::Entity",
        from = "Column::DeliveryId",
        to = "super::delivery::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_delivery_attempts_delivery_id"
    )]
    Delivery,
}

impl Related<super::delivery::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Delivery.def()
    }
}

timestamped!(created_at, updated_at);
