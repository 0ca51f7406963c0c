//! `idx_deliveries_unclaimed (subscription_id) WHERE status = 'PENDING' AND claimed_until IS NULL`.
//!
//! A transaction that writes a new message claims its deliveries for the instance that wrote
//! them, but only for subscriptions with no unclaimed pending delivery (a new delivery must not
//! overtake older ones). That question is asked for every subscription on every event; this
//! index answers it by one probe. Deliveries claimed as they are written never enter it, so it
//! holds only what waits for a dispatcher (a paused subscription's backlog, say).

use sea_orm_migration::prelude::*;

use crate::m20261121_000002_create_delivery_tables::Deliveries;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_deliveries_unclaimed")
                    .table(Deliveries::Table)
                    .col(Deliveries::SubscriptionId)
                    .and_where(Expr::col(Deliveries::Status).eq("PENDING"))
                    .and_where(Expr::col(Deliveries::ClaimedUntil).is_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_deliveries_unclaimed")
                    .table(Deliveries::Table)
                    .to_owned(),
            )
            .await
    }
}
