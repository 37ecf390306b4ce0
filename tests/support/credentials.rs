//! A session with credentials where coding sessions have them: a `.env` file a tool read,
//! `export` lines in a terminal, a private key written to disk, tokens pasted into the chat,
//! config files, connection strings in error output. Every credential is made from a seed in
//! its real format, so the same session comes out on every run, and none is a real one.
//!
//! [`session`] gives the upload and, separately, the session as it must be stored once each
//! credential is replaced by its marker: the two differ in exactly those places.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

/// A credential put in the session: the rule that must find it and where it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Planted {
    pub pointer: String,
    pub rule: &'static str,
    pub secret: String,
}

/// The upload, the same session with every credential replaced by `[REDACTED:<rule>]`, and
/// the credentials, in order.
pub struct Corpus {
    pub upload: Vec<u8>,
    pub redacted: Vec<u8>,
    pub planted: Vec<Planted>,
}

const UPPER32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

struct Maker(ChaCha8Rng);

impl Maker {
    fn pick(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| alphabet[self.0.random_range(0..alphabet.len())] as char).collect()
    }
}

/// A piece of text with credentials in it, written twice: as uploaded, and as stored.
struct Text {
    upload: String,
    redacted: String,
    secrets: Vec<(&'static str, String)>,
}

impl Text {
    fn new() -> Self {
        Self { upload: String::new(), redacted: String::new(), secrets: Vec::new() }
    }

    fn plain(mut self, text: &str) -> Self {
        self.upload.push_str(text);
        self.redacted.push_str(text);
        self
    }

