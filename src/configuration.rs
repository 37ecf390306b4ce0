//! Command line and environment: every flag has an environment variable.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::storage::{IdSource, S3Options, StorageUrl};

#[derive(Parser, Debug)]
#[command(name = "session-share", version, about = "Share AI coding sessions: validated, stored in S3-compatible object storage.")]
pub struct Cli {
    /// Without a command, `serve`.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP service.
    Serve(ServeArgs),
    /// Make, list and revoke API keys (works while the service runs).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the OpenAPI document the service serves at /api/openapi.json.
    Openapi,
}

#[derive(Args, Debug, Clone)]
pub struct StorageArgs {
    /// Where sessions and key hashes live: file://<dir>, memory:// or s3://<bucket>[/<prefix>].
    /// S3 is configured by the standard AWS_* variables (AWS_ENDPOINT_URL, AWS_REGION,
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ALLOW_HTTP).
    #[arg(long, env = "SESSION_SHARE_STORAGE", default_value = "file://./data")]
    pub storage: StorageUrl,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SESSION_SHARE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Base of the share URLs handed out (`<public-url>/session/<id>`). Default: http://<bind>.
    #[arg(long, env = "SESSION_SHARE_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Largest accepted request body, in bytes or with a unit (8MiB, 500KB).
    #[arg(long, env = "SESSION_SHARE_MAX_BODY", default_value = "64MiB", value_parser = parse_size)]
    pub max_body: u64,
    /// Log format, to stderr.
    #[arg(long, env = "SESSION_SHARE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

/// `serve` with every value from the environment or its default: what a bare
/// `session-share` runs.
#[derive(Parser, Debug)]
struct ServeDefaults {
    #[command(flatten)]
    args: ServeArgs,
}

impl ServeArgs {
    pub fn from_env() -> Self {
        ServeDefaults::parse_from(["session-share"]).args
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
        return Err(format!("{raw:?}: expected an http(s) URL such as https://sessions.example.com"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// What the service needs to start.
#[derive(Clone)]
pub struct Settings {
    pub bind: String,
    pub public_url: Option<String>,
    pub storage: StorageUrl,
    /// Overrides of the `AWS_*` environment (tests); empty in production.
    pub s3: S3Options,
    pub max_body: u64,
    /// How share ids are drawn; `None` is [`crate::domain::ShareId::generate`].
    pub id_source: Option<IdSource>,
}

impl From<ServeArgs> for Settings {
    fn from(args: ServeArgs) -> Self {
        Self {
            bind: args.bind,
            public_url: args.public_url,
            storage: args.storage.storage,
            s3: S3Options::default(),
            max_body: args.max_body,
            id_source: None,
        }
    }
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
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
