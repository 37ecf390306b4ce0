//! A share as Markdown (`/session/{id}.md`, or the page with `Accept: text/markdown`): what an
//! AI agent, or anyone without a browser, reads of it.
//!
//! The session's text is hostile: nothing in it may pass for this file's own structure.
//! What people and the model wrote is quoted (`> ` on every line, so a block it opens ends
//! with the quote); tool calls, commands and their output are in fences longer than any run
//! of backticks inside them, so no line of theirs can close the fence.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::{
    document::PageDocument,
    message::{is_user, kind, label},
    render::{PageContext, redaction_notice},
};

/// The whole session, every message in order.
pub fn transcript(ctx: &PageContext, doc: &PageDocument) -> String {
    let record = &ctx.record;
    let mut out = String::with_capacity(doc.weight().min(64 << 20) / 2);
    out.push_str(&format!("# {}\n\n", one_line(&record.title)));
    out.push_str(&format!("- Shared by: {}\n", record.username));
    out.push_str(&format!("- Shared: {}\n", when(record.created_at)));
    if let Some(latest) = ctx.revisions.last().filter(|r| r.revision > 1) {
        out.push_str(&format!(
            "- Revision: {} of {} ({})\n",
            record.revision,
            latest.revision,
            when(record.revised_at)
        ));
    }
    out.push_str(&format!("- Messages: {}\n", doc.messages.len()));
    out.push_str(&format!("- Page: {}{}\n", ctx.share_url, ctx.query(None)));
    out.push_str(&format!("- JSON: {}\n", ctx.json_url()));
    if record.redactions > 0 {
        out.push_str(&format!("- Note: {}\n", redaction_notice(record.redactions)));
    }
    out.push_str("\n## Task\n\n");
    out.push_str(&quoted(&doc.task.task));
    for (n, &index) in doc.chronological().iter().enumerate() {
        out.push_str(&message(ctx, doc, index, n + 1));
    }
    out
}

fn message(ctx: &PageContext, doc: &PageDocument, index: usize, n: usize) -> String {
    let m = &doc.messages[index];
    let text = m.text.as_deref().unwrap_or("");
    let time = DateTime::<Utc>::from_timestamp_millis(m.ts as i64).map(when).unwrap_or_default();
    let who = if is_user(index, m, doc) { "User".to_owned() } else { label(kind(m)) };
    let mut body = String::new();
    if let Some(reasoning) = m.reasoning.as_deref().filter(|r| !r.trim().is_empty()) {
        body.push_str("Reasoning:\n\n");
        body.push_str(&quoted(reasoning));
    }
    let heading = match kind(m) {
        _ if who == "User" => {
            body.push_str(&quoted(text));
            who
        }
        "text" | "user_feedback" | "completion_result" | "reasoning" | "followup" => {
            let question = json_object(text)
                .and_then(|o| o.get("question").and_then(Value::as_str).map(str::to_owned));
            body.push_str(&quoted(question.as_deref().unwrap_or(text)));
            if kind(m) == "reasoning" { "Reasoning".to_owned() } else { who }
        }
        "tool" => {
            let object = json_object(text);
            let field =
                |key: &str| object.as_ref().and_then(|o| o.get(key)?.as_str().map(one_line));
            let mut heading = format!("Tool: {}", field("tool").unwrap_or_else(|| "tool".into()));
            if let Some(path) = field("path") {
                heading.push_str(&format!(" ({path})"));
            }
            body.push_str(&fenced("json", &pretty(text)));
            heading
        }
        "command" => {
            body.push_str(&fenced("sh", &format!("$ {text}")));
            "Command".to_owned()
        }
        "api_req_started" => {
            let facts = json_object(text).map(|o| api_facts(&o)).unwrap_or_default();
            body.push_str(&format!("{}\n", if facts.is_empty() { "(no details)" } else { &facts }));
            "API request".to_owned()
        }
        "checkpoint_saved" => {
            body.push_str(&format!(
                "Checkpoint {}\n",
                one_line(&text.chars().take(40).collect::<String>())
            ));
            "Checkpoint".to_owned()
        }
        _ if text.is_empty() => who,
        "command_output" => {
            body.push_str(&fenced("text", text));
            "Output".to_owned()
        }
        _ => {
            body.push_str(&fenced(
                if json_object(text).is_some() { "json" } else { "text" },
                &pretty(text),
            ));
            who
        }
    };
    for i in 0..m.images.len() {
        body.push_str(&format!(
            "\n![image {}]({}/images/{index}/{i}{})\n",
            i + 1,
            ctx.share_url,
            ctx.query(None),
        ));
    }
    format!(
        "\n## {n}. {}{}\n\n{body}",
        one_line(&heading),
        if time.is_empty() { String::new() } else { format!(" · {time}") }
    )
}

fn when(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A title or name on one line: nothing in it can start a line of this file.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` as a block quote: every line behind `> `, so whatever it opens (a fence, a list)
/// ends where the quote does, and nothing in it reads as a heading of this file.
fn quoted(text: &str) -> String {
    if text.trim().is_empty() {
        return "> \n".to_owned();
    }
    let mut out = String::with_capacity(text.len() + text.len() / 16 + 4);
    for line in text.lines() {
        out.push('>');
        if !line.is_empty() {
            out.push(' ');
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// `text` in a fenced code block whose fence no line of `text` can close: one backtick
/// longer than the longest run of backticks in it (and at least three).
fn fenced(info: &str, text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    let newline = if text.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{info}\n{text}{newline}{fence}\n")
}

fn json_object(text: &str) -> Option<serde_json::Map<String, Value>> {
    match serde_json::from_str::<Value>(text).ok()? {
        Value::Object(o) => Some(o),
        _ => None,
    }
}

fn pretty(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned())
}

fn api_facts(o: &serde_json::Map<String, Value>) -> String {
    let num = |key: &str| o.get(key).and_then(Value::as_f64);
    let mut facts = Vec::new();
    for (key, what) in
        [("tokensIn", "tokens in"), ("tokensOut", "tokens out"), ("cacheReads", "cache reads")]
    {
        if let Some(n) = num(key) {
            facts.push(format!("{n:.0} {what}"));
        }
    }
    if let Some(cost) = num("cost") {
        facts.push(format!("${cost:.4}"));
    }
    facts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_line_of_the_content_closes_its_fence() {
        let hostile = "```\n````\n  `````\nend";
        let block = fenced("text", hostile);
        assert!(block.starts_with("``````text\n"), "{block}");
        assert!(block.ends_with("\n``````\n"));
    }

    #[test]
    fn quoted_text_cannot_start_a_heading_or_leave_the_quote() {
        let quote = quoted("hi\n## 3. User\n```\nunclosed");
        assert!(quote.lines().all(|l| l.starts_with('>')), "{quote}");
    }

    #[test]
    fn a_title_stays_on_its_line() {
        assert_eq!(one_line("a\n# b\r\n  c"), "a # b c");
    }
}
