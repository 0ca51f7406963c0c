use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A partner API client of one account (seed 003).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "partners")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub name: String,
    /// Public half of the credentials (`sbp_…`).
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub client_id: String,
    /// Hex SHA-256 of the client secret, which is shown once.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub client_secret_hash: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub whatsapp_reference: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub builder_reference: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub online_reference: Option<String>,
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
        fk_name = "fk_partners_account_id"
    )]
    Account,
}

impl Related<super::account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

timestamped!(created_at, updated_at);
