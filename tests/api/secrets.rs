//! Credentials in a shared session: found before it is stored, and redacted (the default),
//! refused, or left (`--secret-policy`); never in an answer, a page or storage once found.

use reqwest::StatusCode;
use serde_json::{Value, json};
use session_share::secrets::SecretPolicy;

use crate::{
    credentials::{self, Planted},
    helpers::{assert_error, fixture, gunzip, share_key, spawn_app, spawn_app_with},
};

fn sorted(mut planted: Vec<Planted>) -> Vec<(String, String)> {
    planted.sort();
    let mut places: Vec<(String, String)> =
        planted.into_iter().map(|p| (p.pointer, p.rule.to_owned())).collect();
    places.sort();
    places
}

#[tokio::test]
async fn every_credential_format_is_redacted_where_it_was_and_nothing_else_changes() {
    let app = spawn_app().await;
    let corpus = credentials::session(18);
    let kinds: std::collections::BTreeSet<&str> = corpus.planted.iter().map(|p| p.rule).collect();
    assert!(kinds.len() >= 20, "{} formats: {kinds:?}", kinds.len());

    let resp = app.post_json("/api/sessions/create", corpus.upload.clone()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let count = resp.headers()["x-session-redactions"].to_str().unwrap().to_owned();
    let created: Value = resp.json().await.unwrap();
    let mut reported: Vec<(String, String)> = created["redactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["pointer"].as_str().unwrap().into(), r["rule"].as_str().unwrap().into()))
        .collect();
    reported.sort();
    assert_eq!(reported, sorted(corpus.planted.clone()));
    assert_eq!(count, corpus.planted.len().to_string());
    let answer = created.to_string();
    for p in &corpus.planted {
        assert!(!answer.contains(&p.secret), "{} in the answer", p.rule);
    }

    // Stored, and served, byte for byte the upload with each credential's marker in its place.
    let id = created["id"].as_str().unwrap();
    let stored = gunzip(&app.stored(&share_key("alice", id)).await);
    assert!(stored == corpus.redacted, "the stored session differs from the upload redacted");
    let read = app.get(&format!("/api/sessions/{id}")).await.bytes().await.unwrap();
    assert_eq!(read, corpus.redacted);
    let page = app.get(&format!("/session/{id}.md")).await.text().await.unwrap();
    for p in &corpus.planted {
        assert!(!page.contains(&p.secret), "{} in the transcript", p.rule);
    }
    assert!(page.contains(&format!("{} credentials were redacted", corpus.planted.len())));

    // The owner sees how many in the listing and the page says so.
    let list: Value = app.list("", &app.api_key).await.json().await.unwrap();
    assert_eq!(list["items"][0]["redactions"], corpus.planted.len());
    let html = app.client.get(app.url(&format!("/session/{id}"))).send().await.unwrap();
    let html = html.text().await.unwrap();
    assert!(html.contains(&format!(
        "id=\"redactions\" role=\"note\">{} credentials were redacted before this was shared.",
        corpus.planted.len()
    )));

    // Shared again, redacted already: the same revision, nothing more to find.
    let again: Value = app.create(corpus.redacted.clone()).await;
    assert_eq!((again["id"].as_str(), again["revision"].as_u64()), (Some(id), Some(1)));
    assert_eq!(again["redactions"], json!([]));
}

#[tokio::test]
async fn a_session_over_a_megabyte_is_redacted_as_a_small_one() {
    // Validated beside its compression, on a second thread: what is stored is still the
    // upload redacted.
    let app = spawn_app().await;
    let corpus = credentials::session(18);
    let padding = "words, and more. ".repeat(70_000);
    let upload = crate::helpers::with_message(&corpus.upload, &padding);
    assert!(upload.len() > 1 << 20);
    let resp = app.post_json("/api/sessions/create", upload).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["redactions"].as_array().unwrap().len(), corpus.planted.len());
    let stored = gunzip(&app.stored(&share_key("alice", created["id"].as_str().unwrap())).await);
    let expected = crate::helpers::with_message(&corpus.redacted, &padding);
    let as_json = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).unwrap();
    assert!(
        as_json(&stored) == as_json(&expected),
        "the stored session is not the upload redacted"
    );
}

