//! Faults, with the real binary and real receivers on 127.0.0.1, each bounded in time:
//! kill -9 of one of three instances under load, PostgreSQL restarted under load, receivers
//! that hang, trickle, answer 10 MiB, reset or redirect, and 20 % random failures over many
//! deliveries. `SWITCHBOARD_FAULT_MESSAGES` scales the last one (default 1,000 messages × 5
//! subscriptions = 5,000 deliveries; 10000 gives the 50,000-delivery run).

use std::{
    collections::HashMap,
    path::PathBuf,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use crate::{
    binary::{Server, free_port},
    helpers::{binary_database_url, fresh_pg_database, in_ci, postgres_only, wants_postgres},
    receiver::{Receiver, Reply},
};

/// What the load talks to: an account with conversations and subscriptions.
struct World {
    token: String,
    account: String,
    conversations: Vec<String>,
    subscriptions: Vec<String>,
}

async fn world(s: &Server, urls: &[String], conversations: usize) -> World {
    let d = s
        .gql(None, r#"mutation{ firstAdminCreate(input:{email:"ops@example.com", password:"fault-test-pass"}){ token } }"#, json!({}))
        .await;
    let token = d["firstAdminCreate"]["token"].as_str().unwrap().to_string();
    let t = Some(token.as_str());
    let id = |v: &Value, path: &[&str]| {
        let mut v = v;
        for p in path {
            v = &v[p];
        }
        v.as_str().unwrap_or_else(|| panic!("{v}")).to_string()
    };
    let a = id(
        &s.gql(
            t,
            r#"mutation{ accountCreate(input:{name:"F"}){ account{ id } } }"#,
            json!({}),
        )
        .await,
        &["accountCreate", "account", "id"],
    );
    let ch = id(&s.gql(t, "mutation($a:ID!){ channelCreate(input:{accountId:$a, kind:API, name:\"c\"}){ channel{ id } } }", json!({"a": a})).await, &["channelCreate", "channel", "id"]);
    let ib = id(&s.gql(t, "mutation($a:ID!,$c:ID!){ inboxCreate(input:{accountId:$a, channelId:$c, name:\"i\"}){ inbox{ id } } }", json!({"a": a, "c": ch})).await, &["inboxCreate", "inbox", "id"]);
    let mut convs = Vec::new();
    for i in 0..conversations {
        let ct = id(&s.gql(t, "mutation($a:ID!,$n:String!){ contactCreate(input:{accountId:$a, firstName:$n}){ contact{ id } } }", json!({"a": a, "n": format!("K{i}")})).await, &["contactCreate", "contact", "id"]);
        convs.push(id(&s.gql(t, "mutation($a:ID!,$i:ID!,$c:ID!){ conversationCreate(input:{accountId:$a, inboxId:$i, contactId:$c}){ conversation{ id } } }", json!({"a": a, "i": ib, "c": ct})).await, &["conversationCreate", "conversation", "id"]));
    }
    let mut subs = Vec::new();
    for u in urls {
        let d = s.gql(t, "mutation($a:ID!,$u:String!){ webhookSubscriptionCreate(input:{accountId:$a, url:$u, events:[\"message_created\"]}){ webhookSubscription{ id } userErrors{ message } } }", json!({"a": a, "u": u})).await;
        subs.push(id(
            &d,
            &["webhookSubscriptionCreate", "webhookSubscription", "id"],
        ));
    }
    World {
        token,
        account: a,
        conversations: convs,
        subscriptions: subs,
    }
}

const MESSAGE: &str = "mutation($c:ID!,$x:String!){ messageCreate(input:{conversationId:$c, messageType:INCOMING, content:$x}){ message{ id } } }";

/// Sends messages `from..to` (content `m<i>`) over `servers` in turn, `concurrency` at a time.
/// Returns the contents the API accepted (an error, e.g. while the database is away, is
/// counted, not retried).
async fn load(
    servers: &[&Server],
    w: &World,
    from: usize,
    to: usize,
    concurrency: usize,
) -> (Vec<String>, usize) {
    let next = Arc::new(AtomicUsize::new(from));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let next = next.clone();
        let urls: Vec<String> = servers.iter().map(|s| s.url("/graphql")).collect();
        let convs = w.conversations.clone();
        let token = w.token.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let (mut ok, mut failed) = (Vec::new(), 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= to {
                    return (ok, failed);
                }
                let content = format!("m{i}");
                let r = http
                    .post(&urls[i % urls.len()])
                    .bearer_auth(&token)
                    .json(&json!({"query": MESSAGE, "variables": {"c": convs[i % convs.len()], "x": content}}))
                    .send()
                    .await;
                let refused = match r {
                    Ok(r) => match r.json::<Value>().await {
                        Ok(b) if b["data"]["messageCreate"]["message"]["id"].is_string() => None,
                        Ok(b) => Some(b.to_string()),
                        Err(e) => Some(e.to_string()),
                    },
                    Err(e) => Some(e.to_string()),
                };
                match refused {
                    None => ok.push(content),
                    Some(why) => {
                        if failed == 0 {
                            // The first refusal of each sender, to tell a fault's effect from a bug.
                            eprintln!("load: message {i} not accepted: {why}");
                        }
                        failed += 1;
                    }
                }
            }
        }));
    }
    let mut all = (Vec::new(), 0);
    for t in tasks {
        let (ok, failed) = t.await.unwrap();
        all.0.extend(ok);
        all.1 += failed;
    }
    (all.0, all.1)
}

