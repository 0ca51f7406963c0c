//! Partner webhook API (seed 003): credentials from `partnerCreate`, access tokens, setting and
//! reading the one webhook with every reason code, and partner events reaching only the
//! partner they are for.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, error_code, fast_delivery, user_error_codes},
    spawn_app,
};

const PARTNER_CREATE: &str = "mutation($a:ID!,$n:String!,$w:String){ partnerCreate(input:{accountId:$a, name:$n, whatsappReference:$w, builderReference:\"b-ref\", onlineReference:\"o-ref\"}){ partner{ id clientId name whatsappReference } clientSecret userErrors{ field code } } }";

struct Creds {
    id: String,
    client_id: String,
    client_secret: String,
}

async fn create_partner(app: &TestApp, token: &str, account: &str, name: &str) -> Creds {
    let d = app
        .gql_ok(
            Some(token),
            PARTNER_CREATE,
            json!({"a": account, "n": name, "w": format!("{name}-wa")}),
        )
        .await;
    let p = &d["partnerCreate"];
    assert_eq!(p["userErrors"], json!([]));
    Creds {
        id: p["partner"]["id"].as_str().unwrap().into(),
        client_id: p["partner"]["clientId"].as_str().unwrap().into(),
        client_secret: p["clientSecret"].as_str().unwrap().into(),
    }
}

async fn post(app: &TestApp, path: &str, bearer: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.expect("JSON body"))
}

async fn get(app: &TestApp, path: &str, bearer: Option<&str>) -> (StatusCode, Value) {
    let mut req = app.client.get(app.url(path));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.expect("JSON body"))
}

