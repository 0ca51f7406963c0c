//! A webhook receiver on 127.0.0.1:0 that records every request and answers from a script.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("receiver got non-JSON body ({e}): {}", self.body))
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// Status with extra headers.
    With(u16, Vec<(&'static str, String)>),
    /// Wait, then answer 200.
    Slow(Duration),
    /// Status with a JSON body.
    Json(u16, String),
    /// 500 for this percentage of requests, picked at random (seeded, so repeatable), else 200.
    Flaky(u32),
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<Reply>,
    default: Option<Reply>,
    rng: u64,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: usize,
    max_in_flight: usize,
}

/// Counts a request as being answered until dropped.
struct InFlight(Arc<Mutex<Inner>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().unwrap().in_flight -= 1;
    }
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: std::net::SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _in_flight = InFlight(inner.clone());
    let reply = {
        let mut i = inner.lock().unwrap();
        i.in_flight += 1;
        i.max_in_flight = i.max_in_flight.max(i.in_flight);
        i.received.push(Received {
            path: uri.path().to_string(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        });
        i.script
            .pop_front()
            .or_else(|| i.default.clone())
            .unwrap_or(Reply::Status(200))
    };
    let reply = match reply {
        Reply::Flaky(percent) => {
            // xorshift64: cheap, seeded, good enough for a coin.
            let mut i = inner.lock().unwrap();
            let mut x = i.rng.max(1);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            i.rng = x;
            Reply::Status(if x % 100 < u64::from(percent) {
                500
            } else {
                200
            })
        }
        r => r,
    };
    match reply {
        Reply::Status(s) => (StatusCode::from_u16(s).unwrap(), "ok").into_response(),
        Reply::With(s, hs) => {
            let mut r = (StatusCode::from_u16(s).unwrap(), "scripted").into_response();
            for (k, v) in hs {
                r.headers_mut().insert(k, v.parse().unwrap());
            }
            r
        }
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "slow ok").into_response()
        }
        Reply::Flaky(_) => unreachable!("resolved above"),
        Reply::Json(s, body) => (
            StatusCode::from_u16(s).unwrap(),
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            rng: 0x5eed_1234_abcd_9876,
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/{*path}", post(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, inner }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Answers these first, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    /// Answer once the script is used up (200 when unset).
    pub fn default_reply(&self, r: Reply) {
        self.inner.lock().unwrap().default = Some(r);
    }

    /// How many requests arrived (without copying them).
    /// The most requests this receiver was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.inner.lock().unwrap().max_in_flight
    }

    pub fn count(&self) -> usize {
        self.inner.lock().unwrap().received.len()
    }

    /// Applies `f` to the requests received so far (without copying them).
    pub fn inspect<T>(&self, f: impl FnOnce(&[Received]) -> T) -> T {
        f(&self.inner.lock().unwrap().received)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Waits until at least `n` requests arrived (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "receiver got {} of {n} requests within {within:?}: {got:#?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
