//! The event outbox and the delivery log: `events` (written in the same transaction as the
//! change), `deliveries` (one per event and destination) and `delivery_attempts` (every HTTP
//! attempt, request and response).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::m20261121_000001_create_core_tables::{
    Accounts, WebhookSubscriptions, enum_col, fk, index, with_id,
};

/// Tables this migration creates.
pub const TABLES: &[&str] = &["events", "deliveries", "delivery_attempts"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::Cascade;
        manager
            .create_table(with_id(Events::Table, |t| {
                t.col(big_integer(Events::AccountId))
                    .col(string_len(Events::EventType, 64))
                    .col(big_integer_null(Events::ChannelId))
                    .col(big_integer_null(Events::InboxId))
                    .col(json_binary(Events::Payload))
                    .col(timestamp_with_time_zone_null(Events::DispatchedAt))
                    .foreign_key(&mut fk(
                        Events::Table,
                        Events::AccountId,
                        Accounts::Table,
                        Cascade,
                    ));
            }))
            .await?;
        manager
            .create_index(index(
                "idx_events_pending",
                Events::Table,
                [Events::DispatchedAt, Events::Id],
            ))
            .await?;

        manager
            .create_table(with_id(Deliveries::Table, |t| {
                t.col(big_integer(Deliveries::AccountId))
                    .col(big_integer(Deliveries::EventId))
                    .col(big_integer(Deliveries::SubscriptionId))
                    .col(string_len(Deliveries::EventType, 64))
                    .col(string_len(Deliveries::WebhookId, 64))
                    .col(enum_col(Deliveries::Status))
                    .col(integer(Deliveries::AttemptCount).default(0))
                    .col(timestamp_with_time_zone_null(Deliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(Deliveries::ClaimedUntil))
                    .col(text(Deliveries::Payload))
                    .col(integer_null(Deliveries::LastResponseStatus))
                    .col(text_null(Deliveries::LastError))
                    .col(timestamp_with_time_zone_null(Deliveries::CompletedAt))
                    .foreign_key(&mut fk(
                        Deliveries::Table,
                        Deliveries::AccountId,
                        Accounts::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        Deliveries::Table,
                        Deliveries::EventId,
                        Events::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        Deliveries::Table,
                        Deliveries::SubscriptionId,
                        WebhookSubscriptions::Table,
                        Cascade,
                    ));
            }))
            .await?;
        for i in [
            index(
                "idx_deliveries_due",
                Deliveries::Table,
                [Deliveries::Status, Deliveries::NextAttemptAt],
            ),
            index(
                "idx_deliveries_subscription",
                Deliveries::Table,
                [Deliveries::SubscriptionId, Deliveries::Id],
            ),
            index(
                "idx_deliveries_account",
                Deliveries::Table,
                [Deliveries::AccountId, Deliveries::Id],
            ),
            index(
                "idx_deliveries_event",
                Deliveries::Table,
                [Deliveries::EventId],
            ),
        ] {
            manager.create_index(i).await?;
        }

        manager
            .create_table(with_id(DeliveryAttempts::Table, |t| {
                t.col(big_integer(DeliveryAttempts::DeliveryId))
                    .col(big_integer(DeliveryAttempts::AccountId))
                    .col(big_integer(DeliveryAttempts::SubscriptionId))
                    .col(integer(DeliveryAttempts::AttemptNumber))
                    .col(string_len(DeliveryAttempts::Url, 2048))
                    .col(json_binary(DeliveryAttempts::RequestHeaders))
                    .col(text(DeliveryAttempts::RequestBody))
                    .col(integer_null(DeliveryAttempts::ResponseStatus))
                    .col(json_binary_null(DeliveryAttempts::ResponseHeaders))
                    .col(text_null(DeliveryAttempts::ResponseBody))
                    .col(boolean(DeliveryAttempts::ResponseTruncated).default(false))
                    .col(integer(DeliveryAttempts::DurationMs))
                    .col(string_len_null(DeliveryAttempts::ErrorKind, 32))
                    .col(text_null(DeliveryAttempts::ErrorMessage))
                    .col(timestamp_with_time_zone_null(
                        DeliveryAttempts::NextAttemptAt,
                    ))
                    .foreign_key(&mut fk(
                        DeliveryAttempts::Table,
                        DeliveryAttempts::DeliveryId,
                        Deliveries::Table,
                        Cascade,
                    ));
            }))
            .await?;
        for i in [
            index(
                "idx_delivery_attempts_delivery",
                DeliveryAttempts::Table,
                [DeliveryAttempts::DeliveryId, DeliveryAttempts::Id],
            ),
            index(
                "idx_delivery_attempts_account",
                DeliveryAttempts::Table,
                [DeliveryAttempts::AccountId, DeliveryAttempts::Id],
            ),
            index(
                "idx_delivery_attempts_created",
                DeliveryAttempts::Table,
                [DeliveryAttempts::CreatedAt],
            ),
        ] {
            manager.create_index(i).await?;
        }

        manager
            .alter_table(
                Table::alter()
                    .table(WebhookSubscriptions::Table)
                    .add_column(timestamp_with_time_zone_null(Alias::new("failing_since")))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookSubscriptions::Table)
                    .drop_column(Alias::new("failing_since"))
                    .to_owned(),
            )
            .await?;
        for t in TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(Alias::new(*t)).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
pub(crate) enum Events {
    Table,
    Id,
    AccountId,
    EventType,
    ChannelId,
    InboxId,
    Payload,
    DispatchedAt,
}

#[derive(DeriveIden)]
pub(crate) enum Deliveries {
    Table,
    Id,
    AccountId,
    EventId,
    SubscriptionId,
    EventType,
    WebhookId,
    Status,
    AttemptCount,
    NextAttemptAt,
    ClaimedUntil,
    Payload,
    LastResponseStatus,
    LastError,
    CompletedAt,
}

#[derive(DeriveIden)]
pub(crate) enum DeliveryAttempts {
    Table,
    Id,
    DeliveryId,
    AccountId,
    SubscriptionId,
    AttemptNumber,
    Url,
    RequestHeaders,
    RequestBody,
    ResponseStatus,
    ResponseHeaders,
    ResponseBody,
    ResponseTruncated,
    DurationMs,
    ErrorKind,
    ErrorMessage,
    NextAttemptAt,
    CreatedAt,
}
