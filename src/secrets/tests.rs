//! The scanner on its own; the corpus of credential formats is run through the service in
//! `tests/api/secrets.rs`.

use super::*;

fn scanner() -> &'static SecretScanner {
    SecretScanner::embedded()
}

const GITHUB: &str = "ghp_Zq9xW2vL7mK4pR8tY3nB6cD1fG5hJ0sA2eQx";

#[test]
fn the_embedded_rules_all_load() {
    // gitleaks' 222 rules, less the 5 that apply only to certain file paths, plus our own.
    assert_eq!(scanner().rule_count(), 222 - 5 + 1);
}

#[test]
fn a_token_in_a_json_string_is_found_where_it_is_and_redacted_in_place() {
    let raw = format!(r#"{{"task":{{"task":"push with {GITHUB} please"}},"n":1}}"#);
    let findings = scanner().scan_document(raw.as_bytes());
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].rule, "github-pat");
    assert_eq!(findings[0].pointer, "/task/task");
    assert_eq!(&raw[findings[0].raw.clone()], GITHUB);
    let redacted = String::from_utf8(redact(raw.as_bytes(), &findings)).unwrap();
    assert_eq!(redacted, r#"{"task":{"task":"push with [REDACTED:github-pat] please"},"n":1}"#);
}

#[test]
fn escapes_around_a_secret_survive_and_the_secret_inside_json_in_json_is_found() {
    // A tool's input is JSON inside a JSON string: the .env file it wrote is escaped twice.
    let env = format!("DB_HOST=db\nGITHUB_TOKEN={GITHUB}\nDEBUG=1\n");
    let tool = serde_json::json!({"tool": "newFileCreated", "path": ".env", "content": env});
    let doc = serde_json::json!({"messages": [{"say": "tool", "text": tool.to_string()}]});
    let raw = serde_json::to_vec(&doc).unwrap();
    let findings = scanner().scan_document(&raw);
    assert_eq!(findings.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(), ["github-pat"]);
    assert_eq!(findings[0].pointer, "/messages/0/text");
    let redacted: serde_json::Value = serde_json::from_slice(&redact(&raw, &findings)).unwrap();
    let text = redacted["messages"][0]["text"].as_str().unwrap();
    let tool: serde_json::Value = serde_json::from_str(text).expect("still JSON inside JSON");
    assert_eq!(tool["content"], "DB_HOST=db\nGITHUB_TOKEN=[REDACTED:github-pat]\nDEBUG=1\n");
}

#[test]
fn a_secret_written_with_unicode_escapes_is_redacted_whole() {
    // JSON may spell any character as \uXXXX; the redaction covers the escapes it spans.
    let spelled: String = GITHUB.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
    let raw = format!(r#"{{"text":"é {spelled} ü"}}"#);
    let findings = scanner().scan_document(raw.as_bytes());
    assert_eq!(findings.len(), 1);
    let redacted = String::from_utf8(redact(raw.as_bytes(), &findings)).unwrap();
    assert_eq!(redacted, r#"{"text":"é [REDACTED:github-pat] ü"}"#);
}

#[test]
fn overlapping_findings_merge_under_the_specific_rule() {
    // generic-api-key also matches `api_token=ghp_…`; one redaction, named for GitHub.
    let text = format!("export API_TOKEN={GITHUB}");
    let (redacted, rules) = scanner().redact_text(&text).unwrap();
    assert_eq!(redacted, "export API_TOKEN=[REDACTED:github-pat]");
    assert_eq!(rules, ["github-pat"]);
}

#[test]
fn redacting_again_changes_nothing() {
    let raw = format!(r#"{{"text":"token={GITHUB} and postgres://app:Hunter2Hunter2@db:5432/x"}}"#);
    let once = redact(raw.as_bytes(), &scanner().scan_document(raw.as_bytes()));
    assert!(String::from_utf8_lossy(&once).contains("app:[REDACTED:database-url-password]@db"));
    assert_eq!(scanner().scan_document(&once), []);
}

#[test]
fn placeholders_and_look_alikes_are_not_secrets() {
    for text in [
        // Placeholders in connection URLs.
        "postgres://user:password@localhost/db",
        "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app",
        "mysql://root:<password>@127.0.0.1:3306",
        // Ids that look random: git SHAs, UUIDs, this service's share ids, hashes.
        "commit 3f786850e387550fdab836ed7e6dc881de23001b (HEAD -> main)",
        "task id 9b2c7e6a-1d4f-4c1e-9a37-5b8e2f0d6c41",
        "share code viragtiwari/az9MVr61PxEOK-sdvM2U5 and key_id = az9MVr61PxEOK",
        "sha256:e163e53b9e7e8a8511e77271e2b323ed057759542a6d988258afe3a1fa329caf",
        // Ordinary code about keys and tokens.
        "let token = parse_token(&header)?; const apiKey = process.env.API_KEY;",
        "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
    ] {
        assert_eq!(scanner().redact_text(text), None, "{text}");
    }
}

#[test]
fn image_data_is_not_scanned() {
    // A screenshot whose base64 happens to spell a token is still a screenshot.
    let raw = format!(
        r#"{{"messages":[{{"images":["data:image/png;base64,{GITHUB}"],"text":"x"}}],"other":"data:image/png;base64,{GITHUB}"}}"#
    );
    assert_eq!(scanner().scan_document(raw.as_bytes()), []);
}

#[test]
fn a_place_names_the_message_a_person_counts() {
    let at = |pointer: &str| Finding { rule: "x".into(), pointer: pointer.into(), raw: 0..0 };
    assert_eq!(at("/messages/2/text").place(), "message 3 (/messages/2/text)");
    assert_eq!(at("/task/task").place(), "task/task (/task/task)");
}

#[test]
fn a_refusal_says_how_many_which_kinds_and_where_in_one_line() {
    let raw = format!(
        r#"{{"task":{{"task":"x"}},"messages":[{{"text":"a"}},{{"text":"GITHUB_TOKEN={GITHUB}"}}]}}"#
    );
    let err = crate::error::ApiError::secrets_found(&scanner().scan_document(raw.as_bytes()));
    assert_eq!(
        err.body.error,
        "the session contains a credential (github-pat) at message 2 (/messages/1/text); \
         remove it and share again"
    );
}
