//! `idx_delivery_attempts_account_time (account_id, created_at)` instead of
//! `idx_delivery_attempts_account (account_id, id)`.
//!
//! The only query of attempts by account is `deliveryStats` (an account's attempts since a
//! time, in buckets), which the old index could not bound by time: it read every attempt of
//! the account, or every attempt of every account in the window by `created_at`. One index
//! replaces the other, so logging an attempt costs no more than before.

use sea_orm_migration::prelude::*;

use crate::{
    m20261121_000001_create_core_tables::{index, replace_index},
    m20261121_000002_create_delivery_tables::DeliveryAttempts,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_index(
            manager,
            DeliveryAttempts::Table,
            "idx_delivery_attempts_account",
            index(
                "idx_delivery_attempts_account_time",
                DeliveryAttempts::Table,
                [DeliveryAttempts::AccountId, DeliveryAttempts::CreatedAt],
            ),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_index(
            manager,
            DeliveryAttempts::Table,
            "idx_delivery_attempts_account_time",
            index(
                "idx_delivery_attempts_account",
                DeliveryAttempts::Table,
                [DeliveryAttempts::AccountId, DeliveryAttempts::Id],
            ),
        )
        .await
    }
}
