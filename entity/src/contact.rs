use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub first_name: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub last_name: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub phone_number: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(320))")]
    pub email: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(2048))")]
    pub avatar_url: Option<String>,
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
        fk_name = "fk_contacts_account_id"
    )]
    Account,
    #[sea_orm(has_many = "super::contact_tag::Entity")]
    ContactTags,
    #[sea_orm(has_many = "super::contact_meta::Entity")]
    ContactMeta,
    #[sea_orm(has_many = "super::contact_inbox::Entity")]
    ContactInboxes,
    #[sea_orm(has_many = "super::conversation::Entity")]
    Conversations,
}

impl Related<super::account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

impl Related<super::contact_tag::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ContactTags.def()
    }
}

impl Related<super::contact_meta::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ContactMeta.def()
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

impl Related<super::tag::Entity> for Entity {
    fn to() -> RelationDef {
        super::contact_tag::Relation::Tag.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::contact_tag::Relation::Contact.def().rev())
    }
}

timestamped!(created_at, updated_at);
