//! Realistic sessions made from a seed, in the shapes of the extension's real ones: the same
//! bytes on every machine and every run, so the large sessions need not be committed.
//!
//! `small.json` and `medium.json` are committed under `tests/fixtures/`; `large` (3 MB) and
//! `xlarge` (25 MB) are generated here: a chat of the usual kinds (text, reasoning,
//! `api_req_started`, tool and command asks, command output, checkpoints, follow-up questions,
//! completion results) with real PNG screenshots in user feedback.
//!
//! Used by the integration tests, the benchmark and `cargo run --example sessions`, which
//! writes them to files for the browser tests.

use rand::{Rng, RngCore, SeedableRng, seq::IndexedRandom};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub seed: u64,
    pub messages: usize,
    /// PNG screenshots, spread over the user-feedback messages.
    pub images: usize,
    /// Pixels per image side, on average.
    pub image_side: u32,
}

/// About 3 MB: 2,600 messages, 67 screenshots.
pub const LARGE: Shape = Shape { seed: 3, messages: 2_600, images: 67, image_side: 96 };
/// About 25 MB: 20,000 messages, 580 screenshots.
pub const XLARGE: Shape = Shape { seed: 25, messages: 20_000, images: 580, image_side: 98 };

/// A generated session by name (`large.json`, `xlarge.json`), or `None`.
pub fn by_name(name: &str) -> Option<Vec<u8>> {
    match name {
        "large.json" => Some(generate(LARGE)),
        "xlarge.json" => Some(generate(XLARGE)),
        _ => None,
    }
}

const WORDS: &[&str] = &[
    "api",
    "async",
    "await",
    "bucket",
    "build",
    "bytes",
    "client",
    "cloud",
    "config",
    "crate",
    "error",
    "export",
    "file",
    "function",
    "handler",
    "id",
    "import",
    "index",
    "key",
    "message",
    "module",
    "object",
    "parse",
    "path",
    "request",
    "response",
    "retry",
    "return",
    "route",
    "schema",
    "serialize",
    "server",
    "session",
    "share",
    "store",
    "stream",
    "test",
    "the",
    "timeout",
    "token",
    "user",
    "validate",
    "value",
    "a",
];

const SNIPPETS: &[&str] = &[
    "```\nfn main() {\n    println!(\"hello\");\n}\n```\n",
    "```rust\nasync fn upload(client: &Client, body: Bytes) -> Result<Id> {\n    let resp = client.post(URL).body(body).send().await?;\n    Ok(resp.json().await?)\n}\n```\n",
    "```ts\nexport async function load(id: string) {\n  const res = await fetch(`/api/sessions/${id}`)\n  return res.json()\n}\n```\n",
    "```\ndef handle(request):\n    return {\"status\": \"ok\"}\n```\n",
];

const UNICODE_CHECK: &str = "Unicode check: naïve café — 日本語 ✓ 🚀 \"quoted\" \\ backslash\ttab";

struct Writer {
    rng: ChaCha8Rng,
}

impl Writer {
    fn word(&mut self) -> &'static str {
        WORDS.choose(&mut self.rng).copied().unwrap_or("a")
    }

    fn sentence(&mut self) -> String {
        let n = self.rng.random_range(5..18);
        let mut words: Vec<&str> = (0..n).map(|_| self.word()).collect();
        let first = words[0];
        let capital = first[..1].to_uppercase() + &first[1..];
        words[0] = &capital;
        format!("{}.", words.join(" "))
    }

    fn paragraph(&mut self, sentences: std::ops::Range<usize>) -> String {
        let n = self.rng.random_range(sentences);
        (0..n).map(|_| self.sentence()).collect::<Vec<_>>().join(" ")
    }

    /// A paragraph or two, sometimes with a code block, now and then the Unicode check.
    fn prose(&mut self) -> String {
        let mut text = self.paragraph(2..7);
        if self.rng.random_bool(0.3) {
            text += "\n\n";
            text += &self.paragraph(1..4);
        }
        if self.rng.random_bool(0.35) {
            text += "\n\n";
            text += SNIPPETS.choose(&mut self.rng).unwrap();
        }
        if self.rng.random_bool(0.02) {
            text += "\n\n";
            text += UNICODE_CHECK;
        }
        text
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len).map(|_| char::from_digit(self.rng.random_range(0..16), 16).unwrap()).collect()
    }

    fn path(&mut self) -> String {
        let ext = ["rs", "ts", "py", "toml", "md"].choose(&mut self.rng).unwrap();
        format!("src/{}.{ext}", self.word())
    }

    fn command_output(&mut self) -> String {
        let lines = self.rng.random_range(5..60);
        (0..lines)
            .map(|_| format!("test {}::{} ... ok", self.word(), self.word()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A screenshot: a gradient with noise, so it compresses like a real one (a little).
    fn png(&mut self, side: u32) -> String {
        use base64::Engine;
        let (w, h) = (self.rng.random_range(side / 2..side * 3 / 2), side);
        let mut pixels = vec![0u8; (w * h * 3) as usize];
        self.rng.fill_bytes(&mut pixels);
        let tint: [u8; 3] = self.rng.random();
        for (i, pixel) in pixels.chunks_exact_mut(3).enumerate() {
            let (x, y) = (i as u32 % w, i as u32 / w);
            let base = (x * 255 / w) as u8 ^ (y * 255 / h) as u8;
            for (channel, t) in pixel.iter_mut().zip(tint) {
                // Noise in the low bits only: it compresses a little, as screenshots do.
                *channel = base.wrapping_add(t).wrapping_add(*channel >> 3);
            }
        }
        let mut png = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut png, w, h);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().expect("png header");
            writer.write_image_data(&pixels).expect("png data");
        }
        format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png))
    }
}

