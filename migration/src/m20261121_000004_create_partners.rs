//! Partners (seed 003): operator-created API clients of one account that set their one webhook
//! over REST and receive the partner events (`whatsapp`, `builder`, `online`). Their webhook is
//! an ordinary PARTNER-format subscription tied to the partner by `partner_id`; partner events
//! carry the partner they are for in `events.partner_id`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::m20261121_000001_create_core_tables::{
    Accounts, WebhookSubscriptions, fk, index, unique_index, with_id,
};
use crate::m20261121_000002_create_delivery_tables::Events;

/// Tables this migration creates.
pub const TABLES: &[&str] = &["partners"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Partners {
    Table,
    AccountId,
    Name,
    ClientId,
    ClientSecretHash,
    WhatsappReference,
    BuilderReference,
    OnlineReference,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(with_id(Partners::Table, |t| {
                t.col(big_integer(Partners::AccountId))
                    .col(string_len(Partners::Name, 128))
                    .col(string_len(Partners::ClientId, 64))
                    .col(string_len(Partners::ClientSecretHash, 64))
                    .col(string_len_null(Partners::WhatsappReference, 255))
                    .col(string_len_null(Partners::BuilderReference, 255))
                    .col(string_len_null(Partners::OnlineReference, 255))
                    .foreign_key(&mut fk(
                        Partners::Table,
                        Partners::AccountId,
                        Accounts::Table,
                        ForeignKeyAction::Cascade,
                    ));
            }))
            .await?;
        manager
            .create_index(unique_index(
                "idx_partners_client_id",
                Partners::Table,
                [Partners::ClientId],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_partners_account_id",
                Partners::Table,
                [Partners::AccountId],
            ))
            .await?;
        // Plain columns (SQLite cannot add a foreign key to an existing table); the services
        // remove a partner's subscription with the partner.
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookSubscriptions::Table)
                    .add_column(big_integer_null(Alias::new("partner_id")))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(big_integer_null(Alias::new("partner_id")))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Events::Table.into_iden(),
            WebhookSubscriptions::Table.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(t)
                        .drop_column(Alias::new("partner_id"))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Partners::Table).to_owned())
            .await
    }
}
