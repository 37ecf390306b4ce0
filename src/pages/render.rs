//! The share page's HTML, streamed in parts: the head and header first (so the browser can
//! paint), then the conversation in groups of messages.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    document::{PageDocument, PageMessage},
    markdown::{code_block, escape, render as markdown},
};
use crate::domain::{RevisionInfo, ShareRecord};

/// Messages per page: beyond this a conversation continues on the next page.
pub const MESSAGES_PER_PAGE: usize = 200;
/// Command output longer than this is folded.
const FOLD_OUTPUT_LINES: usize = 20;

/// What the page needs besides the session.
pub struct PageContext {
    pub id: String,
    /// The revision shown: the latest's options, its own size and messages.
    pub record: ShareRecord,
    /// Every revision kept, oldest first.
    pub revisions: Vec<RevisionInfo>,
    /// What links within the page add to stay in its revision (`revision=N`; empty for the
    /// latest).
    pub revision_query: String,
    pub share_url: String,
    /// The service's public base URL.
    pub public_url: String,
    pub import_url: String,
    pub page: usize,
    pub pages: usize,
    /// Whether search engines may index it (`--allow-indexing`).
    pub indexable: bool,
}

impl PageContext {
    /// The stored JSON of the revision shown.
    pub fn json_url(&self) -> String {
        let query = if self.revision_query.is_empty() {
            String::new()
        } else {
            format!("?{}", self.revision_query)
        };
        format!("{}/api/sessions/{}{query}", self.public_url, self.id)
    }

    /// The transcript of the revision shown.
    pub fn markdown_url(&self) -> String {
        let query = if self.revision_query.is_empty() {
            String::new()
        } else {
            format!("?{}", self.revision_query)
        };
        format!("{}.md{query}", self.share_url)
    }

    /// A link's query within this page's revision, to `page` if given.
    pub fn query(&self, page: Option<usize>) -> String {
        let parts: Vec<String> = [
            (!self.revision_query.is_empty()).then(|| self.revision_query.clone()),
            page.map(|p| format!("page={p}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&amp;")) }
    }

    /// "Revision 2 of 3 · updated …", with links to the neighbouring revisions, when there
    /// is more than one.
    fn revision_nav(&self) -> String {
        if self.revisions.len() < 2 {
            return String::new();
        }
        let at =
            self.revisions.iter().position(|r| r.revision == self.record.revision).unwrap_or(0);
        let link = |r: &RevisionInfo, id: &str, text: &str| {
            let latest = self.revisions.last().is_some_and(|l| l.revision == r.revision);
            let href = if latest {
                format!("/session/{}", self.id)
            } else {
                format!("/session/{}?revision={}", self.id, r.revision)
            };
            format!("<a id=\"{id}\" href=\"{}\">{text}</a>", escape(&href))
        };
        let older = at
            .checked_sub(1)
            .map(|i| link(&self.revisions[i], "older-revision", "← older"))
            .unwrap_or_default();
        let newer = self
            .revisions
            .get(at + 1)
            .map(|r| link(r, "newer-revision", "newer →"))
            .unwrap_or_default();
        let updated = self.record.revised_at;
        format!(
            "<p class=\"revision\" id=\"revision\">{older} <span>revision {} of {}, updated <time datetime=\"{}\">{}</time></span> {newer}</p>\n",
            self.record.revision,
            self.revisions.last().map_or(self.record.revision, |r| r.revision),
            updated.to_rfc3339(),
            updated.format("%B %-d, %Y %H:%M UTC"),
        )
    }
}

/// What a page's head says besides its title and description.
#[derive(Default)]
struct Head<'a> {
    /// The share page's own URL.
    url: Option<&'a str>,
    /// The same page as Markdown.
    markdown: Option<&'a str>,
    indexable: bool,
    /// The page's one script, if it has one.
    script: Option<&'a str>,
}

/// The head of a page of this service that is not a share: its own script, out of search.
pub fn head_of_page(title: &str, description: &str, script: &str) -> String {
    head(title, description, Head { script: Some(script), ..Head::default() })
}

