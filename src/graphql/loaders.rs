//! Per-request dataloaders: nested fields (a page of conversations with their contacts and
//! last messages) cost one query per kind, not one per row.

use std::{collections::HashMap, marker::PhantomData, sync::Arc};

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{contact_meta, contact_tag, tag};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

/// Entities loadable by their `id` column.
pub trait ById: EntityTrait {
    fn id_col() -> Self::Column;
    fn id_of(m: &Self::Model) -> i64;
}

macro_rules! by_id {
    ($($m:ident),*) => {$(
        impl ById for entity::$m::Entity {
            fn id_col() -> Self::Column { entity::$m::Column::Id }
            fn id_of(m: &Self::Model) -> i64 { m.id }
        }
    )*};
}
by_id!(
    account,
    user,
    channel,
    inbox,
    contact,
    contact_inbox,
    conversation,
    message
);

pub struct ByIdLoader<E>(DatabaseConnection, PhantomData<fn() -> E>);

impl<E> Loader<i64> for ByIdLoader<E>
where
    E: ById + Send + Sync + 'static,
    E::Model: Clone + Send + Sync + 'static,
{
    type Value = E::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = E::find()
            .filter(E::id_col().is_in(keys.iter().copied()))
            .all(&self.0)
            .await?;
        Ok(rows.into_iter().map(|m| (E::id_of(&m), m)).collect())
    }
}

/// Tag names of contacts, by contact id.
pub struct TagsLoader(DatabaseConnection);

impl Loader<i64> for TagsLoader {
    type Value = Vec<tag::Model>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = contact_tag::Entity::find()
            .filter(contact_tag::Column::ContactId.is_in(keys.iter().copied()))
            .find_also_related(tag::Entity)
            .all(&self.0)
            .await?;
        let mut out: HashMap<i64, Vec<tag::Model>> = HashMap::new();
        for (link, t) in rows {
            if let Some(t) = t {
                out.entry(link.contact_id).or_default().push(t);
            }
        }
        out.values_mut()
            .for_each(|v| v.sort_by(|a, b| a.name.cmp(&b.name)));
        Ok(out)
    }
}

/// Meta key/values of contacts, by contact id.
pub struct MetaLoader(DatabaseConnection);

impl Loader<i64> for MetaLoader {
    type Value = Vec<contact_meta::Model>;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = contact_meta::Entity::find()
            .filter(contact_meta::Column::ContactId.is_in(keys.iter().copied()))
            .all(&self.0)
            .await?;
        let mut out: HashMap<i64, Vec<contact_meta::Model>> = HashMap::new();
        for m in rows {
            out.entry(m.contact_id).or_default().push(m);
        }
        out.values_mut()
            .for_each(|v| v.sort_by(|a, b| a.meta_key.cmp(&b.meta_key)));
        Ok(out)
    }
}

pub struct Loaders {
    pub accounts: DataLoader<ByIdLoader<entity::account::Entity>>,
    pub users: DataLoader<ByIdLoader<entity::user::Entity>>,
    pub channels: DataLoader<ByIdLoader<entity::channel::Entity>>,
    pub inboxes: DataLoader<ByIdLoader<entity::inbox::Entity>>,
    pub contacts: DataLoader<ByIdLoader<entity::contact::Entity>>,
    pub contact_inboxes: DataLoader<ByIdLoader<entity::contact_inbox::Entity>>,
    pub conversations: DataLoader<ByIdLoader<entity::conversation::Entity>>,
    pub messages: DataLoader<ByIdLoader<entity::message::Entity>>,
    pub tags: DataLoader<TagsLoader>,
    pub meta: DataLoader<MetaLoader>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        fn by_id<E>(db: &DatabaseConnection) -> DataLoader<ByIdLoader<E>>
        where
            E: ById + Send + Sync + 'static,
            E::Model: Clone + Send + Sync + 'static,
        {
            DataLoader::new(ByIdLoader(db.clone(), PhantomData), tokio::spawn)
        }
        Self {
            accounts: by_id(db),
            users: by_id(db),
            channels: by_id(db),
            inboxes: by_id(db),
            contacts: by_id(db),
            contact_inboxes: by_id(db),
            conversations: by_id(db),
            messages: by_id(db),
            tags: DataLoader::new(TagsLoader(db.clone()), tokio::spawn),
            meta: DataLoader::new(MetaLoader(db.clone()), tokio::spawn),
        }
    }
}
