use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, indexes) in tables() {
            manager.create_table(table).await?;
            for index in indexes {
                manager.create_index(index).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Later migrations drop their own tables first.
        let later: Vec<&str> = crate::m20261121_000002_create_delivery_tables::TABLES
            .iter()
            .chain(crate::m20261121_000004_create_partners::TABLES)
            .chain(crate::m20261121_000005_create_stories_and_presence::TABLES)
            .chain(crate::m20261121_000006_create_bot_connections::TABLES)
            .copied()
            .collect();
        for table in crate::TABLES.iter().rev().filter(|t| !later.contains(t)) {
            manager
                .drop_table(Table::drop().table(Alias::new(*table)).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Every table with its indexes, in foreign-key-safe creation order (same order as
/// [`crate::TABLES`]).
fn tables() -> Vec<(TableCreateStatement, Vec<IndexCreateStatement>)> {
    use ForeignKeyAction::{Cascade, SetNull};

    vec![
        (
            Table::create()
                .table(Settings::Table)
                .col(string_len(Settings::Key, 64).primary_key())
                .col(text(Settings::Value))
                .col(timestamp_with_time_zone(Common::UpdatedAt))
                .to_owned(),
            vec![],
        ),
        (
            with_id(Users::Table, |t| {
                t.col(string_len(Users::Email, 320))
                    .col(string_len(Users::PasswordHash, 255))
                    .col(string_len(Users::Name, 255))
                    .col(boolean(Users::IsPlatformAdmin).default(false));
            }),
            vec![unique_index("uq_users_email", Users::Table, [Users::Email])],
        ),
        (
            with_id(Accounts::Table, |t| {
                t.col(string_len(Accounts::Name, 255));
            }),
            vec![],
        ),
        (
            with_id(AccountUsers::Table, |t| {
                t.col(big_integer(AccountUsers::AccountId))
                    .col(big_integer(AccountUsers::UserId))
                    .col(enum_col(AccountUsers::Role))
                    .foreign_key(&mut fk(
                        AccountUsers::Table,
                        AccountUsers::AccountId,
                        Accounts::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        AccountUsers::Table,
                        AccountUsers::UserId,
                        Users::Table,
                        Cascade,
                    ));
            }),
            vec![
                unique_index(
                    "uq_account_users_account_user",
                    AccountUsers::Table,
                    [AccountUsers::AccountId, AccountUsers::UserId],
                ),
                index(
                    "idx_account_users_user",
                    AccountUsers::Table,
                    [AccountUsers::UserId],
                ),
            ],
        ),
        (
            with_id(Channels::Table, |t| {
                t.col(big_integer(Channels::AccountId))
                    .col(enum_col(Channels::Kind))
                    .col(string_len(Channels::Name, 255))
                    .col(string_len_null(Channels::Phone, 32))
                    .col(string_len_null(Channels::Identifier, 255))
                    .col(string_len_null(Channels::Provider, 64))
                    .col(string_len_null(Channels::Country, 8))
                    .col(enum_col(Channels::Env))
                    .col(enum_col(Channels::Status))
                    .col(text_null(Channels::Description))
                    .col(string_len_null(Channels::WebhookUrl, 2048))
                    .col(text_null(Channels::CredentialsEncrypted))
                    .foreign_key(&mut fk(
                        Channels::Table,
                        Channels::AccountId,
                        Accounts::Table,
                        Cascade,
                    ));
            }),
            vec![index(
                "idx_channels_account",
                Channels::Table,
                [Channels::AccountId, Channels::Id],
            )],
        ),
        (
            with_id(Inboxes::Table, |t| {
                t.col(big_integer(Inboxes::AccountId))
                    .col(big_integer(Inboxes::ChannelId))
                    .col(string_len(Inboxes::Name, 255))
                    .foreign_key(&mut fk(
                        Inboxes::Table,
                        Inboxes::AccountId,
                        Accounts::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        Inboxes::Table,
                        Inboxes::ChannelId,
                        Channels::Table,
                        Cascade,
                    ));
            }),
            vec![
                index(
                    "idx_inboxes_account",
                    Inboxes::Table,
                    [Inboxes::AccountId, Inboxes::Id],
                ),
                index("idx_inboxes_channel", Inboxes::Table, [Inboxes::ChannelId]),
            ],
        ),
        (
            with_id(Contacts::Table, |t| {
                t.col(big_integer(Contacts::AccountId))
                    .col(string_len_null(Contacts::FirstName, 255))
                    .col(string_len_null(Contacts::LastName, 255))
                    .col(string_len_null(Contacts::PhoneNumber, 32))
                    .col(string_len_null(Contacts::Email, 320))
                    .col(string_len_null(Contacts::AvatarUrl, 2048))
                    .col(json_binary(Contacts::CustomAttributes))
                    .foreign_key(&mut fk(
                        Contacts::Table,
                        Contacts::AccountId,
                        Accounts::Table,
                        Cascade,
                    ));
            }),
            vec![
                index(
                    "idx_contacts_account",
                    Contacts::Table,
                    [Contacts::AccountId, Contacts::Id],
                ),
                index(
                    "idx_contacts_email",
                    Contacts::Table,
                    [Contacts::AccountId, Contacts::Email],
                ),
                index(
                    "idx_contacts_phone",
                    Contacts::Table,
                    [Contacts::AccountId, Contacts::PhoneNumber],
                ),
            ],
        ),
        (
            with_id(Tags::Table, |t| {
                t.col(big_integer(Tags::AccountId))
                    .col(string_len(Tags::Name, 64))
                    .foreign_key(&mut fk(
                        Tags::Table,
                        Tags::AccountId,
                        Accounts::Table,
                        Cascade,
                    ));
            }),
            vec![unique_index(
                "uq_tags_account_name",
                Tags::Table,
                [Tags::AccountId, Tags::Name],
            )],
        ),
        (
            Table::create()
                .table(ContactTags::Table)
                .col(big_integer(ContactTags::ContactId))
                .col(big_integer(ContactTags::TagId))
                .col(timestamp_with_time_zone(Common::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(ContactTags::ContactId)
                        .col(ContactTags::TagId),
                )
                .foreign_key(&mut fk(
                    ContactTags::Table,
                    ContactTags::ContactId,
                    Contacts::Table,
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    ContactTags::Table,
                    ContactTags::TagId,
                    Tags::Table,
                    Cascade,
                ))
                .to_owned(),
            vec![index(
                "idx_contact_tags_tag",
                ContactTags::Table,
                [ContactTags::TagId],
            )],
        ),
        (
            with_id(ContactMeta::Table, |t| {
                t.col(big_integer(ContactMeta::ContactId))
                    .col(string_len(ContactMeta::MetaKey, 255))
                    .col(text(ContactMeta::MetaValue))
                    .foreign_key(&mut fk(
                        ContactMeta::Table,
                        ContactMeta::ContactId,
                        Contacts::Table,
                        Cascade,
                    ));
            }),
            vec![unique_index(
                "uq_contact_meta_contact_key",
                ContactMeta::Table,
                [ContactMeta::ContactId, ContactMeta::MetaKey],
            )],
        ),
        (
            with_id(ContactInboxes::Table, |t| {
                t.col(big_integer(ContactInboxes::ContactId))
                    .col(big_integer(ContactInboxes::InboxId))
                    .col(string_len(ContactInboxes::SourceId, 255))
                    .col(boolean(ContactInboxes::HmacVerified).default(false))
                    .foreign_key(&mut fk(
                        ContactInboxes::Table,
                        ContactInboxes::ContactId,
                        Contacts::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        ContactInboxes::Table,
                        ContactInboxes::InboxId,
                        Inboxes::Table,
                        Cascade,
                    ));
            }),
            vec![
                unique_index(
                    "uq_contact_inboxes_inbox_source",
                    ContactInboxes::Table,
                    [ContactInboxes::InboxId, ContactInboxes::SourceId],
                ),
                index(
                    "idx_contact_inboxes_contact",
                    ContactInboxes::Table,
                    [ContactInboxes::ContactId],
                ),
            ],
        ),
        (
            with_id(Conversations::Table, |t| {
                t.col(big_integer(Conversations::AccountId))
                    .col(big_integer(Conversations::InboxId))
                    .col(big_integer(Conversations::ContactId))
                    .col(big_integer_null(Conversations::ContactInboxId))
                    .col(big_integer_null(Conversations::AssigneeId))
                    .col(big_integer_null(Conversations::DepartmentId))
                    .col(big_integer_null(Conversations::GoalId))
                    .col(enum_col(Conversations::Status))
                    .col(integer(Conversations::UnreadCount).default(0))
                    .col(big_integer_null(Conversations::LastMessageId))
                    .col(timestamp_with_time_zone_null(Conversations::LastMessageAt))
                    .col(timestamp_with_time_zone_null(Conversations::StartedAt))
                    .col(timestamp_with_time_zone_null(Conversations::EndedAt))
                    .col(timestamp_with_time_zone_null(Conversations::SnoozedUntil))
                    .col(timestamp_with_time_zone_null(
                        Conversations::AgentLastSeenAt,
                    ))
                    .col(timestamp_with_time_zone_null(
                        Conversations::ContactLastSeenAt,
                    ))
                    .col(json_binary_null(Conversations::Metadata))
                    .col(text_null(Conversations::Reason))
                    .col(json_binary(Conversations::AdditionalAttributes))
                    .col(json_binary(Conversations::CustomAttributes))
                    .foreign_key(&mut fk(
                        Conversations::Table,
                        Conversations::AccountId,
                        Accounts::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        Conversations::Table,
                        Conversations::InboxId,
                        Inboxes::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        Conversations::Table,
                        Conversations::ContactId,
                        Contacts::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        Conversations::Table,
                        Conversations::ContactInboxId,
                        ContactInboxes::Table,
                        SetNull,
                    ))
                    .foreign_key(&mut fk(
                        Conversations::Table,
                        Conversations::AssigneeId,
                        Users::Table,
                        SetNull,
                    ));
            }),
            vec![
                index(
                    "idx_conversations_account",
                    Conversations::Table,
                    [Conversations::AccountId, Conversations::Id],
                ),
                index(
                    "idx_conversations_account_status",
                    Conversations::Table,
                    [
                        Conversations::AccountId,
                        Conversations::Status,
                        Conversations::Id,
                    ],
                ),
                index(
                    "idx_conversations_account_inbox",
                    Conversations::Table,
                    [
                        Conversations::AccountId,
                        Conversations::InboxId,
                        Conversations::Id,
                    ],
                ),
                index(
                    "idx_conversations_account_assignee",
                    Conversations::Table,
                    [
                        Conversations::AccountId,
                        Conversations::AssigneeId,
                        Conversations::Id,
                    ],
                ),
                index(
                    "idx_conversations_contact",
                    Conversations::Table,
                    [Conversations::ContactId],
                ),
            ],
        ),
        (
            with_id(Messages::Table, |t| {
                t.col(big_integer(Messages::AccountId))
                    .col(big_integer(Messages::ConversationId))
                    .col(enum_col(Messages::SenderType))
                    .col(big_integer_null(Messages::SenderId))
                    .col(enum_col(Messages::MessageType))
                    .col(text_null(Messages::Content))
                    .col(enum_col(Messages::ContentType))
                    .col(string_len_null(Messages::MediaUrl, 2048))
                    .col(string_len_null(Messages::SourceId, 255))
                    .col(string_len_null(Messages::ExternalId, 255))
                    .col(enum_col(Messages::DeliveryStatus))
                    .col(boolean(Messages::Private).default(false))
                    .col(json_binary(Messages::ContentAttributes))
                    .foreign_key(&mut fk(
                        Messages::Table,
                        Messages::AccountId,
                        Accounts::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        Messages::Table,
                        Messages::ConversationId,
                        Conversations::Table,
                        Cascade,
                    ));
            }),
            vec![
                index(
                    "idx_messages_conversation",
                    Messages::Table,
                    [Messages::ConversationId, Messages::Id],
                ),
                index(
                    "idx_messages_account",
                    Messages::Table,
                    [Messages::AccountId, Messages::Id],
                ),
            ],
        ),
        (
            with_id(WebhookSubscriptions::Table, |t| {
                t.col(big_integer(WebhookSubscriptions::AccountId))
                    .col(big_integer_null(WebhookSubscriptions::ChannelId))
                    .col(big_integer_null(WebhookSubscriptions::InboxId))
                    .col(string_len(WebhookSubscriptions::Name, 255))
                    .col(string_len(WebhookSubscriptions::Url, 2048))
                    .col(json_binary(WebhookSubscriptions::Events))
                    .col(enum_col(WebhookSubscriptions::Format))
                    .col(text(WebhookSubscriptions::SecretEncrypted))
                    .col(text_null(WebhookSubscriptions::PreviousSecretEncrypted))
                    .col(timestamp_with_time_zone_null(
                        WebhookSubscriptions::PreviousSecretExpiresAt,
                    ))
                    .col(json_binary(WebhookSubscriptions::Headers))
                    .col(text_null(WebhookSubscriptions::BearerTokenEncrypted))
                    .col(string_len_null(
                        WebhookSubscriptions::BasicAuthUsername,
                        255,
                    ))
                    .col(text_null(WebhookSubscriptions::BasicAuthPasswordEncrypted))
                    .col(enum_col(WebhookSubscriptions::State))
                    .col(text_null(WebhookSubscriptions::StateReason))
                    .col(text_null(WebhookSubscriptions::LastError))
                    .col(boolean(WebhookSubscriptions::IsChannelWebhook).default(false))
                    .foreign_key(&mut fk(
                        WebhookSubscriptions::Table,
                        WebhookSubscriptions::AccountId,
                        Accounts::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        WebhookSubscriptions::Table,
                        WebhookSubscriptions::ChannelId,
                        Channels::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        WebhookSubscriptions::Table,
                        WebhookSubscriptions::InboxId,
                        Inboxes::Table,
                        Cascade,
                    ));
            }),
            vec![
                index(
                    "idx_webhook_subscriptions_account",
                    WebhookSubscriptions::Table,
                    [WebhookSubscriptions::AccountId, WebhookSubscriptions::Id],
                ),
                index(
                    "idx_webhook_subscriptions_channel",
                    WebhookSubscriptions::Table,
                    [WebhookSubscriptions::ChannelId],
                ),
                index(
                    "idx_webhook_subscriptions_inbox",
                    WebhookSubscriptions::Table,
                    [WebhookSubscriptions::InboxId],
                ),
            ],
        ),
        (
            with_id(ApiTokens::Table, |t| {
                t.col(big_integer(ApiTokens::AccountId))
                    .col(string_len(ApiTokens::Name, 255))
                    .col(string_len(ApiTokens::TokenHash, 64))
                    .col(string_len(ApiTokens::TokenPrefix, 16))
                    .col(enum_col(ApiTokens::Role))
                    .col(big_integer_null(ApiTokens::CreatedByUserId))
                    .col(timestamp_with_time_zone_null(ApiTokens::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::ExpiresAt))
                    .foreign_key(&mut fk(
                        ApiTokens::Table,
                        ApiTokens::AccountId,
                        Accounts::Table,
                        Cascade,
                    ))
                    .foreign_key(&mut fk(
                        ApiTokens::Table,
                        ApiTokens::CreatedByUserId,
                        Users::Table,
                        SetNull,
                    ));
            }),
            vec![
                unique_index(
                    "uq_api_tokens_hash",
                    ApiTokens::Table,
                    [ApiTokens::TokenHash],
                ),
                index(
                    "idx_api_tokens_account",
                    ApiTokens::Table,
                    [ApiTokens::AccountId, ApiTokens::Id],
                ),
            ],
        ),
    ]
}

/// A table with the common `id` (BIGINT auto-increment primary key) first and
/// `created_at` / `updated_at` last.
pub(crate) fn with_id<T>(
    table: T,
    columns: impl FnOnce(&mut TableCreateStatement),
) -> TableCreateStatement
where
    T: IntoIden + 'static,
{
    let mut statement = Table::create();
    statement.table(table).col(
        ColumnDef::new(Common::Id)
            .big_integer()
            .not_null()
            .auto_increment()
            .primary_key(),
    );
    columns(&mut statement);
    statement
        .col(timestamp_with_time_zone(Common::CreatedAt))
        .col(timestamp_with_time_zone(Common::UpdatedAt))
        .to_owned()
}

/// Enum columns hold the SCREAMING_SNAKE_CASE value as VARCHAR(32).
pub(crate) fn enum_col<T: IntoIden>(column: T) -> ColumnDef {
    string_len(column, 32)
}

/// `fk_<table>_<column>` referencing `<parent>.id`.
pub(crate) fn fk<T, C, P>(
    table: T,
    column: C,
    parent: P,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement
where
    T: IntoIden,
    C: IntoIden,
    P: IntoIden,
{
    let table = table.into_iden();
    let column = column.into_iden();
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(parent, Common::Id)
        .on_delete(on_delete)
        .to_owned()
}

pub(crate) fn index<T, C>(
    name: &str,
    table: T,
    columns: impl IntoIterator<Item = C>,
) -> IndexCreateStatement
where
    T: IntoIden,
    C: IntoIden,
{
    let mut statement = Index::create();
    statement.name(name).table(table);
    for column in columns {
        statement.col(column);
    }
    statement.to_owned()
}

/// Drops index `old` of `table` and creates `new` in its place.
pub(crate) async fn replace_index<T: IntoTableRef>(
    manager: &SchemaManager<'_>,
    table: T,
    old: &str,
    new: IndexCreateStatement,
) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name(old).table(table).to_owned())
        .await?;
    manager.create_index(new).await
}

pub(crate) fn unique_index<T, C>(
    name: &str,
    table: T,
    columns: impl IntoIterator<Item = C>,
) -> IndexCreateStatement
where
    T: IntoIden,
    C: IntoIden,
{
    index(name, table, columns).unique().to_owned()
}

#[derive(DeriveIden)]
pub(crate) enum Common {
    Id,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    Key,
    Value,
}

#[derive(DeriveIden)]
pub(crate) enum Users {
    Table,
    Email,
    PasswordHash,
    Name,
    IsPlatformAdmin,
}

#[derive(DeriveIden)]
pub(crate) enum Accounts {
    Table,
    Name,
}

#[derive(DeriveIden)]
enum AccountUsers {
    Table,
    AccountId,
    UserId,
    Role,
}

#[derive(DeriveIden)]
pub(crate) enum Channels {
    Table,
    Id,
    AccountId,
    Kind,
    Name,
    Phone,
    Identifier,
    Provider,
    Country,
    Env,
    Status,
    Description,
    WebhookUrl,
    CredentialsEncrypted,
}

#[derive(DeriveIden)]
pub(crate) enum Inboxes {
    Table,
    Id,
    AccountId,
    ChannelId,
    Name,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    Id,
    AccountId,
    FirstName,
    LastName,
    PhoneNumber,
    Email,
    AvatarUrl,
    CustomAttributes,
}

#[derive(DeriveIden)]
enum Tags {
    Table,
    AccountId,
    Name,
}

#[derive(DeriveIden)]
enum ContactTags {
    Table,
    ContactId,
    TagId,
}

#[derive(DeriveIden)]
enum ContactMeta {
    Table,
    ContactId,
    MetaKey,
    MetaValue,
}

#[derive(DeriveIden)]
enum ContactInboxes {
    Table,
    ContactId,
    InboxId,
    SourceId,
    HmacVerified,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    AccountId,
    InboxId,
    ContactId,
    ContactInboxId,
    AssigneeId,
    DepartmentId,
    GoalId,
    Status,
    UnreadCount,
    LastMessageId,
    LastMessageAt,
    StartedAt,
    EndedAt,
    SnoozedUntil,
    AgentLastSeenAt,
    ContactLastSeenAt,
    Metadata,
    Reason,
    AdditionalAttributes,
    CustomAttributes,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    AccountId,
    ConversationId,
    SenderType,
    SenderId,
    MessageType,
    Content,
    ContentType,
    MediaUrl,
    SourceId,
    ExternalId,
    DeliveryStatus,
    Private,
    ContentAttributes,
}

#[derive(DeriveIden)]
pub(crate) enum WebhookSubscriptions {
    Table,
    Id,
    AccountId,
    ChannelId,
    InboxId,
    Name,
    Url,
    Events,
    Format,
    SecretEncrypted,
    PreviousSecretEncrypted,
    PreviousSecretExpiresAt,
    Headers,
    BearerTokenEncrypted,
    BasicAuthUsername,
    BasicAuthPasswordEncrypted,
    State,
    StateReason,
    LastError,
    IsChannelWebhook,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    AccountId,
    Name,
    TokenHash,
    TokenPrefix,
    Role,
    CreatedByUserId,
    LastUsedAt,
    RevokedAt,
    ExpiresAt,
}
