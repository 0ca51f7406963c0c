//! The whole object graph, created and read back through GraphQL.

use serde_json::json;

use crate::spawn_app;

#[tokio::test]
async fn an_operator_builds_the_whole_object_graph_and_reads_it_back() {
    let app = spawn_app!();
    let admin = app.admin_token().await;
    let account = app.create_account(&admin, "Acme").await;

    let d = app
        .gql_ok(
            Some(&admin),
            r#"mutation($a:ID!){ channelCreate(input:{accountId:$a, kind:WHATSAPP, name:"Main line", phone:"+972 50-123-4567",
                 identifier:"Identifier", provider:"meta", country:"ng", env:TEST, description:"Whatsapp Channel",
                 webhookUrl:"https://webhook.example.com/in", credentials:{apiKey:"k-123"}}){
                 channel{ id kind name phone country env status webhookUrl hasCredentials } userErrors{ field message code } } }"#,
            json!({"a": account}),
        )
        .await;
    let ch = &d["channelCreate"]["channel"];
    assert_eq!(ch["phone"], "+972501234567", "phone normalized");
    assert_eq!(ch["country"], "NG");
    assert_eq!(ch["env"], "TEST");
    assert_eq!(ch["status"], "ACTIVE");
    assert_eq!(ch["hasCredentials"], true);
    let channel = ch["id"].as_str().unwrap();

    let inbox = app
        .gql_ok(
            Some(&admin),
            r#"mutation($a:ID!,$c:ID!){ inboxCreate(input:{accountId:$a, channelId:$c, name:"Support"}){ inbox{ id } } }"#,
            json!({"a": account, "c": channel}),
        )
        .await["inboxCreate"]["inbox"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let d = app
        .gql_ok(
            Some(&admin),
            r#"mutation($a:ID!){ contactCreate(input:{accountId:$a, firstName:"John", lastName:"Doe", phoneNumber:"1234567890",
                 email:"John.Doe@Example.com", customAttributes:{plan:"gold"}, tags:["Customer","vip","Customer"],
                 meta:[{key:"address", value:"123 Main St, Anytown, USA"}]}){ contact{ id name email tags{ name } meta{ key value } } userErrors{ message } } }"#,
            json!({"a": account}),
        )
        .await;
    let c = &d["contactCreate"]["contact"];
    assert_eq!(c["email"], "john.doe@example.com");
    assert_eq!(c["name"], "John Doe");
    assert_eq!(c["tags"], json!([{"name": "Customer"}, {"name": "vip"}]));
    assert_eq!(
        c["meta"],
        json!([{"key": "address", "value": "123 Main St, Anytown, USA"}])
    );
    let contact = c["id"].as_str().unwrap();

    let d = app
        .gql_ok(
            Some(&admin),
            r#"mutation($a:ID!,$i:ID!,$c:ID!){ conversationCreate(input:{accountId:$a, inboxId:$i, contactId:$c, sourceId:"wa-1234567890",
                 departmentId:1, goalId:2, metadata:{key:"value"}, reason:"User initiated"}){ conversation{ id status sourceId startedAt } userErrors{ message } } }"#,
            json!({"a": account, "i": inbox, "c": contact}),
        )
        .await;
    let conv = &d["conversationCreate"]["conversation"];
    assert_eq!(conv["status"], "OPEN");
    assert_eq!(conv["sourceId"], "wa-1234567890");
    assert!(conv["startedAt"].is_string());
    let conversation = conv["id"].as_str().unwrap();

    for (kind, text) in [("INCOMING", "Hello, world!"), ("OUTGOING", "Hi John")] {
        let d = app
            .gql_ok(
                Some(&admin),
                r#"mutation($c:ID!,$t:MessageType!,$x:String!){ messageCreate(input:{conversationId:$c, messageType:$t, content:$x}){ message{ id senderType deliveryStatus } userErrors{ message } } }"#,
                json!({"c": conversation, "t": kind, "x": text}),
            )
            .await;
        assert_eq!(d["messageCreate"]["message"]["deliveryStatus"], "SENT");
    }

    let d = app
        .gql_ok(
            Some(&admin),
            r#"mutation($c:ID!){ conversationUpdate(input:{id:$c, status:RESOLVED}){ conversation{ status endedAt } userErrors{ message } } }"#,
            json!({"c": conversation}),
        )
        .await;
    assert_eq!(
        d["conversationUpdate"]["conversation"]["status"],
        "RESOLVED"
    );
    assert!(d["conversationUpdate"]["conversation"]["endedAt"].is_string());

    let d = app
        .gql_ok(
            Some(&admin),
            r#"query($a:ID!){ account(id:$a){ name
                 channels(first:10){ edges{ node{ name } } }
                 inboxes(first:10){ edges{ node{ name channel{ name kind } } } }
                 conversations(first:10, status:RESOLVED){ edges{ node{ status unreadCount departmentId goalId metadata reason
                    inbox{ name } contact{ firstName tags{ name } meta{ key } }
                    lastMessage{ content messageType sender{ __typename ... on User{ email } } }
                    messages(first:10){ edges{ node{ content messageType senderType sender{ __typename ... on Contact{ firstName } } } } } } } } } }"#,
            json!({"a": account}),
        )
        .await;
    let acc = &d["account"];
    assert_eq!(acc["name"], "Acme");
    assert_eq!(
        acc["inboxes"]["edges"][0]["node"]["channel"],
        json!({"name": "Main line", "kind": "WHATSAPP"})
    );
    let conv = &acc["conversations"]["edges"][0]["node"];
    assert_eq!(conv["unreadCount"], 1, "one incoming message");
    assert_eq!(conv["metadata"], json!({"key": "value"}));
    assert_eq!(conv["contact"]["tags"][1]["name"], "vip");
    assert_eq!(conv["lastMessage"]["content"], "Hi John");
    assert_eq!(
        conv["lastMessage"]["sender"],
        json!({"__typename": "User", "email": "admin@example.com"})
    );
    let msgs = conv["messages"]["edges"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["node"]["senderType"], "CONTACT");
    assert_eq!(msgs[0]["node"]["sender"]["firstName"], "John");

    // The same objects through node(id:).
    let d = app
        .gql_ok(
            Some(&admin),
            "query($id:ID!){ node(id:$id){ id ... on Contact { email } } }",
            json!({"id": contact}),
        )
        .await;
    assert_eq!(d["node"]["email"], "john.doe@example.com");

    // Message delivery status moves forward only.
    let msg_id = app
        .gql_ok(Some(&admin), "query($c:ID!){ node(id:$c){ ... on Conversation { messages(first:1){ edges{ node{ id } } } } } }", json!({"c": conversation}))
        .await["node"]["messages"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (to, ok) in [("DELIVERED", true), ("READ", true), ("DELIVERED", false)] {
        let d = app
            .gql_ok(
                Some(&admin),
                "mutation($m:ID!,$s:MessageDeliveryStatus!){ messageUpdate(input:{id:$m, deliveryStatus:$s}){ message{ deliveryStatus } userErrors{ code } } }",
                json!({"m": msg_id, "s": to}),
            )
            .await;
        assert_eq!(
            d["messageUpdate"]["userErrors"]
                .as_array()
                .unwrap()
                .is_empty(),
            ok,
            "{to}: {d}"
        );
    }
}

