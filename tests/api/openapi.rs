//! The OpenAPI document: served, committed and printed are the same, and complete.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app;

fn committed() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_served_document_is_the_committed_one() {
    let app = spawn_app().await;
    let resp = app.get("/api/openapi.json").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let served: Value = resp.json().await.unwrap();
    assert!(
        served == committed(),
        "openapi/openapi.json is stale: regenerate it with `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn the_cli_prints_the_committed_document() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_session-share"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(printed == committed());
}

#[test]
fn the_document_covers_every_route_both_key_schemes_and_every_status() {
    let doc = committed();
    let paths = &doc["paths"];
    for (path, method) in [
        ("/api/sessions/create", "post"),
        ("/api/sessions", "post"),
        ("/api/sessions", "get"),
        ("/api/sessions/{id}", "get"),
        ("/api/sessions/{id}", "patch"),
        ("/api/sessions/{id}", "delete"),
        ("/api/sessions/{username}/{id}", "get"),
        ("/api/public/sessions/{id}", "get"),
        ("/api/health", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path} is not documented");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["SyntxApiKey"]["name"], "Syntx-Api-Key");
    assert_eq!(schemes["SyntxApiKey"]["in"], "header");
    assert_eq!(schemes["BearerKey"]["scheme"], "bearer");
    let create = &paths["/api/sessions/create"]["post"];
    for status in ["201", "400", "401", "413", "415", "503"] {
        assert!(create["responses"][status].is_object(), "create lacks {status}");
    }
    assert!(
        create["responses"]["503"]["headers"]["RETRY-AFTER"].is_object()
            || create["responses"]["503"]["headers"]["Retry-After"].is_object()
    );
    let read = &paths["/api/sessions/{id}"]["get"];
    for status in ["200", "304", "400", "401", "404", "410", "429", "503"] {
        assert!(read["responses"][status].is_object(), "read lacks {status}");
    }
    assert!(read["responses"]["200"]["headers"]["X-SESSION-TITLE"].is_object());
    let patch = &paths["/api/sessions/{id}"]["patch"];
    for status in ["200", "400", "401", "403", "404", "409", "410", "429"] {
        assert!(patch["responses"][status].is_object(), "patch lacks {status}");
    }
    // A path shared by several operations is written once, with all of them.
    let served =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap();
    assert_eq!(served.matches("\"/api/sessions/{id}\":").count(), 1, "duplicate path keys");
    let schemas = &doc["components"]["schemas"];
    for name in [
        "SerializedSession",
        "HistoryItem",
        "ClineMessage",
        "ShareCreated",
        "ImportRequest",
        "ErrorBody",
        "Health",
        "ShareList",
        "ShareSummary",
        "ShareUpdate",
    ] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
    assert!(schemas["SerializedSession"]["example"].is_object(), "request example missing");
}

#[tokio::test]
async fn swagger_ui_is_served() {
    let app = spawn_app().await;
    let resp = app.get("/docs").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().to_lowercase().contains("swagger"));
}