/// (path, message content) → receipts (webhook-id, when).
fn receipts(rx: &Receiver) -> HashMap<(String, String), Vec<(String, Instant)>> {
    rx.inspect(|got| {
        let mut m: HashMap<(String, String), Vec<(String, Instant)>> = HashMap::new();
        for r in got {
            let content = r.json()["data"]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            m.entry((r.path.clone(), content))
                .or_default()
                .push((r.header("webhook-id").to_string(), r.at));
        }
        m
    })
}

/// Waits until every (path, content) pair has at least one 2xx-answered receipt.
async fn wait_delivered(rx: &Receiver, paths: &[&str], contents: &[String], within: Duration) {
    let deadline = Instant::now() + within;
    let want = paths.len() * contents.len();
    loop {
        let got = receipts(rx);
        let have = paths
            .iter()
            .flat_map(|p| contents.iter().map(move |c| (p.to_string(), c.clone())))
            .filter(|k| got.contains_key(k))
            .count();
        if have == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {have} of {want} deliveries arrived within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Counts of deliveries by status, read from the database.
async fn statuses(db_url: &str) -> HashMap<String, i64> {
    let db = Database::connect(db_url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT status, CAST(COUNT(*) AS BIGINT) AS n FROM deliveries GROUP BY status",
        ))
        .await
        .unwrap();
    let out = rows
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "status").unwrap(),
                r.try_get::<i64>("", "n").unwrap(),
            )
        })
        .collect();
    db.close().await.unwrap();
    out
}