/// The session of `shape`, serialized as the extension does (no extra white space).
pub fn generate(shape: Shape) -> Vec<u8> {
    let mut w = Writer { rng: ChaCha8Rng::seed_from_u64(shape.seed) };
    let mut ts: u64 = 1_760_543_807_777 + shape.seed * 86_400_000;
    let prompt = w.sentence() + " " + &w.sentence();
    let started = ts;
    let workspace = format!("/home/dev/projects/{}", w.word());

    let mut messages = Vec::with_capacity(shape.messages);
    messages.push(json!({"ts": ts, "type": "say", "say": "text", "text": prompt}));
    let (mut tokens_in, mut tokens_out, mut cache_writes, mut cache_reads, mut cost) =
        (0u64, 0u64, 0u64, 0u64, 0f64);
    // The user-feedback messages that carry the screenshots, chosen up front so the count is exact.
    let with_image: std::collections::BTreeSet<usize> =
        rand::seq::index::sample(&mut w.rng, shape.messages - 1, shape.images)
            .into_iter()
            .map(|i| i + 1)
            .collect();
    for index in 1..shape.messages {
        ts += w.rng.random_range(300..40_000);
        let roll: f64 = w.rng.random();
        let mut message = match roll {
            _ if with_image.contains(&index) => {
                let image = w.png(shape.image_side);
                json!({"type": "say", "say": "user_feedback", "text": w.prose(), "images": [image]})
            }
            r if r < 0.23 => json!({"type": "say", "say": "text", "text": w.prose()}),
            r if r < 0.45 => {
                let (i, o) = (w.rng.random_range(2_000..90_000), w.rng.random_range(50..4_000));
                let (cw, cr) = (w.rng.random_range(0..8_000), w.rng.random_range(0..120_000));
                let c = (i as f64 * 3e-6 + o as f64 * 15e-6 * 1e6).round() / 1e6;
                tokens_in += i;
                tokens_out += o;
                cache_writes += cw;
                cache_reads += cr;
                cost += c;
                let request = w.paragraph(1..5);
                let text = json!({"request": request, "tokensIn": i, "tokensOut": o,
                    "cacheWrites": cw, "cacheReads": cr, "cost": c});
                json!({"type": "say", "say": "api_req_started", "text": text.to_string()})
            }
            r if r < 0.595 => {
                let tool = ["readFile", "editedExistingFile", "newFileCreated", "searchFiles"]
                    .choose(&mut w.rng)
                    .copied()
                    .unwrap();
                let mut text = json!({"tool": tool, "path": w.path()});
                if tool != "readFile" {
                    text["content"] = Value::String(SNIPPETS.choose(&mut w.rng).unwrap().repeat(3));
                }
                json!({"type": "ask", "ask": "tool", "text": text.to_string()})
            }
            r if r < 0.695 => json!({"type": "say", "say": "reasoning", "text": w.prose()}),
            r if r < 0.78 => {
                json!({"type": "say", "say": "command_output", "text": w.command_output()})
            }
            r if r < 0.855 => {
                let command = ["cargo test", "cargo build --release", "npm test", "git status"]
                    .choose(&mut w.rng)
                    .copied()
                    .unwrap();
                json!({"type": "ask", "ask": "command", "text": format!("{command} {}", w.word())})
            }
            r if r < 0.908 => json!({"type": "say", "say": "checkpoint_saved", "text": w.hex(40),
                "checkpoint": {"isFirst": false, "from": w.hex(40), "to": w.hex(40)}}),
            r if r < 0.942 => {
                json!({"type": "say", "say": "user_feedback", "text": w.prose(), "images": []})
            }
            r if r < 0.974 => {
                let suggest: Vec<Value> =
                    (0..3).map(|_| json!({"answer": w.paragraph(1..2)})).collect();
                let text = json!({"question": w.sentence(), "suggest": suggest});
                json!({"type": "ask", "ask": "followup", "text": text.to_string()})
            }
            _ => json!({"type": "say", "say": "completion_result", "text": w.prose()}),
        };
        message["ts"] = json!(ts);
        if message["type"] == "say" && w.rng.random_bool(0.4) {
            message["partial"] = json!(false);
        }
        if w.rng.random_bool(0.09) {
            message["conversationHistoryIndex"] = json!(index / 2);
        }
        messages.push(message);
    }
    let mut session = json!({
        "version": "1.0.0",
        "task": {
            "id": format!("{}-{}-4{}-a{}-{}", w.hex(8), w.hex(4), w.hex(3), w.hex(3), w.hex(12)),
            "number": 100 + shape.seed,
            "ts": started,
            "task": prompt,
            "tokensIn": tokens_in,
            "tokensOut": tokens_out,
            "cacheWrites": cache_writes,
            "cacheReads": cache_reads,
            "totalCost": (cost * 1e6).round() / 1e6,
            "size": 0,
            "workspace": workspace,
        },
        "messages": messages,
    });
    let size = serde_json::to_vec(&session).expect("serializes").len();
    session["task"]["size"] = json!(size);
    serde_json::to_vec(&session).expect("serializes")
}
