//! `spawn_app()`: the real application on 127.0.0.1:0 over its own database (a fresh SQLite
//! file, or a fresh PostgreSQL database when `SWITCHBOARD_TEST_DB=postgres`).

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::{config::Config, config::SecretString, startup::Application, state::AppState};

pub const PASSWORD: &str = "correct horse battery";

pub fn pg_admin_url() -> String {
    std::env::var("SWITCHBOARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn wants_postgres() -> bool {
    std::env::var("SWITCHBOARD_TEST_DB").is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
}

/// Whether a PostgreSQL-only test runs on this leg; on the SQLite leg it says so and the test
/// returns.
pub fn postgres_only(test: &str) -> bool {
    if wants_postgres() {
        return true;
    }
    eprintln!("{test}: runs on the PostgreSQL leg (SWITCHBOARD_TEST_DB=postgres)");
    false
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A fresh PostgreSQL database; `None` (with a loud message) when PostgreSQL is unreachable
/// outside CI. In CI a missing PostgreSQL fails the test.
pub async fn fresh_pg_database() -> Option<String> {
    use sea_orm::{ConnectionTrait, Database};
    let admin = pg_admin_url();
    let conn = match Database::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            assert!(
                !in_ci(),
                "PostgreSQL is required in CI but unreachable at {admin}: {e}"
            );
            eprintln!(
                "\n!!! SKIPPED: PostgreSQL unreachable at {admin} ({e}); set CI=true to make this fail !!!\n"
            );
            return None;
        }
    };
    let name = format!(
        "sb_test_{}",
        switchboard::crypto::random_token(8)
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin);
    Some(format!("{base}/{name}"))
}

/// The database for a test that runs the real binary: a fresh PostgreSQL database on the
/// PostgreSQL leg, else the SQLite file `name` in `dir`. `None` when PostgreSQL was asked for and
/// is away (outside CI).
pub async fn binary_database_url(dir: &std::path::Path, name: &str) -> Option<String> {
    if wants_postgres() {
        fresh_pg_database().await
    } else {
        Some(format!("sqlite://{}?mode=rwc", dir.join(name).display()))
    }
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    pub secret_key: String,
    stop: tokio_util::sync::CancellationToken,
    running: std::sync::Mutex<Option<tokio::task::JoinHandle<anyhow::Result<()>>>>,
    _dir: Option<tempfile::TempDir>,
}

/// Spawns the app; `None` only when the PostgreSQL leg was asked for and PostgreSQL is away (outside CI).
pub async fn try_spawn_app() -> Option<TestApp> {
    try_spawn_app_with(|_| {}).await
}

/// Settings for delivery tests: loopback receivers allowed, a fast retry schedule.
pub fn fast_delivery(c: &mut Config) {
    c.allow_private_destinations = Some("127.0.0.0/8".into());
    c.retry_base = Duration::from_millis(100);
    c.retry_max = 3;
    c.retry_poll_interval = Duration::from_millis(50);
    c.delivery_timeout = Duration::from_secs(3);
}

