//! The transactional outbox: [`record`] writes an event row and its deliveries inside the
//! caller's transaction, so a committed change always has its event and deliveries and a
//! rolled-back one never does. Snapshot builders load what the payload formats need, in the
//! same transaction.

use entity::{
    account, channel, contact, contact_inbox, conversation, inbox, message, user,
    webhook_subscription,
};
use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult};

use super::data::*;
use crate::error::{Error, Result};

/// Appends an event to the outbox and fans it out to its deliveries. Call it inside the
/// transaction of the change (every caller does): outside one, a crash between the two
/// inserts would leave an event marked dispatched without its deliveries.
pub async fn record<C: ConnectionTrait>(db: &C, event_type: &str, data: EventData) -> Result<()> {
    record_claiming(db, event_type, data, None).await
}

/// [`record`], its deliveries claimed for this instance where `claim` takes them (see
/// [`crate::delivery::Claimed`]).
pub async fn record_claiming<C: ConnectionTrait>(
    db: &C,
    event_type: &str,
    data: EventData,
    claim: Option<&mut crate::delivery::Claimed>,
) -> Result<()> {
    let route = Route::of(&data);
    record_routed(db, event_type, data, route, claim).await
}

/// Where an event may go: the channel and inbox subscriptions are scoped to, the partner a
/// partner event is for, the bot connection a `bot_call` is for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Route {
    pub channel_id: Option<i64>,
    pub inbox_id: Option<i64>,
    pub partner_id: Option<i64>,
    pub bot_connection_id: Option<i64>,
}

impl Route {
    /// The channel and inbox an event's context names.
    pub fn of(data: &EventData) -> Self {
        Route {
            channel_id: data.channel.as_ref().map(|c| c.id),
            inbox_id: data.inbox.as_ref().map(|i| i.id),
            ..Route::default()
        }
    }
}

/// Puts a new message into its event's context: the message, and the conversation as it is
/// after the message (`conv`) with it as the last one.
pub fn put_new_message(data: &mut EventData, conv: &conversation::Model, msg: &message::Model) {
    data.conversation = Some(conversation_snap(conv, Some(msg)));
    data.last_message = Some(message_snap(msg));
    data.message = Some(message_snap(msg));
}

/// [`record_claiming`] with the routing columns given.
pub async fn record_routed<C: ConnectionTrait>(
    db: &C,
    event_type: &str,
    data: EventData,
    route: Route,
    claim: Option<&mut crate::delivery::Claimed>,
) -> Result<()> {
    let account_id = data
        .account
        .as_ref()
        .map(|a| a.id)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("event without account")))?;
    let payload = serde_json::to_value(&data).map_err(|e| Error::Internal(e.into()))?;
    let new = crate::delivery::NewEvent {
        account_id,
        event_type: event_type.to_string(),
        route,
        payload,
    };
    crate::delivery::record_and_fan_out(db, new, data, claim).await?;
    Ok(())
}

fn missing(what: &str) -> Error {
    Error::Internal(anyhow::anyhow!("{what} vanished while building an event"))
}

pub fn account_snap(a: &account::Model) -> AccountSnap {
    AccountSnap {
        id: a.id,
        name: a.name.clone(),
    }
}

pub fn user_snap(u: &user::Model) -> UserSnap {
    UserSnap {
        id: u.id,
        name: u.name.clone(),
        email: u.email.clone(),
    }
}

pub fn channel_snap(c: &channel::Model) -> ChannelSnap {
    ChannelSnap {
        id: c.id,
        kind: c.kind.as_str().into(),
        name: c.name.clone(),
        phone: c.phone.clone(),
        identifier: c.identifier.clone(),
        provider: c.provider.clone(),
        country: c.country.clone(),
        env: c.env.as_str().into(),
        status: c.status.as_str().into(),
        description: c.description.clone(),
        webhook_url: c.webhook_url.clone(),
    }
}

