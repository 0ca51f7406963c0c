//! PostgreSQL: payloads and logged bodies are compressed with lz4 instead of pglz.
//!
//! Payloads over about 2 KiB are compressed when stored (the event's, each delivery's, and the
//! request and response bodies of each attempt). pglz was about 4 % of PostgreSQL's CPU under
//! the delivery bench; lz4 compresses and decompresses several times faster. Only values
//! written from now on are affected; both methods are read alike. Skipped on a server built
//! without lz4 (and before PostgreSQL 14, which has no choice); nothing to do on SQLite.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: &[(&str, &str)] = &[
    ("events", "payload"),
    ("deliveries", "payload"),
    ("delivery_attempts", "request_body"),
    ("delivery_attempts", "response_body"),
];

async fn set_compression(manager: &SchemaManager<'_>, method: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    let alters: Vec<String> = COLUMNS
        .iter()
        .map(|(table, column)| {
            format!("ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method};")
        })
        .collect();
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "DO $$ BEGIN \
               IF EXISTS (SELECT 1 FROM pg_settings \
                          WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN \
                 {} \
               END IF; \
             END $$",
            alters.join(" ")
        ))
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_compression(manager, "lz4").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_compression(manager, "default").await
    }
}
