//! Command line and environment: every flag has an environment variable.

use clap::{Args, Parser, Subcommand, ValueEnum};

use std::time::Duration;

use crate::{
    access::RateSetting,
    metrics::Metrics,
    secrets::SecretPolicy,
    state::Reshare,
    storage::{
        DEFAULT_MAX_REVISIONS, IdSource, MAX_REVISIONS_LIMIT, OpenedStore, S3Options,
        StorageBounds, StorageUrl, open_store_bounded,
    },
};

#[derive(Parser, Debug)]
#[command(
    name = "session-share",
    version,
    about = "Share AI coding sessions: validated, stored in S3-compatible object storage."
)]
pub struct Cli {
    /// Without a command, `serve`.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
// Parsed once at start-up: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the HTTP service.
    Serve(Settings),
    /// Make, list and revoke API keys (works while the service runs).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Put users in teams: a team share is read by anyone in its owner's team (works while
    /// the service runs; replicas see a change within --metadata-cache-ttl).
    Teams {
        #[command(subcommand)]
        command: TeamsCommand,
    },
    /// Print the OpenAPI document the service serves at /api/openapi.json.
    Openapi,
    /// Delete expired shares, what failed creates left behind, and revisions nothing keeps.
    /// Safe to run while the service serves, and on several hosts at once.
    Gc {
        /// Leftovers younger than this are kept: they may be writes still in flight.
        #[arg(long, env = "SESSION_SHARE_GC_GRACE", default_value = "1h", value_parser = humantime::parse_duration)]
        grace: Duration,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Look for credentials in the shares already stored (every revision), with the rules
    /// creates use; list each share that has some. Safe to run while the service serves.
    Scan {
        /// Only this user's shares.
        #[arg(long)]
        username: Option<String>,
        /// Rewrite each such share with its credentials replaced by `[REDACTED:<rule>]`, as
        /// `--secret-policy redact` would have stored it. Replicas show the change at once.
        #[arg(long)]
        redact: bool,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Args, Debug, Clone)]
pub struct StorageArgs {
    /// Where sessions and key hashes live: file://<dir>, memory:// or s3://<bucket>[/<prefix>].
    /// S3 is configured by the standard AWS_* variables (AWS_ENDPOINT_URL, AWS_REGION,
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ALLOW_HTTP).
    #[arg(long, env = "SESSION_SHARE_STORAGE", default_value = "file://./data")]
    pub storage: StorageUrl,
    /// How long storage may take to answer a request (connect and first byte, retries
    /// included), or stall between two chunks of a body; past it the client gets a 503.
    #[arg(long, env = "SESSION_SHARE_STORAGE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub storage_timeout: Duration,
    /// The slowest upload storage is allowed, per second: an upload may take
    /// --storage-timeout plus its size at this rate.
    #[arg(long, env = "SESSION_SHARE_STORAGE_MIN_RATE", default_value = "1MiB", value_parser = parse_size)]
    pub storage_min_rate: u64,
}

impl StorageArgs {
    pub fn bounds(&self) -> StorageBounds {
        StorageBounds { timeout: self.storage_timeout, min_rate: self.storage_min_rate }
    }

    /// The store a command (`keys`, `gc`) works on: S3 from the `AWS_*` environment, these
    /// bounds, metrics nobody reads.
    pub fn open(&self) -> anyhow::Result<OpenedStore> {
        open_store_bounded(&self.storage, &S3Options::default(), self.bounds(), Metrics::new())
    }
}