#[tokio::test]
async fn reject_answers_422_saying_where_without_the_secret_and_stores_nothing() {
    let app = spawn_app_with(|s| {
        s.secret_policy = SecretPolicy::Reject;
    })
    .await;
    let corpus = credentials::session(18);
    let resp = app.post_json("/api/sessions/create", corpus.upload.clone()).send().await.unwrap();
    let text = resp_text(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["code"], "SECRETS_FOUND");
    let message = body["error"].as_str().unwrap();
    // One line the extension shows as it stands: how many, which kinds, where.
    assert!(!message.contains('\n') && message.chars().count() <= 300, "{message}");
    let first = &corpus.planted[0];
    assert!(
        message
            .starts_with(&format!("the session contains {} credentials (", corpus.planted.len())),
        "{message}"
    );
    let index: usize = first.pointer.split('/').nth(2).unwrap().parse().unwrap();
    let place = format!("at message {} ({})", index + 1, first.pointer);
    assert!(message.contains(&place), "{message}");
    assert!(message.contains("aws-access-token"), "{message}");
    let pointers: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers.len(), corpus.planted.len());
    for p in &corpus.planted {
        assert!(!text.contains(&p.secret), "{} in the refusal", p.rule);
    }
    assert_eq!(app.stored_sessions().await, Vec::<String>::new());

    // PATCH is held to the same policy.
    let id = app.create_id(fixture("small.json")).await;
    let token = &corpus.planted.iter().find(|p| p.rule == "github-pat").unwrap().secret;
    let resp = app.patch(&id, json!({"title": format!("use {token}")}), &app.api_key).await;
    assert_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "SECRETS_FOUND").await;
}

#[tokio::test]
async fn off_stores_the_upload_as_it_is() {
    let app = spawn_app_with(|s| {
        s.secret_policy = SecretPolicy::Off;
    })
    .await;
    let corpus = credentials::session(18);
    let created = app.create(corpus.upload.clone()).await;
    assert_eq!(created["redactions"], json!([]));
    let id = created["id"].as_str().unwrap();
    assert_eq!(gunzip(&app.stored(&share_key("alice", id)).await), corpus.upload);
}

