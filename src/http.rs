//! HTTP surface: `/graphql` (+ WebSocket later), `/graphiql`, `/healthz`, `/readyz`,
//! `/metrics`, and the console at `/`.

use std::{net::SocketAddr, time::Instant};

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::{
    Extension, Json, Router,
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use tower_http::{catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, trace::TraceLayer};

use crate::{
    auth, db,
    graphql::{AppSchema, helpers::ClientIp, loaders::Loaders},
    services,
    state::AppState,
};

const CONSOLE_HTML: &str = include_str!("../web/index.html");
const CONSOLE_JS: &str = include_str!("../web/app.js");
const CONSOLE_CSS: &str = include_str!("../web/app.css");

pub fn router(state: AppState, schema: AppSchema) -> Router {
    let max_body = state.config.max_body_bytes;
    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    // A worker-only instance answers health and metrics, nothing else.
    let app = if state.config.role.serves_api() {
        ops.route("/", get(console))
            .route("/app.js", get(console_js))
            .route("/app.css", get(console_css))
            .route("/graphql", get(graphql_get).post(graphql))
            .route("/graphiql", get(graphiql))
            .merge(crate::rest::routes())
    } else {
        ops
    };
    app.layer(Extension(schema))
        .layer(middleware::from_fn(record_metrics))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(
                    serde_json::json!({"error": {"code": "INTERNAL", "message": "internal error"}}),
                ),
            )
                .into_response()
        }))
        .with_state(state)
}

async fn graphql(
    State(st): State<AppState>,
    Extension(schema): Extension<AppSchema>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    req: GraphQLRequest,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = match auth::resolve_bearer(&st.db, &st.keys, &st.principals, bearer).await {
        Ok(p) => p,
        Err(e) => {
            let err: async_graphql::Error = e.into();
            let resp = async_graphql::Response::from_errors(vec![
                err.into_server_error(async_graphql::Pos::default()),
            ]);
            return GraphQLResponse::from(resp).into_response();
        }
    };
    let ip = ClientIp(peer.map(|Extension(ConnectInfo(a))| a.ip()));
    let mut req = req.into_inner();
    if !matches!(principal, crate::auth::Principal::Anonymous) {
        st.documents.prepare(&mut req);
    }
    let req = req.data(principal).data(Loaders::new(&st.db)).data(ip);
    GraphQLResponse::from(schema.execute(req).await).into_response()
}

/// `GET /graphql`: a WebSocket upgrade (`graphql-transport-ws` or the legacy `graphql-ws`)
/// serves subscriptions; a plain GET gets the GraphiQL explorer.
async fn graphql_get(
    State(st): State<AppState>,
    Extension(schema): Extension<AppSchema>,
    headers: HeaderMap,
    protocol: Result<
        GraphQLProtocol,
        <GraphQLProtocol as axum::extract::FromRequestParts<AppState>>::Rejection,
    >,
    ws: Result<
        axum::extract::WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> Response {
    let (Ok(ws), Ok(protocol)) = (ws, protocol) else {
        return graphiql().await.into_response();
    };
    let header_auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    ws.protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| ws_init(st, header_auth, payload))
                .serve()
        })
}

/// Authenticates a WebSocket in `connection_init`: `{"Authorization": "Bearer <token>"}`, or
/// the upgrade request's own `Authorization` header. No valid token, no connection.
async fn ws_init(
    st: AppState,
    header_auth: Option<String>,
    payload: serde_json::Value,
) -> async_graphql::Result<async_graphql::Data> {
    let from_payload = ["Authorization", "authorization"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(|v| v.as_str()))
        .map(str::to_string);
    let raw = from_payload.or(header_auth);
    let principal = auth::resolve_bearer(&st.db, &st.keys, &st.principals, raw.as_deref())
        .await
        .map_err(|_| async_graphql::Error::new("internal error"))?;
    principal
        .require_authenticated()
        .map_err(|e| async_graphql::Error::new(e.public_message()))?;
    let mut data = async_graphql::Data::default();
    data.insert(principal);
    data.insert(Loaders::new(&st.db));
    data.insert(ClientIp(None));
    Ok(data)
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql")
            .finish(),
    )
}

async fn console() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(CONSOLE_HTML))
}

async fn console_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CONSOLE_JS,
    )
}

async fn console_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CONSOLE_CSS,
    )
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Ready when the database answers and every migration is applied.
async fn readyz(State(st): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let reachable = db::ping(&st.db).await;
    let migrated = reachable && db::migrations_applied(&st.db).await;
    let status = if migrated {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let first_admin = if migrated {
        services::users::has_platform_admin(&st.db).await.ok()
    } else {
        None
    };
    (
        status,
        Json(
            serde_json::json!({"database": reachable, "migrations": migrated, "hasAdministrator": first_admin}),
        ),
    )
}

async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("method", method), ("path", path), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    resp
}
