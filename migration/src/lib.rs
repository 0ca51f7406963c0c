//! Portable (SQLite + PostgreSQL) schema migrations of Switchboard.
//!
//! The schema is the one of `docs/data-model.md`; it is built only with sea-query's schema
//! builder (no raw SQL, but for PostgreSQL-only storage and statistics settings in 000007, 000010 and
//! 000012) so the same
//! migration runs on both backends. The application applies
//! it with `Migrator::up(&db, None)`.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_create_core_tables;
mod m20261121_000002_create_delivery_tables;
mod m20261121_000003_open_deliveries_index;
mod m20261121_000004_create_partners;
mod m20261121_000005_create_stories_and_presence;
mod m20261121_000006_create_bot_connections;
mod m20261121_000007_claim_indexes;
mod m20261121_000008_unclaimed_index;
mod m20261121_000009_undispatched_events_index;
mod m20261121_000010_lz4_payloads;
mod m20261121_000011_attempts_by_account_time;
mod m20261121_000012_no_statistics_for_bodies;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_core_tables::Migration),
            Box::new(m20261121_000002_create_delivery_tables::Migration),
            Box::new(m20261121_000003_open_deliveries_index::Migration),
            Box::new(m20261121_000004_create_partners::Migration),
            Box::new(m20261121_000005_create_stories_and_presence::Migration),
            Box::new(m20261121_000006_create_bot_connections::Migration),
            Box::new(m20261121_000007_claim_indexes::Migration),
            Box::new(m20261121_000008_unclaimed_index::Migration),
            Box::new(m20261121_000009_undispatched_events_index::Migration),
            Box::new(m20261121_000010_lz4_payloads::Migration),
            Box::new(m20261121_000011_attempts_by_account_time::Migration),
            Box::new(m20261121_000012_no_statistics_for_bodies::Migration),
        ]
    }
}

/// Tables created by the migrations, in creation (foreign-key-safe) order.
pub const TABLES: &[&str] = &[
    "settings",
    "users",
    "accounts",
    "account_users",
    "channels",
    "inboxes",
    "contacts",
    "tags",
    "contact_tags",
    "contact_meta",
    "contact_inboxes",
    "conversations",
    "messages",
    "webhook_subscriptions",
    "api_tokens",
    "events",
    "deliveries",
    "delivery_attempts",
    "partners",
    "stories",
    "agent_presences",
    "bot_connections",
];
