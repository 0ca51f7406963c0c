//! The answer of a bot webhook (seed 004): `responses` (bot messages) and/or `attributes`.
//!
//! [`parse`] accepts exactly what the document allows, with every size limit, and rejects the
//! whole answer otherwise (so no partial set of messages is ever created). Readings of the
//! document's loose spots, also in the README:
//! - lengths are counted in characters; `delay` is any number in 100..=10000 (default 1000);
//! - the document's "Buttons" example says `"type": "cards"` with `title` and `buttons` and no
//!   `elements`; such an object is read as the `buttons` response it illustrates;
//! - unknown fields are ignored, an unknown `type` is an error;
//! - at most [`MAX_RESPONSES`] responses, 10 cards per `cards` response and [`MAX_ATTRIBUTES`]
//!   attributes per answer (the document sets no limit; these bound what one answer creates);
//! - attribute values are strings, numbers, booleans or null.

use serde_json::{Map, Value};

pub const DEFAULT_DELAY_MS: u32 = 1000;
pub const MAX_RESPONSES: usize = 50;
pub const MAX_ATTRIBUTES: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub responses: Vec<Response>,
    pub attributes: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub delay_ms: u32,
    pub kind: ResponseKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseKind {
    Text { message: String },
    RandomText { messages: Vec<String> },
    Image { image_url: String },
    QuickReplies { title: String, buttons: Vec<Button> },
    Cards { elements: Vec<Card> },
    Buttons { title: String, buttons: Vec<Button> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub title: String,
    pub subtitle: String,
    pub image_url: String,
    pub buttons: Vec<Button>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Button {
    Postback {
        title: String,
        value: String,
    },
    Goto {
        title: String,
        value: String,
    },
    Url {
        title: String,
        value: String,
    },
    Webview {
        title: String,
        value: String,
        height: String,
    },
    Phone {
        title: String,
        value: String,
    },
}

/// Why an answer was refused: a JSON path and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

type R<T> = Result<T, Invalid>;

fn bad<T>(path: &str, message: impl Into<String>) -> R<T> {
    Err(Invalid {
        path: path.to_string(),
        message: message.into(),
    })
}

/// Parses a response body.
pub fn parse_bytes(body: &[u8]) -> R<Answer> {
    let v: Value = serde_json::from_slice(body).or_else(|e| bad("$", format!("not JSON ({e})")))?;
    parse(&v)
}

pub fn parse(v: &Value) -> R<Answer> {
    let Some(obj) = v.as_object() else {
        return bad("$", "the answer must be a JSON object");
    };
    let responses = match obj.get("responses") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => {
            if items.len() > MAX_RESPONSES {
                return bad("$.responses", format!("at most {MAX_RESPONSES} responses"));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, r)| response(&format!("$.responses[{i}]"), r))
                .collect::<R<Vec<_>>>()?
        }
        Some(_) => return bad("$.responses", "must be an array"),
    };
    let attributes = match obj.get("attributes") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => {
            if m.len() > MAX_ATTRIBUTES {
                return bad(
                    "$.attributes",
                    format!("at most {MAX_ATTRIBUTES} attributes"),
                );
            }
            for (k, val) in m {
                let path = format!("$.attributes.{k}");
                if k.is_empty() || k.chars().count() > 255 {
                    return bad(&path, "names are 1..255 characters");
                }
                match val {
                    Value::String(s) if s.chars().count() > 4096 => {
                        return bad(&path, "values are at most 4096 characters");
                    }
                    Value::Array(_) | Value::Object(_) => {
                        return bad(&path, "values are strings, numbers, booleans or null");
                    }
                    _ => {}
                }
            }
            m.clone()
        }
        Some(_) => return bad("$.attributes", "must be an object"),
    };
    Ok(Answer {
        responses,
        attributes,
    })
}

fn field<'a>(o: &'a Map<String, Value>, path: &str, name: &str) -> R<&'a Value> {
    match o.get(name) {
        Some(v) if !v.is_null() => Ok(v),
        _ => bad(&format!("{path}.{name}"), "is required"),
    }
}

