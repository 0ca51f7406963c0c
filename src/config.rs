//! Layered configuration: built-in defaults, then a TOML file, then the environment (env wins).
//!
//! Public names (fixed by CONTRACT.md): `DATABASE_URL`, `SWITCHBOARD_LISTEN`,
//! `SWITCHBOARD_SECRET_KEY`, `SWITCHBOARD_RETRY_BASE`, `SWITCHBOARD_RETRY_MAX`,
//! `SWITCHBOARD_ALLOW_PRIVATE_DESTINATIONS`. Every other field is `SWITCHBOARD_<FIELD>` too.
//! The file is `--config <path>`, else `SWITCHBOARD_CONFIG`, else `switchboard.toml` when present.

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Deserializer, Serialize};

/// A value that must never reach a log line.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// What one instance runs. Every role serves `/healthz`, `/readyz` and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// API, console and delivery workers (the default).
    #[default]
    All,
    /// API and console only: events and their deliveries are recorded; workers send them.
    Api,
    /// Delivery workers only (first attempts, retries, the fan-out sweep, housekeeping).
    Worker,
}

impl Role {
    pub fn serves_api(self) -> bool {
        self != Role::Worker
    }
    pub fn runs_workers(self) -> bool {
        self != Role::Api
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Api => "api",
            Role::Worker => "worker",
        }
    }
}

/// Everything Switchboard reads at start-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// `sqlite://…` (default: `switchboard.db` in the working directory) or `postgres://…`.
    pub database_url: String,
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Signs JWTs and encrypts stored secrets. Generated and kept in the database when unset.
    #[serde(default, deserialize_with = "stringish_secret")]
    pub secret_key: Option<SecretString>,
    /// Base delay of the delivery retry schedule (attempt n+1 waits `base * 2^(n-1)`).
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// Number of retries after the first attempt.
    pub retry_max: u32,
    /// Off by default; `true` or a comma list of CIDRs lets webhooks reach private addresses.
    #[serde(default, deserialize_with = "stringish")]
    pub allow_private_destinations: Option<String>,
    /// Size of the database connection pool.
    pub db_max_connections: u32,
    /// Lifetime of a login JWT.
    #[serde(with = "humantime_serde")]
    pub jwt_ttl: Duration,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Login attempts allowed per minute for one email, and for one client IP.
    pub login_attempts_per_minute: u32,
    /// `pretty` (default) or `json` log lines.
    pub log_format: String,
    /// Connect timeout of a webhook attempt.
    #[serde(with = "humantime_serde")]
    pub delivery_connect_timeout: Duration,
    /// Total timeout of a webhook attempt (connect, send, read).
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// Bytes of a receiver's answer kept in the attempt log (the rest is not read).
    pub max_response_bytes: usize,
    /// A subscription whose deliveries keep exhausting their retries this long is disabled.
    #[serde(with = "humantime_serde")]
    pub disable_failing_after: Duration,
    /// Attempts older than this are deleted.
    #[serde(with = "humantime_serde")]
    pub attempt_retention: Duration,
    /// How often the retry worker looks for due retry jobs.
    #[serde(with = "humantime_serde")]
    pub retry_poll_interval: Duration,
    /// How long a resolved bearer token (user and memberships, or API token) is reused without
    /// asking the database again. Changes made through this instance apply at once; other
    /// instances see them after at most this long. `0s` turns the cache off.
    #[serde(with = "humantime_serde")]
    pub auth_cache_ttl: Duration,
    /// Lifetime of partner access tokens (`POST /partner/v1/token`).
    #[serde(with = "humantime_serde")]
    pub partner_token_ttl: Duration,
    /// The address people reach this server at, for links sent out (e.g. `builder_url`).
    /// Default: `http://<listen>`.
    pub public_url: Option<String>,
    /// The server name sent as `server` in partner `online` events.
    pub server_name: String,
    /// A retry still not attempted this long after its time (its job was lost) is taken by the
    /// dispatcher instead.
    #[serde(with = "humantime_serde")]
    pub retry_overdue_grace: Duration,
    /// `all` (default), `api` or `worker`; `serve --role` overrides it.
    pub role: Role,
    /// Attempts in flight at once per subscription on one instance. They start in event order;
    /// with `1` a subscription's deliveries are also sent strictly one after another.
    pub delivery_concurrency: usize,
    /// Most due deliveries the dispatcher claims at once (a new message's deliveries are
    /// claimed by the transaction that writes them, so this is for backlogs and retries).
    pub claim_batch: u64,
    /// On SIGTERM, how long in-flight attempts may take to finish before the process exits
    /// (their deliveries are retaken by another instance when their lease runs out).
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://switchboard.db?mode=rwc".into(),
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            secret_key: None,
            retry_base: Duration::from_secs(7),
            retry_max: 10,
            allow_private_destinations: None,
            db_max_connections: 16,
            jwt_ttl: Duration::from_secs(12 * 3600),
            max_body_bytes: 1024 * 1024,
            login_attempts_per_minute: 10,
            log_format: "pretty".into(),
            delivery_connect_timeout: Duration::from_secs(5),
            delivery_timeout: Duration::from_secs(15),
            max_response_bytes: 64 * 1024,
            disable_failing_after: Duration::from_secs(5 * 24 * 3600),
            attempt_retention: Duration::from_secs(30 * 24 * 3600),
            retry_poll_interval: Duration::from_millis(250),
            auth_cache_ttl: Duration::from_secs(1),
            partner_token_ttl: Duration::from_secs(3600),
            public_url: None,
            server_name: "switchboard".into(),
            retry_overdue_grace: Duration::from_secs(60),
            role: Role::All,
            shutdown_grace: Duration::from_secs(20),
            delivery_concurrency: 8,
            claim_batch: 500,
        }
    }
}

