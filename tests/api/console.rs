//! The bundled console in real headless Chromium, driven over WebDriver (chromedriver's HTTP
//! JSON API, spoken with reqwest: no extra dependency). Needs Debian's `chromium` and
//! `chromium-driver` (`.ci/run` installs them); skips loudly without them, fails when `CI=true`.
//!
//! Screenshots of the main screens go to `target/console-screenshots/`.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::{
    binary::free_port,
    helpers::fast_delivery,
    receiver::{Receiver, Reply},
    spawn_app,
};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Option<Driver> {
        if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists()
        {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "CI=true but {CHROMIUM} or {CHROMEDRIVER} is missing");
            eprintln!(
                "\n*** SKIPPING the console browser test: install Debian's chromium and chromium-driver ***\n"
            );
            return None;
        }
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut d = Driver {
            child,
            base,
            session: String::new(),
            http,
        };
        let s = d
            .call(
                "POST",
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
                    "goog:chromeOptions": {"binary": CHROMIUM, "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,800"]}}}})),
            )
            .await
            .expect("a browser session");
        d.session = s["sessionId"].as_str().unwrap().to_string();
        Some(d)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or(json!({}))),
        };
        let r = req.send().await.map_err(|e| e.to_string())?;
        let ok = r.status().is_success();
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if ok {
            Ok(v["value"].clone())
        } else {
            Err(v["value"]["message"]
                .as_str()
                .unwrap_or("webdriver error")
                .to_string())
        }
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    async fn go(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({"url": url})))
            .await
            .unwrap();
    }

    /// The element matching `css`, waiting up to 10 s for it.
    async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(v) = self
                .call(
                    "POST",
                    &self.s("/element"),
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await
                && let Some(id) = v
                    .as_object()
                    .and_then(|o| o.values().next())
                    .and_then(Value::as_str)
            {
                return id.to_string();
            }
            assert!(Instant::now() < deadline, "no element matches {css}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call("GET", &self.s(&format!("/element/{id}/text")), None)
            .await
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    }

    /// Waits until the element matching `css` shows `needle`.
    async fn wait_text(&self, css: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.text(css).await.contains(needle) {
                return;
            }
            assert!(Instant::now() < deadline, "{css} never showed {needle:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            "POST",
            &self.s(&format!("/element/{id}/value")),
            Some(json!({"text": text})),
        )
        .await
        .unwrap();
    }

    async fn clear(&self, css: &str) {
        let id = self.find(css).await;
        self.call("POST", &self.s(&format!("/element/{id}/clear")), None)
            .await
            .unwrap();
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call("POST", &self.s(&format!("/element/{id}/click")), None)
            .await
            .unwrap();
    }

    async fn script(&self, js: &str) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": js, "args": []})),
        )
        .await
        .unwrap()
    }

    async fn screenshot(&self, name: &str) {
        let png = self
            .call("GET", &self.s("/screenshot"), None)
            .await
            .unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
}