    fn secret(mut self, rule: &'static str, secret: String) -> Self {
        self.upload.push_str(&secret);
        self.redacted.push_str(&format!("[REDACTED:{rule}]"));
        self.secrets.push((rule, secret));
        self
    }
}

/// The tool and the path of a tool message.
type Tool = (&'static str, &'static str);

/// The corpus from `seed`: 26 credential formats in the places they turn up.
pub fn session(seed: u64) -> Corpus {
    let mut m = Maker(ChaCha8Rng::seed_from_u64(seed));
    let pem_body: Vec<String> = (0..6).map(|_| m.pick(BASE64, 64)).collect();
    let pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----",
        pem_body.join("\n")
    );
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{}.{}",
        m.pick(ALNUM, 40),
        m.pick(URL_SAFE, 43)
    );
    let texts: Vec<(&str, Option<Tool>, Text)> = vec![
        (
            "tool",
            Some(("readFile", ".env")),
            Text::new()
                .plain("NODE_ENV=production\nAWS_ACCESS_KEY_ID=")
                .secret("aws-access-token", format!("AKIA{}", m.pick(UPPER32, 16)))
                .plain("\nAWS_SECRET_ACCESS_KEY=")
                .secret("generic-api-key", format!("{}{}", m.pick(ALNUM, 1), m.pick(BASE64, 39)))
                .plain("\nDATABASE_URL=postgres://app:")
                .secret("database-url-password", m.pick(ALNUM, 20))
                .plain("@db.internal:5432/app\nSTRIPE_SECRET_KEY=")
                .secret("stripe-access-token", format!("sk_live_{}", m.pick(ALNUM, 24)))
                .plain("\nPORT=8080\n"),
        ),
        (
            "command",
            None,
            Text::new()
                .plain("export GITHUB_TOKEN=")
                .secret("github-pat", format!("ghp_{}", m.pick(ALNUM, 36)))
                .plain(" && gh repo clone acme/api"),
        ),
        (
            "command_output",
            None,
            Text::new()
                .plain("$ git remote -v\norigin\thttps://oauth2:")
                .secret("gitlab-pat", format!("glpat-{}", m.pick(ALNUM, 20)))
                .plain("@gitlab.com/acme/api.git (fetch)\n"),
        ),
        (
            "tool",
            Some(("newFileCreated", "deploy/id_rsa")),
            Text::new().secret("private-key", pem),
        ),
        (
            "command_output",
            None,
            Text::new()
                .plain("$ curl -s -X POST https://api.acme.dev/login -d @creds.json\n{\"user\": 42, \"session\": \"")
                .secret("jwt", jwt)
                .plain("\"}\n"),
        ),
        (
            "command",
            None,
            Text::new()
                .plain("curl -H \"Authorization: Bearer ")
                .secret("curl-auth-header", m.pick(ALNUM, 32))
                .plain("\" https://api.acme.dev/v1/me"),
        ),
        (
            "user_feedback",
            None,
            Text::new()
                .plain("Use my OpenAI key for the test: ")
                .secret(
                    "openai-api-key",
                    format!("sk-proj-{}T3BlbkFJ{}", m.pick(ALNUM, 74), m.pick(ALNUM, 74)),
                )
                .plain(" (I'll rotate it later)"),
        ),
        (
            "tool",
            Some(("readFile", ".claude/settings.json")),
            Text::new()
                .plain("{\n  \"env\": {\n    \"ANTHROPIC_API_KEY\": \"")
                .secret("anthropic-api-key", format!("sk-ant-api03-{}AA", m.pick(URL_SAFE, 93)))
                .plain("\"\n  }\n}\n"),
        ),
        (
            "tool",
            Some(("readFile", "config/slack.yml")),
            Text::new()
                .plain("bot_token: ")
                .secret(
                    "slack-bot-token",
                    format!(
                        "xoxb-{}-{}-{}",
                        m.pick(b"0123456789", 12),
                        m.pick(b"0123456789", 12),
                        m.pick(ALNUM, 24)
                    ),
                )
                .plain("\nalerts_webhook: ")
                .secret(
                    "slack-webhook-url",
                    format!(
                        "https://hooks.slack.com/services/T{}/B{}/{}",
                        m.pick(UPPER32, 10),
                        m.pick(UPPER32, 10),
                        m.pick(ALNUM, 24)
                    ),
                )
                .plain("\n"),
        ),
        (
            "tool",
            Some(("readFile", "src/firebase.ts")),
            Text::new()
                .plain("export const firebaseConfig = {\n  apiKey: \"")
                .secret("gcp-api-key", format!("AIza{}", m.pick(URL_SAFE, 35)))
                .plain("\",\n  projectId: \"acme-prod\",\n};\n"),
        ),
        (
            "tool",
            Some(("readFile", ".npmrc")),
            Text::new()
                .plain("//registry.npmjs.org/:_authToken=")
                .secret("npm-access-token", format!("npm_{}", m.pick(LOWER_ALNUM, 36)))
                .plain("\n"),
        ),
        (
            "command_output",
            None,
            Text::new()
                .plain("$ az storage account show-connection-string -n acmelogs\nDefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey=")
                .secret("generic-api-key", format!("{}{}==", m.pick(ALNUM, 1), m.pick(BASE64, 85)))
                .plain(";EndpointSuffix=core.windows.net\n"),
        ),
        (
            "tool",
            Some(("readFile", "appsettings.json")),
            Text::new()
                .plain("{ \"AzureAd\": { \"ClientSecret\": \"")
                .secret(
                    "azure-ad-client-secret",
                    format!("{}8Q~{}", m.pick(ALNUM, 3), m.pick(ALNUM, 34)),
                )
                .plain("\" } }\n"),
        ),
        (
            "text",
            None,
            Text::new()
                .plain("I set `GITHUB_PAT` in the workflow to `")
                .secret("github-fine-grained-pat", format!("github_pat_{}", m.pick(ALNUM, 82)))
                .plain("` as you asked."),
        ),
        (
            "command_output",
            None,
            Text::new()
                .plain("Error: connect ECONNREFUSED mysql://root:")
                .secret("database-url-password", m.pick(ALNUM, 16))
                .plain("@10.0.0.12:3306/shop\n    at TCPConnectWrap.afterConnect\n"),
        ),
        (
            "tool",
            Some(("readFile", "docker-compose.yml")),
            Text::new()
                .plain("services:\n  api:\n    environment:\n      MONGO_URL: mongodb+srv://svc:")
                .secret("database-url-password", m.pick(ALNUM, 18))
                .plain("@cluster0.abcde.mongodb.net/app\n      SENDGRID_API_KEY: ")
                .secret("sendgrid-api-token", format!("SG.{}.{}", m.pick(URL_SAFE, 22), m.pick(URL_SAFE, 43)))
                .plain("\n"),
        ),
        (
            "user_feedback",
            None,
            Text::new()
                .plain("the model needs my HF token: ")
                .secret("huggingface-access-token", format!("hf_{}", m.pick(&ALNUM[..52], 34)))
                .plain(" and the droplet token ")
                .secret("digitalocean-pat", format!("dop_v1_{}", m.pick(HEX, 64))),
        ),
        (
            "tool",
            Some(("readFile", "twilio.env")),
            Text::new()
                .plain("TWILIO_API_KEY=")
                .secret("twilio-api-key", format!("SK{}", m.pick(HEX, 32)))
                .plain("\nSHOPIFY_TOKEN=")
                .secret("shopify-access-token", format!("shpat_{}", m.pick(HEX, 32)))
                .plain("\n"),
        ),
        (
            "command",
            None,
            Text::new()
                .plain("databricks configure --token ")
                .secret("databricks-api-token", format!("dapi{}", m.pick(HEX, 32)))
                .plain(" && pulumi login --token ")
                .secret("pulumi-api-token", format!("pul-{}", m.pick(HEX, 40))),
        ),
        (
            "command_output",
            None,
            Text::new()
                .plain("LINEAR_API_KEY=")
                .secret("linear-api-key", format!("lin_api_{}", m.pick(ALNUM, 40)))
                .plain("\nGRAFANA_TOKEN=")
                .secret(
                    "grafana-service-account-token",
                    format!("glsa_{}_{}", m.pick(ALNUM, 32), m.pick(HEX, 8)),
                )
                .plain("\n"),
        ),
    ];

    let base: Value = serde_json::from_slice(&crate::helpers::small_session()).unwrap();
    let mut upload = base.clone();
    let mut redacted = base;
    let first = upload["messages"].as_array().unwrap().len();
    let mut ts = upload["messages"].as_array().unwrap().last().unwrap()["ts"].as_u64().unwrap();
    let mut planted = Vec::new();
    for (n, (kind, tool, text)) in texts.into_iter().enumerate() {
        ts += 1_000;
        let pointer = format!("/messages/{}/text", first + n);
        let message = |text: &str| -> Value {
            let text = match tool {
                Some((tool, path)) => {
                    json!({"tool": tool, "path": path, "content": text}).to_string()
                }
                None => text.to_owned(),
            };
            match kind {
                "tool" | "command" => json!({"ts": ts, "type": "ask", "ask": kind, "text": text}),
                _ => json!({"ts": ts, "type": "say", "say": kind, "text": text}),
            }
        };
        upload["messages"].as_array_mut().unwrap().push(message(&text.upload));
        redacted["messages"].as_array_mut().unwrap().push(message(&text.redacted));
        for (rule, secret) in text.secrets {
            planted.push(Planted { pointer: pointer.clone(), rule, secret });
        }
    }
    Corpus {
        upload: serde_json::to_vec(&upload).unwrap(),
        redacted: serde_json::to_vec(&redacted).unwrap(),
        planted,
    }
}
