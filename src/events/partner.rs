//! Partner events (seed 003), recorded in the caller's transaction like every event: one event
//! per partner of the account, carrying that partner's reference value, for that partner's
//! webhook only (`events.partner_id`).
//!
//! Which change emits which code (`*_extra_info`):
//!
//! | event | code | emitted when |
//! |---|---|---|
//! | `whatsapp` | 1 | a WHATSAPP channel is created ACTIVE (onboarding finished, line live) |
//! | `whatsapp` | 2 | a WHATSAPP channel is created PENDING (onboarding finished, line awaiting approval) |
//! | `whatsapp` | 3 | a WHATSAPP channel's status becomes ACTIVE again |
//! | `whatsapp` | 4 | … becomes INACTIVE |
//! | `whatsapp` | 5 | … becomes DISABLED |
//! | `whatsapp` | 6 | a WHATSAPP channel is deleted |
//! | `builder` | 1 | a story (bot flow) is created |
//! | `builder` | 2 | a story is published |
//! | `builder` | 3 | a published story goes back to draft |
//! | `builder` | 4 | a story is deleted |
//! | `online` | 1 | an agent goes online in an inbox |
//! | `online` | 2 | an agent goes offline in an inbox |
//!
//! `daily_limit` and `whatsapp_apiKey` come with codes 1, 2 and 3 only, as the document says.

use entity::{account, channel, partner, story};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Map, Value, json};

use super::{data::EventData, outbox};
use crate::error::{Error, Result};

/// The field of a `whatsapp` payload that carries the line's API key (a channel credential).
pub const API_KEY_FIELD: &str = "whatsapp_apiKey";
/// [`API_KEY_FIELD`] as a JSON key, what [`redact_body`] looks for before parsing.
const API_KEY_QUOTED: &str = "\"whatsapp_apiKey\"";

/// `body` as the attempt log and the API show it: the line's API key of a `whatsapp` payload
/// (the channel credential, write-only everywhere else) replaced by `[redacted]`. The partner
/// is sent the key; operators reading deliveries and attempts are not.
pub fn redact_body(body: &str) -> std::borrow::Cow<'_, str> {
    if !body.contains(API_KEY_QUOTED) {
        return body.into();
    }
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(mut m)) if m.contains_key(API_KEY_FIELD) => {
            m.insert(API_KEY_FIELD.into(), json!("[redacted]"));
            Value::Object(m).to_string().into()
        }
        _ => body.into(),
    }
}

/// Daily business-conversation limit reported for a line that has none configured: Meta's
/// starting tier for a new WhatsApp Business number.
pub const DEFAULT_DAILY_LIMIT: i32 = 250;

pub enum PartnerEvent<'a> {
    Whatsapp {
        channel: &'a channel::Model,
        extra_info: u8,
        /// The line's API key (the channel credentials' `apiKey`), sent with codes 1–3.
        api_key: Option<String>,
    },
    Builder {
        story: &'a story::Model,
        extra_info: u8,
        /// Where the story is edited, e.g. `https://switchboard.example.com/#/stories/523`.
        url: String,
    },
    Online {
        inbox_id: i64,
        agent_id: i64,
        extra_info: u8,
        server: String,
    },
}

impl PartnerEvent<'_> {
    fn name(&self) -> &'static str {
        match self {
            PartnerEvent::Whatsapp { .. } => "whatsapp",
            PartnerEvent::Builder { .. } => "builder",
            PartnerEvent::Online { .. } => "online",
        }
    }

    /// The seed 003 fields for one partner (without `status` and `event`, which the format adds).
    pub fn fields(&self, account_id: i64, p: Option<&partner::Model>) -> Value {
        let mut m = Map::new();
        let reference = |r: Option<&String>| r.map(|s| json!(s));
        match self {
            PartnerEvent::Whatsapp {
                channel,
                extra_info,
                api_key,
            } => {
                let number: String = channel
                    .phone
                    .as_deref()
                    .unwrap_or_default()
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect();
                m.insert("whatsapp".into(), json!(number));
                if let Some(r) = reference(p.and_then(|p| p.whatsapp_reference.as_ref())) {
                    m.insert("whatsapp_reference".into(), r);
                }
                m.insert("whatsapp_extra_info".into(), json!(extra_info));
                if (1..=3).contains(extra_info) {
                    m.insert(
                        "daily_limit".into(),
                        json!(channel.daily_limit.unwrap_or(DEFAULT_DAILY_LIMIT)),
                    );
                    if let Some(k) = api_key {
                        m.insert(API_KEY_FIELD.into(), json!(k));
                    }
                }
            }
            PartnerEvent::Builder {
                story,
                extra_info,
                url,
            } => {
                m.insert("builderID".into(), json!(story.id));
                m.insert("builder_url".into(), json!(url));
                if let Some(r) = reference(p.and_then(|p| p.builder_reference.as_ref())) {
                    m.insert("builder_reference".into(), r);
                }
                m.insert("builder_extra_info".into(), json!(extra_info));
            }
            PartnerEvent::Online {
                inbox_id,
                agent_id,
                extra_info,
                server,
            } => {
                m.insert("accountID".into(), json!(account_id));
                m.insert("agentID".into(), json!(agent_id));
                m.insert("inboxID".into(), json!(inbox_id));
                m.insert("server".into(), json!(server));
                if let Some(r) = reference(p.and_then(|p| p.online_reference.as_ref())) {
                    m.insert("online_reference".into(), r);
                }
                m.insert("online_extra_info".into(), json!(extra_info));
            }
        }
        Value::Object(m)
    }
}

