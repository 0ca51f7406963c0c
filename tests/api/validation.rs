//! Bad input gets a clear error and stores nothing.

use serde_json::json;

use crate::{
    helpers::{error_code, user_error_codes},
    spawn_app,
};

#[tokio::test]
async fn invalid_fields_come_back_as_user_errors_and_store_nothing() {
    let app = spawn_app!();
    let admin = app.admin_token().await;
    let a = app.create_account(&admin, "A").await;
    let seeded = app.seed_conversation(&admin, &a).await;
    let long = "x".repeat(300);

    let d = app
        .gql_ok(
            Some(&admin),
            r#"mutation($a:ID!,$long:String!){ contactCreate(input:{accountId:$a, firstName:$long, email:"not-an-email", phoneNumber:"12ab", avatarUrl:"ftp://x/y.png", customAttributes:[1,2]}){ contact{ id } userErrors{ field message code } } }"#,
            json!({"a": a, "long": long}),
        )
        .await;
    let p = &d["contactCreate"];
    assert!(p["contact"].is_null());
    let fields: Vec<String> = p["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"][1].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        fields,
        [
            "firstName",
            "phoneNumber",
            "email",
            "avatarUrl",
            "customAttributes"
        ],
        "{p}"
    );
    assert_eq!(
        user_error_codes(p),
        ["TOO_LONG", "INVALID", "INVALID", "INVALID", "INVALID"]
    );

    let d = app
        .gql_ok(Some(&admin), r#"mutation($a:ID!){ channelCreate(input:{accountId:$a, kind:SMS, name:"  ", webhookUrl:"javascript:alert(1)", country:"N1"}){ channel{ id } userErrors{ field code } } }"#, json!({"a": a}))
        .await;
    assert_eq!(
        user_error_codes(&d["channelCreate"]),
        ["BLANK", "INVALID", "INVALID"]
    );

    let cases = [
        (
            r#"mutation($a:ID!){ webhookSubscriptionCreate(input:{accountId:$a, url:"https://example.com/h", events:["nope"]}){ secret userErrors{ field code } } }"#,
            "webhookSubscriptionCreate",
            "INVALID",
        ),
        (
            r#"mutation($a:ID!){ webhookSubscriptionCreate(input:{accountId:$a, url:"https://example.com/h", events:[]}){ secret userErrors{ field code } } }"#,
            "webhookSubscriptionCreate",
            "BLANK",
        ),
        (
            r#"mutation($a:ID!){ webhookSubscriptionCreate(input:{accountId:$a, url:"https://example.com/h", events:["conversation_created"], format:FLAT_MESSAGE}){ secret userErrors{ field code } } }"#,
            "webhookSubscriptionCreate",
            "NOT_ALLOWED",
        ),
        (
            r#"mutation($a:ID!){ webhookSubscriptionCreate(input:{accountId:$a, url:"https://example.com/h", events:["message_created"], headers:[{name:"webhook-signature", value:"x"}]}){ secret userErrors{ field code } } }"#,
            "webhookSubscriptionCreate",
            "NOT_ALLOWED",
        ),
        (
            r#"mutation($a:ID!){ webhookSubscriptionCreate(input:{accountId:$a, url:"notaurl", events:["message_created"]}){ secret userErrors{ field code } } }"#,
            "webhookSubscriptionCreate",
            "INVALID",
        ),
        (
            r#"mutation($a:ID!){ inboxCreate(input:{accountId:$a, channelId:"gid://switchboard/Channel/99999", name:"x"}){ inbox{ id } userErrors{ field code } } }"#,
            "inboxCreate",
            "NOT_FOUND",
        ),
        (
            r#"mutation($a:ID!){ inboxCreate(input:{accountId:$a, channelId:"gid://switchboard/Inbox/1", name:"x"}){ inbox{ id } userErrors{ field code } } }"#,
            "inboxCreate",
            "INVALID",
        ),
        (
            r#"mutation($a:ID!){ apiTokenCreate(input:{accountId:$a, name:"t", expiresAt:"2000-01-01T00:00:00Z"}){ token userErrors{ field code } } }"#,
            "apiTokenCreate",
            "INVALID",
        ),
    ];
    for (q, field, code) in cases {
        let d = app.gql_ok(Some(&admin), q, json!({"a": a})).await;
        assert_eq!(
            user_error_codes(&d[field]).first().map(String::as_str),
            Some(code),
            "{q}: {d}"
        );
    }
    let d = app
        .gql_ok(Some(&admin), r#"mutation($c:ID!){ messageCreate(input:{conversationId:$c, content:"   "}){ message{ id } userErrors{ field code } } }"#, json!({"c": seeded.conversation}))
        .await;
    assert_eq!(user_error_codes(&d["messageCreate"]), ["BLANK"]);
    let d = app
        .gql_ok(Some(&admin), r#"mutation($c:ID!){ messageCreate(input:{conversationId:$c, contentType:IMAGE}){ message{ id } userErrors{ field code } } }"#, json!({"c": seeded.conversation}))
        .await;
    assert_eq!(user_error_codes(&d["messageCreate"]), ["BLANK"]);

    // Nothing of the above was stored.
    let d = app
        .gql_ok(
            Some(&admin),
            "query($a:ID!){ account(id:$a){ contacts(first:50){ edges{ cursor } } channels(first:50){ edges{ cursor } } inboxes(first:50){ edges{ cursor } } webhookSubscriptions(first:50){ edges{ cursor } } apiTokens(first:50){ edges{ cursor } } } }",
            json!({"a": a}),
        )
        .await;
    let count = |k: &str| d["account"][k]["edges"].as_array().unwrap().len();
    assert_eq!(
        (
            count("contacts"),
            count("channels"),
            count("inboxes"),
            count("webhookSubscriptions"),
            count("apiTokens")
        ),
        (1, 1, 1, 0, 0)
    );
    let d = app.gql_ok(Some(&admin), "query($c:ID!){ node(id:$c){ ... on Conversation{ messages(first:5){ edges{ cursor } } } } }", json!({"c": seeded.conversation})).await;
    assert!(
        d["node"]["messages"]["edges"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn malformed_requests_get_errors_not_panics() {
    let app = spawn_app!();
    let admin = app.admin_token().await;
    // Unknown enum value and wrong id kind are GraphQL validation errors.
    let body = app.gql(Some(&admin), r#"mutation{ channelCreate(input:{accountId:"x", kind:FAX, name:"n"}){ channel{ id } } }"#, json!({})).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("FAX"),
        "{body}"
    );
    let body = app
        .gql(
            Some(&admin),
            r#"{ account(id:"gid://switchboard/Inbox/1"){ name } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let body = app
        .gql(
            Some(&admin),
            r#"{ account(id:"gid://switchboard/Account/99999"){ name } }"#,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");

    // Malformed JSON and oversized bodies are refused with a 4xx.
    let r = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let big = format!(
        r#"{{"query":"{{ setupStatus {{ version }} }}","variables":{{"pad":"{}"}}}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let r = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);

    // Too deep a query is refused before it runs.
    let deep = "{ viewer { user { id } } }".to_string();
    assert!(app.gql(Some(&admin), &deep, json!({})).await["errors"].is_null());
    let mut q = String::from("id");
    for _ in 0..3 {
        q = format!(
            "conversations(first:1){{ edges{{ node{{ contact{{ conversations(first:1){{ edges{{ node{{ {q} }} }} }} }} }} }} }}"
        );
    }
    let body = app
        .gql(
            Some(&admin),
            &format!("{{ accounts(first:1){{ edges{{ node{{ {q} }} }} }} }}"),
            json!({}),
        )
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("nested too deep"),
        "{body}"
    );
}
