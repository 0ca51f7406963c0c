//! Delivery benchmark: events created through the public GraphQL API (`messageCreate`) reach a
//! loopback webhook receiver. Phase A measures throughput (API and end to end), phase B the
//! latency from `messageCreate` to the first delivery at a fixed event rate.
//!
//! `cargo bench --bench delivery` (SQLite); `BENCH_DB=postgres cargo bench --bench delivery`
//! (a fresh database on `SWITCHBOARD_TEST_PG_URL`, default the local server, dropped at the end).
//! Knobs: `BENCH_EVENTS` (2000), `BENCH_SUBS` (4), `BENCH_RATE` (500/s), `BENCH_SECONDS` (10),
//! `BENCH_CONVERSATIONS` (64: messages spread round robin over that many conversations; 1 puts
//! every message in one conversation, which serializes `messageCreate` on that conversation's row);
//! `BENCH_QUICK=1` runs a few-second smoke version (200 events, 100/s for 2 s). All traffic is
//! loopback. Results go to stdout, the app's log to stderr (`RUST_LOG`, default `warn`).
//! `SWITCHBOARD_DB_MAX_CONNECTIONS` sets the pool size (default as in production, 16).

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
    http::HeaderMap,
    routing::post,
};
use entity::{delivery, enums::DeliveryStatus};
use futures::StreamExt;
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, Statement,
};
use serde_json::{Value, json};
use switchboard::{config::Config, startup::Application};
use tokio::sync::mpsc;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

const PASSWORD: &str = "bench-password";
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

/// Counts the app's warnings and errors, so a clean run says so.
#[derive(Clone, Default)]
struct LogCounts(Arc<[AtomicUsize; 2]>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogCounts {
    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        match *e.metadata().level() {
            tracing::Level::WARN => self.0[0].fetch_add(1, Ordering::Relaxed),
            tracing::Level::ERROR => self.0[1].fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }
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

async fn receive(
    State(tx): State<mpsc::UnboundedSender<Hit>>,
    Path(sub): Path<usize>,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    let at = Instant::now();
    let webhook_id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let content = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["data"]["message"]["content"].as_str().map(String::from));
    let _ = tx.send(Hit {
        at,
        sub,
        webhook_id,
        content,
    });
    "ok"
}

/// Starts the receiver on 127.0.0.1:0; subscription `i` posts to `/hook/{i}`.
async fn start_receiver() -> (std::net::SocketAddr, mpsc::UnboundedReceiver<Hit>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let router = Router::new()
        .route("/hook/{sub}", post(receive))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, rx)
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
    url: String,
    token: String,
}