pub fn message_snap(m: &message::Model) -> MessageSnap {
    MessageSnap {
        id: m.id,
        conversation_id: m.conversation_id,
        sender_type: m.sender_type.as_str().into(),
        sender_id: m.sender_id,
        message_type: m.message_type.as_str().into(),
        content: m.content.clone(),
        content_type: m.content_type.as_str().into(),
        media_url: m.media_url.clone(),
        source_id: m.source_id.clone(),
        external_id: m.external_id.clone(),
        delivery_status: m.delivery_status.as_str().into(),
        private: m.private,
        content_attributes: m.content_attributes.clone(),
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// Two correlated subqueries giving the tags and meta of the contact whose id is `id` (a column
/// or a placeholder) as JSON arrays (`x_tags`: `[{"id","name"}]`, `x_meta`: `[{"key","value"}]`),
/// so that they ride along with another read instead of costing two round trips.
fn tags_and_meta(backend: sea_orm::DatabaseBackend, id: &str) -> String {
    if backend == sea_orm::DatabaseBackend::Postgres {
        format!(
            "(SELECT COALESCE(json_agg(json_build_object('id', t.id, 'name', t.name)), '[]')::text \
               FROM contact_tags x JOIN tags t ON t.id = x.tag_id WHERE x.contact_id = {id}) AS x_tags, \
             (SELECT COALESCE(json_agg(json_build_object('key', m.meta_key, 'value', m.meta_value)), '[]')::text \
               FROM contact_meta m WHERE m.contact_id = {id}) AS x_meta"
        )
    } else {
        format!(
            "(SELECT json_group_array(json_object('id', t.id, 'name', t.name)) \
               FROM contact_tags x JOIN tags t ON t.id = x.tag_id WHERE x.contact_id = {id}) AS x_tags, \
             (SELECT json_group_array(json_object('key', m.meta_key, 'value', m.meta_value)) \
               FROM contact_meta m WHERE m.contact_id = {id}) AS x_meta"
        )
    }
}

/// The contact as events carry it, its tags and meta read from a row with [`tags_and_meta`].
fn contact_snap_from(c: &contact::Model, row: &sea_orm::QueryResult) -> Result<ContactSnap> {
    let parse = |col: &str| -> Result<String> { Ok(row.try_get::<String>("", col)?) };
    let mut tags: Vec<TagSnap> =
        serde_json::from_str(&parse("x_tags")?).map_err(|e| Error::Internal(e.into()))?;
    tags.sort_by(|a, b| a.name.cmp(&b.name));
    let mut meta: Vec<MetaSnap> =
        serde_json::from_str(&parse("x_meta")?).map_err(|e| Error::Internal(e.into()))?;
    meta.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(ContactSnap {
        id: c.id,
        account_id: c.account_id,
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
        phone_number: c.phone_number.clone(),
        email: c.email.clone(),
        avatar_url: c.avatar_url.clone(),
        custom_attributes: c.custom_attributes.clone(),
        tags,
        meta,
        created_at: c.created_at,
        updated_at: c.updated_at,
    })
}

pub async fn contact_snap<C: ConnectionTrait>(db: &C, c: &contact::Model) -> Result<ContactSnap> {
    let backend = db.get_database_backend();
    let (sql, values): (String, Vec<sea_orm::Value>) =
        if backend == sea_orm::DatabaseBackend::Postgres {
            (
                format!("SELECT {}", tags_and_meta(backend, "$1")),
                vec![c.id.into()],
            )
        } else {
            (
                format!("SELECT {}", tags_and_meta(backend, "?")),
                vec![c.id.into(), c.id.into()],
            )
        };
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            backend, sql, values,
        ))
        .await?
        .ok_or_else(|| missing("contact"))?;
    contact_snap_from(c, &row)
}

