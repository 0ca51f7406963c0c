//! One HTTP attempt: POST the body with its headers, read at most `max_response_bytes` of the
//! answer, and classify what happened. Redirects are not followed; names are resolved through
//! the SSRF guard (DNS rebinding is refused at connect time).

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{
    schedule::{ErrorKind, Observed},
    ssrf::Allow,
};

/// Resolves with the system resolver, then drops every address the guard refuses.
struct GuardedResolver {
    allow: Arc<Allow>,
}

#[derive(Debug)]
struct Blocked(String);

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for Blocked {}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ok: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| allow.permits(a.ip()))
                .collect();
            if ok.is_empty() {
                let shown = addrs
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Box::new(Blocked(format!(
                    "{host} resolves to non-public addresses ({shown})"
                ))) as _);
            }
            Ok(Box::new(ok.into_iter()) as Addrs)
        })
    }
}

/// Timeouts and limits of outgoing requests.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub max_response_bytes: usize,
}

pub fn client(allow: Arc<Allow>, s: &HttpSettings) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(s.connect_timeout)
        .timeout(s.timeout)
        .dns_resolver(Arc::new(GuardedResolver { allow }))
        .pool_max_idle_per_host(64)
        .no_proxy()
        .build()
        .expect("HTTP client configuration is valid")
}

/// What an attempt observed, for the log.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub observed: Observed,
    pub status: Option<u16>,
    pub response_headers: Option<Vec<(String, String)>>,
    pub response_body: Option<String>,
    pub truncated: bool,
    pub error_message: Option<String>,
    pub duration: Duration,
}

fn classify(e: &reqwest::Error) -> ErrorKind {
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        if s.downcast_ref::<Blocked>().is_some() {
            return ErrorKind::Blocked;
        }
        let text = s.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            return ErrorKind::Tls;
        }
        src = s.source();
    }
    if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() {
        ErrorKind::Connect
    } else if e.is_redirect() {
        ErrorKind::Redirect
    } else if e.is_body() || e.is_decode() {
        ErrorKind::Body
    } else {
        ErrorKind::Other
    }
}

fn error_text(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        parts.push(s.to_string());
        src = s.source();
    }
    parts.dedup();
    parts.join(": ")
}

/// Sends one POST. Never fails: every problem is an [`Observed::Error`].
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
    body: String,
    s: &HttpSettings,
) -> Exchange {
    let start = Instant::now();
    let mut req = client.post(url);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let fail = |kind: ErrorKind, msg: String, start: Instant| Exchange {
        observed: Observed::Error(kind),
        status: None,
        response_headers: None,
        response_body: None,
        truncated: false,
        error_message: Some(msg),
        duration: start.elapsed(),
    };
    let mut resp = match req.body(body).send().await {
        Ok(r) => r,
        Err(e) => return fail(classify(&e), error_text(&e), start),
    };
    let code = resp.status().as_u16();
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // Read at most the limit; the rest is not downloaded (a 10 MiB answer costs 64 KiB).
    let mut buf: Vec<u8> = Vec::new();
    let mut truncated = false;
    let mut body_error = None;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = s.max_response_bytes.saturating_sub(buf.len());
                if chunk.len() > room {
                    buf.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                body_error = Some(e);
                break;
            }
        }
    }
    let mut observed = Observed::Status { code, retry_after };
    let mut error_message = None;
    if let Some(e) = body_error {
        // A status arrived but the body broke off: the status decides, the error is logged.
        error_message = Some(error_text(&e));
        if e.is_timeout() && !(200..300).contains(&code) {
            observed = Observed::Error(ErrorKind::Timeout);
        }
    }
    Exchange {
        observed,
        status: Some(code),
        response_headers: Some(headers),
        response_body: Some(String::from_utf8_lossy(&buf).into_owned()),
        truncated,
        error_message,
        duration: start.elapsed(),
    }
}