/// What the service runs on: every `serve` flag (each with its environment variable), and
/// what only a program can set (tests: S3 overrides, an id source). The one settings type:
/// `main` parses it, tests build it from [`Settings::defaults`] and change fields in place.
#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "SESSION_SHARE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Base of the share URLs handed out (`<public-url>/session/<id>`). Default: http://<bind>.
    #[arg(long, env = "SESSION_SHARE_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// A request is answered within this time of its arrival (of its body's end, for an
    /// upload), whatever storage does: its storage requests, their retries and the settling of
    /// a write that failed all fit in it; past it, 503. An upload to storage gets its size at
    /// --storage-min-rate on top.
    #[arg(long, env = "SESSION_SHARE_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// Largest accepted request body, in bytes or with a unit (8MiB, 500KB).
    #[arg(long, env = "SESSION_SHARE_MAX_BODY", default_value = "64MiB", value_parser = parse_size)]
    pub max_body: u64,
    /// Upload bytes held in memory at once, across all requests (bodies are buffered to be
    /// validated); past it an upload waits up to 5 s for room, then gets 503 SERVER_BUSY.
    #[arg(long, env = "SESSION_SHARE_MAX_INFLIGHT_BODIES", default_value = "512MiB", value_parser = parse_size)]
    pub max_inflight_bodies: u64,
    /// Log format, to stderr. `pretty` is coloured only at a terminal without `NO_COLOR`.
    #[arg(long, env = "SESSION_SHARE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// The furthest ahead a share may expire (`expiresAt`), e.g. 30days, 1y.
    #[arg(long, env = "SESSION_SHARE_MAX_TTL", default_value = "365days", value_parser = humantime::parse_duration)]
    pub max_ttl: Duration,
    /// Writes (create, PATCH, DELETE) per API key: N/s, N/min, N/h or off. Per replica.
    #[arg(long, env = "SESSION_SHARE_WRITE_RATE", default_value = "60/min")]
    pub write_rate: RateSetting,
    /// Reads per API key, or per client address without one: N/s, N/min, N/h or off. Per replica.
    #[arg(long, env = "SESSION_SHARE_READ_RATE", default_value = "600/min")]
    pub read_rate: RateSetting,
    /// Failed key checks (401s) allowed per client address on writes and listings; past it
    /// the address gets 429 before any key of its is looked up, and reads as anonymous.
    #[arg(long, env = "SESSION_SHARE_AUTH_FAILURE_RATE", default_value = "30/min")]
    pub auth_failure_rate: RateSetting,
    /// How long a client may take to send a request's headers; then the connection is closed.
    #[arg(long, env = "SESSION_SHARE_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,
    /// How long a connection may carry nothing (a stalled upload, an idle keep-alive) before
    /// it is closed.
    #[arg(long, env = "SESSION_SHARE_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// Connections served at once; more wait to be accepted. Keep it below the process's
    /// file-descriptor limit (`ulimit -n`), with room for storage connections.
    #[arg(long, env = "SESSION_SHARE_MAX_CONNECTIONS", default_value = "512")]
    pub max_connections: usize,
    /// Connections one address may hold at once (past it, 503 and closed); behind a proxy
    /// (--client-ip-header), requests in flight per client address (past it, 429).
    #[arg(long, env = "SESSION_SHARE_MAX_CONNECTIONS_PER_ADDRESS", default_value = "64")]
    pub max_connections_per_address: usize,
    /// After a 10 s grace, a request body must arrive at this many bytes a second on average,
    /// or it is refused: a trickle cannot hold a connection.
    #[arg(long, env = "SESSION_SHARE_MIN_BODY_RATE", default_value = "16KiB", value_parser = parse_size)]
    pub min_body_rate: u64,
    /// A header set by a trusted proxy to the client's address (e.g. X-Forwarded-For); the
    /// address it appended (the rightmost) is used for rate limits. Unset: the TCP peer.
    #[arg(long, env = "SESSION_SHARE_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// Browser origins allowed by CORS, comma-separated; a trailing `*` matches any rest
    /// (`vscode-webview://*`). Default: the public URL's origin and vscode-webview://*.
    #[arg(long, env = "SESSION_SHARE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Option<Vec<String>>,
    /// Check keys this service does not know at this URL (GET, key in Syntx-Api-Key; a 200
    /// JSON {"username": ...} means valid).
    #[arg(long, env = "SESSION_SHARE_AUTH_URL", value_parser = parse_public_url)]
    pub auth_url: Option<String>,
    /// How long a key accepted by --auth-url is trusted (rejections: a tenth of it, 1 s to 1 min).
    #[arg(long, env = "SESSION_SHARE_AUTH_CACHE_TTL", default_value = "5min", value_parser = humantime::parse_duration)]
    pub auth_cache_ttl: Duration,
    /// The VS Code extension the share page's "Import to VS Code" link opens
    /// (`vscode://<id>/import-session?id=...`).
    #[arg(
        long,
        env = "SESSION_SHARE_VSCODE_EXTENSION_ID",
        default_value = "OrangecatTechPvtLtd.syntx"
    )]
    pub vscode_extension_id: String,
    /// How long a replica trusts a key check: a key revoked (or made) elsewhere takes effect
    /// here within this time; through this replica at once. Share records are remembered too,
    /// but always confirmed with storage before they count. 0 turns the caches off.
    #[arg(long, env = "SESSION_SHARE_METADATA_CACHE_TTL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub metadata_cache_ttl: Duration,
    /// Memory for parsed sessions behind the share pages.
    #[arg(long, env = "SESSION_SHARE_PAGE_CACHE", default_value = "256MiB", value_parser = parse_size)]
    pub page_cache: u64,
    /// What sharing a task again does: `update` adds a revision to its owner's share of the
    /// task (same link), `new-link` makes a new share every time.
    #[arg(long, env = "SESSION_SHARE_RESHARE", value_enum, default_value_t = Reshare::Update)]
    pub reshare: Reshare,
    /// Revisions kept per share, the latest included (1 to 100); older ones are deleted when
    /// a new one is added.
    #[arg(long, env = "SESSION_SHARE_MAX_REVISIONS", default_value_t = DEFAULT_MAX_REVISIONS,
          value_parser = clap::value_parser!(u32).range(1..=MAX_REVISIONS_LIMIT as i64))]
    pub max_revisions: u32,
    /// What a share with credentials in it (API keys, tokens, private keys, passwords in
    /// URLs; gitleaks' rules) becomes: `redact` stores it with each replaced by
    /// `[REDACTED:<rule>]`, `reject` refuses it (422), `off` does not look.
    #[arg(long, env = "SESSION_SHARE_SECRET_POLICY", value_enum, default_value_t = SecretPolicy::Redact)]
    pub secret_policy: SecretPolicy,
    /// Let search engines index public share pages and reads (by default every answer says
    /// `X-Robots-Tag: noindex`).
    #[arg(long, env = "SESSION_SHARE_ALLOW_INDEXING")]
    pub allow_indexing: bool,
    /// Overrides of the `AWS_*` environment (tests); empty in production.
    #[arg(skip)]
    pub s3: S3Options,
    /// How the ids of shares that no task leads to are drawn; none:
    /// [`crate::domain::ShareId::generate_for`] (tests inject collisions).
    #[arg(skip)]
    pub id_source: Option<IdSourceSetting>,
}

