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

/// Parsed documents of recently seen query texts. Scripts, integrations and the console send
/// the same few operations over and over, and parsing is a measurable share of a small
/// mutation's cost; a hit is a clone of the parsed tree. Validation still runs every time.
/// Only signed-in callers' texts are kept, and only short ones, within a total budget, so the
/// cache cannot be used to pin memory.
#[derive(Clone, Default)]
pub struct DocumentCache(std::sync::Arc<std::sync::Mutex<DocumentCacheInner>>);

#[derive(Default)]
struct DocumentCacheInner {
    docs: std::collections::HashMap<
        String,
        std::sync::Arc<async_graphql::parser::types::ExecutableDocument>,
    >,
    /// Total length of the texts kept.
    bytes: usize,
}

impl DocumentCache {
    /// Longer query texts are parsed every time.
    const MAX_QUERY_LEN: usize = 4 * 1024;
    /// Total length of the texts kept; when a new one would pass it, the cache starts over.
    const MAX_BYTES: usize = 256 * 1024;

    /// Gives `req` its parsed document from the cache, or parses it and keeps the result.
    /// A text that does not parse is left for the executor, which reports the error.
    pub fn prepare(&self, req: &mut async_graphql::Request) {
        if req.query.len() > Self::MAX_QUERY_LEN {
            return;
        }
        let hit = self
            .0
            .lock()
            .expect("document cache lock")
            .docs
            .get(&req.query)
            .cloned();
        if let Some(doc) = hit {
            req.set_parsed_query((*doc).clone());
            return;
        }
        let Ok(doc) = req.parsed_query() else {
            return;
        };
        let doc = std::sync::Arc::new(doc.clone());
        let mut cache = self.0.lock().expect("document cache lock");
        if cache.bytes + req.query.len() > Self::MAX_BYTES {
            cache.docs.clear();
            cache.bytes = 0;
        }
        if cache.docs.insert(req.query.clone(), doc).is_none() {
            cache.bytes += req.query.len();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap().docs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::DocumentCache;

    #[test]
    fn the_document_cache_keeps_parsed_texts_and_leaves_errors_to_the_executor() {
        let cache = DocumentCache::default();
        let mut a = async_graphql::Request::new("{ __typename }");
        cache.prepare(&mut a);
        assert_eq!(cache.len(), 1);
        let mut b = async_graphql::Request::new("{ __typename }");
        cache.prepare(&mut b);
        assert!(b.parsed_query().is_ok());
        assert_eq!(cache.len(), 1, "a hit adds nothing");

        let mut bad = async_graphql::Request::new("{ unclosed");
        cache.prepare(&mut bad);
        assert!(bad.parsed_query().is_err(), "the executor still reports it");
        assert_eq!(cache.len(), 1);

        let long = format!(
            "{{ __typename }}{}",
            " ".repeat(DocumentCache::MAX_QUERY_LEN)
        );
        cache.prepare(&mut async_graphql::Request::new(long));
        assert_eq!(cache.len(), 1, "long texts are not kept");

        let text = |i: usize| format!("{{ a{i}: __typename {} }}", " ".repeat(1000));
        for i in 0..(2 * DocumentCache::MAX_BYTES / 1000) {
            cache.prepare(&mut async_graphql::Request::new(text(i)));
        }
        assert!(cache.0.lock().unwrap().bytes <= DocumentCache::MAX_BYTES);
        assert!(cache.len() <= DocumentCache::MAX_BYTES / 1000);
    }
}
