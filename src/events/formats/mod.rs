//! Payload formats: one pure function per format from an event snapshot to the JSON body a
//! receiver gets. `None` means the format sends nothing for that event, so the delivery engine
//! creates no delivery. Except for `STANDARD`, the shapes are those of the seed documents
//! (`docs/payloads.md` lists every mapping decision); the golden tests pin them.
//!
//! A snapshot that lacks an object a format's document requires (the message of a message
//! event, the conversation of a conversation event, …) renders `None` rather than a body the
//! receiver could not parse.
//!
//! Key order is not part of any contract (without `preserve_order`, serde_json sorts keys).

pub mod chatwoot;
pub mod flat_message;
pub mod new_message;
pub mod partner;
pub mod standard;

#[cfg(test)]
mod fixtures;

use chrono::{DateTime, SecondsFormat, Utc};
use entity::enums::PayloadFormat;
use serde::de::{DeserializeOwned, IntoDeserializer, value::Error as ValueError};
use serde_json::{Map, Value, json};

use super::data::{Change, Event};

/// The body `format` sends for `event`, or `None` when the format has no payload for it.
pub fn render(format: PayloadFormat, event: &Event) -> Option<Value> {
    match format {
        PayloadFormat::Standard => standard::render(event),
        PayloadFormat::Chatwoot => chatwoot::render(event),
        PayloadFormat::FlatMessage => flat_message::render(event),
        PayloadFormat::NewMessage => new_message::render(event),
        PayloadFormat::Partner => partner::render(event),
    }
}

/// RFC 3339 in UTC with millisecond precision and `Z`, e.g. `2022-01-29T07:27:52.676Z`.
fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A stored enum value (`WHATSAPP`, `OPEN`, …) as its entity enum, so mappings are exhaustive.
fn parse<E: DeserializeOwned>(stored: &str) -> Option<E> {
    E::deserialize(IntoDeserializer::<ValueError>::into_deserializer(stored)).ok()
}

/// JSON columns the documents type as "object": a missing value is sent as `{}`.
fn object_or_empty(v: &Value) -> Value {
    if v.is_null() { json!({}) } else { v.clone() }
}

/// Seed 002 `changed_attributes`: one `{"<attribute>": {current_value, previous_value}}` per change.
fn changed_attributes(changes: &[Change], value: impl Fn(&Change, &Value) -> Value) -> Value {
    changes
        .iter()
        .map(|c| {
            let mut one = Map::new();
            one.insert(
                c.attribute.clone(),
                json!({
                    "current_value": value(c, &c.current_value),
                    "previous_value": value(c, &c.previous_value),
                }),
            );
            Value::Object(one)
        })
        .collect()
}

/// Test helper: `ours` has every key of a document's `example` at the same nesting, with the
/// same JSON type. `null` in the example accepts anything; a non-empty example array requires a
/// non-empty array whose every element has the shape of the example's first element.
#[cfg(test)]
#[track_caller]
fn assert_same_shape(example: &Value, ours: &Value) {
    fn walk(example: &Value, ours: &Value, path: String, errors: &mut Vec<String>) {
        let kind = |v: &Value| match v {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        match (example, ours) {
            (Value::Null, _) => {}
            (Value::Object(e), Value::Object(o)) => {
                for (k, ev) in e {
                    match o.get(k) {
                        Some(ov) => walk(ev, ov, format!("{path}.{k}"), errors),
                        None => errors.push(format!("{path}.{k}: missing")),
                    }
                }
            }
            (Value::Array(e), Value::Array(o)) => match e.first() {
                Some(_) if o.is_empty() => errors.push(format!("{path}: empty array")),
                Some(first) => {
                    for (i, ov) in o.iter().enumerate() {
                        walk(first, ov, format!("{path}[{i}]"), errors);
                    }
                }
                None => {}
            },
            (e, o) if kind(e) == kind(o) => {}
            (e, o) => errors.push(format!("{path}: {} expected, got {}", kind(e), kind(o))),
        }
    }
    let mut errors = Vec::new();
    walk(example, ours, "$".into(), &mut errors);
    assert!(
        errors.is_empty(),
        "shape differs from the document:\n{}",
        errors.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::events::{EVENT_NAMES, format_supports};
    use sea_orm::Iterable;

    #[test]
    fn shape_check_reports_missing_keys_type_changes_and_empty_arrays() {
        let example = json!({"a": 1, "b": {"c": "x"}, "d": null, "e": [{"f": true}]});
        assert_same_shape(
            &example,
            &json!({"a": 2, "b": {"c": "y", "z": 0}, "d": [], "e": [{"f": false}]}),
        );
        for wrong in [
            json!({"b": {"c": "x"}, "d": null, "e": [{"f": true}]}),
            json!({"a": "1", "b": {"c": "x"}, "d": null, "e": [{"f": true}]}),
            json!({"a": 1, "b": {}, "d": null, "e": [{"f": true}]}),
            json!({"a": 1, "b": {"c": "x"}, "d": null, "e": []}),
            json!({"a": 1, "b": {"c": "x"}, "d": null, "e": [{"f": true}, {"f": null}]}),
        ] {
            let result = std::panic::catch_unwind(|| assert_same_shape(&example, &wrong));
            assert!(result.is_err(), "accepted {wrong}");
        }
    }

    #[test]
    fn no_format_renders_an_event_its_catalogue_entry_excludes() {
        for format in PayloadFormat::iter() {
            for name in EVENT_NAMES {
                if render(format, &any_event(name)).is_some() {
                    assert!(format_supports(format, name), "{format:?} rendered {name}");
                }
            }
        }
    }

    #[test]
    fn every_format_renders_the_events_its_document_defines() {
        for (format, name) in [
            (PayloadFormat::Chatwoot, "conversation_status_changed"),
            (PayloadFormat::Chatwoot, "contact_updated"),
            (PayloadFormat::FlatMessage, "message_created"),
            (PayloadFormat::NewMessage, "message_created"),
            (PayloadFormat::Partner, "builder"),
        ] {
            assert!(
                render(format, &any_event(name)).is_some(),
                "{format:?} {name}"
            );
        }
        for name in EVENT_NAMES {
            assert!(
                render(PayloadFormat::Standard, &any_event(name)).is_some(),
                "{name}"
            );
        }
    }

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        assert_eq!(iso(at("2022-01-29T07:27:52Z")), "2022-01-29T07:27:52.000Z");
        assert_eq!(
            iso(at("2022-01-29T08:27:52.6767+01:00")),
            "2022-01-29T07:27:52.676Z"
        );
    }
}