/// Account and contact, for `contact_*` events.
pub async fn for_contact<C: ConnectionTrait>(db: &C, c: &contact::Model) -> Result<EventData> {
    let acc = account::Entity::find_by_id(c.account_id)
        .one(db)
        .await?
        .ok_or_else(|| missing("account"))?;
    Ok(EventData {
        account: Some(account_snap(&acc)),
        contact: Some(contact_snap(db, c).await?),
        ..Default::default()
    })
}

/// Everything around a conversation, for `conversation_*` events (and as the base of message events).
pub async fn for_conversation<C: ConnectionTrait>(
    db: &C,
    conv: &conversation::Model,
) -> Result<EventData> {
    let (_, mut data) = conversation_context(db, conv.id)
        .await?
        .ok_or_else(|| missing("conversation"))?;
    let last = data.last_message.as_ref().map(|m| m.content.clone());
    let mut snap = conversation_snap(conv, None);
    snap.last_message = last.flatten();
    data.conversation = Some(snap);
    Ok(data)
}

/// The conversation `id` as stored, with everything around it, in one read (it is how a new
/// message starts: on this kind of machine every round trip costs). `None` if there is none.
pub async fn conversation_context<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> Result<Option<(conversation::Model, EventData)>> {
    let backend = db.get_database_backend();
    // The text is the same for every call on a backend: built once per backend.
    static PG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static SQLITE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let (cell, p) = if backend == sea_orm::DatabaseBackend::Postgres {
        (&PG, "$1")
    } else {
        (&SQLITE, "?")
    };
    let sql = cell.get_or_init(|| context_select(backend, p, ""));
    let Some(row) = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql.as_str(),
            [id.into()],
        ))
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(context_from_row(&row)?))
}

/// A new message's context on PostgreSQL (see [`crate::delivery::write_message`]): what
/// [`conversation_context`] reads, plus the conversation row's version, ids for the message
/// and its event, and the account's subscriptions that may receive it, still in one read.
pub async fn message_context<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> Result<Option<(conversation::Model, EventData, MessageIds)>> {
    use sea_orm::IdenStatic;
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let backend = sea_orm::DatabaseBackend::Postgres;
    let sql = SQL.get_or_init(|| {
        // One context row (its tag and meta aggregates and the two ids computed once), then
        // one output row per subscription.
        format!(
            "WITH x AS MATERIALIZED ({}) SELECT x.*, {} FROM x \
             LEFT JOIN webhook_subscriptions s ON s.account_id = x.\"c_{}\" AND s.state <> 'DISABLED' \
             ORDER BY s.id",
            context_select(
                backend,
                "$1",
                ", c.xmin::text AS x_version, \
                 nextval(pg_get_serial_sequence('messages', 'id')) AS x_message_id, \
                 nextval(pg_get_serial_sequence('events', 'id')) AS x_event_id",
            ),
            cols::<webhook_subscription::Entity>("s"),
            conversation::Column::AccountId.as_str(),
        )
    });
    let rows = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql.as_str(),
            [id.into()],
        ))
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let (conv, data) = context_from_row(first)?;
    let mut subscriptions = Vec::with_capacity(rows.len());
    for r in &rows {
        // No subscription: one row whose `s_` columns are all NULL.
        if r.try_get::<Option<i64>>("", "s_id")?.is_some() {
            subscriptions.push(webhook_subscription::Model::from_query_result(r, "s_")?);
        }
    }
    let ids = MessageIds {
        version: first.try_get("", "x_version")?,
        message_id: first.try_get("", "x_message_id")?,
        event_id: first.try_get("", "x_event_id")?,
        subscriptions,
    };
    Ok(Some((conv, data, ids)))
}

/// What [`message_context`] reads beyond the conversation's context.
pub struct MessageIds {
    /// The conversation row's version (`xmin`) as read: the write applies only if unchanged.
    pub version: String,
    pub message_id: i64,
    pub event_id: i64,
    /// The account's subscriptions that are not disabled, in id order.
    pub subscriptions: Vec<webhook_subscription::Model>,
}

