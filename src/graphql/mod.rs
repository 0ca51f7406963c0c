//! The GraphQL API: Relay-style ids and connections, Shopify-style mutations (one `input`,
//! a payload with the changed object and `userErrors`). Errors carry `extensions.code`.

pub mod enums;
pub mod ids;
pub mod loaders;
mod mutation;
mod query;
mod subscription;
pub mod types;

use async_graphql::{
    Schema,
    connection::{Connection, Edge},
};

pub use mutation::MutationRoot;
pub use query::QueryRoot;
pub use subscription::SubscriptionRoot;

use crate::{services::PageOf, state::AppState};

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Deepest query accepted, and the largest complexity (fields, with connections counted by `first`).
pub const MAX_DEPTH: usize = 12;
pub const MAX_COMPLEXITY: usize = 20_000;

pub fn build_schema(state: Option<AppState>) -> AppSchema {
    let mut b = Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY);
    if let Some(s) = state {
        b = b.data(s);
    }
    b.finish()
}

/// The SDL that `schema.graphql` must match.
pub fn sdl() -> String {
    build_schema(None).sdl()
}

/// A page of models as a Relay connection.
pub(crate) fn conn<M, T: async_graphql::OutputType>(
    page: PageOf<M>,
    id: impl Fn(&M) -> i64,
    wrap: impl Fn(M) -> T,
) -> Connection<String, T> {
    let mut c = Connection::new(page.has_previous_page, page.has_next_page);
    c.edges.extend(
        page.items
            .into_iter()
            .map(|m| Edge::new(ids::cursor(id(&m)), wrap(m))),
    );
    c
}

pub(crate) mod helpers {
    use async_graphql::Context;

    use super::loaders::Loaders;
    use crate::{auth::Principal, state::AppState};

    pub fn state<'a>(ctx: &'a Context<'_>) -> &'a AppState {
        ctx.data_unchecked::<AppState>()
    }

    pub fn principal<'a>(ctx: &'a Context<'_>) -> &'a Principal {
        static ANON: Principal = Principal::Anonymous;
        ctx.data_opt::<Principal>().unwrap_or(&ANON)
    }

    pub fn loaders<'a>(ctx: &'a Context<'_>) -> &'a Loaders {
        ctx.data_unchecked::<Loaders>()
    }

    /// The client address, when the transport knows it.
    #[derive(Clone, Copy)]
    pub struct ClientIp(pub Option<std::net::IpAddr>);
}
