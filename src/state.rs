//! Shared application state, cloned into every handler.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{auth::LoginLimiter, config::Config, crypto::Keys, delivery::Engine};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub keys: Keys,
    pub config: Arc<Config>,
    pub login_limiter: LoginLimiter,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// The delivery engine (fan-out, dispatcher, retries).
    pub engine: Arc<Engine>,
}