/// The one-row read of a conversation's context, `p` its id placeholder, `extra` more columns.
fn context_select(backend: sea_orm::DatabaseBackend, p: &str, extra: &str) -> String {
    // (table, alias, key, joined from, inner join)
    const JOINS: [(&str, &str, &str, &str, bool); 7] = [
        ("accounts", "a", "id", "c.account_id", true),
        ("inboxes", "i", "id", "c.inbox_id", true),
        ("channels", "ch", "id", "i.channel_id", true),
        ("contacts", "ct", "id", "c.contact_id", true),
        ("contact_inboxes", "ci", "id", "c.contact_inbox_id", false),
        ("users", "u", "id", "c.assignee_id", false),
        ("messages", "m", "id", "c.last_message_id", false),
    ];
    let joins: Vec<String> = JOINS
        .iter()
        .map(|(table, t, key, from, inner)| {
            if backend == sea_orm::DatabaseBackend::Postgres {
                // Each row looked up by its key in a subquery the planner keeps apart (OFFSET 0),
                // in this order: it does not search the join orders of eight tables, which cost
                // more than the read (measured generic plan: 2.8 ms planned as plain joins,
                // 1.5 ms so; every connection plans it again whenever an ANALYZE of one of these
                // tables invalidates it, all at once: 60-140 ms stalls under load).
                let lookup =
                    format!("(SELECT * FROM {table} {t} WHERE {t}.{key} = {from} OFFSET 0) {t}");
                if *inner {
                    format!("CROSS JOIN LATERAL {lookup}")
                } else {
                    format!("LEFT JOIN LATERAL {lookup} ON true")
                }
            } else {
                let kind = if *inner { "JOIN" } else { "LEFT JOIN" };
                format!("{kind} {table} {t} ON {t}.{key} = {from}")
            }
        })
        .collect();
    format!(
        "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {}{extra} FROM conversations c {} WHERE c.id = {p}",
        cols::<conversation::Entity>("c"),
        cols::<account::Entity>("a"),
        cols::<inbox::Entity>("i"),
        cols::<channel::Entity>("ch"),
        cols::<contact::Entity>("ct"),
        cols::<contact_inbox::Entity>("ci"),
        cols::<user::Entity>("u"),
        cols::<message::Entity>("m"),
        tags_and_meta(backend, "ct.id"),
        joins.join(" "),
    )
}

/// Decodes a row of [`context_select`].
fn context_from_row(row: &sea_orm::QueryResult) -> Result<(conversation::Model, EventData)> {
    let conv = conversation::Model::from_query_result(row, "c_")?;
    let acc = account::Model::from_query_result(row, "a_")?;
    let ib = inbox::Model::from_query_result(row, "i_")?;
    let ch = channel::Model::from_query_result(row, "ch_")?;
    let ct = contact::Model::from_query_result(row, "ct_")?;
    let ci = match conv.contact_inbox_id {
        Some(_) => contact_inbox::Model::from_query_result_optional(row, "ci_")?,
        None => None,
    };
    let assignee = match conv.assignee_id {
        Some(_) => user::Model::from_query_result_optional(row, "u_")?,
        None => None,
    };
    let last = match conv.last_message_id {
        Some(_) => message::Model::from_query_result_optional(row, "m_")?,
        None => None,
    };
    let data = EventData {
        account: Some(account_snap(&acc)),
        inbox: Some(InboxSnap {
            id: ib.id,
            name: ib.name.clone(),
            channel_id: ib.channel_id,
        }),
        channel: Some(channel_snap(&ch)),
        contact: Some(contact_snap_from(&ct, row)?),
        contact_inbox: ci.map(|ci| ContactInboxSnap {
            id: ci.id,
            contact_id: ci.contact_id,
            inbox_id: ci.inbox_id,
            source_id: ci.source_id,
            hmac_verified: ci.hmac_verified,
            created_at: ci.created_at,
            updated_at: ci.updated_at,
        }),
        conversation: Some(conversation_snap(&conv, last.as_ref())),
        assignee: assignee.as_ref().map(user_snap),
        last_message: last.as_ref().map(message_snap),
        ..Default::default()
    };
    Ok((conv, data))
}