async fn wait_all_succeeded(db_url: &str, n: i64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let s = statuses(db_url).await;
        if s.get("SUCCEEDED") == Some(&n) && s.len() == 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries not all SUCCEEDED within {within:?}: {s:?} (want {n})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn kill_9_of_one_of_three_instances_under_load_loses_nothing() {
    if !postgres_only("kill -9 of one of three") {
        return;
    }
    let Some(db_url) = fresh_pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    // Slow enough that every instance has attempts in flight when one dies.
    rx.default_reply(Reply::Slow(Duration::from_millis(5)));
    let env = [("SWITCHBOARD_DB_MAX_CONNECTIONS", "6".to_string())];
    let s1 = Server::start_with(dir.path(), &db_url, &env).await;
    let w = world(&s1, &[rx.url("/a"), rx.url("/b")], 8).await;
    let mut s2 = Server::start_with(dir.path(), &db_url, &env).await;
    let s3 = Server::start_with(dir.path(), &db_url, &env).await;

    const N: usize = 600;
    let (mut sent, failed) = load(&[&s1, &s2, &s3], &w, 0, N / 2, 6).await;
    assert_eq!(failed, 0, "no API call fails while all three are up");
    let killed_at = Instant::now();
    s2.kill9();
    let before_kill = rx.count();
    let (more, failed) = load(&[&s1, &s3], &w, N / 2, N, 6).await;
    assert_eq!(failed, 0);
    sent.extend(more);
    assert_eq!(sent.len(), N);

    // The dead instance's claims come back after their lease (delivery timeout 2 s + 10 s).
    wait_delivered(&rx, &["/a", "/b"], &sent, Duration::from_secs(60)).await;
    wait_all_succeeded(&db_url, 2 * N as i64, Duration::from_secs(30)).await;
    let got = receipts(&rx);
    let total: usize = got.values().map(Vec::len).sum();
    let duplicates = total - 2 * N;
    for (k, v) in &got {
        if v.len() > 1 {
            assert_eq!(v.len(), 2, "{k:?} arrived {} times", v.len());
            assert_eq!(v[0].0, v[1].0, "a repeat keeps its webhook-id: {k:?}");
            // In flight at the kill: sent by the dead instance, so first handled by this
            // process's receiver around the kill (it may run a moment late), and repeated only
            // once the dead instance's lease ran out (delivery timeout 2 s + 10 s after its claim).
            let first = v[0].1.saturating_duration_since(killed_at);
            let repeat = v[1].1.saturating_duration_since(killed_at);
            assert!(
                first <= Duration::from_secs(2) && repeat >= Duration::from_secs(5),
                "only attempts in flight at the kill repeat: {k:?} first {first:?}, repeat {repeat:?} after the kill"
            );
        }
    }
    eprintln!(
        "kill -9 of 1 of 3 instances: {N} messages x 2 subscriptions = {} deliveries, {before_kill} received before the kill, {duplicates} duplicates (attempts in flight at the kill), 0 lost",
        2 * N
    );
}

#[tokio::test]
async fn instances_join_and_leave_with_sigterm_under_load_without_losing_or_doubling_work() {
    if !postgres_only("join and leave") {
        return;
    }
    let Some(db_url) = fresh_pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    rx.default_reply(Reply::Slow(Duration::from_millis(5)));
    let env = [
        ("SWITCHBOARD_DB_MAX_CONNECTIONS", "6".to_string()),
        ("SWITCHBOARD_SHUTDOWN_GRACE", "5s".to_string()),
    ];
    let mut s1 = Server::start_with(dir.path(), &db_url, &env).await;
    let w = world(&s1, &[rx.url("/a"), rx.url("/b")], 8).await;
    let s2 = Server::start_with(dir.path(), &db_url, &env).await;

    const N: usize = 600;
    let (mut sent, _) = load(&[&s1, &s2], &w, 0, N / 3, 6).await;
    // A third instance joins under load …
    let s3 = Server::start_with(dir.path(), &db_url, &env).await;
    let (more, _) = load(&[&s1, &s2, &s3], &w, N / 3, 2 * N / 3, 6).await;
    sent.extend(more);
    // … and the first leaves with SIGTERM while its deliveries are still queued.
    let left = Instant::now();
    let status = s1.terminate(Duration::from_secs(15)).await;
    assert!(status.success(), "a clean exit: {status}");
    let took = left.elapsed();
    let (more, _) = load(&[&s2, &s3], &w, 2 * N / 3, N, 6).await;
    sent.extend(more);
    assert_eq!(sent.len(), N, "every API call accepted");

    wait_delivered(&rx, &["/a", "/b"], &sent, Duration::from_secs(60)).await;
    wait_all_succeeded(&db_url, 2 * N as i64, Duration::from_secs(30)).await;
    let got = receipts(&rx);
    let total: usize = got.values().map(Vec::len).sum();
    let doubled: Vec<String> = got
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(k, v)| {
            let at: Vec<String> = v
                .iter()
                .map(|(id, t)| {
                    format!(
                        "{id} at {:+} ms",
                        t.saturating_duration_since(left).as_millis() as i64
                            - left.saturating_duration_since(*t).as_millis() as i64
                    )
                })
                .collect();
            format!("{k:?}: {at:?}")
        })
        .collect();
    if total != 2 * N {
        let db = Database::connect(&db_url).await.unwrap();
        let ids: Vec<String> = got
            .values()
            .filter(|v| v.len() > 1)
            .map(|v| format!("'{}'", v[0].0))
            .collect();
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT d.webhook_id, a.attempt_number, a.error_kind, a.error_message, a.response_status, CAST(a.created_at AS TEXT) AS at FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.webhook_id IN ({}) ORDER BY a.id", ids.join(",")),
            ))
            .await
            .unwrap();
        for r in rows {
            eprintln!(
                "{:?} attempt {:?} kind {:?} msg {:?} status {:?} at {:?}",
                r.try_get::<String>("", "webhook_id").ok(),
                r.try_get::<i32>("", "attempt_number").ok(),
                r.try_get::<Option<String>>("", "error_kind").ok(),
                r.try_get::<Option<String>>("", "error_message").ok(),
                r.try_get::<Option<i32>>("", "response_status").ok(),
                r.try_get::<String>("", "at").ok()
            );
        }
    }
    assert_eq!(
        total,
        2 * N,
        "a graceful leave doubles nothing (times from SIGTERM): {doubled:#?}"
    );
    eprintln!(
        "join and SIGTERM leave under load: {} deliveries, 0 duplicates, 0 lost; the leaving instance exited in {} ms",
        2 * N,
        took.as_millis()
    );
}

