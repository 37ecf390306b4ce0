//! One message of a session as the share page shows it: by kind (text, reasoning, API
//! requests, tools, questions, commands and their output), with its images as thumbnails.
//! Session text is hostile: maud escapes every value; Markdown is rendered and sanitized by
//! [`super::markdown`] before it is marked as HTML.

use chrono::{DateTime, Utc};
use maud::{Markup, PreEscaped, html};
use serde_json::Value;

use super::{
    document::{PageDocument, PageMessage},
    markdown::{code_block, render as markdown},
    render::{PageContext, number},
};

/// Command output longer than this is folded.
const FOLD_OUTPUT_LINES: usize = 20;

pub(super) fn kind(m: &PageMessage) -> &str {
    m.say.as_deref().or(m.ask.as_deref()).unwrap_or("message")
}

pub(super) fn is_user(index_in_doc: usize, m: &PageMessage, doc: &PageDocument) -> bool {
    matches!(m.say.as_deref(), Some("user_feedback" | "user_feedback_diff"))
        || (index_in_doc == 0
            && m.say.as_deref() == Some("text")
            && m.text.as_deref().map(str::trim) == Some(doc.task.task.trim()))
}

pub(super) fn label(kind: &str) -> String {
    match kind {
        "text" => "Assistant".into(),
        "user_feedback" => "User".into(),
        "completion_result" => "Result".into(),
        other => other.to_owned(),
    }
}

fn json_text(m: &PageMessage) -> Option<serde_json::Map<String, Value>> {
    serde_json::from_str::<Value>(m.text.as_deref()?).ok()?.as_object().cloned()
}

fn field<'a>(object: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// Markdown, rendered and sanitized: HTML from here on.
fn rendered(text: &str) -> Markup {
    PreEscaped(markdown(text))
}

fn raw(text: &str) -> Markup {
    let pretty = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned());
    html! { details class="raw" { summary { "Raw" } pre class="code" { code { (pretty) } } } }
}

fn folded_output(text: &str) -> Markup {
    let lines = text.lines().count();
    let pre = html! { pre class="output" { (text) } };
    if lines <= FOLD_OUTPUT_LINES {
        return pre;
    }
    html! { details class="fold" { summary { "Output · " (lines) " lines" } (pre) } }
}

fn reasoning(text: &str) -> Markup {
    html! { details class="reasoning" { summary { "Reasoning" } (rendered(text)) } }
}

/// The label and the body of one message, by kind. Unknown kinds are shown plainly.
fn content(m: &PageMessage) -> (String, Markup) {
    let text = m.text.as_deref().unwrap_or("");
    let k = kind(m);
    match k {
        "text" | "user_feedback" | "completion_result" => (label(k), rendered(text)),
        "reasoning" => ("Reasoning".into(), reasoning(text)),
        "api_req_started" => {
            let Some(o) = json_text(m) else { return ("API request".into(), folded_output(text)) };
            let num = |key: &str| o.get(key).and_then(Value::as_f64);
            let mut facts = Vec::new();
            if let Some(n) = num("tokensIn") {
                facts.push(format!("{} in", number(n)));
            }
            if let Some(n) = num("tokensOut") {
                facts.push(format!("{} out", number(n)));
            }
            if let Some(n) = num("cacheReads") {
                facts.push(format!("{} cache reads", number(n)));
            }
            if let Some(c) = num("cost") {
                facts.push(format!("${c:.4}"));
            }
            let body = html! {
                div class="card api" {
                    span class="card-title" { "API request" } " " span class="facts" { (facts.join(" · ")) }
                }
                (raw(text))
            };
            ("API request".into(), body)
        }
        "tool" => {
            let Some(o) = json_text(m) else { return ("Tool".into(), folded_output(text)) };
            let body = html! {
                div class="card tool" {
                    span class="card-title" { (field(&o, "tool").unwrap_or("tool")) }
                    @if let Some(path) = field(&o, "path") { " " code class="path" { (path) } }
                }
                (raw(text))
            };
            ("Tool".into(), body)
        }
        "followup" => {
            let Some(o) = json_text(m) else { return ("Question".into(), rendered(text)) };
            let suggestions: Vec<&str> = o
                .get("suggest")
                .and_then(Value::as_array)
                .map(|s| {
                    s.iter()
                        .filter_map(|v| {
                            v.as_str().or_else(|| v.get("answer").and_then(Value::as_str))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let body = html! {
                div class="card followup" {
                    (rendered(field(&o, "question").unwrap_or("")))
                    @if !suggestions.is_empty() {
                        ul class="suggestions" { @for answer in &suggestions { li { (answer) } } }
                    }
                }
                (raw(text))
            };
            ("Question".into(), body)
        }
        "command" => ("Command".into(), PreEscaped(code_block("sh", &format!("$ {text}")))),
        "command_output" => ("Output".into(), folded_output(text)),
        "checkpoint_saved" => {
            let short: String = text.chars().take(12).collect();
            (
                "Checkpoint".into(),
                html! { p class="muted" { "Checkpoint saved " code { (short) } } },
            )
        }
        // A kind this page does not know (newer extensions add them): shown plainly.
        _ => {
            let body = html! {
                @if json_text(m).is_some() { (raw(text)) }
                @else if !text.is_empty() { pre class="plain" { (text) } }
            };
            (k.to_owned(), body)
        }
    }
}

/// One message as an `<article>`. `index` is its position in the uploaded `messages`.
pub fn message(ctx: &PageContext, index: usize, doc: &PageDocument) -> String {
    let m = &doc.messages[index];
    let user = is_user(index, m, doc);
    let (label, body) = content(m);
    let label = if user { "User".to_owned() } else { label };
    let time = DateTime::<Utc>::from_timestamp_millis(m.ts as i64)
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default();
    let image = |i: usize| format!("/session/{}/images/{index}/{i}{}", ctx.id, ctx.query(None));
    let kind_class = kind(m).replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    html! {
        article class={ "msg " (if user { "user" } else { "assistant" }) " kind-" (kind_class) }
            id={ "m" (index) } data-kind=(kind(m)) {
            "\n"
            div class="bubble" {
                div class="label" { (label) " " time { (time) } } "\n"
                @if let Some(text) = m.reasoning.as_deref().filter(|r| !r.trim().is_empty()) {
                    (reasoning(text))
                }
                (body)
                @if !m.images.is_empty() {
                    div class="images" {
                        @for i in 0..m.images.len() {
                            a class="thumb" href=(image(i)) target="_blank" rel="noopener" {
                                img src=(image(i)) loading="lazy" decoding="async"
                                    alt={ "image " (i + 1) } width="160" height="120";
                            }
                        }
                    }
                }
            }
            "\n"
        }
        "\n"
    }
    .into_string()
}
