//! A stored session, parsed for display and kept in a bounded cache, so that a page and the
//! images it loads do not each parse tens of megabytes.

use std::sync::Arc;

use bytes::Bytes;
use moka::future::Cache;
use serde::Deserialize;

/// What the page shows of a session. Lenient: the schema was checked at upload.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PageDocument {
    pub task: PageTask,
    pub messages: Vec<PageMessage>,
    /// Messages as HTML, rendered once: markdown and highlighting are nearly all of a view's
    /// cost, and a message renders the same for every view.
    #[serde(skip)]
    rendered: Rendered,
    #[serde(skip)]
    order: std::sync::OnceLock<Vec<usize>>,
}

/// Rendered messages by index, and whole pages gzip-compressed by their fingerprint, within
/// one budget counted in [`PageDocument::weight`].
#[derive(Debug, Default)]
struct Rendered {
    html: std::sync::RwLock<std::collections::HashMap<usize, Bytes>>,
    pages: std::sync::RwLock<std::collections::HashMap<u64, Bytes>>,
    used: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PageTask {
    pub task: String,
    pub tokens_in: f64,
    pub tokens_out: f64,
    pub total_cost: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PageMessage {
    pub ts: f64,
    #[serde(rename = "type")]
    pub kind: String,
    pub ask: Option<String>,
    pub say: Option<String>,
    pub text: Option<String>,
    pub images: Vec<String>,
    pub reasoning: Option<String>,
}

impl PageDocument {
    pub fn parse(bytes: &[u8]) -> serde_json::Result<Self> {
        crate::json::parse_lenient(bytes)
    }

    /// Bytes held in memory: every string and every message, so the cache's bound is one.
    pub fn weight(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let messages: usize = self
            .messages
            .iter()
            .map(|m| {
                std::mem::size_of::<PageMessage>()
                    + m.kind.len()
                    + text(&m.ask)
                    + text(&m.say)
                    + text(&m.text)
                    + text(&m.reasoning)
                    + m.images
                        .iter()
                        .map(|i| i.len() + std::mem::size_of::<String>())
                        .sum::<usize>()
            })
            .sum();
        std::mem::size_of::<Self>() + self.task.task.len() + messages + self.render_budget()
    }

    /// Room for rendered HTML: highlighted code and escaped text grow; images are links.
    fn render_budget(&self) -> usize {
        let text: usize = self
            .messages
            .iter()
            .map(|m| {
                [&m.ask, &m.say, &m.text, &m.reasoning]
                    .iter()
                    .map(|s| s.as_ref().map_or(0, String::len))
                    .sum::<usize>()
                    + 256 * (1 + m.images.len())
            })
            .sum();
        // At least room for a page of a short session, compressed.
        (3 * text).max(64 * 1024)
    }

    /// Message `index` as HTML: rendered by `render` the first time, remembered while the
    /// budget allows.
    pub fn rendered(&self, index: usize, render: impl FnOnce() -> String) -> Bytes {
        if let Some(html) = self.cached(index) {
            return html;
        }
        let html = Bytes::from(render());
        if self.reserve(html.len()) {
            if let Some(old) = self.rendered.html.write().unwrap().insert(index, html.clone()) {
                self.release(old.len());
            }
        }
        html
    }

    /// A whole page, gzip-compressed, if kept (see [`Self::keep_compressed_page`]).
    pub fn compressed_page(&self, key: u64) -> Option<Bytes> {
        self.rendered.pages.read().unwrap().get(&key).cloned()
    }

    /// Keeps a compressed page under `key` (what it depends on besides the session) while
    /// the budget allows.
    pub fn keep_compressed_page(&self, key: u64, gzip: Bytes) {
        if self.reserve(gzip.len()) {
            if let Some(old) = self.rendered.pages.write().unwrap().insert(key, gzip) {
                self.release(old.len());
            }
        }
    }

    fn reserve(&self, bytes: usize) -> bool {
        use std::sync::atomic::Ordering;
        let used = self.rendered.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if used > self.render_budget() {
            self.release(bytes);
            return false;
        }
        true
    }

    fn release(&self, bytes: usize) {
        self.rendered.used.fetch_sub(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Message `index` as HTML if it has been rendered.
    pub fn cached(&self, index: usize) -> Option<Bytes> {
        self.rendered.html.read().unwrap().get(&index).cloned()
    }

    /// Message indexes (into `messages`) in the order of `ts`; ties keep upload order.
    pub fn chronological(&self) -> &[usize] {
        self.order.get_or_init(|| {
            let mut order: Vec<usize> = (0..self.messages.len()).collect();
            order.sort_by(|&a, &b| self.messages[a].ts.total_cmp(&self.messages[b].ts));
            order
        })
    }
}

/// An image from a data URL: only raster formats a browser shows inertly.
pub fn decode_image(data_url: &str) -> Option<(&'static str, Vec<u8>)> {
    use base64::Engine;
    let rest = data_url.strip_prefix("data:")?;
    let (header, data) = rest.split_once(',')?;
    let mime = header.strip_suffix(";base64")?;
    let mime = match mime.to_ascii_lowercase().as_str() {
        "image/png" => "image/png",
        "image/jpeg" | "image/jpg" => "image/jpeg",
        "image/gif" => "image/gif",
        "image/webp" => "image/webp",
        _ => return None,
    };
    let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim()).ok()?;
    Some((mime, bytes))
}

/// Parsed sessions by share id, weighed by their stored size.
#[derive(Clone)]
pub struct DocumentCache(Cache<String, Arc<PageDocument>>);

impl DocumentCache {
    pub fn new(max_bytes: u64) -> Self {
        Self(
            Cache::builder()
                .weigher(|_, doc: &Arc<PageDocument>| {
                    u32::try_from(doc.weight() / 1024 + 1).unwrap_or(u32::MAX)
                })
                .max_capacity(max_bytes / 1024)
                .time_to_idle(std::time::Duration::from_secs(600))
                .build(),
        )
    }

    pub async fn get(&self, id: &str) -> Option<Arc<PageDocument>> {
        self.0.get(id).await
    }

    pub async fn insert(&self, id: &str, bytes: Bytes) -> Result<Arc<PageDocument>, String> {
        let doc = tokio::task::spawn_blocking(move || PageDocument::parse(&bytes))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let doc = Arc::new(doc);
        self.0.insert(id.to_owned(), doc.clone()).await;
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weight_counts_every_field() {
        let mut doc = PageDocument::default();
        let empty = doc.weight();
        doc.task.task = "t".repeat(10_000);
        doc.messages
            .push(PageMessage { reasoning: Some("r".repeat(50_000)), ..Default::default() });
        doc.messages.push(PageMessage { ask: Some("a".repeat(20_000)), ..Default::default() });
        assert!(doc.weight() >= empty + 80_000, "{}", doc.weight());
    }

    #[test]
    fn only_raster_data_urls_decode() {
        let (mime, bytes) = decode_image("data:image/png;base64,iVBORw0KGgo=").unwrap();
        assert_eq!(mime, "image/png");
        assert_eq!(&bytes[..4], b"\x89PNG");
        assert!(decode_image("data:image/svg+xml;base64,PHN2Zz4=").is_none());
        assert!(decode_image("data:text/html;base64,PGgxPg==").is_none());
        assert!(decode_image("https://example.com/x.png").is_none());
        assert!(decode_image("data:image/png;base64,!!!").is_none());
    }

    #[test]
    fn messages_are_shown_in_ts_order() {
        let doc = PageDocument::parse(br#"{"task": {"task": "t"}, "messages": [
            {"ts": 3, "type": "say"}, {"ts": 1, "type": "say"}, {"ts": 2, "type": "ask"}, {"ts": 1, "type": "ask"}]}"#).unwrap();
        assert_eq!(doc.chronological(), [1, 3, 2, 0]);
    }
}
