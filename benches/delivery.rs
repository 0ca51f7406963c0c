//! Delivery benchmark: the real `switchboard` binary (one or more instances over one database)
//! receives events through the public GraphQL API (`messageCreate`) and delivers them to a
//! loopback webhook receiver. Phase A measures throughput (API and end to end), phase B the
//! latency from `messageCreate` to the first delivery at a fixed event rate, and the optional
//! phase C a backlog: deliveries piled up behind paused subscriptions, then drained.
//!
//! `cargo bench --bench delivery` (SQLite); `BENCH_DB=postgres cargo bench --bench delivery`
//! (a fresh database on `SWITCHBOARD_TEST_PG_URL`, default the local server, dropped at the end).
//! Knobs:
//! - `BENCH_INSTANCES` (1): server processes over the same database (PostgreSQL for more than
//!   one); the load goes round robin to their APIs;
//! - `BENCH_EVENTS` (2000): phase A events; or `BENCH_DURATION` (seconds): phase A sends for
//!   that long instead (`BENCH_DURATION=60` for a minute sustained);
//! - `BENCH_SUBS` (4): subscriptions per event;
//! - `BENCH_RATE` (500/s) and `BENCH_SECONDS` (10): phase B;
//! - `BENCH_FAIL_PERCENT` (0): the receiver answers 500 to this share of requests, picked at
//!   random; failed attempts are retried (`SWITCHBOARD_RETRY_BASE` 100 ms here);
//! - `BENCH_BACKLOG` (0): phase C's number of deliveries (e.g. 100000);
//! - `BENCH_CONVERSATIONS` (64): messages spread round robin over that many conversations;
//! - `BENCH_QUICK=1`: a few-second smoke version (200 events, 100/s for 2 s, 2000 backlog).
//!
//! All traffic is loopback. Results go to stdout. CPU and memory are the server processes'
//! own (`/proc/<pid>`), not the load generator's. Each instance's pool is
//! `SWITCHBOARD_DB_MAX_CONNECTIONS`, by default 16 divided among the instances; other
//! `SWITCHBOARD_*` settings pass through to the servers; `BENCH_BINARY` runs another build of
//! the server (to compare two builds under the same load generator).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use entity::{delivery, delivery_attempt, enums::DeliveryStatus, message};
use futures::StreamExt;
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Statement,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const CONCURRENCY: usize = 16;
const WAIT: Duration = Duration::from_secs(120);
const MESSAGE_CREATE: &str = "mutation($c:ID!,$x:String!){ messageCreate(input:{conversationId:$c, messageType:INCOMING, content:$x}){ message{ id } userErrors{ message } } }";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn quantiles(sorted: &[Duration]) -> String {
    if sorted.is_empty() {
        return "no samples".into();
    }
    format!(
        "p50 {}, p90 {}, p99 {}, max {}",
        ms(percentile(sorted, 0.5)),
        ms(percentile(sorted, 0.9)),
        ms(percentile(sorted, 0.99)),
        ms(*sorted.last().unwrap())
    )
}

