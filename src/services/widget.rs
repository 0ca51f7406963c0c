//! The live-chat widget was opened: records `webwidget_triggered` (seed 002).

use entity::{channel, contact, conversation, inbox};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use super::{contacts, load_owned};
use crate::{
    auth::Principal,
    domain::Checks,
    error::{Error, Result},
    events::{data::*, outbox},
};

/// Records a widget open for a contact in an inbox; returns the contact's `source_id` there.
pub async fn trigger(
    db: &DatabaseConnection,
    principal: &Principal,
    inbox_id: i64,
    contact_id: i64,
    source_id: Option<String>,
    event_info: Option<serde_json::Value>,
) -> Result<String> {
    let (ib, _) =
        load_owned::<inbox::Entity, _>(db, principal, inbox_id, "inbox", Some("inboxId")).await?;
    let ct = contact::Entity::find_by_id(contact_id)
        .one(db)
        .await?
        .filter(|c| c.account_id == ib.account_id);
    let ct = ct.ok_or_else(|| Error::not_found_in("contact", "contactId"))?;
    let mut c = Checks::new();
    let source_id = c.optional("sourceId", source_id.as_deref(), 255);
    let info = event_info.unwrap_or_else(|| serde_json::json!({}));
    c.json_object("eventInfo", &info);
    c.finish()?;
    let txn = crate::db::begin_write(db).await?;
    let ci = contacts::contact_inbox_for(&txn, &ct, &ib, source_id).await?;
    let current = conversation::Entity::find()
        .filter(conversation::Column::ContactId.eq(ct.id))
        .filter(conversation::Column::InboxId.eq(ib.id))
        .order_by_desc(conversation::Column::Id)
        .one(&txn)
        .await?;
    let mut data = match &current {
        Some(conv) => outbox::for_conversation(&txn, conv).await?,
        None => {
            let acc = entity::account::Entity::find_by_id(ib.account_id)
                .one(&txn)
                .await?;
            let ch = channel::Entity::find_by_id(ib.channel_id).one(&txn).await?;
            EventData {
                account: acc.as_ref().map(outbox::account_snap),
                inbox: Some(InboxSnap {
                    id: ib.id,
                    name: ib.name.clone(),
                    channel_id: ib.channel_id,
                }),
                channel: ch.as_ref().map(outbox::channel_snap),
                contact: Some(outbox::contact_snap(&txn, &ct).await?),
                ..Default::default()
            }
        }
    };
    data.contact_inbox = Some(ContactInboxSnap {
        id: ci.id,
        contact_id: ci.contact_id,
        inbox_id: ci.inbox_id,
        source_id: ci.source_id.clone(),
        hmac_verified: ci.hmac_verified,
        created_at: ci.created_at,
        updated_at: ci.updated_at,
    });
    data.widget = Some(WidgetSnap {
        source_id: ci.source_id.clone(),
        event_info: info,
    });
    outbox::record(&txn, "webwidget_triggered", data).await?;
    txn.commit().await?;
    crate::delivery::events_committed();
    Ok(ci.source_id)
}