fn head(title: &str, description: &str, more: Head) -> String {
    let (title, description) = (escape(title), escape(description));
    let og_url = more
        .url
        .map(|u| format!("<meta property=\"og:url\" content=\"{}\">\n", escape(u)))
        .unwrap_or_default();
    let alternate = more
        .markdown
        .map(|u| {
            format!(
                "<link rel=\"alternate\" type=\"text/markdown\" href=\"{}\" title=\"Transcript (Markdown)\">\n",
                escape(u)
            )
        })
        .unwrap_or_default();
    let robots = if more.indexable { "" } else { "<meta name=\"robots\" content=\"noindex\">\n" };
    let script =
        more.script.map(|s| format!("<script src=\"{s}\" defer></script>\n")).unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n{robots}\
         <title>{title} · session-share</title>\n\
         <meta name=\"description\" content=\"{description}\">\n\
         <meta property=\"og:type\" content=\"article\">\n\
         <meta property=\"og:site_name\" content=\"session-share\">\n\
         <meta property=\"og:title\" content=\"{title}\">\n\
         <meta property=\"og:description\" content=\"{description}\">\n{og_url}\
         <meta name=\"twitter:card\" content=\"summary\">\n\
         <meta name=\"twitter:title\" content=\"{title}\">\n\
         <meta name=\"twitter:description\" content=\"{description}\">\n\
         <link rel=\"icon\" href=\"/favicon.ico\" sizes=\"32x32\">\n{alternate}\
         <link rel=\"stylesheet\" href=\"/assets/page.css\">\n\
         <link rel=\"stylesheet\" href=\"/assets/highlight.css\">\n{script}</head>\n<body>\n"
    )
}

/// A plain page for 404, 410 and the like.
pub fn error_page(status: u16, heading: &str, text: &str) -> String {
    format!(
        "{}<main class=\"error\"><p class=\"status\">{status}</p><h1>{}</h1><p>{}</p></main>\n</body>\n</html>\n",
        head(heading, text, Head::default()),
        escape(heading),
        escape(text)
    )
}

