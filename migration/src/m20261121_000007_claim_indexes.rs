//! Indexes the dispatcher's claim can rely on however large `deliveries` grows.
//!
//! Measured in the benchmark (120k deliveries, 10k open): the planner answered the claim with a
//! bitmap scan of `idx_deliveries_due (status, next_attempt_at)`, whose entries for rows long
//! finished stay until autovacuum (a bitmap scan never marks them dead), and a claim took
//! 150–660 ms. Now:
//! - `idx_deliveries_pending (subscription_id, id) WHERE status = 'PENDING'`: the claim walks it
//!   per enabled subscription in id order (an index scan, which marks dead entries as it goes),
//!   so paused subscriptions' backlogs cost nothing;
//! - `idx_deliveries_retrying (next_attempt_at) WHERE status = 'RETRYING'`: the overdue sweep
//!   reads only retries past their time;
//! - `idx_deliveries_due` goes;
//! - on PostgreSQL, `deliveries` keeps 20 % of each page free, so the claim's update (of
//!   `claimed_until`, which no index covers) is a HOT update and adds no index entries.

use sea_orm_migration::prelude::*;

use crate::m20261121_000002_create_delivery_tables::Deliveries;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_deliveries_due")
                    .table(Deliveries::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_deliveries_pending")
                    .table(Deliveries::Table)
                    .col(Deliveries::SubscriptionId)
                    .col(Deliveries::Id)
                    .and_where(Expr::col(Deliveries::Status).eq("PENDING"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_deliveries_retrying")
                    .table(Deliveries::Table)
                    .col(Deliveries::NextAttemptAt)
                    .and_where(Expr::col(Deliveries::Status).eq("RETRYING"))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE deliveries SET (fillfactor = 80)")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE deliveries RESET (fillfactor)")
                .await?;
        }
        for name in ["idx_deliveries_retrying", "idx_deliveries_pending"] {
            manager
                .drop_index(Index::drop().name(name).table(Deliveries::Table).to_owned())
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_deliveries_due")
                    .table(Deliveries::Table)
                    .col(Deliveries::Status)
                    .col(Deliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }
}
