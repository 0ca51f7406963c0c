//! The live delivery log: GraphQL subscription `deliveryAttempts` over WebSocket, from a stock
//! client speaking `graphql-transport-ws` and the legacy `graphql-ws`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use crate::{
    helpers::{TestApp, fast_delivery},
    receiver::Receiver,
    spawn_app,
};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

const SUBSCRIPTION: &str = "subscription($f:DeliveryAttemptFilter){ deliveryAttempts(filter:$f){ id url responseStatus accountId subscriptionId } }";

async fn connect(app: &TestApp, protocol: &'static str) -> Ws {
    let mut req = format!("ws://{}/graphql", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
    let (ws, resp) = connect_async(req).await.expect("WebSocket upgrade");
    assert_eq!(
        resp.headers()["sec-websocket-protocol"].to_str().unwrap(),
        protocol
    );
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next JSON message, or `None` when the server closed the connection.
async fn next(ws: &mut Ws, within: Duration) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(within, ws.next())
            .await
            .expect("a message in time")?;
        match msg.ok()? {
            Message::Text(t) => return Some(serde_json::from_str(&t).unwrap()),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// A `graphql-transport-ws` connection to `app`, subscribed to every attempt `token` may see.
async fn watch_everything(app: &TestApp, token: &str) -> Ws {
    let mut ws = connect(app, "graphql-transport-ws").await;
    assert_eq!(
        init(&mut ws, Some(token)).await.unwrap()["type"],
        "connection_ack"
    );
    send(
        &mut ws,
        json!({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}),
    )
    .await;
    ws
}

async fn init(ws: &mut Ws, token: Option<&str>) -> Option<Value> {
    let payload = token.map_or(
        json!({}),
        |t| json!({"Authorization": format!("Bearer {t}")}),
    );
    send(ws, json!({"type": "connection_init", "payload": payload})).await;
    next(ws, Duration::from_secs(5)).await
}

#[tokio::test]
async fn attempts_stream_live_to_authorized_subscribers_only() {
    let app = spawn_app!(fast_delivery);
    let rx = Receiver::start().await;
    let admin = app.admin_token().await;
    let a = app.create_account(&admin, "A").await;
    let b = app.create_account(&admin, "B").await;
    let conv_a = app.seed_conversation(&admin, &a).await;
    let conv_b = app.seed_conversation(&admin, &b).await;
    let (sub_a, _) = app
        .subscribe(&admin, &a, &rx.url("/a"), &["message_created"], "STANDARD")
        .await;
    app.subscribe(&admin, &b, &rx.url("/b"), &["message_created"], "STANDARD")
        .await;

    // No token, or a bad one: no connection.
    for token in [None, Some("sbt_nope")] {
        let mut ws = connect(&app, "graphql-transport-ws").await;
        let got = init(&mut ws, token).await;
        assert!(
            got.as_ref().is_none_or(|m| m["type"] != "connection_ack"),
            "{token:?} was acknowledged: {got:?}"
        );
    }

    // An account B administrator who is not in A: A's attempts never reach them, and asking
    // for A explicitly is refused.
    let b_admin = app.user_token("b-admin@example.com", false).await;
    app.gql_ok(
        Some(&admin),
        r#"mutation($a:ID!){ membershipSet(input:{accountId:$a, email:"b-admin@example.com", role:ADMINISTRATOR}){ membership{ role } } }"#,
        json!({"a": b}),
    )
    .await;
    let mut outsider = connect(&app, "graphql-transport-ws").await;
    assert_eq!(
        init(&mut outsider, Some(&b_admin)).await.unwrap()["type"],
        "connection_ack"
    );
    send(&mut outsider, json!({"id": "x", "type": "subscribe", "payload": {"query": SUBSCRIPTION, "variables": {"f": {"accountId": a}}}})).await;
    let refused = next(&mut outsider, Duration::from_secs(5)).await.unwrap();
    assert_eq!(refused["id"], "x");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );
    let done = next(&mut outsider, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (done["id"].as_str(), done["type"].as_str()),
        (Some("x"), Some("complete"))
    );
    send(
        &mut outsider,
        json!({"id": "all", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}),
    )
    .await;

    // The platform admin on the current protocol, filtered to A's subscription.
    let mut ws = connect(&app, "graphql-transport-ws").await;
    assert_eq!(
        init(&mut ws, Some(&admin)).await.unwrap()["type"],
        "connection_ack"
    );
    send(&mut ws, json!({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION, "variables": {"f": {"subscriptionId": sub_a, "status": "SUCCEEDED", "event": "message_created"}}}})).await;
    // And on the legacy protocol, unfiltered.
    let mut legacy = connect(&app, "graphql-ws").await;
    assert_eq!(
        init(&mut legacy, Some(&admin)).await.unwrap()["type"],
        "connection_ack"
    );
    send(
        &mut legacy,
        json!({"id": "L", "type": "start", "payload": {"query": SUBSCRIPTION}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    app.send_message(&admin, &conv_b.conversation, "INCOMING", "in B")
        .await;
    app.send_message(&admin, &conv_a.conversation, "INCOMING", "in A")
        .await;
    rx.wait_for(2, Duration::from_secs(10)).await;

    let m = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(m["type"], "next", "{m}");
    assert_eq!(m["id"], "1");
    let att = &m["payload"]["data"]["deliveryAttempts"];
    assert_eq!(
        att["url"],
        rx.url("/a"),
        "only the filtered subscription: {m}"
    );
    assert_eq!(att["responseStatus"], 200);
    assert_eq!(att["subscriptionId"], sub_a);

    let mut legacy_urls = vec![];
    for _ in 0..2 {
        let m = next(&mut legacy, Duration::from_secs(5)).await.unwrap();
        assert_eq!(m["type"], "data", "{m}");
        legacy_urls.push(
            m["payload"]["data"]["deliveryAttempts"]["url"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    legacy_urls.sort();
    assert_eq!(legacy_urls, vec![rx.url("/a"), rx.url("/b")]);

    // The outsider sees B's attempt and never A's.
    let m = next(&mut outsider, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        m["payload"]["data"]["deliveryAttempts"]["url"],
        rx.url("/b"),
        "{m}"
    );
    let more = tokio::time::timeout(Duration::from_millis(500), outsider.next()).await;
    assert!(more.is_err(), "nothing else for the outsider: {more:?}");
}

/// On PostgreSQL, attempts made by one instance reach subscribers of another.
#[tokio::test]
async fn attempts_reach_subscribers_on_every_instance() {
    if !crate::helpers::postgres_only("attempts_reach_subscribers_on_every_instance") {
        return;
    }
    let a = spawn_app!(fast_delivery);
    let b = a.another_instance().await;
    let rx = Receiver::start().await;
    let admin = a.admin_token().await;
    let account = a.create_account(&admin, "A").await;
    let conv = a.seed_conversation(&admin, &account).await;
    a.subscribe(
        &admin,
        &account,
        &rx.url("/x"),
        &["message_created"],
        "STANDARD",
    )
    .await;

    let mut ws = watch_everything(&b, &admin).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let n = 10;
    for i in 0..n {
        a.send_message(&admin, &conv.conversation, "INCOMING", &format!("m{i}"))
            .await;
    }
    rx.wait_for(n, Duration::from_secs(15)).await;
    let mut seen = std::collections::HashSet::new();
    while seen.len() < n {
        let m = next(&mut ws, Duration::from_secs(5))
            .await
            .expect("stream open");
        assert_eq!(m["type"], "next", "{m}");
        let id = m["payload"]["data"]["deliveryAttempts"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(seen.insert(id.clone()), "attempt {id} announced twice");
    }
}

/// Waits up to `within` for `f` to hold, polling every 50 ms.
async fn eventually(within: Duration, f: impl Fn() -> bool) -> bool {
    let until = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < until {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

/// On PostgreSQL, attempts are announced (NOTIFY, which serialises every announcing commit on
/// the server's notification lock) only while some instance has a live subscriber.
#[tokio::test]
async fn attempts_are_announced_only_while_someone_watches() {
    if !crate::helpers::wants_postgres() {
        eprintln!(
            "attempts_are_announced_only_while_someone_watches: runs on the PostgreSQL leg (SWITCHBOARD_TEST_DB=postgres)"
        );
        return;
    }
    let a = spawn_app!(fast_delivery);
    let b = a.another_instance().await;
    let admin = a.admin_token().await;
    // Two lock checks pass with nobody watching.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert!(!a.state.engine.announcing(), "nobody watches yet");
    assert!(!b.state.engine.announcing(), "nobody watches yet");

    let mut ws = watch_everything(&b, &admin).await;
    // At once (a notification), not at the next check.
    assert!(
        eventually(Duration::from_millis(500), || a.state.engine.announcing()
            && b.state.engine.announcing())
        .await,
        "a subscriber on b turns announcing on everywhere"
    );

    // The subscriber leaves: b drops its lock at its next check, then nobody announces.
    ws.close(None).await.unwrap();
    drop(ws);
    assert!(
        eventually(Duration::from_secs(5), || !a.state.engine.announcing()
            && !b.state.engine.announcing())
        .await,
        "announcing stops when nobody watches"
    );
}