/// A string of `min..=max` characters.
fn text(o: &Map<String, Value>, path: &str, name: &str, min: usize, max: usize) -> R<String> {
    let p = format!("{path}.{name}");
    let Some(s) = field(o, path, name)?.as_str() else {
        return bad(&p, "must be a string");
    };
    let n = s.chars().count();
    if n < min || n > max {
        return bad(&p, format!("must be {min}..{max} characters long"));
    }
    Ok(s.to_string())
}

fn delay(o: &Map<String, Value>, path: &str) -> R<u32> {
    match o.get("delay") {
        None | Some(Value::Null) => Ok(DEFAULT_DELAY_MS),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(d) if (100.0..=10000.0).contains(&d) => Ok(d as u32),
            _ => bad(&format!("{path}.delay"), "must be 100..10000"),
        },
        Some(_) => bad(&format!("{path}.delay"), "must be a number"),
    }
}

fn array<'a>(
    o: &'a Map<String, Value>,
    path: &str,
    name: &str,
    min: usize,
    max: usize,
) -> R<&'a Vec<Value>> {
    let p = format!("{path}.{name}");
    let Some(a) = field(o, path, name)?.as_array() else {
        return bad(&p, "must be an array");
    };
    if a.len() < min || a.len() > max {
        return bad(&p, format!("must have {min}..{max} items"));
    }
    Ok(a)
}

fn response(path: &str, v: &Value) -> R<Response> {
    let Some(o) = v.as_object() else {
        return bad(path, "must be an object");
    };
    let Some(kind) = field(o, path, "type")?.as_str() else {
        return bad(&format!("{path}.type"), "must be a string");
    };
    let delay_ms = delay(o, path)?;
    let kind = match kind {
        "text" => ResponseKind::Text {
            message: text(o, path, "message", 1, 1024)?,
        },
        "randomText" => {
            let items = array(o, path, "messages", 1, 20)?;
            let messages = items
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let p = format!("{path}.messages[{i}]");
                    match m.as_str() {
                        Some(s) if (1..=1024).contains(&s.chars().count()) => Ok(s.to_string()),
                        _ => bad(&p, "must be a string of 1..1024 characters"),
                    }
                })
                .collect::<R<Vec<_>>>()?;
            ResponseKind::RandomText { messages }
        }
        "image" => ResponseKind::Image {
            image_url: text(o, path, "imageUrl", 1, 2048)?,
        },
        "quickReplies" => ResponseKind::QuickReplies {
            title: text(o, path, "title", 1, 640)?,
            buttons: buttons(o, path, 13, true)?,
        },
        "cards" if !o.contains_key("elements") && o.contains_key("buttons") => {
            // The document's own "Buttons" example (see the module docs).
            ResponseKind::Buttons {
                title: text(o, path, "title", 1, 640)?,
                buttons: buttons(o, path, 5, false)?,
            }
        }
        "cards" => {
            let items = array(o, path, "elements", 1, usize::MAX)?;
            if items.len() > 10 {
                return bad(&format!("{path}.elements"), "must have 1..10 items");
            }
            let elements = items
                .iter()
                .enumerate()
                .map(|(i, e)| card(&format!("{path}.elements[{i}]"), e))
                .collect::<R<Vec<_>>>()?;
            ResponseKind::Cards { elements }
        }
        "buttons" => ResponseKind::Buttons {
            title: text(o, path, "title", 1, 640)?,
            buttons: buttons(o, path, 5, false)?,
        },
        other => {
            return bad(
                &format!("{path}.type"),
                format!("unknown response type `{other}`"),
            );
        }
    };
    Ok(Response { delay_ms, kind })
}

fn card(path: &str, v: &Value) -> R<Card> {
    let Some(o) = v.as_object() else {
        return bad(path, "must be an object");
    };
    Ok(Card {
        title: text(o, path, "title", 1, 80)?,
        subtitle: text(o, path, "subtitle", 1, 80)?,
        image_url: text(o, path, "imageUrl", 1, 2048)?,
        buttons: buttons(o, path, 5, false)?,
    })
}

/// `1..=max` buttons; quick replies take postback and goto only.
fn buttons(o: &Map<String, Value>, path: &str, max: usize, quick: bool) -> R<Vec<Button>> {
    array(o, path, "buttons", 1, max)?
        .iter()
        .enumerate()
        .map(|(i, b)| button(&format!("{path}.buttons[{i}]"), b, quick))
        .collect()
}