fn number(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The head and the header: prompt, author, date, counts, buttons.
pub fn top(ctx: &PageContext, doc: &PageDocument) -> String {
    let prompt = if doc.task.task.trim().is_empty() {
        ctx.record.title.as_str()
    } else {
        doc.task.task.as_str()
    };
    let description = ctx.record.description.clone().unwrap_or_else(|| {
        let excerpt: String = prompt.chars().take(200).collect();
        format!("A shared AI coding session by {}: {excerpt}", ctx.record.username)
    });
    let created: DateTime<Utc> = ctx.record.created_at;
    let code = format!("{}/{}", ctx.record.username, ctx.id);
    let pager = if ctx.pages > 1 {
        format!(" · page {} of {}", ctx.page, ctx.pages)
    } else {
        String::new()
    };
    format!(
        "{head}<header class=\"share\">\n\
         <p class=\"kicker\">Shared session</p>\n\
         <h1 class=\"prompt\" id=\"prompt\">{prompt}</h1>\n\
         <p class=\"meta\"><span class=\"author\" id=\"author\">{author}</span> · \
         <time datetime=\"{iso}\">{date}</time> · <span id=\"message-count\" data-count=\"{count}\">{count_text} messages</span>{pager}</p>\n\
         <p class=\"stats\"><span>{tin} tokens in</span> · <span>{tout} tokens out</span> · <span id=\"cost\">${cost:.2}</span></p>\n\
         {revision_nav}{redactions}<nav class=\"actions\">\n\
         <a class=\"button primary\" id=\"import\" href=\"{import}\">Import to VS Code</a>\n\
         <button type=\"button\" class=\"button\" id=\"copy-code\" data-code=\"{code}\">Copy share code</button>\n\
         <a class=\"button\" id=\"download\" href=\"/api/public/sessions/{id}{query}\" download=\"{id}.json\">Download JSON</a>\n\
         <input id=\"share-code\" class=\"share-code\" value=\"{code}\" readonly hidden>\n\
         </nav>\n</header>\n<main class=\"chat\" id=\"chat\">\n",
        head = head(
            &ctx.record.title,
            &description,
            Head {
                url: Some(&ctx.share_url),
                markdown: Some(&ctx.markdown_url()),
                indexable: ctx.indexable,
                script: Some("/assets/page.js"),
            }
        ),
        prompt = escape(prompt),
        author = escape(ctx.record.username.as_str()),
        iso = created.to_rfc3339(),
        date = created.format("%B %-d, %Y"),
        count = doc.messages.len(),
        count_text = number(doc.messages.len() as f64),
        tin = number(doc.task.tokens_in),
        tout = number(doc.task.tokens_out),
        cost = doc.task.total_cost,
        import = escape(&ctx.import_url),
        code = escape(&code),
        id = escape(&ctx.id),
        query = ctx.query(None),
        revision_nav = ctx.revision_nav(),
        redactions = match ctx.record.redactions {
            0 => String::new(),
            n => format!(
                "<p class=\"notice\" id=\"redactions\" role=\"note\">{}</p>\n",
                redaction_notice(n)
            ),
        },
    )
}

/// The end of the page: links to the neighbouring pages.
pub fn bottom(ctx: &PageContext) -> String {
    let mut nav = String::from("</main>\n");
    if ctx.pages > 1 {
        nav.push_str("<nav class=\"pages\">");
        if ctx.page > 1 {
            nav.push_str(&format!(
                "<a id=\"earlier\" href=\"{}\">← Earlier messages</a>",
                ctx.query(Some(ctx.page - 1))
            ));
        }
        nav.push_str(&format!("<span>Page {} of {}</span>", ctx.page, ctx.pages));
        if ctx.page < ctx.pages {
            nav.push_str(&format!(
                "<a id=\"later\" href=\"{}\">Later messages →</a>",
                ctx.query(Some(ctx.page + 1))
            ));
        }
        nav.push_str("</nav>\n");
    }
    nav.push_str(
        "<footer class=\"foot\">Shared with session-share · \
         <a href=\"/my\" id=\"manage\">Manage your shares</a></footer>\n</body>\n</html>\n",
    );
    nav
}

pub(super) fn kind(m: &PageMessage) -> &str {
    m.say.as_deref().or(m.ask.as_deref()).unwrap_or("message")
}

pub(super) fn is_user(index_in_doc: usize, m: &PageMessage, doc: &PageDocument) -> bool {
    matches!(m.say.as_deref(), Some("user_feedback" | "user_feedback_diff"))
        || (index_in_doc == 0
            && m.say.as_deref() == Some("text")
            && m.text.as_deref().map(str::trim) == Some(doc.task.task.trim()))
}

fn json_text(m: &PageMessage) -> Option<serde_json::Map<String, Value>> {
    serde_json::from_str::<Value>(m.text.as_deref()?).ok()?.as_object().cloned()
}

fn raw(text: &str) -> String {
    let pretty = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned());
    format!(
        "<details class=\"raw\"><summary>Raw</summary><pre class=\"code\"><code>{}</code></pre></details>",
        escape(&pretty)
    )
}

fn field<'a>(object: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

fn folded_output(text: &str) -> String {
    let lines = text.lines().count();
    let pre = format!("<pre class=\"output\">{}</pre>", escape(text));
    if lines > FOLD_OUTPUT_LINES {
        format!("<details class=\"fold\"><summary>Output · {lines} lines</summary>{pre}</details>")
    } else {
        pre
    }
}