/// Records the event once for each partner of the account (nothing when it has none).
pub async fn emit<C: ConnectionTrait>(db: &C, account_id: i64, e: PartnerEvent<'_>) -> Result<()> {
    let partners = partner::Entity::find()
        .filter(partner::Column::AccountId.eq(account_id))
        .order_by_asc(partner::Column::Id)
        .all(db)
        .await?;
    if partners.is_empty() {
        return Ok(());
    }
    let acc = account::Entity::find_by_id(account_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("account vanished")))?;
    let (channel_id, inbox_id) = match &e {
        PartnerEvent::Whatsapp { channel, .. } => (Some(channel.id), None),
        PartnerEvent::Online { inbox_id, .. } => (None, Some(*inbox_id)),
        PartnerEvent::Builder { .. } => (None, None),
    };
    for p in &partners {
        let data = EventData {
            account: Some(outbox::account_snap(&acc)),
            partner: Some(e.fields(account_id, Some(p))),
            ..Default::default()
        };
        let route = outbox::Route {
            channel_id,
            inbox_id,
            partner_id: Some(p.id),
            bot_connection_id: None,
        };
        outbox::record_routed(db, e.name(), data, route, None).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use entity::enums::{ChannelEnv, ChannelKind, ChannelStatus};

    fn line(daily_limit: Option<i32>) -> channel::Model {
        channel::Model {
            id: 3,
            account_id: 1,
            kind: ChannelKind::Whatsapp,
            name: "Sales".into(),
            phone: Some("+972501234567".into()),
            identifier: None,
            provider: None,
            country: None,
            env: ChannelEnv::Live,
            status: ChannelStatus::Active,
            description: None,
            webhook_url: None,
            credentials_encrypted: None,
            daily_limit,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn partner_with(reference: &str) -> partner::Model {
        partner::Model {
            id: 1,
            account_id: 1,
            name: "p".into(),
            client_id: "sbp_x".into(),
            client_secret_hash: "0".repeat(64),
            whatsapp_reference: Some(reference.into()),
            builder_reference: Some("63f563".into()),
            online_reference: Some("5234-my-code".into()),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn the_api_key_is_redacted_in_what_operators_read() {
        let body = r#"{"daily_limit":250,"event":"whatsapp","status":"OK","whatsapp":"5511","whatsapp_apiKey":"123-456-789","whatsapp_extra_info":1}"#;
        assert_eq!(
            redact_body(body),
            r#"{"daily_limit":250,"event":"whatsapp","status":"OK","whatsapp":"5511","whatsapp_apiKey":"[redacted]","whatsapp_extra_info":1}"#
        );
        // Other payloads, and the field's name quoted inside a text, stay as they are.
        for other in [
            r#"{"event":"online","status":"OK"}"#,
            r#"{"content":"my \"whatsapp_apiKey\" is 1","event":"message_created"}"#,
            r#"{"message":{"whatsapp_apiKey":"nested, not a partner payload"}}"#,
        ] {
            assert_eq!(redact_body(other), other);
        }
    }

    #[test]
    fn whatsapp_onboarding_carries_limit_and_api_key_later_codes_do_not() {
        let ch = line(None);
        let p = partner_with("1234567");
        let first = PartnerEvent::Whatsapp {
            channel: &ch,
            extra_info: 2,
            api_key: Some("123-456-789".into()),
        };
        assert_eq!(
            first.fields(1, Some(&p)),
            json!({"whatsapp": "972501234567", "whatsapp_reference": "1234567",
                   "whatsapp_extra_info": 2, "daily_limit": 250, "whatsapp_apiKey": "123-456-789"})
        );
        let off = PartnerEvent::Whatsapp {
            channel: &ch,
            extra_info: 4,
            api_key: Some("123-456-789".into()),
        };
        assert_eq!(
            off.fields(1, Some(&p)),
            json!({"whatsapp": "972501234567", "whatsapp_reference": "1234567", "whatsapp_extra_info": 4})
        );
    }

    #[test]
    fn online_and_builder_fields_are_the_documents() {
        let p = partner_with("x");
        let online = PartnerEvent::Online {
            inbox_id: 3,
            agent_id: 14,
            extra_info: 1,
            server: "online".into(),
        };
        assert_eq!(
            online.fields(523, Some(&p)),
            json!({"accountID": 523, "agentID": 14, "inboxID": 3, "server": "online",
                   "online_reference": "5234-my-code", "online_extra_info": 1})
        );
        let s = story::Model {
            id: 523,
            account_id: 1,
            name: "Flow".into(),
            status: entity::enums::StoryStatus::Draft,
            published_at: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let b = PartnerEvent::Builder {
            story: &s,
            extra_info: 1,
            url: "https://builderurl.com/523".into(),
        };
        assert_eq!(
            b.fields(1, Some(&p)),
            json!({"builderID": 523, "builder_url": "https://builderurl.com/523",
                   "builder_reference": "63f563", "builder_extra_info": 1})
        );
    }
}