/// The server processes: their ports, and counts of the warnings and errors they logged.
struct Servers {
    children: Vec<std::process::Child>,
    ports: Vec<u16>,
    log_counts: Arc<[AtomicUsize; 2]>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Servers {
    /// Starts `n` instances over `url`, one after the other (the first migrates).
    async fn start(n: usize, url: &str, dir: &std::path::Path, retry_base: &str) -> Servers {
        let mut s = Servers {
            children: Vec::new(),
            ports: Vec::new(),
            log_counts: Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]),
        };
        for _ in 0..n {
            let port = free_port();
            // `BENCH_SERVER_PREFIX="perf record -e cpu-clock -g -o /tmp/sb.perf --"` runs the
            // servers under a profiler (CPU and RSS figures are then the profiler's).
            let prefix = std::env::var("BENCH_SERVER_PREFIX").unwrap_or_default();
            let mut words = prefix.split_whitespace();
            // `BENCH_BINARY=/path/to/switchboard` measures another build (an A/B comparison).
            let binary = std::env::var("BENCH_BINARY")
                .unwrap_or_else(|_| env!("CARGO_BIN_EXE_switchboard").to_string());
            let mut cmd = match words.next() {
                Some(tool) => {
                    let mut c = std::process::Command::new(tool);
                    c.args(words).arg(&binary);
                    c
                }
                None => std::process::Command::new(&binary),
            };
            cmd.arg("serve")
                .current_dir(dir)
                .env("DATABASE_URL", url)
                .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
                .env(
                    "SWITCHBOARD_SECRET_KEY",
                    "bench-secret-key-bench-secret-key",
                )
                .env("SWITCHBOARD_ALLOW_PRIVATE_DESTINATIONS", "127.0.0.0/8")
                .env("SWITCHBOARD_RETRY_BASE", retry_base)
                .env("SWITCHBOARD_LOG_FORMAT", "json")
                .env("SWITCHBOARD_DB_MAX_CONNECTIONS", pool_size(n).to_string())
                .env(
                    "RUST_LOG",
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().expect("the switchboard binary starts");
            for out in [
                child
                    .stdout
                    .take()
                    .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
                child
                    .stderr
                    .take()
                    .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
            ]
            .into_iter()
            .flatten()
            {
                let counts = s.log_counts.clone();
                std::thread::spawn(move || {
                    use std::io::BufRead;
                    for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                        // The first start's "no administrator yet" hint is expected here.
                        if line.contains("no administrator yet") {
                            continue;
                        }
                        if line.contains("\"level\":\"WARN\"") {
                            counts[0].fetch_add(1, Ordering::Relaxed);
                            eprintln!("server: {line}");
                        } else if line.contains("\"level\":\"ERROR\"") {
                            counts[1].fetch_add(1, Ordering::Relaxed);
                            eprintln!("server: {line}");
                        }
                    }
                });
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    break;
                }
                assert!(child.try_wait().unwrap().is_none(), "server exited early");
                assert!(Instant::now() < deadline, "server not ready within 60 s");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            s.children.push(child);
            s.ports.push(port);
        }
        s
    }

    /// CPU seconds (user + system) used so far by all instances.
    fn cpu_seconds(&self) -> f64 {
        self.children
            .iter()
            .filter_map(|c| std::fs::read_to_string(format!("/proc/{}/stat", c.id())).ok())
            .map(|stat| {
                // Fields after the parenthesised command name; utime and stime are 14 and 15.
                let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
                let f: Vec<&str> = rest.split_whitespace().collect();
                let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
                    + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
                ticks / 100.0
            })
            .sum()
    }

    /// (current RSS, peak RSS) summed over instances, in MiB.
    fn rss_mib(&self) -> (f64, f64) {
        let mut now = 0.0;
        let mut peak = 0.0;
        for c in &self.children {
            let status =
                std::fs::read_to_string(format!("/proc/{}/status", c.id())).unwrap_or_default();
            let kib = |key: &str| {
                status
                    .lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            now += kib("VmRSS:") / 1024.0;
            peak += kib("VmHWM:") / 1024.0;
        }
        (now, peak)
    }

    fn graphql_urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}/graphql"))
            .collect()
    }

    /// SIGTERM, then wait for the exits (in-flight work finishes).
    async fn stop(mut self) {
        for c in &self.children {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for c in &mut self.children {
            while c.try_wait().unwrap().is_none() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Each instance's database pool: `SWITCHBOARD_DB_MAX_CONNECTIONS` if set, else the default
/// 16 divided among the instances (at least 2), as README's Deployment section advises: more
/// connections than the database's cores can serve slow everything down (on 2 cores, three
/// instances with 16 each delivered 1,997-2,043/s, with 4 each 2,301-2,462/s).
fn pool_size(instances: usize) -> usize {
    std::env::var("SWITCHBOARD_DB_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or((16 / instances.max(1)).max(2))
}

/// A fresh database URL, and for PostgreSQL the admin URL and name to drop it with.
async fn database_url(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    if std::env::var("BENCH_DB").is_ok_and(|v| v == "postgres") {
        let admin = std::env::var("SWITCHBOARD_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("sb_bench_delivery_{}", std::process::id());
        let conn = Database::connect(&admin)
            .await
            .expect("PostgreSQL reachable");
        conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
            .await
            .unwrap();
        conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let _ = conn.close().await;
        // Same server and options (e.g. `?sslmode=disable`), the fresh database.
        let mut url = url::Url::parse(&admin).expect("SWITCHBOARD_TEST_PG_URL is a URL");
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        (url, Some((admin, name)))
    } else {
        let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
        (url, None)
    }
}

/// One request as the receiver saw it.
struct Hit {
    at: Instant,
    sub: usize,
    webhook_id: String,
    /// `data.message.content` of the STANDARD body.
    content: Option<String>,
}

/// The receiver's state: where hits go, and which share of requests to fail.
#[derive(Clone)]
struct Rx {
    tx: mpsc::UnboundedSender<Hit>,
    fail_percent: u64,
    seq: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
}

async fn receive(
    State(rx): State<Rx>,
    Path(sub): Path<usize>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let at = Instant::now();
    if rx.fail_percent > 0 {
        // A multiplicative hash of the request's sequence number: a repeatable coin.
        let n = rx.seq.fetch_add(1, Ordering::Relaxed) as u64;
        if (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 100 < rx.fail_percent {
            rx.failed.fetch_add(1, Ordering::Relaxed);
            return (StatusCode::INTERNAL_SERVER_ERROR, "scripted failure");
        }
    }
    let webhook_id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let content = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["data"]["message"]["content"].as_str().map(String::from));
    let _ = rx.tx.send(Hit {
        at,
        sub,
        webhook_id,
        content,
    });
    (StatusCode::OK, "ok")
}

/// Starts the receiver on 127.0.0.1:0; subscription `i` posts to `/hook/{i}`.
async fn start_receiver(
    fail_percent: u64,
) -> (std::net::SocketAddr, mpsc::UnboundedReceiver<Hit>, Rx) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Rx {
        tx,
        fail_percent,
        seq: Arc::new(AtomicUsize::new(0)),
        failed: Arc::new(AtomicUsize::new(0)),
    };
    let router = Router::new()
        .route("/hook/{sub}", post(receive))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, rx, state)
}

/// Everything received so far, by message content.
#[derive(Default)]
struct Hits {
    /// content → (arrival, subscription index) of each request.
    by_content: HashMap<String, Vec<(Instant, usize)>>,
    webhook_ids: HashSet<String>,
    duplicates: usize,
    unreadable: usize,
    total: usize,
    last_at: Option<Instant>,
}

impl Hits {
    fn add(&mut self, h: Hit) {
        self.total += 1;
        self.last_at = Some(self.last_at.map_or(h.at, |l| l.max(h.at)));
        if !self.webhook_ids.insert(h.webhook_id) {
            self.duplicates += 1;
        }
        match h.content {
            Some(c) => self.by_content.entry(c).or_default().push((h.at, h.sub)),
            None => self.unreadable += 1,
        }
    }

    /// Drains the receiver until `target` requests arrived in total (false on timeout).
    async fn wait_for(&mut self, rx: &mut mpsc::UnboundedReceiver<Hit>, target: usize) -> bool {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.total < target {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(h)) => self.add(h),
                _ => return false,
            }
        }
        true
    }

    /// Takes what arrives in the next 300 ms: anything sent twice shortly after is a duplicate.
    async fn settle(&mut self, rx: &mut mpsc::UnboundedReceiver<Hit>) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        while let Ok(h) = rx.try_recv() {
            self.add(h);
        }
    }

    /// Events (by content prefix) that did not reach every subscription exactly once.
    fn incomplete(&self, prefix: &str, events: usize, subs: usize) -> usize {
        (0..events)
            .filter(|i| {
                let Some(v) = self.by_content.get(&format!("{prefix}{i:06}")) else {
                    return true;
                };
                let set: HashSet<usize> = v.iter().map(|(_, s)| *s).collect();
                set.len() != subs
            })
            .count()
    }
}

