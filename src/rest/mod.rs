//! REST endpoints for integrations: the partner webhook API (seed 003) and the bot webhook
//! connections API (seed 004).

pub mod bot_connections;
pub mod partner;

use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(partner::routes())
        .merge(bot_connections::routes())
}

/// The bearer token of an `Authorization` header (`Bearer <t>`, scheme case-insensitive).
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let raw = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, token) = raw.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
