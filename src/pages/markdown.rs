//! Session text to safe HTML: Markdown rendered, raw HTML shown as text, links limited to
//! http(s) and mailto, code highlighted.
//!
//! Session content is hostile input. Raw HTML in Markdown is never passed through (it becomes
//! visible text), and the rendered HTML is sanitized by ammonia as a second line of defence.
//! Highlighted code is generated here from escaped text, so it is inserted after sanitizing,
//! at placeholders that session text cannot forge (they carry a random nonce).

use std::sync::LazyLock;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd, html::push_html};
use syntect::{
    highlighting::ThemeSet,
    html::{ClassStyle, ClassedHTMLGenerator, css_for_theme_with_class_style},
    parsing::SyntaxSet,
    util::LinesWithEndings,
};

/// Code blocks longer than this are folded.
const FOLD_CODE_LINES: usize = 30;
/// Longer code is shown unhighlighted: highlighting is the slow part of a page.
const MAX_HIGHLIGHT_BYTES: usize = 64 * 1024;
const CLASS_STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .rm_tags(["img"])
        .url_schemes(["http", "https", "mailto"].into())
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"));
    builder
});

/// The stylesheet for highlighted code: a light theme, and a dark one for dark schemes.
pub fn highlight_css() -> String {
    let themes = ThemeSet::load_defaults();
    let light = css_for_theme_with_class_style(&themes.themes["InspiredGitHub"], CLASS_STYLE)
        .unwrap_or_default();
    let dark = css_for_theme_with_class_style(&themes.themes["base16-ocean.dark"], CLASS_STYLE)
        .unwrap_or_default();
    format!("{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n")
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A code block: highlighted when the language is known and the code not huge; folded when
/// long.
pub fn code_block(lang: &str, code: &str) -> String {
    let lines = code.lines().count();
    let syntax = (!lang.is_empty() && code.len() <= MAX_HIGHLIGHT_BYTES)
        .then(|| SYNTAXES.find_syntax_by_token(lang))
        .flatten();
    let body = match syntax {
        Some(syntax) => {
            let mut generator =
                ClassedHTMLGenerator::new_with_class_style(syntax, &SYNTAXES, CLASS_STYLE);
            let highlighted = LinesWithEndings::from(code)
                .all(|line| generator.parse_html_for_line_which_includes_newline(line).is_ok());
            if highlighted { generator.finalize() } else { escape(code) }
        }
        None => escape(code),
    };
    let pre = format!("<pre class=\"code\"><code>{body}</code></pre>");
    if lines > FOLD_CODE_LINES {
        let label = if lang.is_empty() { "code".to_owned() } else { escape(lang) };
        format!("<details class=\"fold\"><summary>{label} · {lines} lines</summary>{pre}</details>")
    } else {
        pre
    }
}

/// Markdown to sanitized HTML.
pub fn render(text: &str) -> String {
    let nonce = nanoid::nanoid!(16, &ALNUM);
    let mut blocks: Vec<String> = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    let mut code: Option<(String, String)> = None;
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    for event in Parser::new_ext(text, options) {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => {
                        info.split_whitespace().next().unwrap_or("").to_owned()
                    }
                    CodeBlockKind::Indented => String::new(),
                };
                code = Some((lang, String::new()));
            }
            Event::End(TagEnd::CodeBlock) => {
                let (lang, body) = code.take().unwrap_or_default();
                events
                    .push(Event::Text(format!("\u{E000}{nonce}:{}\u{E000}", blocks.len()).into()));
                blocks.push(code_block(&lang, &body));
            }
            Event::Text(t) if code.is_some() => {
                code.as_mut().expect("in a code block").1.push_str(&t)
            }
            // Raw HTML is shown, never interpreted.
            Event::Html(raw) | Event::InlineHtml(raw) => events.push(Event::Text(raw)),
            other => events.push(other),
        }
    }
    let mut html = String::with_capacity(text.len() * 2);
    push_html(&mut html, events.into_iter());
    let mut clean = SANITIZER.clean(&html).to_string();
    for (n, block) in blocks.iter().enumerate() {
        clean = clean.replacen(&format!("\u{E000}{nonce}:{n}\u{E000}"), block, 1);
    }
    clean
}

const ALNUM: [char; 62] = [
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
    't', 'u', 'v', 'w', 'x', 'y', 'z', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L',
    'M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', '0', '1', '2', '3', '4',
    '5', '6', '7', '8', '9',
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_and_code_is_highlighted() {
        let html = render("# Title\n\nSome *emphasis* and `code`.\n\n```rust\nfn main() {}\n```\n");
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<em>emphasis</em>"));
        assert!(html.contains("<pre class=\"code\"><code>"), "{html}");
        assert!(html.contains("hl-"), "no highlighting: {html}");
    }

    #[test]
    fn hostile_content_is_inert() {
        let html = render(concat!(
            "<script>window.__xss=1</script>\n\n",
            "<img src=x onerror=\"window.__xss=1\">\n\n",
            "[click](javascript:window.__xss=1) [ok](https://example.com)\n\n",
            "<style>body{background:red}</style>\n\n",
            "<a href=\"javascript:alert(1)\" onclick=\"alert(1)\">x</a>\n\n",
            "![pixel](https://tracker.example/p.png)\n\n",
            "```html\n<script>alert(1)</script>\n```\n",
        ));
        // Text is escaped, so every literal `<...>` left is a real tag.
        let tags: Vec<&str> =
            html.split('<').skip(1).map(|t| t.split('>').next().unwrap()).collect();
        for tag in &tags {
            let lower = tag.to_lowercase();
            let name = lower.split_whitespace().next().unwrap_or("").trim_start_matches('/');
            assert!(
                !["script", "img", "style", "iframe"].contains(&name),
                "<{tag}> survived in {html}"
            );
            assert!(!lower.contains("javascript:"), "<{tag}> survived in {html}");
            assert!(
                !lower
                    .split_whitespace()
                    .skip(1)
                    .any(|a| a.starts_with("on") || a.starts_with("style")),
                "<{tag}> survived in {html}"
            );
        }
        assert!(html.contains("&lt;script&gt;"), "raw HTML is shown as text: {html}");
        assert!(html.contains("href=\"https://example.com\""), "{html}");
    }

    #[test]
    fn placeholders_cannot_be_forged() {
        let html = render("\u{E000}abc:0\u{E000}\n\n```\nreal\n```\n");
        assert_eq!(html.matches("<pre").count(), 1, "{html}");
    }

    #[test]
    fn long_code_is_folded() {
        let code = (0..40).map(|i| format!("line {i}\n")).collect::<String>();
        assert!(code_block("", &code).starts_with("<details"));
        assert!(code_block("", "short\n").starts_with("<pre"));
    }
}
