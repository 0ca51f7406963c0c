//! Builds the application from a [`Config`] and serves it until SIGINT/SIGTERM.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::LoginLimiter,
    config::Config,
    crypto::Keys,
    db,
    delivery::{self, ssrf::Allow},
    graphql, http, services,
    state::AppState,
    telemetry,
};

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    pub state: AppState,
    shutdown: CancellationToken,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Connects, migrates, loads the master key and binds the listener (port 0 picks a free one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        install_crypto_provider();
        let allow = Allow::parse(config.allow_private_destinations.as_deref())
            .map_err(|e| anyhow::anyhow!("SWITCHBOARD_ALLOW_PRIVATE_DESTINATIONS: {e}"))?;
        if config.role != crate::config::Role::All && !config.database_url.starts_with("postgres") {
            anyhow::bail!(
                "--role {} needs PostgreSQL: a SQLite database serves one instance (use --role all)",
                config.role.as_str()
            );
        }
        let conn = db::connect(&config).await?;
        db::migrate(&conn).await?;
        let master = db::master_key(&conn, &config).await?;
        let keys = Keys::from_master(&master);
        let shutdown = CancellationToken::new();
        let (engine, workers) = delivery::start(
            conn.clone(),
            keys.clone(),
            &config,
            Arc::new(allow),
            shutdown.clone(),
        )
        .await?;
        let state = AppState {
            db: conn,
            keys,
            login_limiter: LoginLimiter::new(config.login_attempts_per_minute),
            principals: crate::auth::PrincipalCache::new(config.auth_cache_ttl),
            metrics: telemetry::metrics_handle(),
            config: Arc::new(config),
            engine,
            documents: Default::default(),
        };
        let schema = graphql::build_schema(Some(state.clone()));
        let router = http::router(state.clone(), schema);
        let listener = TcpListener::bind(state.config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", state.config.listen))?;
        Ok(Self {
            listener,
            router,
            state,
            shutdown,
            workers,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        if !services::users::has_platform_admin(&self.state.db)
            .await
            .unwrap_or(true)
        {
            tracing::warn!(
                "no administrator yet: open http://{addr}/ to create one, or run `switchboard admin create --email you@example.com --password '…'`"
            );
        }
        let role = self.state.config.role;
        if role.serves_api() {
            tracing::info!(%addr, role = role.as_str(), console = %format!("http://{addr}/"), "Switchboard listening");
        } else {
            tracing::info!(%addr, role = role.as_str(), "Switchboard worker listening (health and metrics only)");
        }
        let workers_stop = self.shutdown.clone();
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            workers_stop.cancel();
        })
        .await?;
        // No attempt starts now; those in flight finish (bounded by the HTTP timeout) and are
        // recorded, unsent claims are released, all within the grace period.
        self.shutdown.cancel();
        let grace = self.state.config.shutdown_grace;
        if tokio::time::timeout(grace, futures::future::join_all(self.workers))
            .await
            .is_err()
        {
            tracing::warn!(
                ?grace,
                "grace period over with work still in flight; its leases will expire and other instances retake it"
            );
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// rustls needs one process-wide crypto provider; reqwest is built without its default.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
