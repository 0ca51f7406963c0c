//! Logs (tracing) and metrics (Prometheus text format).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt};

/// Installs the log subscriber; `RUST_LOG` overrides the default filter.
pub fn init_logs(format: &str) {
    init_logs_with(
        format,
        "info,sqlx=warn,sea_orm=warn,tower_http=warn,apalis=warn,apalis_core=warn",
    );
}

/// Like [`init_logs`] with another default filter (tests use `warn`).
pub fn init_logs_with(format: &str, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = fmt().with_env_filter(filter).with_target(false);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The process-wide metrics recorder (installed once, shared by every app in the process).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        15.0,
                    ],
                )
                .expect("bucket list is not empty")
                .install_recorder()
                .expect("metrics recorder installed once")
        })
        .clone()
}