fn button(path: &str, v: &Value, quick: bool) -> R<Button> {
    let Some(o) = v.as_object() else {
        return bad(path, "must be an object");
    };
    let Some(kind) = field(o, path, "type")?.as_str() else {
        return bad(&format!("{path}.type"), "must be a string");
    };
    if quick && !matches!(kind, "postback" | "goto") {
        return bad(
            &format!("{path}.type"),
            "quick replies take postback and goto buttons only",
        );
    }
    Ok(match kind {
        "postback" => Button::Postback {
            title: text(o, path, "title", 1, 20)?,
            value: text(o, path, "value", 1, 2000)?,
        },
        "goto" => {
            let value = text(o, path, "value", 36, 36)?;
            if !is_uuid_v4(&value) {
                return bad(&format!("{path}.value"), "must be a UUIDv4");
            }
            Button::Goto {
                title: text(o, path, "title", 1, 20)?,
                value,
            }
        }
        "url" => Button::Url {
            title: text(o, path, "title", 0, 20)?,
            value: text(o, path, "value", 0, 2048)?,
        },
        "webview" => {
            let height = match o.get("height") {
                None | Some(Value::Null) => "compact".to_string(),
                Some(Value::String(h)) if matches!(h.as_str(), "full" | "tall" | "compact") => {
                    h.clone()
                }
                Some(_) => return bad(&format!("{path}.height"), "must be full, tall or compact"),
            };
            Button::Webview {
                title: text(o, path, "title", 1, 20)?,
                value: text(o, path, "value", 1, 2048)?,
                height,
            }
        }
        "phone" => {
            let value = text(o, path, "value", 3, 16)?;
            let digits = value.strip_prefix('+').unwrap_or("");
            if digits.len() < 2 || !digits.chars().all(|c| c.is_ascii_digit()) {
                return bad(&format!("{path}.value"), "must match \\+[0-9]{2,}");
            }
            Button::Phone {
                title: text(o, path, "title", 1, 20)?,
                value,
            }
        }
        other => {
            return bad(
                &format!("{path}.type"),
                format!("unknown button type `{other}`"),
            );
        }
    })
}

/// `xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`, hex, either case.
pub fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
        && b[14] == b'4'
        && matches!(b[19].to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b')
}