struct Api {
    client: reqwest::Client,
    /// `/graphql` of every instance; setup uses the first, the load goes round robin.
    urls: Vec<String>,
    token: String,
}

impl Api {
    async fn gql(&self, query: &str, variables: Value) -> Value {
        let body: Value = self
            .client
            .post(&self.urls[0])
            .bearer_auth(&self.token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            body.get("errors").is_none_or(Value::is_null),
            "GraphQL errors: {body}"
        );
        body["data"].clone()
    }

    async fn create(&self, query: &str, variables: Value, field: &str, object: &str) -> String {
        let d = self.gql(query, variables).await;
        d[field][object]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{field} failed: {d}"))
            .to_string()
    }
}

/// Sends a built `messageCreate`; `Err` carries the reason it was not accepted.
async fn send_message(req: reqwest::RequestBuilder) -> Result<(), String> {
    let r = req.send().await.map_err(|e| e.to_string())?;
    let body: Value = r.json().await.map_err(|e| e.to_string())?;
    if body["data"]["messageCreate"]["message"]["id"].is_string() {
        Ok(())
    } else {
        Err(body.to_string())
    }
}

impl Api {
    /// `messageCreate` of an INCOMING text message to instance `i % n`, built but not sent.
    fn message(&self, i: usize, conv: &str, content: &str) -> reqwest::RequestBuilder {
        self.client
            .post(&self.urls[i % self.urls.len()])
            .bearer_auth(&self.token)
            .json(&json!({"query": MESSAGE_CREATE, "variables": {"c": conv, "x": content}}))
    }
}