#[tokio::test]
async fn api_and_worker_roles_split_the_work() {
    let dir = tempfile::tempdir().unwrap();
    if !wants_postgres() {
        // One SQLite file serves one instance: a split is refused with a clear message.
        let out = crate::binary::switchboard(dir.path())
            .args(["serve", "--role", "api"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("needs PostgreSQL"), "{err}");
        return;
    }
    let Some(db_url) = fresh_pg_database().await else {
        return;
    };
    let rx = Receiver::start().await;
    let api_env = [("SWITCHBOARD_ROLE", "api".to_string())];
    let api = Server::start_with(dir.path(), &db_url, &api_env).await;
    let w = world(&api, &[rx.url("/a")], 1).await;
    // Without a worker, nothing is delivered.
    load(&[&api], &w, 0, 1, 1).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(rx.count(), 0, "an api-only instance sends nothing");

    let mut worker = crate::binary::switchboard(dir.path());
    let port = free_port();
    worker
        .args(["serve", "--role", "worker"])
        .env("DATABASE_URL", &db_url)
        .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_SECRET_KEY", "crash-test-secret-key")
        .env("SWITCHBOARD_ALLOW_PRIVATE_DESTINATIONS", "127.0.0.0/8")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null());
    let mut worker = worker.spawn().unwrap();
    crate::binary::wait_ready(port, &mut worker).await;
    rx.wait_for(1, Duration::from_secs(10)).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .json(&json!({"query": "{ setupStatus { version } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a worker serves no API");
    let m = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert!(m.status().is_success(), "a worker serves metrics");

    // Events from the api instance reach the worker at once (NOTIFY), not at its idle poll.
    let mut lags = Vec::new();
    for i in 1..6 {
        let before = rx.count();
        let t = Instant::now();
        load(&[&api], &w, i, i + 1, 1).await;
        rx.wait_for(before + 1, Duration::from_secs(10)).await;
        lags.push(t.elapsed().as_millis());
    }
    let _ = worker.kill();
    let _ = worker.wait();
    lags.sort();
    eprintln!("roles: api instance -> worker instance, message to receiver in {lags:?} ms");
    assert!(
        lags[2] < 400,
        "the worker is woken by NOTIFY, well before its 500 ms idle poll: {lags:?}"
    );
}

/// A private PostgreSQL cluster this test may stop and start.
struct PrivatePg {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
    as_postgres: bool,
}

impl PrivatePg {
    fn start() -> Option<PrivatePg> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists());
        let Some(bin) = bin else {
            assert!(!in_ci(), "CI=true but PostgreSQL's initdb is not installed");
            eprintln!(
                "\n*** SKIPPING the PostgreSQL restart test: no /usr/lib/postgresql/*/bin/initdb ***\n"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // PostgreSQL refuses to run as root: then the cluster belongs to `postgres`.
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if as_postgres {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
        }
        let pg = PrivatePg {
            bin,
            data,
            port: free_port(),
            _dir: dir,
            as_postgres,
        };
        let ok = pg.run(
            "initdb",
            &[
                "-D",
                pg.data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        assert!(ok, "initdb failed");
        assert!(pg.ctl("start"), "private PostgreSQL did not start");
        Some(pg)
    }

    fn run(&self, tool: &str, args: &[&str]) -> bool {
        let exe = self.bin.join(tool);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        c.args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn ctl(&self, action: &str) -> bool {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=60",
            self.port,
            self.data.display()
        );
        let log = self.data.join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                action,
            ],
        )
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"],
        );
    }
}

#[tokio::test]
async fn a_postgres_restart_under_load_loses_nothing_and_instances_reconnect() {
    if !postgres_only("PostgreSQL restart") {
        return;
    }
    let Some(pg) = tokio::task::spawn_blocking(PrivatePg::start).await.unwrap() else {
        return;
    };
    let db_url = pg.url();
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start().await;
    let env = [("SWITCHBOARD_DB_MAX_CONNECTIONS", "6".to_string())];
    let mut s1 = Server::start_with(dir.path(), &db_url, &env).await;
    let w = world(&s1, &[rx.url("/a")], 4).await;
    let mut s2 = Server::start_with(dir.path(), &db_url, &env).await;

    // Load runs in the background while the database restarts under it.
    let pg = Arc::new(pg);
    let restarter = {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(Duration::from_millis(1500));
            let stopped = pg.ctl("stop");
            std::thread::sleep(Duration::from_secs(2));
            let started = pg.ctl("start");
            (stopped, started)
        })
    };
    let started = Instant::now();
    let mut accepted = Vec::new();
    let mut errors = 0;
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(7) {
        let (ok, failed) = load(&[&s1, &s2], &w, i, i + 40, 4).await;
        accepted.extend(ok);
        errors += failed;
        i += 40;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(restarter.await.unwrap(), (true, true), "pg_ctl stop/start");
    // After the restart, retries work too: the next three attempts fail once each.
    rx.script([Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
    let (ok, failed) = load(&[&s1, &s2], &w, i, i + 20, 2).await;
    assert_eq!(failed, 0, "the API works again after the restart");
    accepted.extend(ok);

    wait_delivered(&rx, &["/a"], &accepted, Duration::from_secs(60)).await;
    wait_all_succeeded(&db_url, accepted.len() as i64, Duration::from_secs(30)).await;
    assert!(s1.is_running() && s2.is_running(), "no instance died");
    for s in [&s1, &s2] {
        let r = reqwest::get(s.url("/readyz")).await.unwrap();
        assert!(r.status().is_success(), "ready again");
    }
    let total: usize = receipts(&rx).values().map(Vec::len).sum();
    eprintln!(
        "PostgreSQL restart under load: {} messages accepted, {errors} refused while it was down, {} requests for {} deliveries (3 scripted failures retried), none lost",
        accepted.len(),
        total,
        accepted.len()
    );
}

/// A receiver misbehaving on purpose, by path: `/hang` never answers, `/trickle` sends its
/// answer a byte at a time, `/big` answers 200 with 10 MiB, `/reset` resets the connection,
/// `/redirect` answers 302.
async fn hostile_receiver() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut n = 0;
                // Read the request head (bodies are small; the head tells the path).
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                match path.as_str() {
                    "/hang" => tokio::time::sleep(Duration::from_secs(30)).await,
                    "/trickle" => {
                        for b in b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok" {
                            if sock.write_all(&[*b]).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                    "/big" => {
                        let size = 10 * 1024 * 1024;
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {size}\r\n\r\n"
                        );
                        if sock.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let chunk = vec![b'x'; 64 * 1024];
                        for _ in 0..size / chunk.len() {
                            if sock.write_all(&chunk).await.is_err() {
                                return;
                            }
                        }
                    }
                    "/reset" => {
                        // A zero linger makes the close an RST (and never blocks).
                        #[allow(deprecated)]
                        let _ = sock.set_linger(Some(Duration::ZERO));
                        drop(sock);
                    }
                    _ => {
                        let _ = sock
                            .write_all(b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/elsewhere\r\ncontent-length: 0\r\n\r\n")
                            .await;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn hostile_receivers_end_with_the_right_error_kind_in_time_and_memory_stays_flat() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db_url) = binary_database_url(dir.path(), "hostile.db").await else {
        return;
    };
    let addr = hostile_receiver().await;
    let paths = ["/hang", "/trickle", "/big", "/reset", "/redirect"];
    let urls: Vec<String> = paths.iter().map(|p| format!("http://{addr}{p}")).collect();
    let env = [
        ("SWITCHBOARD_DELIVERY_TIMEOUT", "1s".to_string()),
        ("SWITCHBOARD_RETRY_MAX", "0".to_string()),
        // Each pooled SQLite connection keeps up to 2 MiB of page cache and its own statement
        // cache: a small pool warms up within the first round, so growth after it is ours.
        ("SWITCHBOARD_DB_MAX_CONNECTIONS", "4".to_string()),
    ];
    let s = Server::start_with(dir.path(), &db_url, &env).await;
    let w = world(&s, &urls, 1).await;
    let t = Some(w.token.as_str());
    load(&[&s], &w, 0, 1, 1).await;

    const Q: &str = "query($a:ID!,$s:ID){ account(id:$a){ deliveries(first:100, subscriptionId:$s){ edges{ node{ status
        attempts(first:5){ edges{ node{ errorKind responseStatus responseTruncated responseBody durationMs } } } } } } } }";
    let expect = [
        ("TIMEOUT", "FAILED"),
        ("TIMEOUT", "FAILED"),
        ("", "SUCCEEDED"),
        ("", "FAILED"),
        ("HTTP_STATUS", "FAILED"),
    ];
    for (i, path) in paths.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(15);
        let node = loop {
            let d = s
                .gql(t, Q, json!({"a": w.account, "s": w.subscriptions[i]}))
                .await;
            let node = d["account"]["deliveries"]["edges"][0]["node"].clone();
            if node["status"] == "SUCCEEDED" || node["status"] == "FAILED" {
                break node;
            }
            assert!(Instant::now() < deadline, "{path}: still {node}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let a = &node["attempts"]["edges"][0]["node"];
        let (kind, status) = expect[i];
        assert_eq!(node["status"], status, "{path}: {node}");
        if *path == "/reset" {
            let k = a["errorKind"].as_str().unwrap_or_default();
            assert!(
                ["CONNECT", "OTHER", "BODY"].contains(&k),
                "{path}: a reset is a transport error: {a}"
            );
        } else if kind.is_empty() {
            assert!(a["errorKind"].is_null(), "{path}: {a}");
        } else {
            assert_eq!(a["errorKind"], kind, "{path}: {a}");
        }
        assert!(
            a["durationMs"].as_i64().unwrap() <= 1_600,
            "{path}: ended within the 1 s timeout (plus scheduling): {a}"
        );
        if *path == "/big" {
            assert_eq!(a["responseTruncated"], true, "{a}");
            assert!(a["responseBody"].as_str().unwrap().len() <= 64 * 1024);
        }
        if *path == "/redirect" {
            assert_eq!(a["responseStatus"], 302, "not followed: {a}");
        }
    }

    // Memory: many more attempts against the fast hostile receivers keep the RSS flat.
    for sub in &w.subscriptions[..2] {
        s.gql(
            t,
            "mutation($i:ID!){ webhookSubscriptionDelete(input:{id:$i}){ deletedId } }",
            json!({"i": sub}),
        )
        .await;
    }
    // Six rounds of 600 attempts: once pools, the database's caches and the allocator are
    // warm, the resident size levels off.
    let mut rss = vec![s.rss_kib()];
    let mut sent = 1;
    for _ in 0..6 {
        load(&[&s], &w, sent, sent + 200, 4).await;
        sent += 200;
        // 3 attempts survive the first message (deleting a subscription deletes its log).
        wait_attempts(
            &db_url,
            (3 + (sent - 1) * 3) as i64,
            Duration::from_secs(120),
        )
        .await;
        rss.push(s.rss_kib());
    }
    let mib: Vec<u64> = rss.iter().map(|k| k / 1024).collect();
    eprintln!(
        "hostile receivers: RSS {mib:?} MiB at the start and after each 600 attempts (10 MiB answers, resets, redirects)"
    );
    // Buffering the 10 MiB answers would cost gigabytes; allocator and database caches still
    // settle by a few MiB per round on SQLite, so the bound is 32 MiB over the last 1,800.
    assert!(
        rss[6] < rss[3] + 32 * 1024,
        "memory kept growing after warm-up: {mib:?} MiB"
    );
}

