//! What the partner events `builder` and `online` report on (seed 003): stories (bot flows,
//! which seed 004's webhook connections also belong to) and agents' online presence per inbox.
//! Plus a WhatsApp line's daily conversation limit, reported in `whatsapp` events.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::m20261121_000001_create_core_tables::{
    Accounts, Channels, Inboxes, Users, enum_col, fk, index, unique_index, with_id,
};

/// Tables this migration creates.
pub const TABLES: &[&str] = &["stories", "agent_presences"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Stories {
    Table,
    AccountId,
    Name,
    Status,
    PublishedAt,
}

#[derive(DeriveIden)]
enum AgentPresences {
    Table,
    AccountId,
    InboxId,
    UserId,
    Online,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::Cascade;
        manager
            .create_table(with_id(Stories::Table, |t| {
                t.col(big_integer(Stories::AccountId))
                    .col(string_len(Stories::Name, 128))
                    .col(enum_col(Stories::Status))
                    .col(timestamp_with_time_zone_null(Stories::PublishedAt))
                    .foreign_key(&mut fk(
                        Stories::Table,
                        Stories::AccountId,
                        Accounts::Table,
                        Cascade,
                    ));
            }))
            .await?;
        manager
            .create_index(index(
                "idx_stories_account_id",
                Stories::Table,
                [Stories::AccountId],
            ))
            .await?;
        manager
            .create_table(with_id(AgentPresences::Table, |t| {
                t.col(big_integer(AgentPresences::AccountId))
                    .col(big_integer(AgentPresences::InboxId))
                    .col(big_integer(AgentPresences::UserId))
                    .col(boolean(AgentPresences::Online))
                    .foreign_key(&mut fk(
                        AgentPresences::Table,
                        AgentPresences::AccountId,
                        Accounts::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        AgentPresences::Table,
                        AgentPresences::InboxId,
                        Inboxes::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        AgentPresences::Table,
                        AgentPresences::UserId,
                        Users::Table,
                        Cascade,
                    ));
            }))
            .await?;
        manager
            .create_index(unique_index(
                "idx_agent_presences_inbox_user",
                AgentPresences::Table,
                [AgentPresences::InboxId, AgentPresences::UserId],
            ))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Channels::Table)
                    .add_column(integer_null(Alias::new("daily_limit")))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Channels::Table)
                    .drop_column(Alias::new("daily_limit"))
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
