//! kill -9 of the real binary with deliveries in flight loses nothing.

use std::{collections::HashMap, time::Duration};

use serde_json::json;

use crate::{
    binary::Server,
    helpers::binary_database_url,
    receiver::{Receiver, Reply},
};

#[tokio::test]
async fn kill_9_with_deliveries_in_flight_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db_url) = binary_database_url(dir.path(), "crash.db").await else {
        return;
    };
    let rx = Receiver::start().await;
    rx.default_reply(Reply::Slow(Duration::from_millis(300)));

    let mut server = Server::start(dir.path(), &db_url).await;
    let d = server
        .gql(None, r#"mutation{ firstAdminCreate(input:{email:"ops@example.com", password:"crash-test-pass"}){ token } }"#, json!({}))
        .await;
    let token = d["firstAdminCreate"]["token"].as_str().unwrap().to_string();
    let t = Some(token.as_str());
    let a = server
        .gql(
            t,
            r#"mutation{ accountCreate(input:{name:"A"}){ account{ id } } }"#,
            json!({}),
        )
        .await["accountCreate"]["account"]["id"]
        .clone();
    let ch = server.gql(t, "mutation($a:ID!){ channelCreate(input:{accountId:$a, kind:API, name:\"c\"}){ channel{ id } } }", json!({"a": a})).await["channelCreate"]["channel"]["id"].clone();
    let ib = server.gql(t, "mutation($a:ID!,$c:ID!){ inboxCreate(input:{accountId:$a, channelId:$c, name:\"i\"}){ inbox{ id } } }", json!({"a": a, "c": ch})).await["inboxCreate"]["inbox"]["id"].clone();
    let ct = server.gql(t, "mutation($a:ID!){ contactCreate(input:{accountId:$a, firstName:\"K\"}){ contact{ id } } }", json!({"a": a})).await["contactCreate"]["contact"]["id"].clone();
    let cv = server
        .gql(t, "mutation($a:ID!,$i:ID!,$c:ID!){ conversationCreate(input:{accountId:$a, inboxId:$i, contactId:$c}){ conversation{ id } } }", json!({"a": a, "i": ib, "c": ct}))
        .await["conversationCreate"]["conversation"]["id"]
        .clone();
    let d = server
        .gql(t, "mutation($a:ID!,$u:String!){ webhookSubscriptionCreate(input:{accountId:$a, url:$u, events:[\"message_created\"]}){ userErrors{ message } } }", json!({"a": a, "u": rx.url("/hook")}))
        .await;
    assert!(
        d["webhookSubscriptionCreate"]["userErrors"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{d}"
    );

    const N: usize = 30;
    for i in 0..N {
        server.gql(t, "mutation($c:ID!,$x:String!){ messageCreate(input:{conversationId:$c, messageType:INCOMING, content:$x}){ message{ id } } }", json!({"c": cv, "x": format!("m{i:02}")})).await;
    }
    rx.wait_for(3, Duration::from_secs(20)).await;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    drop(server);
    // Requests the dead process had already written can reach the receiver a little after
    // the kill (the kernel still sends what was buffered): they were in flight too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_kill = rx.received().len();
    assert!(
        at_kill < N,
        "the kill came while deliveries were still queued ({at_kill} of {N} already sent)"
    );

    rx.default_reply(Reply::Status(200));
    let server = Server::start(dir.path(), &db_url).await;
    let t = Some(token.as_str());
    // Every event arrives at least once; only attempts in flight at the kill may repeat, with their webhook-id.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = rx.received();
        let mut by_content: HashMap<String, Vec<String>> = HashMap::new();
        for r in &got {
            by_content
                .entry(
                    r.json()["data"]["message"]["content"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
                .or_default()
                .push(r.header("webhook-id").to_string());
        }
        if by_content.len() == N {
            let duplicates = got.len() - N;
            assert!(
                duplicates <= at_kill,
                "at most the in-flight attempts repeat: {duplicates} duplicates, {at_kill} sent before the kill"
            );
            assert!(
                by_content
                    .values()
                    .all(|ids| ids.iter().all(|i| i == &ids[0])),
                "a repeated delivery keeps its webhook-id"
            );
            eprintln!(
                "kill -9: {at_kill} requests before the kill, {duplicates} duplicates after restart, {N} events delivered"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {N} events delivered after restart",
            by_content.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let q = "query($a:ID!){ account(id:$a){ deliveries(first:100){ edges{ node{ status } } } } }";
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let d = server.gql(t, q, json!({"a": a})).await;
        let statuses: Vec<String> = d["account"]["deliveries"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["status"].as_str().unwrap().to_string())
            .collect();
        if statuses.len() == N && statuses.iter().all(|s| s == "SUCCEEDED") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "deliveries not all SUCCEEDED: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