impl Button {
    pub fn to_json(&self) -> Value {
        use serde_json::json;
        match self {
            Button::Postback { title, value } => {
                json!({"type": "postback", "title": title, "value": value})
            }
            Button::Goto { title, value } => {
                json!({"type": "goto", "title": title, "value": value})
            }
            Button::Url { title, value } => json!({"type": "url", "title": title, "value": value}),
            Button::Webview {
                title,
                value,
                height,
            } => json!({"type": "webview", "title": title, "value": value, "height": height}),
            Button::Phone { title, value } => {
                json!({"type": "phone", "title": title, "value": value})
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn ok(v: Value) -> Answer {
        parse(&v).unwrap_or_else(|e| panic!("{v} refused: {e}"))
    }

    fn refused(v: Value) -> Invalid {
        parse(&v).expect_err(&format!("{v} accepted"))
    }

    #[test]
    fn the_documents_examples_parse() {
        let a = ok(
            json!({"responses": [{"type": "text", "delay": 1000, "message": "Have a great day!"}],
                          "attributes": {"foo": "bar", "baz": ""}}),
        );
        assert_eq!(a.responses.len(), 1);
        assert_eq!(a.attributes["baz"], "");
        assert!(
            ok(json!({"attributes": {"foo": "bar"}}))
                .responses
                .is_empty()
        );
        let a = ok(json!({"responses": [
            {"type": "text", "message": "foo bar baz"},
            {"type": "randomText", "messages": ["foo", "bar", "baz"]},
            {"type": "image", "imageUrl": "https://www.chatbot.com/logo.png"},
            {"type": "quickReplies", "title": "foo bar baz", "buttons": [
                {"type": "postback", "title": "foo", "value": "bar"},
                {"type": "postback", "title": "baz", "value": "qux"}]},
            {"type": "cards", "elements": [{"title": "foo bar baz", "subtitle": "foo bar baz",
                "imageUrl": "https://www.chatbot.com/logo.png", "buttons": [
                {"type": "postback", "title": "foo", "value": "bar"}]}]},
            {"type": "cards", "title": "foo bar baz", "buttons": [
                {"type": "postback", "title": "foo", "value": "bar"}]},
            {"type": "buttons", "title": "t", "buttons": [
                {"type": "goto", "title": "foo", "value": "0e1a2425-76e3-49fd-bfc0-547603ab1fe3"},
                {"type": "url", "title": "foo", "value": "https://chatbot.com"},
                {"type": "webview", "title": "foo", "value": "https://chatbot.com", "height": "full"},
                {"type": "phone", "title": "foo", "value": "+1234567890"}]}
        ]}));
        assert_eq!(a.responses.len(), 7);
        assert!(a.responses.iter().all(|r| r.delay_ms == DEFAULT_DELAY_MS));
        assert!(matches!(a.responses[5].kind, ResponseKind::Buttons { .. }));
        let ResponseKind::Buttons { buttons, .. } = &a.responses[6].kind else {
            panic!()
        };
        assert_eq!(
            buttons[2],
            Button::Webview {
                title: "foo".into(),
                value: "https://chatbot.com".into(),
                height: "full".into()
            }
        );
    }

    #[test]
    fn every_limit_is_enforced_at_its_edge() {
        let t = |msg: &str| json!({"responses": [{"type": "text", "message": msg}]});
        ok(t(&"a".repeat(1024)));
        ok(t(&"é".repeat(1024)));
        refused(t(&"a".repeat(1025)));
        refused(t(""));
        let d =
            |delay: Value| json!({"responses": [{"type": "text", "message": "m", "delay": delay}]});
        ok(d(json!(100)));
        ok(d(json!(10000)));
        refused(d(json!(99)));
        refused(d(json!(10001)));
        refused(d(json!("1000")));
        let rt =
            |n: usize| json!({"responses": [{"type": "randomText", "messages": vec!["x"; n]}]});
        ok(rt(20));
        refused(rt(21));
        refused(rt(0));
        let pb = json!({"type": "postback", "title": "t", "value": "v"});
        let qr = |n: usize| json!({"responses": [{"type": "quickReplies", "title": "t", "buttons": vec![pb.clone(); n]}]});
        ok(qr(13));
        refused(qr(14));
        refused(qr(0));
        let url_button = json!({"type": "url", "title": "", "value": ""});
        refused(
            json!({"responses": [{"type": "quickReplies", "title": "t", "buttons": [url_button]}]}),
        );
        let bt =
            |b: Value| json!({"responses": [{"type": "buttons", "title": "t", "buttons": [b]}]});
        ok(bt(json!({"type": "url", "title": "", "value": ""})));
        ok(bt(
            json!({"type": "postback", "title": "a".repeat(20), "value": "v".repeat(2000)}),
        ));
        refused(bt(
            json!({"type": "postback", "title": "a".repeat(21), "value": "v"}),
        ));
        refused(bt(
            json!({"type": "postback", "title": "a", "value": "v".repeat(2001)}),
        ));
        refused(bt(
            json!({"type": "goto", "title": "a", "value": "0e1a2425-76e3-19fd-bfc0-547603ab1fe3"}),
        ));
        refused(bt(
            json!({"type": "goto", "title": "a", "value": "not-a-uuid"}),
        ));
        ok(bt(json!({"type": "phone", "title": "a", "value": "+12"})));
        refused(bt(json!({"type": "phone", "title": "a", "value": "+1"})));
        refused(bt(
            json!({"type": "phone", "title": "a", "value": "1234567"}),
        ));
        refused(bt(
            json!({"type": "phone", "title": "a", "value": "+12345678901234567"}),
        ));
        refused(bt(
            json!({"type": "webview", "title": "a", "value": "u", "height": "huge"}),
        ));
        let five = vec![pb.clone(); 5];
        ok(json!({"responses": [{"type": "buttons", "title": "t", "buttons": five}]}));
        refused(
            json!({"responses": [{"type": "buttons", "title": "t", "buttons": vec![pb.clone(); 6]}]}),
        );
        let card = |title: &str| json!({"title": title, "subtitle": "s", "imageUrl": "u", "buttons": [pb.clone()]});
        ok(json!({"responses": [{"type": "cards", "elements": [card(&"c".repeat(80))]}]}));
        refused(json!({"responses": [{"type": "cards", "elements": [card(&"c".repeat(81))]}]}));
        refused(json!({"responses": [{"type": "video", "url": "u"}]}));
        refused(json!({"responses": {"type": "text"}}));
        refused(json!({"attributes": ["a"]}));
        refused(json!({"attributes": {"a": {"nested": 1}}}));
        refused(json!([]));
        refused(json!("text"));
    }

    /// Arbitrary JSON, biased towards the shapes an answer has.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (0i64..20000).prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null)),
            ".{0,40}".prop_map(Value::from),
            prop_oneof![
                Just("text"),
                Just("randomText"),
                Just("image"),
                Just("quickReplies"),
                Just("cards"),
                Just("buttons"),
                Just("postback"),
                Just("goto"),
                Just("url"),
                Just("webview"),
                Just("phone"),
                Just("+123"),
                Just("0e1a2425-76e3-49fd-bfc0-547603ab1fe3")
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 8, |inner| {
            let key = prop_oneof![
                Just("type".to_string()),
                Just("message".to_string()),
                Just("messages".to_string()),
                Just("responses".to_string()),
                Just("attributes".to_string()),
                Just("buttons".to_string()),
                Just("elements".to_string()),
                Just("title".to_string()),
                Just("value".to_string()),
                Just("delay".to_string()),
                Just("imageUrl".to_string()),
                Just("subtitle".to_string()),
                Just("height".to_string()),
                ".{0,8}"
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(key, inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// An independent reading of the document's limits, applied to what `parse` accepted.
    fn within_the_documents_limits(a: &Answer) -> bool {
        let len = |s: &str, lo: usize, hi: usize| (lo..=hi).contains(&s.chars().count());
        let button_ok = |b: &Button| match b {
            Button::Postback { title, value } => len(title, 1, 20) && len(value, 1, 2000),
            Button::Goto { title, value } => len(title, 1, 20) && is_uuid_v4(value),
            Button::Url { title, value } => len(title, 0, 20) && len(value, 0, 2048),
            Button::Webview {
                title,
                value,
                height,
            } => {
                len(title, 1, 20)
                    && len(value, 1, 2048)
                    && ["full", "tall", "compact"].contains(&height.as_str())
            }
            Button::Phone { title, value } => {
                len(title, 1, 20)
                    && len(value, 3, 16)
                    && value.starts_with('+')
                    && value[1..].chars().all(|c| c.is_ascii_digit())
            }
        };
        a.responses.iter().all(|r| {
            (100..=10000).contains(&r.delay_ms)
                && match &r.kind {
                    ResponseKind::Text { message } => len(message, 1, 1024),
                    ResponseKind::RandomText { messages } => {
                        (1..=20).contains(&messages.len())
                            && messages.iter().all(|m| len(m, 1, 1024))
                    }
                    ResponseKind::Image { image_url } => len(image_url, 1, 2048),
                    ResponseKind::QuickReplies { title, buttons } => {
                        len(title, 1, 640)
                            && (1..=13).contains(&buttons.len())
                            && buttons.iter().all(|b| {
                                matches!(b, Button::Postback { .. } | Button::Goto { .. })
                                    && button_ok(b)
                            })
                    }
                    ResponseKind::Cards { elements } => {
                        !elements.is_empty()
                            && elements.iter().all(|c| {
                                len(&c.title, 1, 80)
                                    && len(&c.subtitle, 1, 80)
                                    && len(&c.image_url, 1, 2048)
                                    && (1..=5).contains(&c.buttons.len())
                                    && c.buttons.iter().all(button_ok)
                            })
                    }
                    ResponseKind::Buttons { title, buttons } => {
                        len(title, 1, 640)
                            && (1..=5).contains(&buttons.len())
                            && buttons.iter().all(button_ok)
                    }
                }
        }) && a
            .attributes
            .values()
            .all(|v| !v.is_array() && !v.is_object())
    }

    fn s(lo: usize, hi: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::char::any(), lo..=hi).prop_map(|c| c.into_iter().collect())
    }

    fn button(quick: bool) -> BoxedStrategy<Value> {
        let pb = (s(1, 20), s(1, 2000))
            .prop_map(|(t, v)| json!({"type": "postback", "title": t, "value": v}));
        let goto = s(1, 20).prop_map(|t| json!({"type": "goto", "title": t, "value": "0e1a2425-76e3-49fd-bfc0-547603ab1fe3"}));
        if quick {
            return prop_oneof![pb, goto].boxed();
        }
        let url = (s(0, 20), s(0, 2048))
            .prop_map(|(t, v)| json!({"type": "url", "title": t, "value": v}));
        let web = (
            s(1, 20),
            s(1, 2048),
            prop_oneof![Just("full"), Just("tall"), Just("compact")],
        )
            .prop_map(|(t, v, h)| json!({"type": "webview", "title": t, "value": v, "height": h}));
        let phone = (s(1, 20), "\\+[0-9]{2,15}")
            .prop_map(|(t, v)| json!({"type": "phone", "title": t, "value": v}));
        prop_oneof![pb, goto, url, web, phone].boxed()
    }

    /// Answers the document allows, anywhere within every limit.
    fn valid_answer() -> impl Strategy<Value = Value> {
        let delay = prop_oneof![Just(None), (100u32..=10000).prop_map(Some)];
        let kind = prop_oneof![
            s(1, 1024).prop_map(|m| json!({"type": "text", "message": m})),
            prop::collection::vec(s(1, 1024), 1..=20).prop_map(|m| json!({"type": "randomText", "messages": m})),
            s(1, 2048).prop_map(|u| json!({"type": "image", "imageUrl": u})),
            (s(1, 640), prop::collection::vec(button(true), 1..=13))
                .prop_map(|(t, b)| json!({"type": "quickReplies", "title": t, "buttons": b})),
            (s(1, 640), prop::collection::vec(button(false), 1..=5))
                .prop_map(|(t, b)| json!({"type": "buttons", "title": t, "buttons": b})),
            prop::collection::vec(
                (s(1, 80), s(1, 80), s(1, 2048), prop::collection::vec(button(false), 1..=5))
                    .prop_map(|(t, st, u, b)| json!({"title": t, "subtitle": st, "imageUrl": u, "buttons": b})),
                1..=3
            )
            .prop_map(|e| json!({"type": "cards", "elements": e})),
        ];
        let response = (kind, delay).prop_map(|(mut k, d)| {
            if let Some(d) = d {
                k["delay"] = json!(d);
            }
            k
        });
        (
            prop::collection::vec(response, 0..4),
            prop::collection::btree_map(
                s(1, 20),
                prop_oneof![
                    s(0, 30).prop_map(Value::from),
                    any::<i32>().prop_map(Value::from),
                    any::<bool>().prop_map(Value::from)
                ],
                0..5,
            ),
        )
            .prop_map(|(r, a)| json!({"responses": r, "attributes": a}))
    }

    proptest! {
        // Large valid answers are slow to generate; 300 cases cover every response type often.
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn every_answer_within_the_limits_is_accepted_whole(v in valid_answer()) {
            let a = parse(&v).map_err(|e| TestCaseError::fail(format!("{v} refused: {e}")))?;
            prop_assert_eq!(a.responses.len(), v["responses"].as_array().unwrap().len());
            prop_assert!(within_the_documents_limits(&a));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_bytes(&bytes);
        }

        #[test]
        fn arbitrary_json_is_refused_or_within_the_limits(v in any_json()) {
            if let Ok(a) = parse(&v) {
                prop_assert!(within_the_documents_limits(&a), "accepted {v}");
            }
        }

        #[test]
        fn text_messages_are_accepted_exactly_within_1_to_1024(s in ".{0,1100}", delay in 0u32..12000) {
            let r = parse(&json!({"responses": [{"type": "text", "message": s, "delay": delay}]}));
            let n = s.chars().count();
            prop_assert_eq!(r.is_ok(), (1..=1024).contains(&n) && (100..=10000).contains(&delay));
        }
    }
}