impl Api {
    async fn gql(&self, query: &str, variables: Value) -> Value {
        let body: Value = self
            .client
            .post(&self.url)
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
    /// `messageCreate` of an INCOMING text message, built but not sent.
    fn message(&self, conv: &str, content: &str) -> reqwest::RequestBuilder {
        self.client
            .post(&self.url)
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

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs nothing heavy.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let events = env_or("BENCH_EVENTS", if quick { 200 } else { 2000 });
    let subs = env_or("BENCH_SUBS", 4).max(1);
    let rate = env_or("BENCH_RATE", if quick { 100 } else { 500 }).max(1);
    let seconds = env_or("BENCH_SECONDS", if quick { 2 } else { 10 }).max(1);
    let conversations = env_or("BENCH_CONVERSATIONS", 64).max(1);

    let counts = LogCounts::default();
    tracing_subscriber::registry()
        .with(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_writer(std::io::stderr),
        )
        .with(counts.clone())
        .init();

    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = database_url(dir.path()).await;
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    let config = Config {
        database_url: url,
        listen: "127.0.0.1:0".parse().unwrap(),
        allow_private_destinations: Some("127.0.0.0/8".into()),
        db_max_connections: env_or(
            "SWITCHBOARD_DB_MAX_CONNECTIONS",
            Config::default().db_max_connections as usize,
        ) as u32,
        ..Config::default()
    };
    let app = Application::build(config).await.unwrap();
    let addr = app.local_addr();
    let db = app.state.db.clone();
    switchboard::services::users::create(
        &db,
        switchboard::services::users::NewUser {
            email: "bench@example.com".into(),
            password: PASSWORD.into(),
            name: None,
            platform_admin: true,
        },
    )
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let (rx_addr, mut rx) = start_receiver().await;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let gql = format!("http://{addr}/graphql");
    let login: Value = client
        .post(&gql)
        .json(&json!({"query": "mutation($e:String!,$p:String!){ login(email:$e, password:$p){ token } }",
                      "variables": {"e": "bench@example.com", "p": PASSWORD}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api = Api {
        client: client.clone(),
        url: gql,
        token: login["data"]["login"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("login failed: {login}"))
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
    for i in 0..subs {
        let d = api
            .gql(
                "mutation($a:ID!,$u:String!){ webhookSubscriptionCreate(input:{accountId:$a, url:$u, events:[\"message_created\"], format:STANDARD}){ webhookSubscription{ id } userErrors{ field message code } } }",
                json!({"a": account, "u": format!("http://{rx_addr}/hook/{i}")}),
            )
            .await;
        assert!(
            d["webhookSubscriptionCreate"]["webhookSubscription"]["id"].is_string(),
            "subscription not created: {d}"
        );
    }
    let mut hits = Hits::default();

    // Phase A: N events as fast as 16 in-flight requests allow.
    let start = Instant::now();
    let failures: Vec<String> = futures::stream::iter(0..events)
        .map(|i| {
            let req = api.message(&convs[i % conversations], &format!("a{i:06}"));
            send_message(req)
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|r| async move { r.err() })
        .collect()
        .await;
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
    let log_lag = attempt_log_caught_up(&db, (accepted * subs) as u64, hits.last_at).await;
    hits.settle(&mut rx).await;
    let a_total = hits.total;
    let a_dups = hits.duplicates;
    let a_incomplete = hits.incomplete("a", events, subs);

    // Phase B: a fixed event rate; latency to the first delivery of each event.
    let total = rate * seconds;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = Vec::with_capacity(total);
    for i in 0..total {
        ticker.tick().await;
        let req = api.message(&convs[i % conversations], &format!("b{i:06}"));
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
    let b_log_lag =
        attempt_log_caught_up(&db, ((accepted + b_accepted) * subs) as u64, hits.last_at).await;
    hits.settle(&mut rx).await;
    let mut first = Vec::with_capacity(total);
    let mut all = Vec::with_capacity(total);
    for (i, sent) in sent_at.iter().enumerate() {
        if let Some(v) = hits.by_content.get(&format!("b{i:06}")) {
            first.push(v.iter().map(|(at, _)| *at).min().unwrap() - *sent);
            if v.len() >= subs {
                all.push(v.iter().map(|(at, _)| *at).max().unwrap() - *sent);
            }
        }
    }
    first.sort();
    all.sort();
    responses.sort();
    let b_incomplete = hits.incomplete("b", total, subs);

    // Sizes, then stop the app (its in-flight work finishes) and drop the PostgreSQL database.
    let db_size = if pg.is_some() {
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
            .map(|f| {
                std::fs::metadata(dir.path().join(f))
                    .map(|m| m.len())
                    .unwrap_or(0)
            })
            .sum()
    };
    let rss = peak_rss_mib();
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), server).await;
    drop(db);
    if let Some((admin, name)) = &pg {
        let conn = Database::connect(admin).await.unwrap();
        conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .unwrap();
    }

    println!(
        "delivery bench ({backend}, {subs} subscriptions/event, {events} events{}): accepted {:.0} events/s; {:.0} deliveries/s end to end; duplicates {a_dups}{}",
        if conversations > 1 {
            format!(" over {conversations} conversations")
        } else {
            String::new()
        },
        accepted as f64 / api_elapsed.as_secs_f64(),
        (accepted * subs) as f64 / end_to_end.as_secs_f64(),
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
        "  phase B: {} events, API answered {answered_rate:.0} events/s{}, {} failed, duplicates {}, incomplete {}{}; attempt log all SUCCEEDED {} after the last delivery",
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
        b_log_lag.map_or("NOT (timeout)".into(), ms)
    );
    println!(
        "peak RSS {rss:.1} MiB; database {:.1} MiB{}; app log: {} warnings, {} errors; unreadable bodies {}",
        db_size as f64 / 1048576.0,
        if pg.is_some() { "" } else { " (db + wal)" },
        counts.0[0].load(Ordering::Relaxed),
        counts.0[1].load(Ordering::Relaxed),
        hits.unreadable
    );
    let ceiling = loopback_ceiling(&client, (events * subs).max(1000)).await;
    let delivered = (accepted * subs) as f64 / end_to_end.as_secs_f64();
    println!(
        "loopback ceiling (plain reqwest client -> bare axum receiver, {CONCURRENCY} in flight, no database): {ceiling:.0} requests/s; end-to-end deliveries are {:.0} % of it",
        100.0 * delivered / ceiling
    );
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