/// Like [`try_spawn_app`], with the configuration adjusted by `tweak`.
pub async fn try_spawn_app_with(tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let (database_url, dir) = if wants_postgres() {
        (fresh_pg_database().await?, None)
    } else {
        let dir = tempfile::tempdir().expect("temp dir");
        (
            format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
            Some(dir),
        )
    };
    switchboard::telemetry::init_logs_with("pretty", "warn");
    let secret_key = switchboard::crypto::random_token(32);
    let config = Config {
        database_url,
        listen: "127.0.0.1:0".parse().unwrap(),
        secret_key: Some(SecretString::new(secret_key.clone())),
        db_max_connections: 5,
        ..Config::default()
    };
    let mut config = config;
    tweak(&mut config);
    let app = Application::build(config).await.expect("app builds");
    let addr = app.local_addr();
    let state = app.state.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(app.run_until(stop.clone().cancelled_owned()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    Some(TestApp {
        addr,
        client,
        state,
        secret_key,
        stop,
        running: std::sync::Mutex::new(Some(running)),
        _dir: dir,
    })
}

impl TestApp {
    /// Another instance over the same database (a scale-out of two).
    pub async fn another_instance(&self) -> TestApp {
        let mut config = (*self.state.config).clone();
        config.listen = "127.0.0.1:0".parse().unwrap();
        let app = Application::build(config)
            .await
            .expect("second instance builds");
        let addr = app.local_addr();
        let state = app.state.clone();
        let stop = tokio_util::sync::CancellationToken::new();
        let running = tokio::spawn(app.run_until(stop.clone().cancelled_owned()));
        TestApp {
            addr,
            client: self.client.clone(),
            state,
            secret_key: self.secret_key.clone(),
            stop,
            running: std::sync::Mutex::new(Some(running)),
            _dir: None,
        }
    }

    /// Stops this instance as SIGTERM does (graceful: in-flight attempts finish within the
    /// grace period) and waits until it has stopped.
    pub async fn stop(&self) {
        self.stop.cancel();
        let running = self.running.lock().unwrap().take();
        if let Some(running) = running {
            tokio::time::timeout(Duration::from_secs(60), running)
                .await
                .expect("the app stops within a minute")
                .expect("the app's task")
                .expect("the app stops cleanly");
        }
    }
}

/// Spawns the app or returns from the test (PostgreSQL leg without PostgreSQL, outside CI).
#[macro_export]
macro_rules! spawn_app {
    () => {
        match $crate::helpers::try_spawn_app().await {
            Some(app) => app,
            None => return,
        }
    };
    ($tweak:expr) => {
        match $crate::helpers::try_spawn_app_with($tweak).await {
            Some(app) => app,
            None => return,
        }
    };
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs a GraphQL operation and returns the whole response body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("graphql request");
        resp.json().await.expect("graphql JSON body")
    }

    /// Like [`Self::gql`] but panics on top-level errors and returns `data`.
    pub async fn gql_ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(
            body.get("errors").is_none_or(Value::is_null),
            "unexpected errors: {body:#}"
        );
        body["data"].clone()
    }

    /// Creates a user directly and logs in through the API.
    pub async fn user_token(&self, email: &str, platform_admin: bool) -> String {
        switchboard::services::users::create(
            &self.state.db,
            switchboard::services::users::NewUser {
                email: email.into(),
                password: PASSWORD.into(),
                name: None,
                platform_admin,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("create user: {e:?}"));
        let d = self
            .gql_ok(
                None,
                "mutation($e:String!,$p:String!){ login(email:$e,password:$p){ token } }",
                json!({"e": email, "p": PASSWORD}),
            )
            .await;
        d["login"]["token"].as_str().unwrap().to_string()
    }

    pub async fn admin_token(&self) -> String {
        self.user_token("admin@example.com", true).await
    }

    pub async fn create_account(&self, token: &str, name: &str) -> String {
        let d = self
            .gql_ok(
                Some(token),
                "mutation($n:String!){ accountCreate(input:{name:$n}){ account{ id } userErrors{ message } } }",
                json!({"n": name}),
            )
            .await;
        d["accountCreate"]["account"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("account not created: {d}"))
            .to_string()
    }

    /// Account + channel + inbox + contact + conversation; returns their ids.
    pub async fn seed_conversation(&self, token: &str, account: &str) -> Seeded {
        let d = self
            .gql_ok(
                Some(token),
                r#"mutation($a:ID!){ channelCreate(input:{accountId:$a, kind:WHATSAPP, name:"WA", phone:"+972501234567"}){ channel{ id } userErrors{ message } } }"#,
                json!({"a": account}),
            )
            .await;
        let channel = d["channelCreate"]["channel"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let d = self
            .gql_ok(
                Some(token),
                r#"mutation($a:ID!,$c:ID!){ inboxCreate(input:{accountId:$a, channelId:$c, name:"Support"}){ inbox{ id } userErrors{ message } } }"#,
                json!({"a": account, "c": channel}),
            )
            .await;
        let inbox = d["inboxCreate"]["inbox"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let d = self
            .gql_ok(
                Some(token),
                r#"mutation($a:ID!){ contactCreate(input:{accountId:$a, firstName:"John", lastName:"Doe", phoneNumber:"1234567890"}){ contact{ id } userErrors{ message } } }"#,
                json!({"a": account}),
            )
            .await;
        let contact = d["contactCreate"]["contact"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let d = self
            .gql_ok(
                Some(token),
                r#"mutation($a:ID!,$i:ID!,$c:ID!){ conversationCreate(input:{accountId:$a, inboxId:$i, contactId:$c}){ conversation{ id } userErrors{ message } } }"#,
                json!({"a": account, "i": inbox, "c": contact}),
            )
            .await;
        let conversation = d["conversationCreate"]["conversation"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        Seeded {
            channel,
            inbox,
            contact,
            conversation,
        }
    }
}

pub struct Seeded {
    pub channel: String,
    pub inbox: String,
    pub contact: String,
    pub conversation: String,
}

/// `extensions.code` of the first top-level error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code: {body:#}"))
}

/// Codes of a payload's userErrors.
pub fn user_error_codes(payload: &Value) -> Vec<String> {
    payload["userErrors"]
        .as_array()
        .unwrap_or_else(|| panic!("no userErrors in {payload}"))
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect()
}

impl TestApp {
    /// A subscription to `url` for `events` in `format`; returns (id, secret).
    pub async fn subscribe(
        &self,
        token: &str,
        account: &str,
        url: &str,
        events: &[&str],
        format: &str,
    ) -> (String, String) {
        let d = self
            .gql_ok(
                Some(token),
                "mutation($a:ID!,$u:String!,$e:[String!]!,$f:PayloadFormat){ webhookSubscriptionCreate(input:{accountId:$a, url:$u, events:$e, format:$f}){ secret webhookSubscription{ id } userErrors{ field message code } } }",
                json!({"a": account, "u": url, "e": events, "f": format}),
            )
            .await;
        let p = &d["webhookSubscriptionCreate"];
        assert!(p["userErrors"].as_array().unwrap().is_empty(), "{p}");
        (
            p["webhookSubscription"]["id"].as_str().unwrap().to_string(),
            p["secret"].as_str().unwrap().to_string(),
        )
    }

    pub async fn send_message(
        &self,
        token: &str,
        conversation: &str,
        kind: &str,
        text: &str,
    ) -> String {
        let d = self
            .gql_ok(
                Some(token),
                "mutation($c:ID!,$t:MessageType!,$x:String!){ messageCreate(input:{conversationId:$c, messageType:$t, content:$x}){ message{ id } userErrors{ message } } }",
                json!({"c": conversation, "t": kind, "x": text}),
            )
            .await;
        d["messageCreate"]["message"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{d}"))
            .to_string()
    }

    /// The text of this instance's `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Polls until `check` accepts the GraphQL data (panics after `within`).
    pub async fn eventually(
        &self,
        token: &str,
        query: &str,
        vars: Value,
        within: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            let d = self.gql_ok(Some(token), query, vars.clone()).await;
            if check(&d) {
                return d;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "condition not met within {within:?}; last data: {d:#}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
