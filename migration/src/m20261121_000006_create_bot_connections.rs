//! Bot webhook connections (seed 004): a story's webhook that receives the chat context of each
//! incoming message in the inboxes it is attached to, and answers with bot messages.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::m20261121_000001_create_core_tables::{
    Accounts, Inboxes, WebhookSubscriptions, fk, index, with_id,
};
use crate::m20261121_000002_create_delivery_tables::Events;
use crate::m20261121_000005_create_stories_and_presence::Stories;

/// Tables this migration creates.
pub const TABLES: &[&str] = &["bot_connections"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BotConnections {
    Table,
    AccountId,
    StoryId,
    Name,
    Url,
    TokenEncrypted,
    Headers,
    BasicAuthUsername,
    BasicAuthPasswordEncrypted,
    Error,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::Cascade;
        manager
            .create_table(with_id(BotConnections::Table, |t| {
                t.col(big_integer(BotConnections::AccountId))
                    .col(big_integer(BotConnections::StoryId))
                    .col(string_len(BotConnections::Name, 128))
                    .col(string_len(BotConnections::Url, 1024))
                    .col(text_null(BotConnections::TokenEncrypted))
                    .col(json_binary(BotConnections::Headers))
                    .col(text_null(BotConnections::BasicAuthUsername))
                    .col(text_null(BotConnections::BasicAuthPasswordEncrypted))
                    .col(text_null(BotConnections::Error))
                    .foreign_key(&mut fk(
                        BotConnections::Table,
                        BotConnections::AccountId,
                        Accounts::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        BotConnections::Table,
                        BotConnections::StoryId,
                        Stories::Table,
                        Cascade,
                    ));
            }))
            .await?;
        manager
            .create_index(index(
                "idx_bot_connections_account_id",
                BotConnections::Table,
                [BotConnections::AccountId],
            ))
            .await?;
        // The inbox's bot; the subscription that carries a connection's calls (one delivery
        // mechanism for everything); the connection a `bot_call` event is for.
        for t in [
            Inboxes::Table.into_iden(),
            WebhookSubscriptions::Table.into_iden(),
            Events::Table.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(t)
                        .add_column(big_integer_null(Alias::new("bot_connection_id")))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Inboxes::Table.into_iden(),
            WebhookSubscriptions::Table.into_iden(),
            Events::Table.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(t)
                        .drop_column(Alias::new("bot_connection_id"))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(BotConnections::Table).to_owned())
            .await
    }
}
