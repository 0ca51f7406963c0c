//! Builds the application from a [`Config`] and serves it until SIGINT/SIGTERM.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::{
    auth::LoginLimiter, config::Config, crypto::Keys, db, graphql, http, services, state::AppState,
    telemetry,
};

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    pub state: AppState,
}

impl Application {
    /// Connects, migrates, loads the master key and binds the listener (port 0 picks a free one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let conn = db::connect(&config).await?;
        db::migrate(&conn).await?;
        let master = db::master_key(&conn, &config).await?;
        let state = AppState {
            db: conn,
            keys: Keys::from_master(&master),
            login_limiter: LoginLimiter::new(config.login_attempts_per_minute),
            metrics: telemetry::metrics_handle(),
            config: Arc::new(config),
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
        tracing::info!(%addr, console = %format!("http://{addr}/"), "Switchboard listening");
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
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