/// `alias."col" AS "alias_col"` for every column of `E`, for prefixed `from_query_result`.
pub(crate) fn cols<E: EntityTrait>(alias: &str) -> String {
    use sea_orm::{IdenStatic, Iterable};
    E::Column::iter()
        .map(|c| format!("{alias}.\"{col}\" AS \"{alias}_{col}\"", col = c.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The conversation as events carry it; `last` is its last message, if any.
pub fn conversation_snap(
    conv: &conversation::Model,
    last: Option<&message::Model>,
) -> ConversationSnap {
    ConversationSnap {
        id: conv.id,
        account_id: conv.account_id,
        inbox_id: conv.inbox_id,
        contact_id: conv.contact_id,
        assignee_id: conv.assignee_id,
        department_id: conv.department_id,
        goal_id: conv.goal_id,
        status: conv.status.as_str().into(),
        unread_count: conv.unread_count,
        last_message: last.and_then(|m| m.content.clone()),
        last_message_at: conv.last_message_at,
        started_at: conv.started_at,
        ended_at: conv.ended_at,
        snoozed_until: conv.snoozed_until,
        agent_last_seen_at: conv.agent_last_seen_at,
        contact_last_seen_at: conv.contact_last_seen_at,
        metadata: conv.metadata.clone(),
        reason: conv.reason.clone(),
        additional_attributes: conv.additional_attributes.clone(),
        custom_attributes: conv.custom_attributes.clone(),
        created_at: conv.created_at,
        updated_at: conv.updated_at,
    }
}

/// A message with its whole context, for `message_*` events.
pub async fn for_message<C: ConnectionTrait>(db: &C, msg: &message::Model) -> Result<EventData> {
    let conv = conversation::Entity::find_by_id(msg.conversation_id)
        .one(db)
        .await?
        .ok_or_else(|| missing("conversation"))?;
    let mut data = for_conversation(db, &conv).await?;
    if msg.sender_type == entity::enums::SenderType::User
        && let Some(uid) = msg.sender_id
    {
        data.sender_user = user::Entity::find_by_id(uid)
            .one(db)
            .await?
            .as_ref()
            .map(user_snap);
    }
    data.message = Some(message_snap(msg));
    Ok(data)
}

/// The attributes that differ between two conversation states, in seed 002's terms.
pub fn conversation_changes(
    before: &conversation::Model,
    after: &conversation::Model,
) -> Vec<Change> {
    use serde_json::json;
    let mut out = vec![];
    let mut cmp = |attr: &str, p: serde_json::Value, c: serde_json::Value| {
        if p != c {
            out.push(Change {
                attribute: attr.into(),
                previous_value: p,
                current_value: c,
            });
        }
    };
    cmp(
        "status",
        json!(before.status.as_str().to_lowercase()),
        json!(after.status.as_str().to_lowercase()),
    );
    cmp(
        "assignee_id",
        json!(before.assignee_id),
        json!(after.assignee_id),
    );
    cmp(
        "department_id",
        json!(before.department_id),
        json!(after.department_id),
    );
    cmp("goal_id", json!(before.goal_id), json!(after.goal_id));
    cmp(
        "snoozed_until",
        json!(before.snoozed_until.map(|t| t.timestamp())),
        json!(after.snoozed_until.map(|t| t.timestamp())),
    );
    cmp("metadata", json!(before.metadata), json!(after.metadata));
    cmp("reason", json!(before.reason), json!(after.reason));
    cmp(
        "additional_attributes",
        before.additional_attributes.clone(),
        after.additional_attributes.clone(),
    );
    cmp(
        "custom_attributes",
        before.custom_attributes.clone(),
        after.custom_attributes.clone(),
    );
    cmp(
        "unread_count",
        json!(before.unread_count),
        json!(after.unread_count),
    );
    out
}