/// An [`IdSource`] as a setting (it has no text form).
#[derive(Clone)]
pub struct IdSourceSetting(pub IdSource);

impl std::fmt::Debug for IdSourceSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdSource")
    }
}

/// `serve` with every value from the environment or its default: what a bare
/// `session-share` runs.
#[derive(Parser, Debug)]
struct ServeDefaults {
    #[command(flatten)]
    settings: Settings,
}

impl Settings {
    pub fn from_env() -> Self {
        ServeDefaults::parse_from(["session-share"]).settings
    }

    /// Every flag's declared default, whatever the environment holds: what tests start from.
    pub fn defaults() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let command = ServeDefaults::command().mut_args(|arg| arg.env(None));
        let matches = command.get_matches_from(["session-share"]);
        ServeDefaults::from_arg_matches(&matches).expect("the defaults parse").settings
    }

    pub fn storage_bounds(&self) -> StorageBounds {
        self.storage.bounds()
    }
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a key for a user; prints the key alone on stdout. It is shown only this once.
    Create {
        #[arg(long)]
        username: String,
        /// A note to recognise the key by in `keys list` (e.g. laptop).
        #[arg(long)]
        label: Option<String>,
        /// Put the user in this team too (out of any other).
        #[arg(long)]
        team: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List keys (their ids, owners and labels; never the keys).
    List {
        /// Only this user's keys.
        #[arg(long)]
        username: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Revoke a key by the id `keys list` shows; requests with it then answer 401.
    Revoke {
        key_id: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum TeamsCommand {
    /// Put a user in a team (out of the one they were in).
    Set {
        username: String,
        team: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Take a user out of their team.
    Remove {
        username: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Every user in a team, and the team.
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

fn parse_size(raw: &str) -> Result<u64, String> {
    let size: bytesize::ByteSize = raw.trim().parse().map_err(|e| format!("{raw:?}: {e}"))?;
    match size.as_u64() {
        0 => Err("the limit must be more than 0 bytes".into()),
        n => Ok(n),
    }
}

fn parse_public_url(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "{raw:?}: expected an http(s) URL such as https://sessions.example.com"
        ));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_units() {
        assert_eq!(parse_size("64MiB"), Ok(64 * 1024 * 1024));
        assert_eq!(parse_size("8 MiB"), Ok(8 * 1024 * 1024));
        assert_eq!(parse_size("1048576"), Ok(1048576));
        assert_eq!(parse_size("500KB"), Ok(500_000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn public_urls_lose_their_trailing_slash() {
        assert_eq!(parse_public_url("https://s.example.com/"), Ok("https://s.example.com".into()));
        assert!(parse_public_url("ftp://x").is_err());
        assert!(parse_public_url("not a url").is_err());
    }

    #[test]
    fn defaults_are_the_declarations_whatever_the_environment() {
        // SAFETY: this test alone reads or writes this variable.
        unsafe { std::env::set_var("SESSION_SHARE_MAX_REVISIONS", "3") };
        assert_eq!(Settings::from_env().max_revisions, 3);
        assert_eq!(Settings::defaults().max_revisions, DEFAULT_MAX_REVISIONS);
        unsafe { std::env::remove_var("SESSION_SHARE_MAX_REVISIONS") };
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
