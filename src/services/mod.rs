//! Domain logic over a database connection. No HTTP or GraphQL types here: callers pass a
//! [`Principal`](crate::auth::Principal) and plain inputs, and get entity models or an
//! [`Error`](crate::error::Error) back. Every mutation runs in one transaction.

pub mod accounts;
pub mod api_tokens;
pub mod bot_connections;
pub mod channels;
pub mod contacts;
pub mod conversations;
pub mod deliveries;
pub mod delivery_stats;
pub mod inboxes;
pub mod messages;
pub mod partners;
pub mod presence;
pub mod stories;
pub mod users;
pub mod webhook_subscriptions;
pub mod widget;

use entity::enums::Role;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PrimaryKeyTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

use crate::{
    auth::Principal,
    error::{Error, Result},
};

/// Largest page a connection returns.
pub const MAX_PAGE: u64 = 100;
pub const DEFAULT_PAGE: u64 = 20;

/// Forward pagination over ascending ids: `first` rows with `id > after`.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub first: u64,
    pub after: Option<i64>,
}

impl Page {
    pub fn new(first: Option<i32>, after: Option<i64>) -> Result<Self> {
        let first = match first {
            None => DEFAULT_PAGE,
            Some(n) if n < 0 => return Err(Error::BadInput("`first` must not be negative".into())),
            Some(n) if n as u64 > MAX_PAGE => {
                return Err(Error::BadInput(format!(
                    "`first` must be at most {MAX_PAGE}"
                )));
            }
            Some(n) => n as u64,
        };
        Ok(Self { first, after })
    }
}

pub struct PageOf<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl<T> PageOf<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> PageOf<U> {
        PageOf {
            items: self.items.into_iter().map(f).collect(),
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
        }
    }
}

/// Whether the user is a member of the account.
pub async fn is_member<C: ConnectionTrait>(db: &C, account_id: i64, user_id: i64) -> Result<bool> {
    Ok(entity::account_user::Entity::find()
        .filter(entity::account_user::Column::AccountId.eq(account_id))
        .filter(entity::account_user::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .is_some())
}

/// Runs `select` ordered by `id_col` ascending, one page at a time (one query: fetches one
/// extra row to know whether another page exists).
pub async fn paginate<E, C>(
    db: &C,
    select: Select<E>,
    id_col: E::Column,
    page: Page,
) -> Result<PageOf<E::Model>>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    paginate_ordered(db, select, id_col, page, false).await
}

/// [`paginate`] in either order; newest first, `after` pages towards older rows.
pub async fn paginate_ordered<E, C>(
    db: &C,
    select: Select<E>,
    id_col: E::Column,
    page: Page,
    newest_first: bool,
) -> Result<PageOf<E::Model>>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let mut q = if newest_first {
        select.order_by_desc(id_col)
    } else {
        select.order_by_asc(id_col)
    }
    .limit(page.first + 1);
    if let Some(after) = page.after {
        q = q.filter(if newest_first {
            id_col.lt(after)
        } else {
            id_col.gt(after)
        });
    }
    let mut items = q.all(db).await?;
    let has_next_page = items.len() as u64 > page.first;
    items.truncate(page.first as usize);
    Ok(PageOf {
        items,
        has_next_page,
        has_previous_page: page.after.is_some(),
    })
}

/// The name of the unique index a write violated, if that is why it failed.
pub fn unique_violation(e: &DbErr) -> Option<String> {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(s)) => Some(s),
        _ => None,
    }
}

/// Rows that belong to one account.
pub trait AccountOwned {
    fn account_id(&self) -> i64;
}

macro_rules! account_owned {
    ($($m:ident),*) => {$(
        impl AccountOwned for entity::$m::Model {
            fn account_id(&self) -> i64 { self.account_id }
        }
    )*};
}
account_owned!(
    channel,
    partner,
    story,
    bot_connection,
    inbox,
    contact,
    conversation,
    message,
    webhook_subscription,
    api_token,
    tag,
    delivery,
    delivery_attempt
);

/// Loads a row by id and returns it with the caller's role in its account. Missing rows and
/// rows of accounts the caller cannot see are the same `NOT_FOUND` (reported against `field`
/// when given, for mutation `userErrors`).
pub async fn load_owned<E, C>(
    db: &C,
    principal: &Principal,
    id: i64,
    what: &str,
    field: Option<&str>,
) -> Result<(E::Model, Role)>
where
    E: EntityTrait,
    E::Model: AccountOwned,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i64>,
    C: ConnectionTrait,
{
    principal.require_authenticated()?;
    let nf = || match field {
        Some(f) => Error::not_found_in(what, f),
        None => Error::not_found(what),
    };
    let model = E::find_by_id(id).one(db).await?.ok_or_else(nf)?;
    let role = principal.role_in(model.account_id()).ok_or_else(nf)?;
    Ok((model, role))
}

/// Like [`load_owned`], for changes that need the ADMINISTRATOR role.
pub async fn load_owned_admin<E, C>(
    db: &C,
    principal: &Principal,
    id: i64,
    what: &str,
    field: Option<&str>,
) -> Result<E::Model>
where
    E: EntityTrait,
    E::Model: AccountOwned,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i64>,
    C: ConnectionTrait,
{
    let (m, role) = load_owned::<E, C>(db, principal, id, what, field).await?;
    require_role_admin(role)?;
    Ok(m)
}

pub fn require_role_admin(role: Role) -> Result<()> {
    match role {
        Role::Administrator => Ok(()),
        Role::Agent => Err(Error::Forbidden(
            "this needs the ADMINISTRATOR role in the account".into(),
        )),
    }
}
