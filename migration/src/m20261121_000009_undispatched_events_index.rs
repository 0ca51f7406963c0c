//! `idx_events_undispatched (id) WHERE dispatched_at IS NULL`, instead of
//! `idx_events_pending (dispatched_at, id)` over every event.
//!
//! Events are fanned out in the statement or transaction that writes them, so they are stored
//! already dispatched; the sweep that looks for undispatched ones (`dispatched_at IS NULL ORDER
//! BY id`) only ever finds the odd leftover. The full index took an entry for every event
//! written; the partial one takes none for those, and stays near empty.

use sea_orm_migration::prelude::*;

use crate::{
    m20261121_000001_create_core_tables::{index, replace_index},
    m20261121_000002_create_delivery_tables::Events,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_index(
            manager,
            Events::Table,
            "idx_events_pending",
            Index::create()
                .name("idx_events_undispatched")
                .table(Events::Table)
                .col(Events::Id)
                .and_where(Expr::col(Events::DispatchedAt).is_null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_index(
            manager,
            Events::Table,
            "idx_events_undispatched",
            index(
                "idx_events_pending",
                Events::Table,
                [Events::DispatchedAt, Events::Id],
            ),
        )
        .await
    }
}
