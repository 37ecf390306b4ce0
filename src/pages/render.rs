//! The share page's HTML, streamed in parts: the head and header first (so the browser can
//! paint), then the conversation in groups of messages ([`super::message`]), then the end.
//! Built with maud, which escapes every value unless it is marked as HTML already.

use chrono::{DateTime, Utc};
use maud::{Markup, PreEscaped, html};

use super::{
    document::PageDocument,
    head::{END, Head, head},
};
use crate::domain::{RevisionInfo, ShareRecord};

/// Messages per page: beyond this a conversation continues on the next page.
pub const MESSAGES_PER_PAGE: usize = 200;

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
    /// The signed link the page was opened with: what it links carries it too.
    pub link: Option<String>,
}

impl PageContext {
    /// The stored JSON of the revision shown.
    pub fn json_url(&self) -> String {
        format!("{}/api/sessions/{}{}", self.public_url, self.id, self.query(None))
    }

    /// The transcript of the revision shown.
    pub fn markdown_url(&self) -> String {
        format!("{}.md{}", self.share_url, self.query(None))
    }

    /// A link's query within this page's revision, to `page` if given (not escaped: a
    /// template escapes it where it goes).
    pub fn query(&self, page: Option<usize>) -> String {
        let parts: Vec<String> = [
            (!self.revision_query.is_empty()).then(|| self.revision_query.clone()),
            page.map(|p| format!("page={p}")),
            self.link.as_ref().map(|l| format!("link={l}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
    }

    /// "Revision 2 of 3 · updated …", with links to the neighbouring revisions, when there
    /// is more than one.
    fn revision_nav(&self) -> Markup {
        if self.revisions.len() < 2 {
            return html! {};
        }
        let at =
            self.revisions.iter().position(|r| r.revision == self.record.revision).unwrap_or(0);
        let link = |r: &RevisionInfo, id: &str, text: &str| {
            let latest = self.revisions.last().is_some_and(|l| l.revision == r.revision);
            let link = self.link.as_ref().map(|l| format!("link={l}"));
            let query: Vec<String> = [(!latest).then(|| format!("revision={}", r.revision)), link]
                .into_iter()
                .flatten()
                .collect();
            let href = match query.as_slice() {
                [] => format!("/session/{}", self.id),
                parts => format!("/session/{}?{}", self.id, parts.join("&")),
            };
            html! { a id=(id) href=(href) { (text) } }
        };
        let updated = self.record.revised_at;
        let last = self.revisions.last().map_or(self.record.revision, |r| r.revision);
        html! {
            p class="revision" id="revision" {
                @if let Some(i) = at.checked_sub(1) { (link(&self.revisions[i], "older-revision", "← older")) }
                " "
                span {
                    "revision " (self.record.revision) " of " (last) ", updated "
                    time datetime=(updated.to_rfc3339()) { (updated.format("%B %-d, %Y %H:%M UTC")) }
                }
                " "
                @if let Some(r) = self.revisions.get(at + 1) { (link(r, "newer-revision", "newer →")) }
            }
            "\n"
        }
    }
}

/// The head and the header: prompt, author, date, counts, buttons; the conversation opened.
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
    let markdown = ctx.markdown_url();
    let more = Head {
        url: Some(&ctx.share_url),
        markdown: Some(&markdown),
        indexable: ctx.indexable,
        script: Some("/assets/page.js"),
    };
    html! {
        (head(&ctx.record.title, &description, more))
        header class="share" {
            "\n"
            p class="kicker" { "Shared session" } "\n"
            h1 class="prompt" id="prompt" { (prompt) } "\n"
            p class="meta" {
                span class="author" id="author" { (ctx.record.username.as_str()) } " · "
                time datetime=(created.to_rfc3339()) { (created.format("%B %-d, %Y")) } " · "
                span id="message-count" data-count=(doc.messages.len()) {
                    (number(doc.messages.len() as f64)) " messages"
                }
                @if ctx.pages > 1 { " · page " (ctx.page) " of " (ctx.pages) }
            }
            "\n"
            p class="stats" {
                span { (number(doc.task.tokens_in)) " tokens in" } " · "
                span { (number(doc.task.tokens_out)) " tokens out" } " · "
                span id="cost" { "$" (format!("{:.2}", doc.task.total_cost)) }
            }
            "\n"
            (ctx.revision_nav())
            @if ctx.record.redactions > 0 {
                p class="notice" id="redactions" role="note" { (redaction_notice(ctx.record.redactions)) } "\n"
            }
            nav class="actions" {
                "\n"
                a class="button primary" id="import" href=(ctx.import_url) { "Import to VS Code" } "\n"
                button type="button" class="button" id="copy-code" data-code=(code) { "Copy share code" } "\n"
                a class="button" id="download" href={ "/api/sessions/" (ctx.id) (ctx.query(None)) }
                    download={ (ctx.id) ".json" } { "Download JSON" } "\n"
                input id="share-code" class="share-code" value=(code) readonly hidden; "\n"
            }
            "\n"
        }
        "\n" (PreEscaped("<main class=\"chat\" id=\"chat\">\n"))
    }
    .into_string()
}

/// The end of the page: links to the neighbouring pages.
pub fn bottom(ctx: &PageContext) -> String {
    html! {
        (PreEscaped("</main>\n"))
        @if ctx.pages > 1 {
            nav class="pages" {
                @if ctx.page > 1 { a id="earlier" href=(ctx.query(Some(ctx.page - 1))) { "← Earlier messages" } }
                span { "Page " (ctx.page) " of " (ctx.pages) }
                @if ctx.page < ctx.pages { a id="later" href=(ctx.query(Some(ctx.page + 1))) { "Later messages →" } }
            }
            "\n"
        }
        footer class="foot" { "Shared with session-share · " a href="/my" id="manage" { "Manage your shares" } } "\n"
        (PreEscaped(END))
    }
    .into_string()
}

/// `1234567.8` as `1,234,568`.
pub(super) fn number(n: f64) -> String {
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

/// "2 credentials were redacted before this was shared."
pub fn redaction_notice(count: u32) -> String {
    match count {
        1 => "1 credential was redacted before this was shared.".to_owned(),
        n => format!("{n} credentials were redacted before this was shared."),
    }
}
