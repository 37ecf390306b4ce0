//! The head every page of this service has, and the plain pages of errors. Built with maud:
//! every value is escaped unless it is marked as HTML already.

use maud::{Markup, PreEscaped, html};

/// What a page's head says besides its title and description.
#[derive(Default)]
pub struct Head<'a> {
    /// The share page's own URL.
    pub url: Option<&'a str>,
    /// The same page as Markdown.
    pub markdown: Option<&'a str>,
    pub indexable: bool,
    /// The page's one script, if it has one.
    pub script: Option<&'a str>,
}

/// The start of a page, up to its opened `<body>`: the rest streams after it.
pub fn head(title: &str, description: &str, more: Head) -> Markup {
    html! {
        (PreEscaped("<!doctype html>\n"))
        (PreEscaped("<html lang=\"en\">\n"))
        head {
            "\n"
            meta charset="utf-8"; "\n"
            meta name="viewport" content="width=device-width, initial-scale=1"; "\n"
            meta name="color-scheme" content="light dark"; "\n"
            @if !more.indexable { meta name="robots" content="noindex"; "\n" }
            title { (title) " · session-share" } "\n"
            meta name="description" content=(description); "\n"
            meta property="og:type" content="article"; "\n"
            meta property="og:site_name" content="session-share"; "\n"
            meta property="og:title" content=(title); "\n"
            meta property="og:description" content=(description); "\n"
            @if let Some(url) = more.url { meta property="og:url" content=(url); "\n" }
            meta name="twitter:card" content="summary"; "\n"
            meta name="twitter:title" content=(title); "\n"
            meta name="twitter:description" content=(description); "\n"
            link rel="icon" href="/favicon.ico" sizes="32x32"; "\n"
            @if let Some(markdown) = more.markdown {
                link rel="alternate" type="text/markdown" href=(markdown) title="Transcript (Markdown)"; "\n"
            }
            link rel="stylesheet" href="/assets/page.css"; "\n"
            link rel="stylesheet" href="/assets/highlight.css"; "\n"
            @if let Some(script) = more.script { script src=(script) defer {} "\n" }
        }
        "\n" (PreEscaped("<body>\n"))
    }
}

/// The end of every page.
pub const END: &str = "</body>\n</html>\n";

/// The head of a page of this service that is not a share: its own script, out of search.
pub fn head_of_page(title: &str, description: &str, script: &str) -> Markup {
    head(title, description, Head { script: Some(script), ..Head::default() })
}

/// A plain page for 404, 410 and the like.
pub fn error_page(status: u16, heading: &str, text: &str) -> String {
    html! {
        (head(heading, text, Head::default()))
        main class="error" { p class="status" { (status) } h1 { (heading) } p { (text) } } "\n"
        (PreEscaped(END))
    }
    .into_string()
}