/// The body of one message, by kind. Unknown kinds are shown plainly.
fn content(m: &PageMessage) -> (String, String) {
    let text = m.text.as_deref().unwrap_or("");
    let k = kind(m);
    match k {
        "text" | "user_feedback" | "completion_result" => (label(k), markdown(text)),
        "reasoning" => (
            "Reasoning".into(),
            format!(
                "<details class=\"reasoning\"><summary>Reasoning</summary>{}</details>",
                markdown(text)
            ),
        ),
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
            let card = format!(
                "<div class=\"card api\"><span class=\"card-title\">API request</span> <span class=\"facts\">{}</span></div>",
                escape(&facts.join(" · "))
            );
            ("API request".into(), format!("{card}{}", raw(text)))
        }
        "tool" => {
            let Some(o) = json_text(m) else { return ("Tool".into(), folded_output(text)) };
            let tool = field(&o, "tool").unwrap_or("tool");
            let path = field(&o, "path")
                .map(|p| format!(" <code class=\"path\">{}</code>", escape(p)))
                .unwrap_or_default();
            let card = format!(
                "<div class=\"card tool\"><span class=\"card-title\">{}</span>{path}</div>",
                escape(tool)
            );
            ("Tool".into(), format!("{card}{}", raw(text)))
        }
        "followup" => {
            let Some(o) = json_text(m) else { return ("Question".into(), markdown(text)) };
            let question = field(&o, "question").unwrap_or("");
            let suggestions: Vec<String> = o
                .get("suggest")
                .and_then(Value::as_array)
                .map(|s| {
                    s.iter()
                        .filter_map(|v| {
                            v.as_str().or_else(|| v.get("answer").and_then(Value::as_str))
                        })
                        .map(|a| format!("<li>{}</li>", escape(a)))
                        .collect()
                })
                .unwrap_or_default();
            let list = if suggestions.is_empty() {
                String::new()
            } else {
                format!("<ul class=\"suggestions\">{}</ul>", suggestions.concat())
            };
            (
                "Question".into(),
                format!(
                    "<div class=\"card followup\">{}{list}</div>{}",
                    markdown(question),
                    raw(text)
                ),
            )
        }
        "command" => ("Command".into(), code_block("sh", &format!("$ {text}"))),
        "command_output" => ("Output".into(), folded_output(text)),
        "checkpoint_saved" => (
            "Checkpoint".into(),
            format!(
                "<p class=\"muted\">Checkpoint saved <code>{}</code></p>",
                escape(&text.chars().take(12).collect::<String>())
            ),
        ),
        _ => {
            // A kind this page does not know (newer extensions add them): shown plainly.
            let body = if json_text(m).is_some() {
                raw(text)
            } else if text.is_empty() {
                String::new()
            } else {
                format!("<pre class=\"plain\">{}</pre>", escape(text))
            };
            (k.to_owned(), body)
        }
    }
}

pub(super) fn label(kind: &str) -> String {
    match kind {
        "text" => "Assistant".into(),
        "user_feedback" => "User".into(),
        "completion_result" => "Result".into(),
        other => other.to_owned(),
    }
}

/// One message as an `<article>`. `index` is its position in the uploaded `messages`.
pub fn message(ctx: &PageContext, index: usize, doc: &PageDocument) -> String {
    let (share_id, image_query) = (&ctx.id, ctx.query(None));
    let m = &doc.messages[index];
    let user = is_user(index, m, doc);
    let (mut label, body) = content(m);
    if user {
        label = "User".into();
    }
    let reasoning = m
        .reasoning
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .map(|r| {
            format!(
                "<details class=\"reasoning\"><summary>Reasoning</summary>{}</details>",
                markdown(r)
            )
        })
        .unwrap_or_default();
    let images: String = (0..m.images.len())
        .map(|i| {
            let src = format!("/session/{share_id}/images/{index}/{i}{image_query}");
            format!("<a class=\"thumb\" href=\"{src}\" target=\"_blank\" rel=\"noopener\"><img src=\"{src}\" loading=\"lazy\" decoding=\"async\" alt=\"image {}\" width=\"160\" height=\"120\"></a>", i + 1)
        })
        .collect();
    let images =
        if images.is_empty() { images } else { format!("<div class=\"images\">{images}</div>") };
    let time = DateTime::<Utc>::from_timestamp_millis(m.ts as i64)
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default();
    format!(
        "<article class=\"msg {side} kind-{kind_class}\" id=\"m{index}\" data-kind=\"{kind_attr}\">\n<div class=\"bubble\"><div class=\"label\">{label} <time>{time}</time></div>\n{reasoning}{body}{images}</div>\n</article>\n",
        side = if user { "user" } else { "assistant" },
        kind_class = escape(&kind(m).replace(|c: char| !c.is_ascii_alphanumeric(), "-")),
        kind_attr = escape(kind(m)),
        label = escape(&label),
    )
}

/// "2 credentials were redacted before this was shared."
pub fn redaction_notice(count: u32) -> String {
    match count {
        1 => "1 credential was redacted before this was shared.".to_owned(),
        n => format!("{n} credentials were redacted before this was shared."),
    }
}
