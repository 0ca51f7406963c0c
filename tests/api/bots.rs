//! Bot webhook connections (seed 004): the bearer REST API and its GraphQL twin.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, fast_delivery, user_error_codes},
    spawn_app,
};

pub async fn api_token(app: &TestApp, token: &str, account: &str, role: &str) -> String {
    let d = app
        .gql_ok(
            Some(token),
            "mutation($a:ID!,$r:Role!){ apiTokenCreate(input:{accountId:$a, name:\"bots\", role:$r}){ token } }",
            json!({"a": account, "r": role}),
        )
        .await;
    d["apiTokenCreate"]["token"].as_str().unwrap().to_string()
}

/// Creates a story; returns (GraphQL id, REST id).
pub async fn story(app: &TestApp, token: &str, account: &str, name: &str) -> (String, String) {
    let d = app
        .gql_ok(
            Some(token),
            "mutation($a:ID!,$n:String!){ storyCreate(input:{accountId:$a, name:$n}){ story{ id databaseId } } }",
            json!({"a": account, "n": name}),
        )
        .await;
    let s = &d["storyCreate"]["story"];
    (
        s["id"].as_str().unwrap().to_string(),
        format!("{:024x}", s["databaseId"].as_i64().unwrap()),
    )
}

pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

const BASE: &str = "/v2/integrations/webhook";

fn is_iso_millis(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z') && s.len() == 24
    })
}