#[tokio::test]
async fn a_title_with_a_token_is_redacted_by_patch() {
    let app = spawn_app().await;
    let id = app.create_id(fixture("small.json")).await;
    let corpus = credentials::session(18);
    let token = &corpus.planted.iter().find(|p| p.rule == "github-pat").unwrap().secret;
    let resp = app
        .patch(
            &id,
            json!({"title": "Deploy", "description": format!("token {token}")}),
            &app.api_key,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let summary: Value = resp.json().await.unwrap();
    assert_eq!(summary["description"], "token [REDACTED:github-pat]");
}

#[tokio::test]
async fn look_alikes_are_left_alone() {
    // Ids that look random (git SHAs, UUIDs, this service's ids), hashes and screenshots, in
    // the places they turn up: none is a credential, and the upload is stored as it is.
    let app = spawn_app().await;
    let first = app.create_id(fixture("small.json")).await;
    let mut doc: Value = serde_json::from_slice(&fixture("small.json")).unwrap();
    let screenshot = format!("data:image/png;base64,{}", base64_noise(20_000));
    let messages = doc["messages"].as_array_mut().unwrap();
    let ts = messages.last().unwrap()["ts"].as_u64().unwrap();
    for (n, text) in [
        "$ git log --oneline -3\n3f786850e387550fdab836ed7e6dc881de23001b Fix the retry loop\n\
         e163e53b9e7e8a8511e77271e2b323ed057759542a6d988258afe3a1fa329caf (sha256 of the rules)",
        "task 9b2c7e6a-1d4f-4c1e-9a37-5b8e2f0d6c41, request id 0f8fad5b-d9cb-469f-a165-70867728950e",
        &format!("Shared at https://sessions.example.com/session/{first} (code alice/{first})"),
        "const apiKey = process.env.OPENAI_API_KEY; let token = await getToken(scope);",
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE from the AWS docs",
        "DATABASE_URL=postgres://postgres:postgres@localhost:5432/dev and ${DB_PASSWORD}",
    ]
    .iter()
    .enumerate()
    {
        messages.push(json!({"ts": ts + 1 + n as u64, "type": "say", "say": "text", "text": text,
            "images": [screenshot]}));
    }
    let body = serde_json::to_vec(&doc).unwrap();
    let created = app.create(body.clone()).await;
    assert_eq!(created["redactions"], json!([]), "{created}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(gunzip(&app.stored(&share_key("alice", id)).await), body);
}

/// Base64 of random bytes, seeded: what a screenshot's data looks like.
fn base64_noise(bytes: usize) -> String {
    use base64::Engine;
    use rand::{RngCore, SeedableRng};
    let mut data = vec![0; bytes];
    rand_chacha::ChaCha8Rng::seed_from_u64(7).fill_bytes(&mut data);
    base64::engine::general_purpose::STANDARD.encode(data)
}

async fn resp_text(resp: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(resp.status(), status);
    resp.text().await.unwrap()
}

#[tokio::test]
async fn an_invalid_upload_with_credentials_is_told_what_is_wrong_as_it_was_sent() {
    let corpus = credentials::session(18);
    // Small, and over a megabyte (validated beside its compression, on a second thread).
    let padded = crate::helpers::with_message(&corpus.upload, &"words, and more. ".repeat(70_000));
    assert!(padded.len() > 1 << 20);
    for upload in [corpus.upload.clone(), padded.to_vec()] {
        let mut wrong: Value = serde_json::from_slice(&upload).unwrap();
        wrong["messages"][2]["ts"] = json!(null);
        let wrong = serde_json::to_vec(&wrong).unwrap();
        // Cut inside the last message: after every credential, so redacting moves where it ends.
        let cut = upload[..upload.len() - 3].to_vec();
        let mut answers = Vec::new();
        for policy in [SecretPolicy::Off, SecretPolicy::Redact, SecretPolicy::Reject] {
            let app = spawn_app_with(|s| s.secret_policy = policy).await;
            let mut bodies = Vec::new();
            for (upload, code) in [(&wrong, "INVALID_SESSION"), (&cut, "INVALID_JSON")] {
                let resp =
                    app.post_json("/api/sessions/create", upload.clone()).send().await.unwrap();
                let body = assert_error(resp, StatusCode::BAD_REQUEST, code).await;
                for p in &corpus.planted {
                    assert!(!body.to_string().contains(&p.secret), "{} in {body}", p.rule);
                }
                bodies.push(body);
            }
            assert_eq!(app.stored_sessions().await, Vec::<String>::new());
            answers.push((policy, bodies));
        }
        assert_eq!(answers[0].1[0]["details"][0]["pointer"], "/messages/2/ts");
        // Where the JSON breaks and which values are wrong: the same whatever the policy.
        for (policy, bodies) in &answers[1..] {
            assert_eq!(bodies, &answers[0].1, "{policy:?}");
        }
    }
}

/// What is kept beside a share (its title, from the task) is read from the session redacted,
/// whether or not the upload has a lone surrogate escape (which is parsed from a copy).
#[tokio::test]
async fn what_is_kept_beside_a_share_is_read_from_the_session_redacted() {
    let app = spawn_app().await;
    let token = "ghp_Zq9xW2vL7mK4pR8tY3nB6cD1fG5hJ0sA2eQx";
    for cut in ["", "cut \\ud83d "] {
        let text = String::from_utf8(crate::helpers::fresh_session().to_vec()).unwrap();
        let task = format!("\"task\": \"{cut}push with {token} please. ");
        let body = text.replacen("\"task\": \"", &task, 1);
        assert!(body.contains(token));
        let created: Value = app.create(body.clone()).await;
        assert_eq!(created["redactions"], json!([{"pointer": "/task/task", "rule": "github-pat"}]));
        let title = created["title"].as_str().unwrap();
        let shown = if cut.is_empty() { "" } else { "cut \u{fffd} " };
        assert!(title.starts_with(&format!("{shown}push with [REDACTED:github-pat] please. ")));
        let stored =
            gunzip(&app.stored(&share_key("alice", created["id"].as_str().unwrap())).await);
        assert_eq!(stored, body.replacen(token, "[REDACTED:github-pat]", 1).as_bytes());
    }
}
