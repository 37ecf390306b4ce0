//! `/my`: where owners see and manage their shares in a browser, with the API they already
//! have (list, PATCH, DELETE with their key).
//!
//! The page is a fixed shell: nothing of any share is rendered by the server, since the server
//! does not know whose page it is until the script sends a key. The key stays in the tab's
//! `sessionStorage` (never a URL, a cookie or storage) and goes out only as `Syntx-Api-Key`.
//! The script writes every share's fields with `textContent`, so no title or tag is markup.

use poem::{Response, handler, http::header};

use maud::{PreEscaped, html};

use super::{
    head::{END, head_of_page},
    settings::PAGE_CSP,
};

#[handler]
pub fn owner_page() -> Response {
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header("Content-Security-Policy", PAGE_CSP)
        .header("Referrer-Policy", "no-referrer")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(SHELL.as_str())
}

static SHELL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    html! {
        (head_of_page("Your shares", "Manage the sessions you have shared.", "/assets/my.js"))
        header class="share" {
            "\n" p class="kicker" { "session-share" } "\n" h1 { "Your shares" } "\n"
            p class="meta" { "See, change and delete what you have shared, with your Syntx API key." } "\n"
        }
        "\n"
        main class="owner" {
            "\n"
            form id="sign-in" class="panel" autocomplete="off" {
                "\n" label for="key" { "API key" } "\n"
                input id="key" name="key" type="password" required spellcheck="false"
                    autocomplete="off" placeholder="Your Syntx API key"; "\n"
                button class="button primary" type="submit" { "Sign in" } "\n"
                p class="muted" { "The key stays in this tab until you sign out or close it." } "\n"
            }
            "\n"
            section id="shares-panel" hidden {
                "\n"
                div class="toolbar" {
                    "\n"
                    form id="search" class="search" role="search" {
                        "\n" label for="q" class="visually-hidden" { "Search" } "\n"
                        input id="q" type="search" placeholder="Search titles, descriptions, prompts"; "\n"
                        label for="tag" class="visually-hidden" { "Tag" } "\n"
                        input id="tag" type="text" placeholder="Tag" spellcheck="false"; "\n"
                        button class="button" type="submit" { "Search" } "\n"
                    }
                    "\n" button class="button" type="button" id="sign-out" { "Sign out" } "\n"
                }
                "\n" p id="who" class="muted" {} "\n"
                ul id="shares" class="shares" aria-label="Your shares" {} "\n"
                nav class="pages" aria-label="Pages" {
                    "\n" button class="button" type="button" id="previous" disabled { "← Newer" } "\n"
                    span id="page-number" { "Page 1" } "\n"
                    button class="button" type="button" id="next" disabled { "Older →" } "\n"
                }
                "\n"
            }
            "\n"
            section id="team-panel" hidden {
                "\n" h2 { "Your team's shares" } "\n"
                ul id="team-shares" class="shares" aria-label="Your team's shares" {} "\n"
            }
            "\n" p id="status" class="status" role="status" aria-live="polite" {} "\n"
        }
        "\n" footer class="foot" { a href="/docs" { "API" } } "\n"
        (PreEscaped(END))
    }
    .into_string()
});