#[tokio::test]
async fn an_operator_sets_up_subscribes_and_watches_deliveries_live() {
    let app = spawn_app!(fast_delivery);
    let Some(b) = Driver::start().await else {
        return;
    };
    let rx = Receiver::start().await;
    let site = app.url("/");

    // First run: the first administrator is created in the browser; then an account.
    b.go(&site).await;
    b.wait_text("h1", "Welcome to Switchboard").await;
    b.screenshot("1-first-run").await;
    b.type_into("#f-email", "admin@example.com").await;
    b.type_into("#f-password", "correct-horse-battery").await;
    b.click("button[type=submit]").await;
    b.wait_text("h1", "Create an account").await;
    b.type_into("#f-name", "Acme").await;
    b.click("button[type=submit]").await;
    b.wait_text("h1", "Delivery log").await;

    // Log out and back in.
    b.click("#logout").await;
    b.wait_text("h1", "Log in").await;
    b.screenshot("2-login").await;
    b.type_into("#f-email", "admin@example.com").await;
    // Keyboard only: Enter in the password field submits the form.
    b.type_into("#f-password", "correct-horse-battery\u{E007}")
        .await;
    b.wait_text("h1", "Delivery log").await;

    // A subscription from the form: the secret is revealed once.
    b.go(&format!("{site}#/subscriptions")).await;
    b.wait_text("h1", "Webhook subscriptions").await;
    b.type_into("#f-url", &rx.url("/hook")).await;
    b.click("input[value=message_created]").await;
    b.click("form button[type=submit]").await;
    b.wait_text(".secret", "whsec_").await;
    b.screenshot("3-subscriptions").await;
    let token = b.script("return localStorage.getItem('sb_token')").await;
    let token = token.as_str().unwrap().to_string();
    let account = b.script("return localStorage.getItem('sb_account')").await;
    let account = account.as_str().unwrap().to_string();

    // A message through the API appears in the open delivery log without a reload.
    b.go(&format!("{site}#/deliveries")).await;
    b.find(".live-dot.on").await;
    let seeded = app.seed_conversation(&token, &account).await;
    let started = Instant::now();
    app.send_message(&token, &seeded.conversation, "INCOMING", "hello")
        .await;
    b.wait_text("#delivery-rows tr", "message_created").await;
    eprintln!(
        "console: row visible {} ms after messageCreate returned",
        started.elapsed().as_millis()
    );
    b.wait_text("#delivery-rows tr", "SUCCEEDED").await;

    // Attempt logged → row painted, from the row's own stamps (server and browser share this
    // machine's clock): a handful of messages, one at a time.
    let mut lags = Vec::new();
    for i in 0..8 {
        app.send_message(
            &token,
            &seeded.conversation,
            "INCOMING",
            &format!("lag {i}"),
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = b
                .script("const r = document.querySelector('#delivery-rows tr[data-shown-at]'); return r && [r.dataset.loggedAt, r.dataset.shownAt, document.querySelectorAll('#delivery-rows tr[data-shown-at]').length];")
                .await;
            if v.as_array().is_some_and(|a| a[2].as_u64() == Some(i + 2)) {
                let t =
                    |x: &Value| chrono::DateTime::parse_from_rfc3339(x.as_str().unwrap()).unwrap();
                lags.push((t(&v[1]) - t(&v[0])).num_milliseconds());
                break;
            }
            assert!(Instant::now() < deadline, "row {i} never appeared: {v}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    lags.sort();
    eprintln!(
        "console: attempt logged -> row painted, ms over {} attempts: min {} median {} max {}",
        lags.len(),
        lags[0],
        lags[lags.len() / 2],
        lags[lags.len() - 1]
    );
    assert!(lags.iter().all(|l| *l >= -50), "clock order: {lags:?}");

    // The last hour in pictures: attempts per minute by outcome, and latency.
    b.wait_text("#stats-summary", "attempts in the last hour")
        .await;
    b.find("#chart-outcomes rect.succeeded").await;
    b.find("#chart-latency polyline.avg").await;
    b.screenshot("4-delivery-log-live").await;

    // A failing receiver: the delivery ends FAILED, is opened, and retried from the console.
    rx.default_reply(Reply::Status(500));
    app.send_message(&token, &seeded.conversation, "INCOMING", "fails")
        .await;
    b.wait_text("#delivery-rows tr", "FAILED").await;
    b.click("#delivery-rows tr").await;
    b.wait_text("h1", "FAILED").await;
    b.find(".split").await;
    b.screenshot("5-delivery-detail").await;
    rx.default_reply(Reply::Status(200));
    b.click("main > button").await;
    b.wait_text("h1", "SUCCEEDED").await;
    b.screenshot("6-after-retry").await;

    // Channels: one created from the form is listed.
    b.go(&format!("{site}#/channels")).await;
    b.wait_text("h1", "Channels").await;
    b.type_into("#f-name", "Sales line").await;
    b.type_into("#f-phone", "+972501234567").await;
    b.click("#new-channel button[type=submit]").await;
    b.wait_text("#channels", "Sales line").await;
    b.screenshot("7-channels").await;

    // Conversations: open the seeded one and reply from the console.
    b.go(&format!("{site}#/conversations")).await;
    b.wait_text("h1", "Conversations").await;
    b.click("#conversation-rows tr").await;
    b.wait_text("#messages", "hello").await;
    b.type_into("#f-content", "Hi from the console").await;
    b.click("form button[type=submit]").await;
    b.wait_text("#messages", "Agent: Hi from the console").await;
    // Assign it to the administrator.
    b.click("#f-assignee option:nth-child(2)").await;
    b.wait_text("[role=status]", "Saved.").await;
    b.screenshot("8-conversation").await;
    let d = app
        .gql_ok(
            Some(&token),
            "query($i:ID!){ node(id:$i){ ... on Conversation { assignee{ email } } } }",
            json!({"i": seeded.conversation}),
        )
        .await;
    assert_eq!(d["node"]["assignee"]["email"], "admin@example.com");

    // Edit a contact: tags and meta.
    b.go(&format!("{site}#/contacts")).await;
    b.click("#contact-rows tr").await;
    b.find("#f-meta").await;
    b.clear("#f-tags").await;
    b.type_into("#f-tags", "vip, beta").await;
    b.type_into("#f-meta", "plan=gold").await;
    b.click("form button[type=submit]").await;
    b.wait_text("[role=status]", "Saved.").await;
    b.screenshot("9-contact").await;
    let d = app
        .gql_ok(
            Some(&token),
            "query($i:ID!){ node(id:$i){ ... on Contact { tags{ name } meta{ key value } } } }",
            json!({"i": seeded.contact}),
        )
        .await;
    let tags: Vec<&str> = d["node"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(tags.contains(&"vip") && tags.contains(&"beta"), "{d}");
    assert!(
        d["node"]["meta"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["key"] == "plan" && m["value"] == "gold"),
        "{d}"
    );

    // Edit the subscription: a header, bearer auth and a channel scope; then it delivers so.
    b.go(&format!("{site}#/subscriptions")).await;
    b.click("#subscriptions a.button").await;
    b.wait_text("h1", "Edit").await;
    b.type_into("#f-headers", "X-Env: console-test").await;
    b.click("#f-auth option[value=bearer]").await;
    b.type_into("#f-bearerToken", "tok-123").await;
    b.click("#f-channelId option:nth-child(2)").await;
    b.click("form button[type=submit]").await;
    b.wait_text("[role=status]", "Saved.").await;
    b.screenshot("10-subscription-edit").await;
    let before = rx.received().len();
    app.send_message(&token, &seeded.conversation, "INCOMING", "after edit")
        .await;
    let got = rx.wait_for(before + 1, Duration::from_secs(10)).await;
    let last = got.last().unwrap();
    assert_eq!(last.header("x-env"), "console-test");
    assert_eq!(last.header("authorization"), "Bearer tok-123");

    // Edit a channel's webhook URL inline.
    b.go(&format!("{site}#/channels")).await;
    b.click("#channels tbody tr:first-child button.secondary")
        .await;
    let url = rx.url("/channel-hook");
    b.type_into("tr.edit-row:not([hidden]) input[name=webhookUrl]", &url)
        .await;
    b.click("tr.edit-row:not([hidden]) button[type=submit]")
        .await;
    b.wait_text("#channels", "/channel-hook").await;

    // Phone width: the main screens stay usable.
    b.call(
        "POST",
        &b.s("/window/rect"),
        Some(json!({"width": 390, "height": 844})),
    )
    .await
    .unwrap();
    b.go(&format!("{site}#/deliveries")).await;
    b.find(".live-dot.on").await;
    b.find("#chart-outcomes").await;
    b.screenshot("11-phone-delivery-log").await;
    let overflow = b
        .script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        )
        .await;
    assert!(
        overflow.as_i64().unwrap_or(0) <= 0,
        "the page scrolls sideways at phone width by {overflow} px"
    );
    b.go(&format!("{site}#/conversation/{}", seeded.conversation))
        .await;
    b.wait_text("#messages", "hello").await;
    b.screenshot("12-phone-conversation").await;

    let _ = b.call("DELETE", &b.s(""), None).await;
}
