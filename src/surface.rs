//! The whole HTTP surface: every route (see [`crate::router`]) and the middleware every
//! request goes through, outermost last: request logs and metrics, the envelope (deadline,
//! JSON errors, caching, Allow), CORS, panics, then the routes with what they share.

use std::{sync::Arc, time::Duration};

use poem::{
    EndpointExt, IntoResponse, Response,
    error::{MethodNotAllowedError, NotFoundError},
    http::Method,
    middleware::{CatchPanic, Cors},
};

use crate::{
    access::ClientIpHeader,
    error::{ApiError, ErrorCode},
    pages::{self, PageSettings},
    router::{RouteTable, Router},
    routes::{api, api_service, envelope, openapi_json, swagger_ui_csp, swagger_ui_html},
    state::AppState,
    telemetry,
};

/// Browsers may call the API from these origins; `*` at the end matches any rest.
fn cors(origins: Vec<String>) -> Cors {
    Cors::new()
        .allow_origins_fn(move |origin| {
            origins.iter().any(|allowed| match allowed.strip_suffix('*') {
                Some(prefix) => origin.starts_with(prefix),
                None => origin == allowed,
            })
        })
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            "content-type",
            "syntx-api-key",
            "authorization",
            "if-none-match",
            "if-match",
            "x-request-id",
        ])
        .expose_headers([
            "etag",
            "location",
            "retry-after",
            "x-request-id",
            "x-session-owner",
            "x-session-title",
            "x-session-description",
            "x-session-tags",
            "x-session-public",
            "x-session-created-at",
            "x-session-expires-at",
            "x-session-message-count",
            "x-session-revision",
        ])
        .max_age(3600)
}

/// The whole HTTP surface, and the table of its routes.
pub fn app(
    state: AppState,
    pages: PageSettings,
    cors_origins: Vec<String>,
    client_ip_header: ClientIpHeader,
    request_timeout: Duration,
) -> (poem::endpoint::BoxEndpoint<'static>, Arc<RouteTable>) {
    let spec = openapi_json();
    let metrics = state.metrics.clone();
    let exposition = state.metrics.clone();
    let docs = swagger_ui_html();
    let docs_csp = swagger_ui_csp(&docs);
    let router = Router::new().api(api(), api_service());
    let (route, table) = pages::routes(router)
        .get(
            "/api/openapi.json",
            poem::endpoint::make_sync(move |_| {
                Response::builder().content_type("application/json").body(spec.clone())
            }),
        )
        .get(
            "/metrics",
            poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
                    .body(exposition.render())
            }),
        )
        .get(
            "/docs",
            poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("text/html; charset=utf-8")
                    .header("Content-Security-Policy", docs_csp.as_str())
                    .header("Referrer-Policy", "no-referrer")
                    .body(docs.clone())
            }),
        )
        .get("/docs/", poem::endpoint::make_sync(|_| poem::web::Redirect::see_other("/docs")))
        .build();
    let endpoint = route
        .catch_error(|_: NotFoundError| async {
            ApiError::new(ErrorCode::NotFound, "no such route; see /docs").into_response()
        })
        .catch_error(|_: MethodNotAllowedError| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "method not allowed on this route; see /docs",
            )
            .into_response()
        })
        .data(state)
        .data(pages)
        .data(client_ip_header)
        .with(
            CatchPanic::new()
                .with_handler(|_| ApiError::internal("a request handler panicked").into_response()),
        )
        .with(cors(cors_origins))
        .around({
            let table = table.clone();
            move |next, req| envelope(next, req, table.clone(), request_timeout)
        })
        .around(move |next, req| telemetry::log_requests(next, req, metrics.clone()))
        // Boxed: the type of the whole chain is deeper than the compiler follows by default.
        .boxed();
    (endpoint, table)
}