impl Config {
    /// [`Self::public_url`] or `http://<listen>`, without a trailing slash.
    pub fn public_base(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_string()
    }

    /// Defaults, then the config file, then the environment.
    pub fn load(file: Option<PathBuf>) -> Result<Self, Box<figment::Error>> {
        let file = file
            .or_else(|| std::env::var_os("SWITCHBOARD_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("switchboard.toml"));
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::raw().only(&["DATABASE_URL"]))
            .merge(Env::prefixed("SWITCHBOARD_").ignore(&["CONFIG"]))
            .extract()
            .map_err(Box::new)
    }

    /// True when the database URL selects PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://")
    }
}

/// Env values such as `true` or `12345` arrive typed; these settings are strings whatever they look like.
fn stringish<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Any {
        S(String),
        B(bool),
        I(i64),
        F(f64),
    }
    Ok(Option::<Any>::deserialize(d)?.map(|v| match v {
        Any::S(s) => s,
        Any::B(b) => b.to_string(),
        Any::I(i) => i.to_string(),
        Any::F(f) => f.to_string(),
    }))
}

fn stringish_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(stringish(d)?.filter(|s| !s.is_empty()).map(SecretString))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own signature
    fn env_wins_over_file_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "switchboard.toml",
                "retry_max = 3\nlisten = \"127.0.0.1:9000\"",
            )?;
            jail.set_env("SWITCHBOARD_RETRY_MAX", "5");
            jail.set_env("SWITCHBOARD_RETRY_BASE", "50ms");
            jail.set_env("SWITCHBOARD_SECRET_KEY", "12345");
            jail.set_env("SWITCHBOARD_ALLOW_PRIVATE_DESTINATIONS", "true");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.retry_max, 5);
            assert_eq!(c.retry_base, Duration::from_millis(50));
            assert_eq!(c.listen.port(), 9000);
            assert_eq!(c.secret_key.unwrap().expose(), "12345");
            assert_eq!(c.allow_private_destinations.as_deref(), Some("true"));
            assert_eq!(c.database_url, "sqlite://switchboard.db?mode=rwc");
            Ok(())
        });
    }
}