/// Waits until the attempt log shows `n` succeeded deliveries; how long after `since` that was.
async fn attempt_log_caught_up(
    db: &DatabaseConnection,
    n: u64,
    since: Option<Instant>,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < WAIT {
        let done = delivery::Entity::find()
            .filter(delivery::Column::Status.eq(DeliveryStatus::Succeeded.as_str()))
            .count(db)
            .await
            .unwrap();
        if done >= n {
            return Some(since.map_or(Duration::ZERO, |s| Instant::now() - s));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs nothing heavy.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    switchboard::startup::install_crypto_provider();
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let events = env_or("BENCH_EVENTS", if quick { 200 } else { 2000 });
    // Phase A by time instead of by count.
    let duration = std::env::var("BENCH_DURATION")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let subs = env_or("BENCH_SUBS", 4).max(1);
    let rate = env_or("BENCH_RATE", if quick { 100 } else { 500 }).max(1);
    let seconds = env_or("BENCH_SECONDS", if quick { 2 } else { 10 }).max(1);
    let conversations = env_or("BENCH_CONVERSATIONS", 64).max(1);
    let instances = env_or("BENCH_INSTANCES", 1).max(1);
    let fail_percent = env_or("BENCH_FAIL_PERCENT", 0).min(99) as u64;
    let backlog = env_or("BENCH_BACKLOG", if quick { 2000 } else { 0 });

    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = database_url(dir.path()).await;
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    assert!(
        instances == 1 || pg.is_some(),
        "BENCH_INSTANCES > 1 needs BENCH_DB=postgres"
    );
    let servers = Servers::start(instances, &url, dir.path(), "100ms").await;
    let db = Database::connect(&url).await.unwrap();
    let (rx_addr, mut rx, rx_state) = start_receiver(fail_percent).await;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let urls = servers.graphql_urls();
    let first: Value = client
        .post(&urls[0])
        .json(&json!({"query": "mutation{ firstAdminCreate(input:{email:\"bench@example.com\", password:\"bench-password\"}){ token } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api = Api {
        client: client.clone(),
        urls,
        token: first["data"]["firstAdminCreate"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("first administrator not created: {first}"))
            .to_string(),
    };
    let account = api
        .create(
            "mutation{ accountCreate(input:{name:\"Bench\"}){ account{ id } userErrors{ message } } }",
            json!({}),
            "accountCreate",
            "account",
        )
        .await;
    let channel = api.create(
        r#"mutation($a:ID!){ channelCreate(input:{accountId:$a, kind:WHATSAPP, name:"WA", phone:"+972501234567"}){ channel{ id } userErrors{ message } } }"#,
        json!({"a": account}), "channelCreate", "channel").await;
    let inbox = api.create(
        r#"mutation($a:ID!,$c:ID!){ inboxCreate(input:{accountId:$a, channelId:$c, name:"Support"}){ inbox{ id } userErrors{ message } } }"#,
        json!({"a": account, "c": channel}), "inboxCreate", "inbox").await;
    let contact = api.create(
        r#"mutation($a:ID!){ contactCreate(input:{accountId:$a, firstName:"John", phoneNumber:"1234567890"}){ contact{ id } userErrors{ message } } }"#,
        json!({"a": account}), "contactCreate", "contact").await;
    let mut convs = Vec::with_capacity(conversations);
    for _ in 0..conversations {
        convs.push(api.create(
            r#"mutation($a:ID!,$i:ID!,$c:ID!){ conversationCreate(input:{accountId:$a, inboxId:$i, contactId:$c}){ conversation{ id } userErrors{ message } } }"#,
            json!({"a": account, "i": inbox, "c": contact}), "conversationCreate", "conversation").await);
    }
    let mut sub_ids = Vec::with_capacity(subs);
    for i in 0..subs {
        let d = api
            .gql(
                "mutation($a:ID!,$u:String!){ webhookSubscriptionCreate(input:{accountId:$a, url:$u, events:[\"message_created\"], format:STANDARD}){ webhookSubscription{ id } userErrors{ field message code } } }",
                json!({"a": account, "u": format!("http://{rx_addr}/hook/{i}")}),
            )
            .await;
        sub_ids.push(
            d["webhookSubscriptionCreate"]["webhookSubscription"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("subscription not created: {d}"))
                .to_string(),
        );
    }
    let db_size_before = database_size(&db, dir.path()).await;
    let mut hits = Hits::default();
    // Sends events `from..to`, or until `until` when given; returns the failures and how many
    // were sent.
    let send_all = |prefix: &'static str, from: usize, to: usize, until: Option<Instant>| {
        let api = &api;
        let convs = &convs;
        async move {
            let sent = AtomicUsize::new(0);
            let failures = futures::stream::iter(from..to)
                .take_while(|_| std::future::ready(until.is_none_or(|u| Instant::now() < u)))
                .map(|i| {
                    sent.fetch_add(1, Ordering::Relaxed);
                    let req = api.message(i, &convs[i % conversations], &format!("{prefix}{i:06}"));
                    send_message(req)
                })
                .buffer_unordered(CONCURRENCY)
                .filter_map(|r| async move { r.err() })
                .collect::<Vec<String>>()
                .await;
            (failures, sent.into_inner())
        }
    };

    // Phase A: N events as fast as 16 in-flight requests allow.
    let cpu_a = servers.cpu_seconds();
    let start = Instant::now();
    let (failures, events) = match duration {
        Some(d) => send_all("a", 0, usize::MAX, Some(start + d)).await,
        None => send_all("a", 0, events, None).await,
    };
    let api_elapsed = start.elapsed();
    let accepted = events - failures.len();
    if let Some(f) = failures.first() {
        eprintln!(
            "phase A: {} messageCreate failed, first: {f}",
            failures.len()
        );
    }
    let complete = hits.wait_for(&mut rx, accepted * subs).await;
    let end_to_end = hits.last_at.map_or(Duration::ZERO, |l| l - start);
    let cpu_a = (servers.cpu_seconds() - cpu_a) / end_to_end.as_secs_f64().max(1e-9);
    let log_lag = attempt_log_caught_up(&db, (accepted * subs) as u64, hits.last_at).await;
    hits.settle(&mut rx).await;
    let a_total = hits.total;
    let a_dups = hits.duplicates;
    let a_incomplete = hits.incomplete("a", events, subs);

    // Phase B: a fixed event rate; latency to the first delivery of each event.
    let total = rate * seconds;
    let cpu_b = servers.cpu_seconds();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = Vec::with_capacity(total);
    let b_start = Instant::now();
    let b_start_utc = chrono::Utc::now();
    for i in 0..total {
        ticker.tick().await;
        let req = api.message(i, &convs[i % conversations], &format!("b{i:06}"));
        sends.push(tokio::spawn(async move {
            let sent = Instant::now();
            let r = send_message(req).await;
            (sent, sent.elapsed(), r)
        }));
    }
    let mut sent_at = Vec::with_capacity(total);
    let mut responses = Vec::with_capacity(total);
    let mut b_failures = Vec::new();
    for h in sends {
        let (sent, took, r) = h.await.unwrap();
        sent_at.push(sent);
        responses.push(took);
        if let Err(e) = r {
            b_failures.push(e);
        }
    }
    let first_sent = sent_at.iter().min().copied().unwrap();
    let last_sent = sent_at.iter().max().copied().unwrap();
    let achieved = if total > 1 {
        format!(
            "{:.1}/s",
            (total - 1) as f64 / (last_sent - first_sent).as_secs_f64()
        )
    } else {
        "n/a".into()
    };
    let last_answer = sent_at
        .iter()
        .zip(&responses)
        .map(|(s, t)| *s + *t)
        .max()
        .unwrap();
    let answered_rate = total as f64 / (last_answer - first_sent).as_secs_f64();
    if let Some(f) = b_failures.first() {
        eprintln!(
            "phase B: {} messageCreate failed, first: {f}",
            b_failures.len()
        );
    }
    let b_accepted = total - b_failures.len();
    let b_complete = hits.wait_for(&mut rx, a_total + b_accepted * subs).await;
    let cpu_b = (servers.cpu_seconds() - cpu_b) / b_start.elapsed().as_secs_f64();
    let b_log_lag =
        attempt_log_caught_up(&db, ((accepted + b_accepted) * subs) as u64, hits.last_at).await;
    hits.settle(&mut rx).await;
    let mut first = Vec::with_capacity(total);
    let mut all = Vec::with_capacity(total);
    // (event, latency, offset into phase B, messageCreate response time) of each first delivery.
    let mut slowest = Vec::with_capacity(total);
    for (i, sent) in sent_at.iter().enumerate() {
        if let Some(v) = hits.by_content.get(&format!("b{i:06}")) {
            let latency = v.iter().map(|(at, _)| *at).min().unwrap() - *sent;
            slowest.push((i, latency, *sent - b_start, responses[i]));
            first.push(latency);
            if v.len() >= subs {
                all.push(v.iter().map(|(at, _)| *at).max().unwrap() - *sent);
            }
        }
    }
    first.sort();
    all.sort();
    responses.sort();
    // The slowest first deliveries, when in phase B they were sent and where their time went:
    // from the send to the message's row (`created_at`, set in the API's transaction), from
    // there to the first attempt's start (commit, hand-off, queue), and from that to the
    // receiver's arrival; plus how long the API took to answer.
    slowest.sort_by_key(|s| std::cmp::Reverse(s.1));
    let utc = |at: Instant| b_start_utc + chrono::Duration::from_std(at - b_start).unwrap();
    let mut worst = Vec::new();
    for (i, latency, at, answered) in slowest.iter().take(8).copied() {
        let content = format!("b{i:06}");
        let sent = utc(sent_at[i]);
        let arrived = sent + chrono::Duration::from_std(latency).unwrap();
        let row = message::Entity::find()
            .filter(message::Column::Content.eq(content.as_str()))
            .one(&db)
            .await
            .unwrap();
        let first = delivery_attempt::Entity::find()
            .filter(delivery_attempt::Column::RequestBody.contains(format!("\"{content}\"")))
            .order_by_asc(delivery_attempt::Column::CreatedAt)
            .one(&db)
            .await
            .unwrap();
        let span = |a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>| {
            format!(
                "{:.1} ms",
                (b - a).num_microseconds().unwrap_or(0) as f64 / 1e3
            )
        };
        let parts = match (row, first) {
            (Some(m), Some(a)) => format!(
                "API {}, to send {}, wire {}",
                span(sent, m.created_at),
                span(m.created_at, a.created_at),
                span(a.created_at, arrived)
            ),
            _ => "rows not found".into(),
        };
        worst.push(format!(
            "{} at +{:.2} s ({parts}; answered in {})",
            ms(latency),
            at.as_secs_f64(),
            ms(answered)
        ));
    }
    let slowest = worst;
    let b_incomplete = hits.incomplete("b", total, subs);
    let (_, peak_ab) = servers.rss_mib();

    // Phase C: a backlog behind paused subscriptions, then drained.
    let backlog_report = if backlog > 0 {
        let set_state = |state: &'static str| {
            let api = &api;
            let sub_ids = &sub_ids;
            async move {
                for id in sub_ids {
                    api.gql(
                        "mutation($i:ID!,$s:SubscriptionState){ webhookSubscriptionUpdate(input:{id:$i, state:$s}){ userErrors{ message } } }",
                        json!({"i": id, "s": state}),
                    )
                    .await;
                }
            }
        };
        set_state("PAUSED").await;
        let c_events = backlog.div_ceil(subs);
        let done_before = (accepted + b_accepted) * subs;
        let fill = Instant::now();
        let (c_failures, _) = send_all("c", 0, c_events, None).await;
        let fill_secs = fill.elapsed().as_secs_f64();
        let c_accepted = c_events - c_failures.len();
        // Wait for fan-out: every delivery row of the backlog exists.
        let want = (done_before + c_accepted * subs) as u64;
        let deadline = Instant::now() + WAIT;
        while delivery::Entity::find().count(&db).await.unwrap() < want && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (rss_pending, _) = servers.rss_mib();
        let cpu_c = servers.cpu_seconds();
        let before = hits.total;
        let drain = Instant::now();
        set_state("ENABLED").await;
        // Sample memory while it drains.
        let mut rss_min = f64::MAX;
        let mut rss_max: f64 = 0.0;
        let target = before + c_accepted * subs;
        let deadline = tokio::time::Instant::now() + WAIT * 5;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        while hits.total < target {
            tokio::select! {
                h = rx.recv() => match h { Some(h) => hits.add(h), None => break },
                _ = tick.tick() => {
                    let (now, _) = servers.rss_mib();
                    rss_min = rss_min.min(now);
                    rss_max = rss_max.max(now);
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let drained = drain.elapsed().as_secs_f64();
        let cpu_c = (servers.cpu_seconds() - cpu_c) / drained;
        hits.settle(&mut rx).await;
        Some(format!(
            "phase C (backlog): {} deliveries queued behind paused subscriptions in {fill_secs:.1} s (RSS then {rss_pending:.0} MiB); drained at {:.0} deliveries/s ({} of {} arrived), server CPU {:.0} %, RSS during the drain {:.0}–{:.0} MiB",
            c_accepted * subs,
            (hits.total - before) as f64 / drained,
            hits.total - before,
            c_accepted * subs,
            100.0 * cpu_c,
            if rss_min == f64::MAX { 0.0 } else { rss_min },
            rss_max
        ))
    } else {
        None
    };

    // Sizes, then stop the servers (in-flight work finishes) and drop the PostgreSQL database.
    let db_size = database_size(&db, dir.path()).await;
    let (rss_end, rss_peak) = servers.rss_mib();
    let log_counts = servers.log_counts.clone();
    servers.stop().await;
    // Closed, not dropped: PostgreSQL logs a dropped connection as an error.
    let _ = db.close().await;
    if let Some((admin, name)) = &pg {
        let conn = Database::connect(admin).await.unwrap();
        conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .unwrap();
        let _ = conn.close().await;
    }

    println!(
        "delivery bench ({backend}, {instances} instance{} with pools of {}, {subs} subscriptions/event, {events} events{}{}): accepted {:.0} events/s; {:.0} deliveries/s end to end; server CPU {:.0} % of one core; duplicates {a_dups}{}",
        if instances > 1 { "s" } else { "" },
        pool_size(instances),
        if conversations > 1 {
            format!(" over {conversations} conversations")
        } else {
            String::new()
        },
        if fail_percent > 0 {
            format!(", receiver fails {fail_percent} %")
        } else {
            String::new()
        },
        accepted as f64 / api_elapsed.as_secs_f64(),
        (accepted * subs) as f64 / end_to_end.as_secs_f64(),
        100.0 * cpu_a,
        if complete && a_incomplete == 0 {
            String::new()
        } else {
            format!(
                "; INCOMPLETE: {a_incomplete} events missing a delivery after {}s",
                WAIT.as_secs()
            )
        }
    );
    println!(
        "  phase A: API {:.2} s, last delivery {:.2} s after the first event; attempt log all SUCCEEDED {} after the last delivery",
        api_elapsed.as_secs_f64(),
        end_to_end.as_secs_f64(),
        log_lag.map_or("NOT (timeout)".into(), ms)
    );
    println!(
        "at {rate} events/s for {seconds} s (achieved {achieved}): first delivery {}",
        quantiles(&first)
    );
    println!(
        "  all {subs} deliveries {}; messageCreate response {}",
        quantiles(&all),
        quantiles(&responses)
    );
    println!(
        "  slowest first deliveries (phase B began {}):\n    {}",
        b_start_utc.format("%H:%M:%S%.3f UTC"),
        slowest.join("\n    ")
    );
    println!(
        "  phase B: {} events, API answered {answered_rate:.0} events/s{}, {} failed, duplicates {}, incomplete {}{}; server CPU {:.0} %; attempt log all SUCCEEDED {} after the last delivery",
        total,
        if answered_rate < 0.95 * rate as f64 {
            " (BELOW the offered rate: the latencies above are mostly queueing)"
        } else {
            ""
        },
        b_failures.len(),
        hits.duplicates - a_dups,
        b_incomplete,
        if b_complete { "" } else { " (timeout)" },
        100.0 * cpu_b,
        b_log_lag.map_or("NOT (timeout)".into(), ms)
    );
    if let Some(r) = backlog_report {
        println!("{r}");
    }
    if fail_percent > 0 {
        println!(
            "  receiver failures answered: {} (each retried until it succeeded)",
            rx_state.failed.load(Ordering::Relaxed)
        );
    }
    println!(
        "server RSS peak {rss_peak:.1} MiB (after phases A and B {peak_ab:.1}), at the end {rss_end:.1} MiB; database grew {:.1} MiB{}; server log: {} warnings, {} errors; unreadable bodies {}",
        (db_size.saturating_sub(db_size_before)) as f64 / 1048576.0,
        if pg.is_some() { "" } else { " (db + wal)" },
        log_counts[0].load(Ordering::Relaxed),
        log_counts[1].load(Ordering::Relaxed),
        hits.unreadable
    );
    let ceiling = loopback_ceiling(&client, (events * subs).max(1000)).await;
    let delivered = (accepted * subs) as f64 / end_to_end.as_secs_f64();
    println!(
        "loopback ceiling (plain reqwest client -> bare axum receiver, {CONCURRENCY} in flight, no database): {ceiling:.0} requests/s; end-to-end deliveries are {:.0} % of it",
        100.0 * delivered / ceiling
    );
}

/// Bytes on disk: `pg_database_size`, or the SQLite file and its WAL.
async fn database_size(db: &DatabaseConnection, dir: &std::path::Path) -> u64 {
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT pg_database_size(current_database()) AS size",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "size").unwrap() as u64
    } else {
        ["bench.db", "bench.db-wal"]
            .iter()
            .map(|f| std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0))
            .sum()
    }
}

/// The ceiling of this machine for the same traffic: a plain reqwest client posting a STANDARD-sized
/// body to a bare axum receiver on loopback, `CONCURRENCY` in flight, no database.
async fn loopback_ceiling(client: &reqwest::Client, requests: usize) -> f64 {
    let router = Router::new().route("/ceiling", post(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let url = format!("http://{addr}/ceiling");
    let body = "x".repeat(1200);
    let start = Instant::now();
    futures::stream::iter(0..requests)
        .map(|_| {
            client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        })
        .buffer_unordered(CONCURRENCY)
        .for_each(|r| async move {
            r.expect("loopback ceiling request");
        })
        .await;
    requests as f64 / start.elapsed().as_secs_f64()
}