async fn access_token(app: &TestApp, c: &Creds) -> String {
    let (status, body) = post(
        app,
        "/partner/v1/token",
        None,
        &json!({"client_id": c.client_id, "client_secret": c.client_secret}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn partners_get_tokens_and_set_their_one_webhook_with_documented_reasons() {
    let app = spawn_app!(fast_delivery);
    let admin = app.admin_token().await;
    let account = app.create_account(&admin, "Acme").await;

    // Validation of partnerCreate; agents and strangers cannot create partners.
    let d = app
        .gql_ok(
            Some(&admin),
            PARTNER_CREATE,
            json!({"a": account, "n": " ", "w": "x".repeat(256)}),
        )
        .await;
    assert_eq!(
        user_error_codes(&d["partnerCreate"]),
        vec!["BLANK", "TOO_LONG"]
    );
    let agent = app.user_token("agent@example.com", false).await;
    let d = app
        .gql_ok(
            Some(&agent),
            PARTNER_CREATE,
            json!({"a": account, "n": "p", "w": null}),
        )
        .await;
    assert_eq!(user_error_codes(&d["partnerCreate"]), vec!["NOT_FOUND"]);

    let p = create_partner(&app, &admin, &account, "alpha").await;
    assert!(p.client_id.starts_with("sbp_") && p.client_secret.starts_with("sbps_"));

    // Token endpoint: malformed, unknown, wrong secret, then right.
    let (s, b) = post(&app, "/partner/v1/token", None, "{not json").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (s, b) = post(
        &app,
        "/partner/v1/token",
        None,
        &json!({"client_id": p.client_id, "client_secret": "sbps_wrong"}).to_string(),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (s, _) = post(
        &app,
        "/partner/v1/token",
        None,
        &json!({"client_id": "sbp_nobody", "client_secret": p.client_secret}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let token = access_token(&app, &p).await;

    // Nothing set yet.
    let (s, b) = get(&app, "/partner/v1/webhook", Some(&token)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        b,
        json!({"status": "FAIL", "url": null, "reason": 7, "message": "no webhook has been set yet"})
    );

    // Missing, malformed and foreign tokens: 401, reason 8, nothing changes.
    let good = json!({"url": "http://127.0.0.1:9/partner"}).to_string();
    for bearer in [
        None,
        Some("garbage"),
        Some(admin.as_str()),
        Some(&token[..token.len() - 2]),
    ] {
        let (s, b) = post(&app, "/partner/v1/webhook", bearer, &good).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{bearer:?}");
        assert_eq!(
            (b["status"].as_str(), b["reason"].as_u64()),
            (Some("FAIL"), Some(8))
        );
        let (s, b) = get(&app, "/partner/v1/webhook", bearer).await;
        assert_eq!(
            (s, b["reason"].as_u64()),
            (StatusCode::UNAUTHORIZED, Some(8))
        );
    }
    // A user's login token is not a partner token, and a partner token is not a login token.
    let body = app
        .gql(Some(&token), "{ viewer { user { id } } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");

    // Every refusal, with its reason code; nothing is stored.
    let long = format!("https://example.com/{}", "a".repeat(500));
    let cases: Vec<(String, u64)> = vec![
        ("{}".into(), 2),
        ("not json".into(), 2),
        (json!({"url": 5}).to_string(), 2),
        (json!({"url": "your-webhook.example.com"}).to_string(), 3),
        (json!({"url": long}).to_string(), 4),
        (json!({"url": "ftp://example.com/hook"}).to_string(), 5),
        (json!({"url": "http://10.0.0.1/hook"}).to_string(), 6),
        (
            json!({"url": "http://[::ffff:10.0.0.1]/hook"}).to_string(),
            6,
        ),
    ];
    for (body, reason) in cases {
        let (s, b) = post(&app, "/partner/v1/webhook", Some(&token), &body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            (b["status"].as_str(), b["reason"].as_u64()),
            (Some("FAIL"), Some(reason)),
            "{body}: {b}"
        );
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (s, _) = get(&app, "/partner/v1/webhook", Some(&token)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "refusals stored nothing");

    // Set, read back, replace.
    let (s, b) = post(&app, "/partner/v1/webhook", Some(&token), &good).await;
    assert_eq!(
        (s, b.clone()),
        (
            StatusCode::OK,
            json!({"status": "OK", "url": "http://127.0.0.1:9/partner", "reason": 1})
        )
    );
    let (s, b) = get(&app, "/partner/v1/webhook", Some(&token)).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::OK,
            json!({"status": "OK", "url": "http://127.0.0.1:9/partner", "reason": 1})
        )
    );
    let (_, b) = post(
        &app,
        "/partner/v1/webhook",
        Some(&token),
        &json!({"url": "http://127.0.0.1:9/v2"}).to_string(),
    )
    .await;
    assert_eq!(b["url"], "http://127.0.0.1:9/v2");

    // Operators see it as a PARTNER subscription of the account, one per partner.
    let d = app
        .gql_ok(
            Some(&admin),
            "query($a:ID!){ account(id:$a){ webhookSubscriptions(first:10){ edges{ node{ url format events } } } partners(first:5){ edges{ node{ clientId webhookSubscription{ url } } } } } }",
            json!({"a": account}),
        )
        .await;
    let subs = d["account"]["webhookSubscriptions"]["edges"]
        .as_array()
        .unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["node"]["format"], "PARTNER");
    assert_eq!(subs[0]["node"]["url"], "http://127.0.0.1:9/v2");
    assert_eq!(
        subs[0]["node"]["events"],
        json!(["whatsapp", "builder", "online"])
    );
    assert_eq!(
        d["account"]["partners"]["edges"][0]["node"]["webhookSubscription"]["url"],
        "http://127.0.0.1:9/v2"
    );

    // A second partner does not see the first one's webhook.
    let q = create_partner(&app, &admin, &account, "beta").await;
    let token_q = access_token(&app, &q).await;
    let (s, _) = get(&app, "/partner/v1/webhook", Some(&token_q)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Deleting a partner ends its tokens and removes its webhook.
    app.gql_ok(
        Some(&admin),
        "mutation($i:ID!){ partnerDelete(input:{id:$i}){ deletedId } }",
        json!({"i": p.id}),
    )
    .await;
    let (s, b) = get(&app, "/partner/v1/webhook", Some(&token)).await;
    assert_eq!(
        (s, b["reason"].as_u64()),
        (StatusCode::UNAUTHORIZED, Some(8))
    );
    let d = app
        .gql_ok(
            Some(&admin),
            "query($a:ID!){ account(id:$a){ webhookSubscriptions(first:10){ edges{ node{ id } } } } }",
            json!({"a": account}),
        )
        .await;
    assert_eq!(d["account"]["webhookSubscriptions"]["edges"], json!([]));
}

#[tokio::test]
async fn partner_tokens_expire() {
    let app = spawn_app!(|c: &mut switchboard::config::Config| {
        fast_delivery(c);
        c.partner_token_ttl = Duration::from_secs(1);
    });
    let admin = app.admin_token().await;
    let account = app.create_account(&admin, "Acme").await;
    let p = create_partner(&app, &admin, &account, "alpha").await;
    let token = access_token(&app, &p).await;
    let (s, _) = get(&app, "/partner/v1/webhook", Some(&token)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "valid token, nothing set");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, b) = get(&app, "/partner/v1/webhook", Some(&token)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(b["message"].as_str().unwrap().contains("expired"), "{b}");
}

/// Body of every request the receiver got on `path`, in arrival order.
fn bodies(rx: &crate::receiver::Receiver, path: &str) -> Vec<Value> {
    rx.received()
        .into_iter()
        .filter(|r| r.path == path)
        .map(|r| r.json())
        .collect()
}

#[tokio::test]
async fn partner_events_follow_graphql_changes_and_reach_only_their_partner() {
    let app = spawn_app!(|c: &mut switchboard::config::Config| {
        fast_delivery(c);
        c.server_name = "online".into();
        c.public_url = Some("https://sb.example.com/".into());
    });
    let rx = crate::receiver::Receiver::start().await;
    let admin = app.admin_token().await;
    let account = app.create_account(&admin, "Acme").await;
    let a = create_partner(&app, &admin, &account, "alpha").await;
    let b = create_partner(&app, &admin, &account, "beta").await;
    for (p, path) in [(&a, "/alpha"), (&b, "/beta")] {
        let t = access_token(&app, p).await;
        let (s, _) = post(
            &app,
            "/partner/v1/webhook",
            Some(&t),
            &json!({"url": rx.url(path)}).to_string(),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
    // Another account's partner hears nothing of this account.
    let other = app.create_account(&admin, "Other").await;
    let c = create_partner(&app, &admin, &other, "gamma").await;
    let t = access_token(&app, &c).await;
    post(
        &app,
        "/partner/v1/webhook",
        Some(&t),
        &json!({"url": rx.url("/gamma")}).to_string(),
    )
    .await;

    // WhatsApp onboarding finished: code 1 with daily limit and API key.
    let d = app
        .gql_ok(
            Some(&admin),
            r#"mutation($a:ID!){ channelCreate(input:{accountId:$a, kind:WHATSAPP, name:"Sales", phone:"+972 50-123-4567", dailyLimit:1000, credentials:{apiKey:"123-456-789"}}){ channel{ id dailyLimit } userErrors{ field code } } }"#,
            json!({"a": account}),
        )
        .await;
    assert_eq!(d["channelCreate"]["channel"]["dailyLimit"], 1000);
    let channel = d["channelCreate"]["channel"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Not a WhatsApp line: no partner event.
    app.gql_ok(
        Some(&admin),
        r#"mutation($a:ID!){ channelCreate(input:{accountId:$a, kind:WEB_WIDGET, name:"Site"}){ channel{ id } } }"#,
        json!({"a": account}),
    )
    .await;
    rx.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        bodies(&rx, "/alpha"),
        vec![
            json!({"status": "OK", "event": "whatsapp", "whatsapp": "972501234567",
            "whatsapp_reference": "alpha-wa", "whatsapp_extra_info": 1, "daily_limit": 1000,
            "whatsapp_apiKey": "123-456-789"})
        ]
    );
    assert_eq!(bodies(&rx, "/beta")[0]["whatsapp_reference"], "beta-wa");
    // The partner is sent the key; the delivery and its logged attempt show it redacted.
    let d = app
        .eventually(
            &admin,
            "query($a:ID!){ account(id:$a){ deliveries(first:10, event:\"whatsapp\"){ edges{ node{ payload attempts(first:5){ edges{ node{ requestBody } } } } } } } }",
            json!({"a": account}),
            Duration::from_secs(10),
            |d| {
                let e = d["account"]["deliveries"]["edges"].as_array().unwrap();
                e.len() == 2
                    && e.iter().all(|n| {
                        n["node"]["attempts"]["edges"]
                            .as_array()
                            .is_some_and(|a| a.len() == 1)
                    })
            },
        )
        .await;
    for e in d["account"]["deliveries"]["edges"].as_array().unwrap() {
        let payload: Value = serde_json::from_str(e["node"]["payload"].as_str().unwrap()).unwrap();
        let logged: Value = serde_json::from_str(
            e["node"]["attempts"]["edges"][0]["node"]["requestBody"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        for shown in [payload, logged] {
            assert_eq!(shown["whatsapp_apiKey"], "[redacted]", "{shown}");
            assert_eq!(shown["daily_limit"], 1000);
        }
    }

    // The line goes inactive (4: no limit, no key), then comes back (3: limit and key again).
    for status in ["INACTIVE", "ACTIVE"] {
        app.gql_ok(
            Some(&admin),
            &format!("mutation($c:ID!){{ channelUpdate(input:{{id:$c, status:{status}}}){{ channel{{ id }} }} }}"),
            json!({"c": channel}),
        )
        .await;
    }
    // A change that is not a status change: nothing.
    app.gql_ok(
        Some(&admin),
        r#"mutation($c:ID!){ channelUpdate(input:{id:$c, name:"Sales 2"}){ channel{ id } } }"#,
        json!({"c": channel}),
    )
    .await;

    // A story is created, then published: builder 1 and 2.
    let d = app
        .gql_ok(
            Some(&admin),
            r#"mutation($a:ID!){ storyCreate(input:{accountId:$a, name:"Welcome flow"}){ story{ id databaseId url status } userErrors{ code } } }"#,
            json!({"a": account}),
        )
        .await;
    let story = d["storyCreate"]["story"].clone();
    assert_eq!(story["status"], "DRAFT");
    let story_db_id = story["databaseId"].as_i64().unwrap();
    assert_eq!(
        story["url"],
        format!("https://sb.example.com/#/stories/{story_db_id}")
    );
    app.gql_ok(
        Some(&admin),
        r#"mutation($s:ID!){ storyUpdate(input:{id:$s, status:PUBLISHED}){ story{ status publishedAt } } }"#,
        json!({"s": story["id"]}),
    )
    .await;

    // An agent goes online, says so again (no change), then offline: online 1 and 2.
    let seeded_inbox = {
        let d = app
            .gql_ok(
                Some(&admin),
                r#"mutation($a:ID!,$c:ID!){ inboxCreate(input:{accountId:$a, channelId:$c, name:"Support"}){ inbox{ id databaseId } } }"#,
                json!({"a": account, "c": channel}),
            )
            .await;
        d["inboxCreate"]["inbox"].clone()
    };
    let agent = app.user_token("agent@example.com", false).await;
    app.gql_ok(
        Some(&admin),
        r#"mutation($a:ID!){ membershipSet(input:{accountId:$a, email:"agent@example.com", role:AGENT}){ membership{ role } } }"#,
        json!({"a": account}),
    )
    .await;
    for online in [true, true, false] {
        let d = app
            .gql_ok(
                Some(&agent),
                "mutation($i:ID!,$o:Boolean!){ agentPresenceSet(input:{inboxId:$i, online:$o}){ agentPresence{ online userId } userErrors{ code } } }",
                json!({"i": seeded_inbox["id"], "o": online}),
            )
            .await;
        assert_eq!(d["agentPresenceSet"]["agentPresence"]["online"], online);
    }
    // An agent cannot set someone else's presence.
    let d = app
        .gql(
            Some(&agent),
            "mutation($i:ID!,$u:ID!){ agentPresenceSet(input:{inboxId:$i, userId:$u, online:true}){ userErrors{ code } } }",
            json!({"i": seeded_inbox["id"], "u": "gid://switchboard/User/1"}),
        )
        .await;
    assert!(
        body_has_code(&d, "FORBIDDEN"),
        "agents set only their own presence: {d}"
    );

    // Story deleted: builder 4. WhatsApp line deleted: whatsapp 6.
    app.gql_ok(
        Some(&admin),
        "mutation($s:ID!){ storyDelete(input:{id:$s}){ deletedId } }",
        json!({"s": story["id"]}),
    )
    .await;
    app.gql_ok(
        Some(&admin),
        "mutation($c:ID!){ channelDelete(input:{id:$c}){ deletedId } }",
        json!({"c": channel}),
    )
    .await;

    let per_partner = 9;
    rx.wait_for(2 * per_partner, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = bodies(&rx, "/alpha");
    let summary: Vec<(String, u64)> = got
        .iter()
        .map(|b| {
            let code = [
                "whatsapp_extra_info",
                "builder_extra_info",
                "online_extra_info",
            ]
            .iter()
            .find_map(|k| b[*k].as_u64())
            .unwrap();
            (b["event"].as_str().unwrap().to_string(), code)
        })
        .collect();
    let expected: Vec<(String, u64)> = [
        ("whatsapp", 1),
        ("whatsapp", 4),
        ("whatsapp", 3),
        ("builder", 1),
        ("builder", 2),
        ("online", 1),
        ("online", 2),
        ("builder", 4),
        ("whatsapp", 6),
    ]
    .iter()
    .map(|(e, c)| (e.to_string(), *c))
    .collect();
    assert_eq!(summary, expected, "{got:#?}");
    assert_eq!(got[1].get("daily_limit"), None, "code 4 has no daily_limit");
    assert_eq!(got[1].get("whatsapp_apiKey"), None);
    assert_eq!(got[2]["daily_limit"], 1000);
    assert_eq!(
        got[3],
        json!({"status": "OK", "event": "builder", "builderID": story_db_id,
            "builder_url": format!("https://sb.example.com/#/stories/{story_db_id}"),
            "builder_reference": "b-ref", "builder_extra_info": 1})
    );
    assert_eq!(got[5]["server"], "online");
    assert_eq!(got[5]["online_reference"], "o-ref");
    assert_eq!(got[5]["inboxID"], seeded_inbox["databaseId"]);
    assert!(got[5]["accountID"].as_i64().is_some() && got[5]["agentID"].as_i64().is_some());
    assert_eq!(bodies(&rx, "/beta").len(), per_partner);
    assert!(
        bodies(&rx, "/gamma").is_empty(),
        "another account's partner heard nothing"
    );
}

fn body_has_code(body: &Value, code: &str) -> bool {
    body.to_string().contains(&format!("\"{code}\""))
}
