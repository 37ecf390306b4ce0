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
    for path in ["/api/sessions/{id}", "/api/sessions/{username}/{id}", "/api/public/sessions/{id}"]
    {
        let read = &paths[path]["get"];
        for status in ["200", "304", "400", "404", "410", "429", "503"] {
            assert!(read["responses"][status].is_object(), "{path} lacks {status}");
        }
        // Reads never answer 401: a key that is not valid reads as no key.
        assert!(read["responses"]["401"].is_null(), "{path} documents a 401 it never answers");
    }
    let read = &paths["/api/sessions/{id}"]["get"];
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

/// What Swagger UI shows a developer: one tag per operation (so none is listed twice), error
/// bodies whose `error` comes first, an example of each error status, enforced constraints.
#[test]
fn the_document_says_what_the_service_does() {
    let doc = committed();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let tags = op["tags"].as_array().map_or(0, Vec::len);
            assert_eq!(tags, 1, "{method} {path} has {tags} tags");
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(
                    !response["description"].as_str().unwrap_or_default().is_empty(),
                    "{method} {path} {status} has no description"
                );
                let Some(media) = response["content"].as_object().and_then(|c| c.values().next())
                else {
                    continue;
                };
                if media["schema"]["$ref"] == "#/components/schemas/ErrorBody" {
                    let example = &media["example"];
                    let code = example["code"].as_str().unwrap_or_else(|| {
                        panic!("{method} {path} {status}: no example of its own")
                    });
                    let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
                    assert!(codes.as_array().unwrap().iter().any(|c| c == code), "{code}");
                    let keys: Vec<&String> = example.as_object().unwrap().keys().collect();
                    assert_eq!(keys[0], "error", "{method} {path} {status}: `error` comes first");
                }
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    let error_body = &schemas["ErrorBody"];
    assert_eq!(error_body["required"], serde_json::json!(["error", "code"]), "details is optional");
    let session = &schemas["SerializedSession"]["properties"];
    assert_eq!(session["version"]["pattern"], "^1\\.[0-9]+\\.[0-9]+$");
    assert_eq!(session["title"]["maxLength"], 200);
    assert_eq!(session["tags"]["maxItems"], 20);
    assert_eq!(session["expiresAt"]["format"], "date-time");
    let id = &doc["paths"]["/api/sessions/{id}"]["get"]["parameters"][0];
    assert_eq!(id["schema"]["pattern"], "^[A-Za-z0-9_-]{21}$");
    let create =
        &doc["paths"]["/api/sessions"]["post"]["requestBody"]["content"]["application/json"];
    assert!(create["examples"]["create"]["value"]["messages"].is_array());
    assert!(create["examples"]["import"]["value"]["id"].is_string());
}

/// Each example the document offers (request bodies and parameters), sent as it is with a key
/// of the example's user, answers its operation's documented success status: what a developer
/// gets from "Try it out" in Swagger UI.
#[tokio::test]
async fn every_example_in_the_document_succeeds_as_it_is() {
    use object_store::ObjectStoreExt;
    // Storage's id key is the examples' own, so the example session, shared by the example
    // user, gets the examples' id.
    let app = spawn_app().await;
    let id_key = object_store::path::Path::from("config/id-key");
    app.store
        .put(&id_key, hex::encode(session_share::routes::EXAMPLE_ID_KEY).into())
        .await
        .unwrap();
    let key = app.key_for("viragtiwari").await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();

    // Creates first, then reads, then changes, then the delete.
    let mut operations = vec![];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let rank =
                ["post", "get", "put", "patch", "delete"].iter().position(|m| m == method).unwrap();
            let rank = match op["operationId"].as_str() {
                Some("createSession") => 0,
                Some("deleteSession") => 9,
                _ => rank + 1,
            };
            operations.push((rank, path.clone(), method.clone(), op.clone()));
        }
    }
    operations.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut sent = 0;
    for (_, path, method, op) in operations {
        let mut url = path.clone();
        for parameter in op["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] == "path" {
                let example = parameter["example"].as_str().unwrap_or_else(|| {
                    panic!("{method} {path}: path parameter without an example")
                });
                url = url.replace(&format!("{{{}}}", parameter["name"].as_str().unwrap()), example);
            }
        }
        let success: Vec<u16> = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .filter_map(|s| s.parse().ok())
            .filter(|s| (200..300).contains(s))
            .collect();
        let media = &op["requestBody"]["content"]["application/json"];
        let bodies: Vec<(String, Option<Value>)> =
            if let Some(examples) = media["examples"].as_object() {
                examples.iter().map(|(name, e)| (name.clone(), Some(e["value"].clone()))).collect()
            } else if media.is_object() {
                let schema = media["schema"]["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
                let example = doc["components"]["schemas"][schema]["example"].clone();
                assert!(example.is_object(), "{method} {path}: the body has no example");
                vec![("body".into(), Some(example))]
            } else {
                vec![("no body".into(), None)]
            };
        for (name, body) in bodies {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut req =
                app.client.request(method.clone(), app.url(&url)).header("Syntx-Api-Key", &key);
            if let Some(body) = &body {
                req = req.json(body);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            let expected = match name.as_str() {
                // The example session was shared by the first create: the same task again.
                "create" => 201,
                "import" => 200,
                _ => success[0],
            };
            assert!(success.contains(&status), "{method} {url} ({name}): {status} {text}");
            assert_eq!(status, expected, "{method} {url} ({name}): {text}");
            sent += 1;
        }
    }
    assert!(sent >= 10, "only {sent} examples sent");
}

/// A route with a small body limit documents its own limit, and its 413 example is what it
/// answers.
#[tokio::test]
async fn a_413_example_is_what_its_route_answers() {
    let app = spawn_app().await;
    let id = app.create_id(crate::helpers::small_session()).await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let big = format!(r#"{{"title": "{}"}}"#, "x".repeat(100 * 1024));
    for (method, path) in [
        (reqwest::Method::PATCH, "/api/sessions/{id}"),
        (reqwest::Method::POST, "/api/sessions/{id}/links"),
    ] {
        let documented = &doc["paths"][path][method.as_str().to_lowercase()]["responses"]["413"];
        let resp = app
            .client
            .request(method.clone(), app.url(&path.replace("{id}", &id)))
            .header("Syntx-Api-Key", &app.api_key)
            .header("Content-Type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        let body =
            crate::helpers::assert_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE")
                .await;
        assert_eq!(body["error"], documented["content"]["application/json"]["example"]["error"]);
        assert!(!documented["description"].as_str().unwrap().contains("--max-body"), "{path}");
    }
}
