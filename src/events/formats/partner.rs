//! `PARTNER` (seed 003): `{"status": "OK", "event": <name>, ...fields}` for the partner events
//! `whatsapp`, `builder` and `online`, with the fields exactly as the snapshot names them.

use serde_json::{Value, json};

use crate::events::{PARTNER_EVENTS, data::Event};

pub fn render(event: &Event) -> Option<Value> {
    if !PARTNER_EVENTS.contains(&event.event_type.as_str()) {
        return None;
    }
    let Some(Value::Object(fields)) = &event.data.partner else {
        return None;
    };
    let mut body = fields.clone();
    // The document's `status` is "OK" always; neither it nor `event` can be overridden.
    body.insert("status".into(), json!("OK"));
    body.insert("event".into(), json!(event.event_type));
    Some(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::super::{assert_same_shape, fixtures::*};
    use super::*;

    /// The document's example for `name` and the event whose snapshot holds its fields.
    fn example_and_event(name: &str) -> (Value, Event) {
        let example = golden(&format!("partner_{name}.json"));
        let mut fields = example.as_object().unwrap().clone();
        fields.remove("status");
        fields.remove("event");
        (example, partner(name, Value::Object(fields)))
    }

    #[test]
    fn each_partner_event_is_the_documents_example() {
        for name in ["whatsapp", "builder", "online"] {
            let (example, event) = example_and_event(name);
            let payload = render(&event).unwrap();
            assert_eq!(payload, example, "{name}");
            assert_same_shape(&example, &payload);
        }
    }

    #[test]
    fn status_is_ok_and_event_is_the_event_name_whatever_the_fields_say() {
        let e = partner(
            "builder",
            json!({"status": "FAIL", "event": "online", "builderID": 523}),
        );
        assert_eq!(
            render(&e),
            Some(json!({"status": "OK", "event": "builder", "builderID": 523}))
        );
    }

    #[test]
    fn other_events_and_events_without_partner_fields_send_nothing() {
        assert_eq!(render(&message_created(incoming_message())), None);
        assert_eq!(render(&contact_created()), None);
        let mut e = partner("online", json!({}));
        e.data.partner = None;
        assert_eq!(render(&e), None);
        assert_eq!(
            render(&partner("online", json!(["not", "an", "object"]))),
            None
        );
    }
}
