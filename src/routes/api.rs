//! Every path's API together: what the server routes, and the OpenAPI document and Swagger UI
//! made from it.

use super::{
    create::CreateApi, health::HealthApi, links::LinksApi, openapi_doc, public::PublicApi,
    revisions::RevisionsApi, session::SessionApi, sessions::SessionsApi, share_code::ShareCodeApi,
    team::TeamApi,
};

/// Every path's API, for routing and for the document.
pub type Api = (
    SessionsApi,
    CreateApi,
    SessionApi,
    RevisionsApi,
    LinksApi,
    TeamApi,
    ShareCodeApi,
    PublicApi,
    HealthApi,
);

/// Every path's API.
pub fn api() -> Api {
    (
        SessionsApi,
        CreateApi,
        SessionApi,
        RevisionsApi,
        LinksApi,
        TeamApi,
        ShareCodeApi,
        PublicApi,
        HealthApi,
    )
}

pub fn api_service() -> poem_openapi::OpenApiService<Api, ()> {
    poem_openapi::OpenApiService::new(api(), "session-share", env!("CARGO_PKG_VERSION"))
        .description(
            "Share AI coding sessions from the Syntx VS Code extension. A session \
         (`SerializedSession`: task metadata and the whole chat) is validated against \
         `openapi/session.schema.json` and stored in S3-compatible storage under \
         `sessions/<username>/<id>.json.gz`, a standard gzip file of the uploaded bytes; anyone \
         with its id or share code reads it back byte for byte. Sharing a task again keeps its \
         link and adds a revision. Errors are JSON `{error, code, details}`.",
        )
}

/// The OpenAPI document as served at `/api/openapi.json`, shown by Swagger UI, printed by
/// `session-share openapi` and committed in `openapi/openapi.json`.
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(&openapi_doc::document(&api_service().spec()))
        .expect("a JSON value serializes")
}

/// The content security policy of Swagger UI's page: its own inline scripts (by hash) and
/// nothing else runs, it calls only this service, and no other site may frame it.
pub fn swagger_ui_csp(html: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let lower = html.to_ascii_lowercase();
    let mut hashes = Vec::new();
    let mut at = 0;
    // As a browser reads them: a script's text runs from its tag to the next `</script`.
    while let Some(open) = lower[at..].find("<script").map(|i| at + i) {
        let Some(text) = lower[open..].find('>').map(|i| open + i + 1) else { break };
        let Some(close) = lower[text..].find("</script").map(|i| text + i) else { break };
        let digest = sha2::Sha256::digest(&html.as_bytes()[text..close]);
        hashes
            .push(format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest)));
        at = close;
    }
    format!(
        "default-src 'none'; script-src {}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'",
        hashes.join(" ")
    )
}

/// Swagger UI's page (everything embedded), showing [`openapi_json`].
pub fn swagger_ui_html() -> String {
    let api = api_service();
    // poem-openapi embeds its own document in the page; ours adds examples to it.
    let html = api.swagger_ui_html();
    let embedded = api.spec();
    assert!(html.contains(&embedded), "poem-openapi's Swagger UI page embeds its document");
    html.replacen(&embedded, &openapi_json(), 1)
}
