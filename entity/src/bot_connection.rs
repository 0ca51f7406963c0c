use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A bot webhook connection of a story (seed 004).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "bot_connections")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub story_id: i64,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub name: String,
    #[sea_orm(column_type = "String(StringLen::N(1024))")]
    pub url: String,
    #[sea_orm(column_type = "Text")]
    pub token_encrypted: Option<String>,
    /// Object of header name to value.
    #[sea_orm(column_type = "JsonBinary")]
    pub headers: Json,
    #[sea_orm(column_type = "Text")]
    pub basic_auth_username: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub basic_auth_password_encrypted: Option<String>,
    /// Why the last call failed (cleared by a good answer).
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
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
        fk_name = "fk_bot_connections_account_id"
    )]
    Account,
    #[sea_orm(
        belongs_to = "super::story::Entity",
        from = "Column::StoryId",
        to = "super::story::Column::Id",
        on_delete = "Cascade",
        fk_name = "fk_bot_connections_story_id"
    )]
    Story,
}

impl Related<super::account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

impl Related<super::story::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Story.def()
    }
}

timestamped!(created_at, updated_at);
