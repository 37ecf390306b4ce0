//! What every page shares: its content security policy, how it is streamed, and the settings
//! the server gives the page routes.

use super::document::DocumentCache;

/// Only this binary's own script, styles and images; nothing inline, nothing elsewhere.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";
/// Messages rendered per streamed part of a page.
pub const MESSAGES_PER_PART: usize = 25;

/// What only the share pages need, beside the application's state.
#[derive(Clone)]
pub struct PageSettings {
    /// Parsed sessions, so that page views and image requests do not each parse one.
    pub cache: DocumentCache,
    /// The extension the page's "Import to VS Code" deep link opens.
    pub vscode_extension_id: String,
}