#[tokio::test]
async fn connections_page_through_every_row_once_in_stable_order() {
    let app = spawn_app!();
    let admin = app.admin_token().await;
    let account = app.create_account(&admin, "Paged").await;
    for i in 0..25 {
        app.gql_ok(
            Some(&admin),
            "mutation($a:ID!,$n:String!){ contactCreate(input:{accountId:$a, firstName:$n}){ contact{ id } } }",
            json!({"a": account, "n": format!("c{i:02}")}),
        )
        .await;
    }
    let mut after: Option<String> = None;
    let mut names = vec![];
    let mut pages = 0;
    loop {
        let d = app
            .gql_ok(
                Some(&admin),
                "query($a:ID!,$after:String){ account(id:$a){ contacts(first:10, after:$after){ edges{ cursor node{ firstName } } pageInfo{ hasNextPage endCursor } } } }",
                json!({"a": account, "after": after}),
            )
            .await;
        let c = &d["account"]["contacts"];
        names.extend(
            c["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["firstName"].as_str().unwrap().to_string()),
        );
        pages += 1;
        if !c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = c["pageInfo"]["endCursor"].as_str().map(String::from);
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        (0..25).map(|i| format!("c{i:02}")).collect::<Vec<_>>()
    );

    let d = app
        .gql_ok(Some(&admin), r#"query($a:ID!){ account(id:$a){ contacts(first:5, search:"C1"){ edges{ node{ firstName } } } } }"#, json!({"a": account}))
        .await;
    assert_eq!(
        d["account"]["contacts"]["edges"].as_array().unwrap().len(),
        5,
        "c10..c19 match, first 5 returned"
    );

    let body = app
        .gql(
            Some(&admin),
            "query($a:ID!){ account(id:$a){ contacts(first:101){ edges{ cursor } } } }",
            json!({"a": account}),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&body), "BAD_USER_INPUT");
    let body = app
        .gql(
            Some(&admin),
            r#"query($a:ID!){ account(id:$a){ contacts(after:"bogus"){ edges{ cursor } } } }"#,
            json!({"a": account}),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&body), "BAD_USER_INPUT");
}
