//! Authentication and tenant isolation, with JWTs and API tokens.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use switchboard::{auth::Claims, crypto::Keys};

use crate::{
    helpers::{TestApp, error_code},
    spawn_app,
};

fn forge(app: &TestApp, alg: Algorithm, sub: &str, exp_offset: i64, key: &[u8]) -> String {
    let now = chrono::Utc::now().timestamp();
    let _ = app;
    encode(
        &Header::new(alg),
        &Claims {
            sub: sub.into(),
            iss: "switchboard".into(),
            iat: now,
            exp: now + exp_offset,
        },
        &EncodingKey::from_secret(key),
    )
    .unwrap()
}

#[tokio::test]
async fn bad_tokens_are_unauthenticated_and_change_nothing() {
    let app = spawn_app!();
    let admin = app.admin_token().await;
    let keys = Keys::from_master(&app.secret_key);
    let admin_id = app
        .gql_ok(
            Some(&admin),
            "{ viewer { user { databaseId } } }",
            json!({}),
        )
        .await["viewer"]["user"]["databaseId"]
        .to_string();

    let good = forge(&app, Algorithm::HS256, &admin_id, 60, keys.jwt_key());
    assert!(
        app.gql(Some(&good), "{ viewer { isPlatformAdmin } }", json!({}))
            .await["errors"]
            .is_null(),
        "a well-formed token works"
    );

    let expired = forge(&app, Algorithm::HS256, &admin_id, -10, keys.jwt_key());
    let wrong_alg = forge(&app, Algorithm::HS512, &admin_id, 60, keys.jwt_key());
    let wrong_key = forge(&app, Algorithm::HS256, &admin_id, 60, b"not the server key");
    // Same signature, payload changed to another subject.
    let parts: Vec<&str> = admin.split('.').collect();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let mut forged = claims.clone();
    forged["sub"] = json!("999");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged.to_string()),
        parts[2]
    );
    let head = format!("{}.{}", parts[0], parts[1]);
    let unsigned = format!("{}.", head);

    for (what, token) in [
        ("expired", expired.as_str()),
        ("wrong algorithm", &wrong_alg),
        ("wrong key", &wrong_key),
        ("tampered", &tampered),
        ("unsigned", &unsigned),
        ("garbage", "garbage"),
        ("unknown API token", "sbt_nope"),
    ] {
        let body = app
            .gql(
                Some(token),
                "{ accounts(first:5){ edges{ node{ id } } } }",
                json!({}),
            )
            .await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{what}: {body}");
        let body = app
            .gql(
                Some(token),
                r#"mutation{ accountCreate(input:{name:"x"}){ account{ id } } }"#,
                json!({}),
            )
            .await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{what}: {body}");
    }
    let body = app
        .gql(
            None,
            "{ accounts(first:5){ edges{ node{ id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let d = app
        .gql_ok(
            Some(&admin),
            "{ accounts(first:5){ edges{ node{ id } } } }",
            json!({}),
        )
        .await;
    assert!(
        d["accounts"]["edges"].as_array().unwrap().is_empty(),
        "no account was created by the refused calls"
    );

    let body = app
        .gql(
            None,
            r#"mutation{ login(email:"admin@example.com", password:"wrong password"){ token } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let body = app
        .gql(
            None,
            r#"mutation{ login(email:"nobody@example.com", password:"wrong password"){ token } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_email() {
    let app = spawn_app!();
    app.admin_token().await; // one successful login already
    let mut codes = vec![];
    for _ in 0..12 {
        let body = app.gql(None, r#"mutation{ login(email:"admin@example.com", password:"wrong password"){ token } }"#, json!({})).await;
        codes.push(error_code(&body).to_string());
    }
    assert!(
        codes[..9].iter().all(|c| c == "UNAUTHENTICATED"),
        "{codes:?}"
    );
    assert_eq!(codes.last().unwrap(), "RATE_LIMITED");
}

async fn api_token(app: &TestApp, token: &str, account: &str, role: &str) -> String {
    let d = app
        .gql_ok(
            Some(token),
            "mutation($a:ID!,$r:Role!){ apiTokenCreate(input:{accountId:$a, name:\"ci\", role:$r}){ token apiToken{ prefix role } userErrors{ message } } }",
            json!({"a": account, "r": role}),
        )
        .await;
    let t = d["apiTokenCreate"]["token"].as_str().unwrap().to_string();
    assert!(
        t.starts_with("sbt_")
            && t.starts_with(d["apiTokenCreate"]["apiToken"]["prefix"].as_str().unwrap())
    );
    t
}

#[tokio::test]
async fn tenants_are_isolated_for_api_tokens_and_users() {
    let app = spawn_app!();
    let admin = app.admin_token().await;
    let a = app.create_account(&admin, "A").await;
    let b = app.create_account(&admin, "B").await;
    let seeded_b = app.seed_conversation(&admin, &b).await;
    let token_a = api_token(&app, &admin, &a, "ADMINISTRATOR").await;

    // Reads of B with A's token: NOT_FOUND (or null for node), never data.
    let body = app
        .gql(
            Some(&token_a),
            "query($b:ID!){ account(id:$b){ name } }",
            json!({"b": b}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    for id in [
        &b,
        &seeded_b.contact,
        &seeded_b.conversation,
        &seeded_b.inbox,
        &seeded_b.channel,
    ] {
        let d = app
            .gql_ok(
                Some(&token_a),
                "query($id:ID!){ node(id:$id){ id } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(d["node"], Value::Null, "node {id} leaked");
    }
    let d = app
        .gql_ok(
            Some(&token_a),
            "{ accounts(first:10){ edges{ node{ name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(d["accounts"]["edges"], json!([{"node": {"name": "A"}}]));

    // Writes into B with A's token: NOT_FOUND user errors and nothing changes.
    let d = app
        .gql_ok(Some(&token_a), r#"mutation($b:ID!){ contactCreate(input:{accountId:$b, firstName:"Mallory"}){ contact{ id } userErrors{ field code } } }"#, json!({"b": b}))
        .await;
    assert_eq!(
        d["contactCreate"]["userErrors"],
        json!([{"field": ["input", "accountId"], "code": "NOT_FOUND"}])
    );
    let d = app
        .gql_ok(Some(&token_a), r#"mutation($c:ID!){ contactUpdate(input:{id:$c, firstName:"Mallory"}){ contact{ id } userErrors{ field code } } }"#, json!({"c": seeded_b.contact}))
        .await;
    assert_eq!(d["contactUpdate"]["userErrors"][0]["code"], "NOT_FOUND");
    let d = app
        .gql_ok(Some(&token_a), r#"mutation($c:ID!){ messageCreate(input:{conversationId:$c, content:"hi"}){ message{ id } userErrors{ code } } }"#, json!({"c": seeded_b.conversation}))
        .await;
    assert_eq!(d["messageCreate"]["userErrors"][0]["code"], "NOT_FOUND");
    // A conversation in A cannot use B's inbox or contact.
    let d = app
        .gql_ok(
            Some(&token_a),
            r#"mutation($a:ID!,$i:ID!,$c:ID!){ conversationCreate(input:{accountId:$a, inboxId:$i, contactId:$c}){ conversation{ id } userErrors{ field code } } }"#,
            json!({"a": a, "i": seeded_b.inbox, "c": seeded_b.contact}),
        )
        .await;
    assert_eq!(
        d["conversationCreate"]["userErrors"][0]["field"],
        json!(["input", "inboxId"])
    );
    let d = app
        .gql_ok(
            Some(&admin),
            "query($c:ID!){ node(id:$c){ ... on Contact{ firstName } } }",
            json!({"c": seeded_b.contact}),
        )
        .await;
    assert_eq!(d["node"]["firstName"], "John", "B's contact untouched");

    // API tokens cannot create accounts or other tokens; revoked tokens stop working.
    let body = app
        .gql(
            Some(&token_a),
            r#"mutation{ accountCreate(input:{name:"C"}){ account{ id } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app
        .gql(
            Some(&token_a),
            r#"mutation($a:ID!){ apiTokenCreate(input:{accountId:$a, name:"x"}){ token } }"#,
            json!({"a": a}),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let tok_id = app.gql_ok(Some(&admin), "query($a:ID!){ account(id:$a){ apiTokens(first:1){ edges{ node{ id lastUsedAt } } } } }", json!({"a": a})).await
        ["account"]["apiTokens"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.gql_ok(
        Some(&admin),
        "mutation($t:ID!){ apiTokenRevoke(input:{id:$t}){ apiToken{ revokedAt } } }",
        json!({"t": tok_id}),
    )
    .await;
    let body = app
        .gql(
            Some(&token_a),
            "{ accounts(first:1){ edges{ node{ id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn agents_work_conversations_but_cannot_manage_webhooks_tokens_or_channels() {
    let app = spawn_app!();
    let admin = app.admin_token().await;
    let a = app.create_account(&admin, "A").await;
    let seeded = app.seed_conversation(&admin, &a).await;
    let agent = app.user_token("agent@example.com", false).await;
    let outsider = app.user_token("outsider@example.com", false).await;
    let d = app
        .gql_ok(Some(&admin), r#"mutation($a:ID!){ membershipSet(input:{accountId:$a, email:"agent@example.com", role:AGENT}){ membership{ role user{ email } } userErrors{ code } } }"#, json!({"a": a}))
        .await;
    assert_eq!(d["membershipSet"]["membership"]["role"], "AGENT");

    // The agent reads and replies.
    let d = app.gql_ok(Some(&agent), "query($a:ID!){ account(id:$a){ viewerRole conversations(first:5){ edges{ node{ id } } } } }", json!({"a": a})).await;
    assert_eq!(d["account"]["viewerRole"], "AGENT");
    assert_eq!(
        d["account"]["conversations"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let d = app
        .gql_ok(Some(&agent), r#"mutation($c:ID!){ messageCreate(input:{conversationId:$c, content:"On it"}){ message{ senderType sender{ ... on User{ email } } } userErrors{ code } } }"#, json!({"c": seeded.conversation}))
        .await;
    assert_eq!(
        d["messageCreate"]["message"]["sender"]["email"],
        "agent@example.com"
    );

    // …but cannot manage webhooks, tokens, channels or inboxes.
    let forbidden = [
        (
            r#"mutation($a:ID!){ webhookSubscriptionCreate(input:{accountId:$a, url:"https://example.com/h", events:["message_created"]}){ secret } }"#,
            json!({"a": a}),
        ),
        (
            r#"mutation($a:ID!){ apiTokenCreate(input:{accountId:$a, name:"t"}){ token } }"#,
            json!({"a": a}),
        ),
        (
            r#"mutation($a:ID!){ channelCreate(input:{accountId:$a, kind:SMS, name:"s"}){ channel{ id } } }"#,
            json!({"a": a}),
        ),
        (
            r#"mutation($c:ID!){ channelDelete(input:{id:$c}){ deletedId } }"#,
            json!({"c": seeded.channel}),
        ),
        (
            r#"mutation($i:ID!){ inboxUpdate(input:{id:$i, name:"x"}){ inbox{ id } } }"#,
            json!({"i": seeded.inbox}),
        ),
        (
            r#"query($a:ID!){ account(id:$a){ webhookSubscriptions(first:1){ edges{ cursor } } } }"#,
            json!({"a": a}),
        ),
        (
            r#"query($a:ID!){ account(id:$a){ apiTokens(first:1){ edges{ cursor } } } }"#,
            json!({"a": a}),
        ),
    ];
    for (q, v) in forbidden {
        let body = app.gql(Some(&agent), q, v).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{q}: {body}");
    }
    // A user of no account sees nothing.
    let body = app
        .gql(
            Some(&outsider),
            "query($a:ID!){ account(id:$a){ name } }",
            json!({"a": a}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
}

#[tokio::test]
async fn users_change_their_own_profile_and_platform_admins_manage_users() {
    let app = spawn_app!();
    let admin = app.admin_token().await;
    let agent = app.user_token("agent@example.com", false).await;
    let agent_id = app
        .gql_ok(Some(&agent), "{ viewer { user { id } } }", json!({}))
        .await["viewer"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin_id = app
        .gql_ok(Some(&admin), "{ viewer { user { id } } }", json!({}))
        .await["viewer"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let upd = "mutation($i:ID!,$n:String,$p:String,$a:Boolean){ userUpdate(input:{id:$i, name:$n, password:$p, isPlatformAdmin:$a}){ user{ name isPlatformAdmin } userErrors{ field code } } }";

    let d = app
        .gql_ok(
            Some(&agent),
            upd,
            json!({"i": agent_id, "n": "Agent Smith", "p": "new password 1"}),
        )
        .await;
    assert_eq!(d["userUpdate"]["user"]["name"], "Agent Smith");
    let d = app
        .gql_ok(Some(&agent), upd, json!({"i": agent_id, "a": true}))
        .await;
    assert_eq!(
        d["userUpdate"]["userErrors"][0]["code"], "NOT_ALLOWED",
        "no self-promotion"
    );
    let d = app
        .gql_ok(Some(&agent), upd, json!({"i": admin_id, "n": "pwned"}))
        .await;
    assert_eq!(d["userUpdate"]["userErrors"][0]["code"], "NOT_FOUND");
    let d = app
        .gql_ok(Some(&agent), upd, json!({"i": agent_id, "p": "short"}))
        .await;
    assert_eq!(d["userUpdate"]["userErrors"][0]["code"], "TOO_SHORT");
    let body = app
        .gql(
            None,
            r#"mutation{ login(email:"agent@example.com", password:"new password 1"){ token } }"#,
            json!({}),
        )
        .await;
    assert!(
        body["data"]["login"]["token"].is_string(),
        "the new password works: {body}"
    );

    let del = "mutation($i:ID!){ userDelete(input:{id:$i}){ deletedId userErrors{ code } } }";
    let body = app.gql(Some(&agent), del, json!({"i": admin_id})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let d = app.gql_ok(Some(&admin), del, json!({"i": admin_id})).await;
    assert_eq!(
        d["userDelete"]["userErrors"][0]["code"], "NOT_ALLOWED",
        "not yourself"
    );
    let d = app.gql_ok(Some(&admin), del, json!({"i": agent_id})).await;
    assert_eq!(d["userDelete"]["deletedId"], agent_id);
    let body = app
        .gql(Some(&agent), "{ viewer { isPlatformAdmin } }", json!({}))
        .await;
    assert_eq!(
        error_code(&body),
        "UNAUTHENTICATED",
        "a deleted user's token stops working"
    );
}
