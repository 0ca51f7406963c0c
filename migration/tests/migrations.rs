use migration::{Migrator, MigratorTrait, SchemaManager, TABLES};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use std::time::Duration;

const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

async fn assert_tables(db: &DatabaseConnection, present: bool) {
    let manager = SchemaManager::new(db);
    for table in TABLES {
        assert_eq!(
            manager.has_table(*table).await.unwrap(),
            present,
            "table {table} present={}",
            !present
        );
    }
}

/// up, down, up again; checks every table after each step and that ids auto-increment.
async fn up_down_up(db: &DatabaseConnection) {
    Migrator::up(db, None).await.unwrap();
    assert_tables(db, true).await;
    assert!(
        Migrator::get_pending_migrations(db)
            .await
            .unwrap()
            .is_empty()
    );

    Migrator::down(db, None).await.unwrap();
    assert_tables(db, false).await;

    Migrator::up(db, None).await.unwrap();
    assert_tables(db, true).await;

    assert_autoincrement(db).await;
}

async fn assert_autoincrement(db: &DatabaseConnection) {
    let backend = db.get_database_backend();
    let placeholder = match backend {
        DbBackend::Postgres => "$1",
        _ => "?",
    };
    let sql = format!(
        "INSERT INTO accounts (name, created_at, updated_at) \
         VALUES ({placeholder}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"
    );
    let insert = |name: &str| Statement::from_sql_and_values(backend, &sql, [name.into()]);
    let first: i64 = db
        .query_one_raw(insert("a"))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap();
    let second: i64 = db
        .query_one_raw(insert("b"))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap();
    assert!(first >= 1);
    assert_eq!(second, first + 1);
}

#[tokio::test]
async fn sqlite_up_down_up() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    up_down_up(&db).await;
}

#[tokio::test]
async fn postgres_up_down_up() {
    let admin_url = std::env::var("SWITCHBOARD_TEST_PG_URL")
        .unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.to_owned());
    let mut options = ConnectOptions::new(admin_url.clone());
    options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .max_connections(1)
        .sqlx_logging(false);
    let admin = match Database::connect(options).await {
        Ok(admin) => admin,
        Err(err) => {
            if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                panic!("PostgreSQL unreachable at {admin_url} (CI=true): {err}");
            }
            eprintln!(
                "SKIPPED: PostgreSQL unreachable at {admin_url} ({err}); set CI=true to make this fatal"
            );
            return;
        }
    };

    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("sb_mig_{}_{nanos}", std::process::id());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();

    let db = Database::connect(database_url(&admin_url, &name))
        .await
        .unwrap();
    let result = tokio::spawn(async move {
        up_down_up(&db).await;
        assert_lz4_payloads(&db).await;
        db.close().await.unwrap();
    })
    .await;

    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
    if let Err(err) = result {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// Payload columns are compressed with lz4 where the server has it (000010).
async fn assert_lz4_payloads(db: &DatabaseConnection) {
    let has_lz4 = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT 1 AS x FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)",
        ))
        .await
        .unwrap()
        .is_some();
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT attrelid::regclass::text || '.' || attname AS col, attcompression::text AS method \
             FROM pg_attribute WHERE (attrelid::regclass::text, attname) IN \
             (('events', 'payload'), ('deliveries', 'payload'), \
              ('delivery_attempts', 'request_body'), ('delivery_attempts', 'response_body'))",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    for r in rows {
        let col: String = r.try_get("", "col").unwrap();
        let method: String = r.try_get("", "method").unwrap();
        let want = if has_lz4 { "l" } else { "" };
        assert_eq!(
            method, want,
            "{col} compression (server has lz4: {has_lz4})"
        );
    }
}

/// The admin URL with its database name replaced by `name` (query string kept).
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}