/// Waits until the attempt log holds `n` attempts.
async fn wait_attempts(db_url: &str, n: i64, within: Duration) {
    let db = Database::connect(db_url).await.unwrap();
    let deadline = Instant::now() + within;
    loop {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM delivery_attempts",
            ))
            .await
            .unwrap()
            .unwrap();
        let have: i64 = row.try_get("", "n").unwrap();
        if have >= n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{have} of {n} attempts within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.close().await.unwrap();
}

#[tokio::test]
async fn with_20_percent_random_failures_every_delivery_succeeds_and_attempts_match_the_receiver() {
    let messages: usize = std::env::var("SWITCHBOARD_FAULT_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let dir = tempfile::tempdir().unwrap();
    let Some(db_url) = binary_database_url(dir.path(), "flaky.db").await else {
        return;
    };
    let rx = Receiver::start().await;
    let paths = ["/1", "/2", "/3", "/4", "/5"];
    let env = [
        ("SWITCHBOARD_RETRY_BASE", "20ms".to_string()),
        ("SWITCHBOARD_RETRY_MAX", "10".to_string()),
        ("SWITCHBOARD_RETRY_POLL_INTERVAL", "20ms".to_string()),
    ];
    let s = Server::start_with(dir.path(), &db_url, &env).await;
    let w = world(&s, &paths.map(|p| rx.url(p)), 16).await;
    rx.default_reply(Reply::Flaky(20));
    let started = Instant::now();
    let (sent, failed) = load(&[&s], &w, 0, messages, 8).await;
    assert_eq!(failed, 0);
    let accepted_in = started.elapsed();
    let n = (messages * paths.len()) as i64;
    let within = Duration::from_secs(60 + n as u64 / 50);
    wait_all_succeeded(&db_url, n, within).await;
    let elapsed = started.elapsed();
    wait_delivered(&rx, &paths, &sent, Duration::from_secs(5)).await;

    // The receiver's log and the attempt log agree, delivery by delivery.
    let by_id: HashMap<String, i64> = rx.inspect(|got| {
        let mut m = HashMap::new();
        for r in got {
            *m.entry(r.header("webhook-id").to_string()).or_insert(0) += 1;
        }
        m
    });
    let db = Database::connect(&db_url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT d.webhook_id AS id, CAST(d.attempt_count AS BIGINT) AS counted, \
               CAST((SELECT COUNT(*) FROM delivery_attempts a WHERE a.delivery_id = d.id) AS BIGINT) AS logged \
             FROM deliveries d",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len() as i64, n);
    let mut retried = 0;
    for r in &rows {
        let id: String = r.try_get("", "id").unwrap();
        let counted: i64 = r.try_get("", "counted").unwrap();
        let logged: i64 = r.try_get("", "logged").unwrap();
        let seen = by_id.get(&id).copied().unwrap_or(0);
        assert_eq!(
            (counted, logged),
            (seen, seen),
            "delivery {id}: attempt_count, logged attempts and receiver requests differ"
        );
        if seen > 1 {
            retried += 1;
        }
    }
    let requests: i64 = by_id.values().sum();
    assert_eq!(requests, rx.count() as i64);
    eprintln!(
        "20% failures: {n} deliveries, {requests} requests ({retried} deliveries retried), all SUCCEEDED; events accepted in {:.1} s, all delivered in {:.1} s",
        accepted_in.as_secs_f64(),
        elapsed.as_secs_f64()
    );
}