#[tokio::test]
async fn webhook_connections_rest_api_matches_the_document() {
    let app = spawn_app!(fast_delivery);
    let admin = app.admin_token().await;
    let account = app.create_account(&admin, "Acme").await;
    let token = api_token(&app, &admin, &account, "ADMINISTRATOR").await;
    let agent_token = api_token(&app, &admin, &account, "AGENT").await;
    let (_, story_id) = story(&app, &admin, &account, "Foo").await;

    // Authentication: none, garbage, or a login JWT instead of an API token.
    for bearer in [None, Some("sbt_nope"), Some(admin.as_str())] {
        let (s, b) = call(&app, Method::GET, BASE, bearer, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{bearer:?}");
        assert_eq!(b["status"], json!({"code": 401, "type": "unauthorized"}));
    }

    let (s, b) = call(&app, Method::GET, BASE, Some(&token), None).await;
    assert_eq!((s, b), (StatusCode::OK, json!([])));

    // Create: the document's response.
    let full = json!({
        "storyId": story_id, "name": "Package Tracking Bot",
        "url": "http://127.0.0.1:9/tracking", "token": "secret-token",
        "headers": {"x-custom-header": "value"},
        "auth": {"username": "foo", "password": "bar"}
    });
    let (s, b) = call(&app, Method::POST, BASE, Some(&token), Some(full.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["status"], json!({"code": 201, "type": "created"}));
    assert!(is_iso_millis(&b["timestamp"]), "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 24);

    // Every refusal names its field and stores nothing.
    let with = |k: &str, v: Value| {
        let mut o = full.clone();
        o[k] = v;
        o
    };
    let mut without_url = full.clone();
    without_url.as_object_mut().unwrap().remove("url");
    let eleven: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("x-h{i}"), json!("v"))).collect();
    let cases = vec![
        (with("storyId", json!("abc")), "storyId"),
        (
            with("storyId", json!("ffffffffffffffffffffff00")),
            "storyId",
        ),
        (with("storyId", json!(12)), "storyId"),
        (with("name", json!("")), "name"),
        (with("name", json!("n".repeat(129))), "name"),
        (with("name", json!(5)), "name"),
        (without_url, "url"),
        (
            with(
                "url",
                json!(format!("https://example.com/{}", "a".repeat(1010))),
            ),
            "url",
        ),
        (with("url", json!("ftp://example.com/x")), "url"),
        (with("url", json!("http://10.0.0.1/x")), "url"),
        (with("token", json!("")), "token"),
        (with("token", json!("t".repeat(1025))), "token"),
        (with("headers", json!({})), "headers"),
        (with("headers", Value::Object(eleven)), "headers"),
        (with("headers", json!({"x-a": 1})), "headers"),
        (with("headers", json!({"bad header": "v"})), "headers.name"),
        (with("auth", json!({"username": "foo"})), "auth.password"),
        (
            with("auth", json!({"username": "", "password": "p"})),
            "auth.username",
        ),
        (with("auth", json!("foo:bar")), "auth"),
    ];
    for (body, field) in cases {
        let (s, b) = call(&app, Method::POST, BASE, Some(&token), Some(body.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {b}");
        assert_eq!(b["error"]["field"], field, "{body}: {b}");
        assert_eq!(b["status"], json!({"code": 400, "type": "bad_request"}));
    }
    let (s, b) = call(
        &app,
        Method::POST,
        BASE,
        Some(&agent_token),
        Some(full.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");

    // Minimal create (optional fields absent).
    let (s, b) = call(
        &app,
        Method::POST,
        BASE,
        Some(&token),
        Some(json!({"storyId": story_id, "name": "foo bar", "url": "http://127.0.0.1:9/other"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id2 = b["id"].as_str().unwrap().to_string();

    // List: the document's shape, `error: false` when none.
    let (s, b) = call(&app, Method::GET, BASE, Some(&agent_token), None).await;
    assert_eq!(s, StatusCode::OK);
    let list = b.as_array().unwrap();
    assert_eq!(list.len(), 2, "refusals stored nothing");
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["story"], json!({"id": story_id, "name": "Foo"}));
    assert_eq!(list[0]["name"], "Package Tracking Bot");
    assert_eq!(list[0]["url"], "http://127.0.0.1:9/tracking");
    assert_eq!(list[0]["error"], json!(false));
    assert!(is_iso_millis(&list[0]["createdAt"]) && is_iso_millis(&list[0]["updatedAt"]));

    // Single: token, headers and auth as stored; error null.
    let (s, b) = call(
        &app,
        Method::GET,
        &format!("{BASE}/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["token"], "secret-token");
    assert_eq!(b["headers"], json!({"x-custom-header": "value"}));
    assert_eq!(b["auth"], json!({"username": "foo", "password": "bar"}));
    assert_eq!(b["error"], Value::Null);
    assert_eq!(b["story"]["id"], story_id);

    // Update replaces the whole set: the token and auth left out are cleared.
    let (s, b) = call(
        &app,
        Method::PUT,
        &format!("{BASE}/{id}"),
        Some(&token),
        Some(json!({"name": "Renamed", "url": "http://127.0.0.1:9/v2", "headers": {"x-b": "2"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], json!({"code": 200, "type": "success"}));
    assert!(is_iso_millis(&b["timestamp"]));
    let (_, b) = call(
        &app,
        Method::GET,
        &format!("{BASE}/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (
            &b["name"],
            &b["url"],
            &b["token"],
            &b["auth"],
            &b["headers"]
        ),
        (
            &json!("Renamed"),
            &json!("http://127.0.0.1:9/v2"),
            &Value::Null,
            &Value::Null,
            &json!({"x-b": "2"})
        )
    );
    let (s, b) = call(
        &app,
        Method::PUT,
        &format!("{BASE}/{id}"),
        Some(&token),
        Some(json!({"name": "", "url": "http://127.0.0.1:9/v2"})),
    )
    .await;
    assert_eq!(
        (s, &b["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("name"))
    );

    // Unknown, malformed and other accounts' ids: 404.
    let other = app.create_account(&admin, "Other").await;
    let other_token = api_token(&app, &admin, &other, "ADMINISTRATOR").await;
    for (path, bearer) in [
        (format!("{BASE}/ffffffffffffffffffffff00"), &token),
        (format!("{BASE}/nope"), &token),
        (format!("{BASE}/{id}"), &other_token),
    ] {
        for m in [Method::GET, Method::DELETE] {
            let (s, b) = call(&app, m.clone(), &path, Some(bearer), None).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path}: {b}");
            assert_eq!(b["status"]["code"], 404);
        }
        let (s, _) = call(
            &app,
            Method::PUT,
            &path,
            Some(bearer),
            Some(json!({"name": "x", "url": "http://127.0.0.1:9/"})),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let (_, b) = call(&app, Method::GET, BASE, Some(&other_token), None).await;
    assert_eq!(b, json!([]));

    // GraphQL sees the same connections; deleting over REST removes it.
    let d = app
        .gql_ok(
            Some(&admin),
            "query($a:ID!){ account(id:$a){ botConnections(first:10){ edges{ node{ restId name hasToken story{ name } } } } } }",
            json!({"a": account}),
        )
        .await;
    let edges = d["account"]["botConnections"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2);
    assert_eq!(edges[0]["node"]["restId"], id);
    assert_eq!(edges[0]["node"]["hasToken"], false);
    let (s, b) = call(
        &app,
        Method::DELETE,
        &format!("{BASE}/{id2}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (s, &b["status"]),
        (StatusCode::OK, &json!({"code": 200, "type": "success"}))
    );
    let (s, _) = call(
        &app,
        Method::GET,
        &format!("{BASE}/{id2}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // GraphQL validation uses the same rules.
    let d = app
        .gql_ok(
            Some(&admin),
            r#"mutation($a:ID!){ botConnectionCreate(input:{accountId:$a, connection:{name:"", url:"ftp://x"}}){ botConnection{ id } userErrors{ field code } } }"#,
            json!({"a": account}),
        )
        .await;
    assert_eq!(
        user_error_codes(&d["botConnectionCreate"]),
        vec!["BLANK", "INVALID"]
    );
}

const MESSAGES: &str = "query($c:ID!){ node(id:$c){ ... on Conversation { status customAttributes messages(first:50){ edges{ node{ messageType senderType content contentType contentAttributes } } } } } }";

async fn set_status(app: &TestApp, token: &str, conversation: &str, status: &str) {
    app.gql_ok(
        Some(token),
        &format!("mutation($c:ID!){{ conversationUpdate(input:{{id:$c, status:{status}}}){{ conversation{{ status }} userErrors{{ message }} }} }}"),
        json!({"c": conversation}),
    )
    .await;
}

/// `GET /v2/integrations/webhook/{id}`: (status, body).
async fn connection(app: &TestApp, token: &str, id: &str) -> (StatusCode, Value) {
    call(app, Method::GET, &format!("{BASE}/{id}"), Some(token), None).await
}

async fn until(app: &TestApp, token: &str, id: &str, check: impl Fn(&Value) -> bool) -> Value {
    app.eventually(
        token,
        MESSAGES,
        json!({"c": id}),
        std::time::Duration::from_secs(10),
        |d| check(&d["node"]),
    )
    .await["node"]
        .clone()
}

async fn conversation(app: &TestApp, token: &str, id: &str) -> Value {
    app.gql_ok(Some(token), MESSAGES, json!({"c": id})).await["node"].clone()
}

fn messages(conv: &Value) -> Vec<Value> {
    conv["messages"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

#[tokio::test]
async fn a_bot_answers_incoming_messages_and_hands_over_when_it_cannot() {
    use crate::receiver::{Receiver, Reply};
    use std::time::Duration;

    let app = spawn_app!(fast_delivery);
    let rx = Receiver::start().await;
    let admin = app.admin_token().await;
    let account = app.create_account(&admin, "Acme").await;
    let token = api_token(&app, &admin, &account, "ADMINISTRATOR").await;
    let (_, story_id) = story(&app, &admin, &account, "Support flow").await;
    let seeded = app.seed_conversation(&admin, &account).await;
    let (s, b) = call(
        &app,
        Method::POST,
        BASE,
        Some(&token),
        Some(
            json!({"storyId": story_id, "name": "Order bot", "url": rx.url("/bot"),
                    "token": "bot-token", "headers": {"x-shop": "42"}}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let conn_id = b["id"].as_str().unwrap().to_string();
    let d = app
        .gql_ok(
            Some(&admin),
            "query($a:ID!){ account(id:$a){ botConnections(first:1){ edges{ node{ id } } } } }",
            json!({"a": account}),
        )
        .await;
    let conn_gid = d["account"]["botConnections"]["edges"][0]["node"]["id"].clone();
    let d = app
        .gql_ok(
            Some(&admin),
            "mutation($i:ID!,$b:ID){ inboxBotConnectionSet(input:{inboxId:$i, botConnectionId:$b}){ inbox{ botConnection{ name } } userErrors{ code } } }",
            json!({"i": seeded.inbox, "b": conn_gid}),
        )
        .await;
    assert_eq!(
        d["inboxBotConnectionSet"]["inbox"]["botConnection"]["name"],
        "Order bot"
    );

    // While the conversation is OPEN (with humans) the bot is not called.
    app.send_message(&admin, &seeded.conversation, "INCOMING", "hello humans")
        .await;
    set_status(&app, &admin, &seeded.conversation, "PENDING").await;

    // A good answer: two bot messages in order, attributes merged.
    let answer = json!({
        "responses": [
            {"type": "text", "message": "Hi! Where is your order?"},
            {"type": "quickReplies", "delay": 500, "title": "Pick one", "buttons": [
                {"type": "postback", "title": "Track", "value": "track"},
                {"type": "goto", "title": "Agent", "value": "0e1a2425-76e3-49fd-bfc0-547603ab1fe3"}]}
        ],
        "attributes": {"order": "A-17", "vip": true}
    });
    rx.script([Reply::Json(200, answer.to_string())]);
    app.send_message(
        &admin,
        &seeded.conversation,
        "INCOMING",
        "where is my parcel?",
    )
    .await;
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    let call_ = &got[0];
    assert_eq!(call_.path, "/bot");
    assert_eq!(call_.header("authorization"), "Bearer bot-token");
    assert_eq!(call_.header("x-shop"), "42");
    assert!(call_.header("webhook-signature").starts_with("v1,"));
    let ctx = call_.json();
    for k in ["chatId", "messageId", "userId"] {
        assert_eq!(ctx[k].as_str().unwrap().len(), 24, "{k}: {ctx}");
    }
    assert!(ctx["externalId"].is_string());
    assert_eq!(
        ctx["node"],
        json!({"id": conn_id, "name": "Order bot", "type": "WEBHOOK", "webhookId": conn_id, "webhookName": "Order bot"})
    );
    assert_eq!(ctx["userAttributes"]["default_name"], "John Doe");
    assert_eq!(ctx["attributes"], json!({}));

    // The conversation is read before its messages (two queries): wait for both.
    let conv = until(&app, &admin, &seeded.conversation, |c| {
        messages(c).len() == 4 && c["customAttributes"] != json!({})
    })
    .await;
    let ms = messages(&conv);
    assert_eq!(
        (
            ms[2]["senderType"].as_str(),
            ms[2]["messageType"].as_str(),
            ms[2]["content"].as_str()
        ),
        (
            Some("BOT"),
            Some("OUTGOING"),
            Some("Hi! Where is your order?")
        )
    );
    assert_eq!(ms[2]["contentAttributes"]["delay"], 1000);
    assert_eq!(ms[3]["contentType"], "QUICK_REPLIES");
    assert_eq!(ms[3]["content"], "Pick one");
    assert_eq!(ms[3]["contentAttributes"]["delay"], 500);
    assert_eq!(ms[3]["contentAttributes"]["buttons"][1]["type"], "goto");
    assert_eq!(
        conv["customAttributes"],
        json!({"order": "A-17", "vip": true})
    );
    assert_eq!(
        conv["status"], "PENDING",
        "a good answer keeps the bot in charge"
    );

    // The next call carries the collected attributes; an invalid answer creates no partial
    // messages, stores the error and hands the conversation to humans.
    let bad = json!({"responses": [
        {"type": "text", "message": "this one is fine"},
        {"type": "text", "message": ""}
    ]});
    rx.script([Reply::Json(200, bad.to_string())]);
    app.send_message(&admin, &seeded.conversation, "INCOMING", "and now?")
        .await;
    let got = rx.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        got[1].json()["attributes"],
        json!({"order": "A-17", "vip": true})
    );
    let conv = until(&app, &admin, &seeded.conversation, |c| {
        c["status"] == "OPEN"
    })
    .await;
    let ms = messages(&conv);
    assert_eq!(
        ms.len(),
        6,
        "incoming + one ACTIVITY note, nothing from the bad answer"
    );
    assert_eq!(ms[5]["messageType"], "ACTIVITY");
    assert!(
        ms[5]["content"]
            .as_str()
            .unwrap()
            .contains("responses[1].message"),
        "{}",
        ms[5]
    );
    let (_, single) = connection(&app, &token, &conn_id).await;
    assert!(
        single["error"].as_str().unwrap().contains("invalid answer"),
        "{single}"
    );
    let (_, list) = call(&app, Method::GET, BASE, Some(&token), None).await;
    assert!(list[0]["error"].is_string());

    // The attempts are in the delivery log: one SUCCEEDED, one FAILED, both with the answer.
    let d = app
        .gql_ok(
            Some(&admin),
            "query($a:ID!){ account(id:$a){ deliveries(first:10, event:\"bot_call\"){ edges{ node{ status attempts(first:5){ edges{ node{ responseStatus responseBody } } } } } } } }",
            json!({"a": account}),
        )
        .await;
    let ds = d["account"]["deliveries"]["edges"].as_array().unwrap();
    let statuses: Vec<&str> = ds
        .iter()
        .map(|e| e["node"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["SUCCEEDED", "FAILED"]);
    assert!(
        ds[1]["node"]["attempts"]["edges"][0]["node"]["responseBody"]
            .as_str()
            .unwrap()
            .contains("this one is fine")
    );

    // A bot answering 500 is not retried: humans take over at once. A good answer clears the error.
    set_status(&app, &admin, &seeded.conversation, "PENDING").await;
    rx.script([Reply::Status(500)]);
    app.send_message(&admin, &seeded.conversation, "INCOMING", "hello?")
        .await;
    rx.wait_for(3, Duration::from_secs(10)).await;
    until(&app, &admin, &seeded.conversation, |c| {
        c["status"] == "OPEN"
    })
    .await;
    let (_, single) = connection(&app, &token, &conn_id).await;
    assert_eq!(single["error"], "the bot answered HTTP 500");
    set_status(&app, &admin, &seeded.conversation, "PENDING").await;
    rx.script([Reply::Json(
        200,
        json!({"attributes": {"order": "B-2"}}).to_string(),
    )]);
    app.send_message(&admin, &seeded.conversation, "INCOMING", "attributes only")
        .await;
    rx.wait_for(4, Duration::from_secs(10)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, s) = connection(&app, &token, &conn_id).await;
        if s["error"].is_null() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "error never cleared: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let conv = conversation(&app, &admin, &seeded.conversation).await;
    assert_eq!(conv["customAttributes"]["order"], "B-2");
    assert_eq!(conv["status"], "PENDING");
    // A bot slower than the delivery timeout (3 s here): humans take over.
    rx.script([Reply::Slow(Duration::from_secs(5))]);
    app.send_message(&admin, &seeded.conversation, "INCOMING", "still there?")
        .await;
    let conv = until(&app, &admin, &seeded.conversation, |c| {
        c["status"] == "OPEN"
    })
    .await;
    assert!(
        messages(&conv).last().unwrap()["content"]
            .as_str()
            .unwrap()
            .contains("timeout")
    );
    let (_, single) = connection(&app, &token, &conn_id).await;
    assert!(
        single["error"].as_str().unwrap().starts_with("timeout"),
        "{single}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 5, "no retries of bot calls");
}
