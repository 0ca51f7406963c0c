//! The real `switchboard` binary, as a user runs it.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub fn free_port() -> u16 {
    // Test-side reqwest clients need the process-wide rustls provider too.
    switchboard::startup::install_crypto_provider();
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn switchboard(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    c.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("SWITCHBOARD_SECRET_KEY")
        .env("RUST_LOG", "info");
    c
}

pub async fn wait_ready(port: u16, child: &mut Child) -> reqwest::Response {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            return r;
        }
        assert!(child.try_wait().unwrap().is_none(), "server exited early");
        assert!(Instant::now() < deadline, "server not up within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `switchboard serve` child process with fast delivery settings for tests; killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub async fn start(dir: &std::path::Path, database_url: &str) -> Self {
        Self::start_with(dir, database_url, &[]).await
    }

    /// Starts with extra environment (which wins over the test defaults).
    pub async fn start_with(
        dir: &std::path::Path,
        database_url: &str,
        env: &[(&str, String)],
    ) -> Self {
        let port = free_port();
        let mut cmd = switchboard(dir);
        cmd.env("DATABASE_URL", database_url)
            .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_SECRET_KEY", "crash-test-secret-key")
            .env("SWITCHBOARD_ALLOW_PRIVATE_DESTINATIONS", "127.0.0.0/8")
            .env("SWITCHBOARD_RETRY_BASE", "200ms")
            .env("SWITCHBOARD_RETRY_POLL_INTERVAL", "50ms")
            .env("SWITCHBOARD_DELIVERY_TIMEOUT", "2s")
            .env("RUST_LOG", "warn")
            // Logs go to stdout: warnings and errors show up in the test's output.
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        wait_ready(port, &mut child).await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self { child, port, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// GraphQL `data`; panics on errors.
    pub async fn gql(
        &self,
        token: Option<&str>,
        query: &str,
        vars: serde_json::Value,
    ) -> serde_json::Value {
        self.try_gql(token, query, vars)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// GraphQL `data`, or the transport or GraphQL error as text.
    pub async fn try_gql(
        &self,
        token: Option<&str>,
        query: &str,
        vars: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let mut req = self
            .http
            .post(self.url("/graphql"))
            .json(&serde_json::json!({"query": query, "variables": vars}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let body: serde_json::Value = req
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if body["errors"].is_null() {
            Ok(body["data"].clone())
        } else {
            Err(body["errors"].to_string())
        }
    }

    /// Resident memory of the process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }

    /// SIGKILL, and reap.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM; waits for the exit (panics after `within`) without blocking the runtime, so
    /// receivers in this test process keep answering meanwhile.
    pub async fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit within {within:?} of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

fn stop(child: &mut Child) -> std::process::ExitStatus {
    let within = Duration::from_secs(15);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("server did not exit within {within:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn serve_in_an_empty_directory_creates_the_database_and_becomes_ready() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = switchboard(dir.path())
        .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = wait_ready(port, &mut child).await;
    assert_eq!(ready.status().as_u16(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["hasAdministrator"], false);
    assert!(
        dir.path().join("switchboard.db").exists(),
        "switchboard.db created in the working directory"
    );
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let console = client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        console.contains("switchboard admin create"),
        "console explains the first step"
    );
    let metrics = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "latency histogram exported"
    );

    let status = stop(&mut child);
    assert!(status.success(), "graceful exit on SIGTERM, got {status:?}");
    let out = child.wait_with_output().unwrap();
    let logs =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("no administrator yet"),
        "startup logs explain how to create the first administrator:\n{logs}"
    );
    assert!(!logs.contains("whsec_"), "no secrets in logs");

    // `admin create` then a restart: the generated key persisted, so the admin can log in and
    // the token works across restarts.
    let out = switchboard(dir.path())
        .args([
            "admin",
            "create",
            "--email",
            "ops@example.com",
            "--password",
            "s3cret-pass",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = switchboard(dir.path())
        .args([
            "admin",
            "create",
            "--email",
            "ops@example.com",
            "--password",
            "short",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password"),
        "explains the refused password"
    );

    let login = r#"{"query":"mutation{ login(email:\"ops@example.com\", password:\"s3cret-pass\"){ token } }"}"#;
    let mut token = String::new();
    for round in 0..2 {
        let port = free_port();
        let mut child = switchboard(dir.path())
            .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_ready(port, &mut child).await;
        if round == 0 {
            let r: serde_json::Value = client
                .post(format!("http://127.0.0.1:{port}/graphql"))
                .header("content-type", "application/json")
                .body(login)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            token = r["data"]["login"]["token"].as_str().unwrap().to_string();
        }
        let r: serde_json::Value = client
            .post(format!("http://127.0.0.1:{port}/graphql"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"query": "{ viewer { isPlatformAdmin } }"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            r["data"]["viewer"]["isPlatformAdmin"], true,
            "round {round}: {r}"
        );
        stop(&mut child);
    }
}

#[test]
fn migrate_applies_migrations_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = switchboard(dir.path()).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    assert!(dir.path().join("switchboard.db").exists());
    let out = switchboard(dir.path())
        .env("DATABASE_URL", "bogus://nowhere")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "an unusable DATABASE_URL is an error, not a panic"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
