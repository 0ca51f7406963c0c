//! Read-path benchmark (issue 2): cold start of the real binary, its size, and the latency of
//! `conversations(first: 50)` with nested contact and last message at 10,000 conversations.
//!
//! `cargo bench --bench graphql_read` (SQLite); `BENCH_DB=postgres cargo bench --bench graphql_read`
//! (a fresh database on `SWITCHBOARD_TEST_PG_URL`, default the local server). All traffic is loopback.

use std::time::{Duration, Instant};

use chrono::Utc;
use entity::{
    contact, conversation,
    enums::{
        ChannelEnv, ChannelKind, ChannelStatus, ContentType, ConversationStatus,
        MessageDeliveryStatus, MessageType, SenderType,
    },
    message,
};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, Database, EntityTrait, ExprTrait, Set, sea_query::Expr,
};
use serde_json::json;
use switchboard::{config::Config, startup::Application};

const CONVERSATIONS: usize = 10_000;
const QUERIES: usize = 400;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn database_url(dir: &std::path::Path) -> String {
    if std::env::var("BENCH_DB").is_ok_and(|v| v == "postgres") {
        let admin = std::env::var("SWITCHBOARD_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("sb_bench_{}", std::process::id());
        let conn = Database::connect(&admin)
            .await
            .expect("PostgreSQL reachable");
        conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
            .await
            .unwrap();
        conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
    } else {
        format!("sqlite://{}?mode=rwc", dir.join("bench.db").display())
    }
}

fn cold_start() -> (Duration, u64) {
    let exe = env!("CARGO_BIN_EXE_switchboard");
    let size = std::fs::metadata(exe).map(|m| m.len()).unwrap_or(0);
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start = Instant::now();
    let mut child = std::process::Command::new(exe)
        .current_dir(dir.path())
        .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let elapsed = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.1 200") {
                break start.elapsed();
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no start within 60 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = child.kill();
    let _ = child.wait();
    (elapsed, size)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs nothing heavy.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (cold, size) = cold_start();
    println!(
        "binary: {:.1} MiB; cold start to /readyz 200 on a new SQLite file: {:.0} ms",
        size as f64 / 1048576.0,
        cold.as_secs_f64() * 1e3
    );

    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path()).await;
    let config = Config {
        database_url: url.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let app = Application::build(config).await.unwrap();
    let addr = app.local_addr();
    let db = app.state.db.clone();
    tokio::spawn(app.run_until(std::future::pending()));

    let admin = switchboard::services::users::create(
        &db,
        switchboard::services::users::NewUser {
            email: "bench@example.com".into(),
            password: "bench-password".into(),
            name: None,
            platform_admin: true,
        },
    )
    .await
    .unwrap();
    let acc = entity::account::ActiveModel {
        name: Set("Bench".into()),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let ch = entity::channel::ActiveModel {
        account_id: Set(acc.id),
        kind: Set(ChannelKind::Whatsapp),
        name: Set("WA".into()),
        env: Set(ChannelEnv::Live),
        status: Set(ChannelStatus::Active),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let ib = entity::inbox::ActiveModel {
        account_id: Set(acc.id),
        channel_id: Set(ch.id),
        name: Set("In".into()),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let seed_start = Instant::now();
    let now = Utc::now();
    for chunk in (0..CONVERSATIONS).collect::<Vec<_>>().chunks(500) {
        let contacts = chunk.iter().map(|i| contact::ActiveModel {
            account_id: Set(acc.id),
            first_name: Set(Some(format!("Contact {i}"))),
            last_name: Set(None),
            phone_number: Set(Some(format!("+97250{i:07}"))),
            email: Set(None),
            avatar_url: Set(None),
            custom_attributes: Set(json!({})),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        contact::Entity::insert_many(contacts)
            .exec_without_returning(&db)
            .await
            .unwrap();
    }
    let first_contact: i64 = contact::Entity::find().one(&db).await.unwrap().unwrap().id;
    for chunk in (0..CONVERSATIONS).collect::<Vec<_>>().chunks(500) {
        let convs = chunk.iter().map(|i| conversation::ActiveModel {
            account_id: Set(acc.id),
            inbox_id: Set(ib.id),
            contact_id: Set(first_contact + *i as i64),
            status: Set(ConversationStatus::Open),
            unread_count: Set(1),
            additional_attributes: Set(json!({})),
            custom_attributes: Set(json!({})),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        conversation::Entity::insert_many(convs)
            .exec_without_returning(&db)
            .await
            .unwrap();
    }
    let first_conv: i64 = conversation::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .id;
    for chunk in (0..CONVERSATIONS).collect::<Vec<_>>().chunks(500) {
        let msgs = chunk.iter().map(|i| message::ActiveModel {
            account_id: Set(acc.id),
            conversation_id: Set(first_conv + *i as i64),
            sender_type: Set(SenderType::Contact),
            sender_id: Set(Some(first_contact + *i as i64)),
            message_type: Set(MessageType::Incoming),
            content: Set(Some(format!("Hello {i}"))),
            content_type: Set(ContentType::Text),
            delivery_status: Set(MessageDeliveryStatus::Sent),
            private: Set(false),
            content_attributes: Set(json!({})),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        message::Entity::insert_many(msgs)
            .exec_without_returning(&db)
            .await
            .unwrap();
    }
    // Point each conversation at its message (same offset).
    let first_msg: i64 = message::Entity::find().one(&db).await.unwrap().unwrap().id;
    conversation::Entity::update_many()
        .col_expr(
            conversation::Column::LastMessageId,
            Expr::col(conversation::Column::Id).add(first_msg - first_conv),
        )
        .exec(&db)
        .await
        .unwrap();
    println!(
        "seeded {CONVERSATIONS} contacts, conversations and messages in {:.1} s",
        seed_start.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::new();
    let gql = format!("http://{addr}/graphql");
    let login: serde_json::Value = client
        .post(&gql)
        .json(&json!({"query": "mutation{ login(email:\"bench@example.com\", password:\"bench-password\"){ token } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let _ = admin;
    let account_gid = format!("gid://switchboard/Account/{}", acc.id);
    let query = "query($a:ID!,$after:String){ account(id:$a){ conversations(first:50, after:$after){ edges{ cursor node{ id status unreadCount \
                 contact{ id firstName phoneNumber } lastMessage{ id content createdAt } } } pageInfo{ hasNextPage endCursor } } } }";
    let mut lat = Vec::with_capacity(QUERIES);
    let mut after: Option<String> = None;
    for i in 0..(QUERIES + 20) {
        let t = Instant::now();
        let r: serde_json::Value = client
            .post(&gql)
            .bearer_auth(&token)
            .json(&json!({"query": query, "variables": {"a": account_gid, "after": after}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let el = t.elapsed();
        let c = &r["data"]["account"]["conversations"];
        assert_eq!(c["edges"].as_array().map(Vec::len), Some(50), "{r}");
        assert!(c["edges"][49]["node"]["lastMessage"]["content"].is_string());
        after = if c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            c["pageInfo"]["endCursor"].as_str().map(String::from)
        } else {
            None
        };
        if i >= 20 {
            lat.push(el);
        }
    }
    lat.sort();
    println!(
        "conversations(first:50) + contact + lastMessage at {CONVERSATIONS} conversations ({}): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {QUERIES} queries",
        if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3
    );
}
