//! PostgreSQL: no planner statistics for payloads, logged bodies and headers.
//!
//! No query filters, joins or sorts on these columns, yet ANALYZE (autovacuum's, or
//! Switchboard's own housekeeping where autovacuum is off) read and decompressed every sampled
//! value of them to build statistics nobody uses. Measured in the delivery bench: ANALYZE of
//! `delivery_attempts`, `events` and `deliveries` took 168, 83 and 77 ms, one after another on
//! one of two cores, and the API's answers stalled for up to 250 ms behind it. A statistics
//! target of 0 skips a column. Nothing to do on SQLite (its ANALYZE samples indexes only).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: &[(&str, &[&str])] = &[
    ("events", &["payload"]),
    ("deliveries", &["payload", "last_error"]),
    (
        "delivery_attempts",
        &[
            "url",
            "request_headers",
            "request_body",
            "response_headers",
            "response_body",
            "error_message",
        ],
    ),
    ("messages", &["content", "content_attributes", "media_url"]),
];

async fn set_statistics(manager: &SchemaManager<'_>, target: i32) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    let statements: Vec<String> = COLUMNS
        .iter()
        .map(|(table, columns)| {
            let alters: Vec<String> = columns
                .iter()
                .map(|c| format!("ALTER COLUMN {c} SET STATISTICS {target}"))
                .collect();
            format!("ALTER TABLE {table} {};", alters.join(", "))
        })
        .collect();
    manager
        .get_connection()
        .execute_unprepared(&statements.join(" "))
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_statistics(manager, 0).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // -1: back to the server's default_statistics_target.
        set_statistics(manager, -1).await
    }
}
