//! Shared application state, cloned into every handler.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{
    auth::{LoginLimiter, PrincipalCache},
    config::Config,
    crypto::Keys,
    delivery::Engine,
};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub keys: Keys,
    pub config: Arc<Config>,
    pub login_limiter: LoginLimiter,
    /// Resolved bearer tokens, kept briefly (see `auth::PrincipalCache`).
    pub principals: PrincipalCache,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// The delivery engine (dispatcher, retries, fan-out sweep).
    pub engine: Arc<Engine>,
    /// Parsed GraphQL documents of recent query texts.
    pub documents: crate::graphql::DocumentCache,
}
