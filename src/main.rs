use clap::Parser;
use session_share::{
    configuration::{Cli, Command, KeysCommand, LogFormat, Settings, StorageArgs, TeamsCommand},
    domain::{Team, Username},
    routes::openapi_json,
    secrets::{self, SecretScanner},
    startup::Application,
    storage::{Cleaned, ConditionalWritesState, KeyStore, SessionStore, TeamStore},
    telemetry,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        None => serve(Settings::from_env()).await,
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::Openapi) => {
            println!("{}", openapi_json());
            Ok(())
        }
        Some(Command::Keys { command }) => {
            telemetry::init(LogFormat::Pretty);
            keys(command).await
        }
        Some(Command::Teams { command }) => {
            telemetry::init(LogFormat::Pretty);
            teams(command).await
        }
        Some(Command::Gc { grace, storage }) => {
            telemetry::init(LogFormat::Pretty);
            gc(grace, storage).await
        }
        Some(Command::Scan { username, redact, storage }) => {
            telemetry::init(LogFormat::Pretty);
            scan(username, redact, storage).await
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    telemetry::init(settings.log_format);
    let app = Application::build(settings).await?;
    app.run_until_stopped().await?;
    Ok(())
}

async fn gc(grace: std::time::Duration, storage: StorageArgs) -> anyhow::Result<()> {
    let opened = storage.open()?;
    let sessions = SessionStore::new(&opened, ConditionalWritesState::default(), storage.bounds());
    let report =
        sessions.collect_garbage(chrono::Utc::now(), chrono::Duration::from_std(grace)?).await?;
    println!(
        "deleted {} expired shares, {} late writes of failed creates, {} revisions nothing keeps, {} probe objects",
        report.expired, report.late, report.revisions, report.probes
    );
    Ok(())
}

async fn scan(username: Option<String>, redact: bool, storage: StorageArgs) -> anyhow::Result<()> {
    let owner = username.as_deref().map(Username::parse).transpose()?;
    let opened = storage.open()?;
    let sessions = SessionStore::new(&opened, ConditionalWritesState::default(), storage.bounds());
    let scanner = SecretScanner::embedded();
    let report = sessions
        .rescan(owner.as_ref(), redact, |document| {
            let findings = scanner.scan_document(document);
            (!findings.is_empty()).then(|| Cleaned {
                document: secrets::redact(document, &findings),
                rules: findings.into_iter().map(|f| f.rule).collect(),
            })
        })
        .await?;
    for hit in &report.hits {
        let done = match hit.redacted {
            Some(true) => " (redacted)",
            Some(false) => " (changed while scanned; run again)",
            None => "",
        };
        let mut rules = hit.rules.clone();
        rules.sort();
        rules.dedup();
        println!(
            "{}/{} revision {}: {} credential(s): {}{done}",
            hit.owner,
            hit.id,
            hit.revision,
            hit.rules.len(),
            rules.join(", ")
        );
    }
    println!("{} documents scanned, {} with credentials", report.documents, report.hits.len());
    Ok(())
}

async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    let open = |storage: &StorageArgs| -> anyhow::Result<KeyStore> {
        Ok(KeyStore::new(storage.open()?.store))
    };
    match command {
        KeysCommand::Create { username, label, team, storage } => {
            let owner = Username::parse(&username)?;
            let team = team.as_deref().map(Team::parse).transpose()?;
            let (key, record) = open(&storage)?.create(&owner, label).await?;
            if let Some(team) = &team {
                TeamStore::new(storage.open()?.store).set(&owner, Some(team)).await?;
                eprintln!("{owner} is in team {team}");
            }
            eprintln!("key {} for {} made; it is shown only once:", record.key_id, record.username);
            println!("{}", key.expose_secret());
        }
        KeysCommand::List { username, storage } => {
            let only = username.as_deref().map(Username::parse).transpose()?;
            println!("{:<14}{:<24}{:<26}{:<10}LABEL", "KEY ID", "USERNAME", "CREATED", "STATUS");
            for r in open(&storage)?.list().await? {
                if only.as_ref().is_some_and(|u| u.as_str() != r.username) {
                    continue;
                }
                let status = if r.revoked_at.is_some() { "revoked" } else { "active" };
                let created = r.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                println!(
                    "{:<14}{:<24}{:<26}{:<10}{}",
                    r.key_id,
                    r.username,
                    created,
                    status,
                    r.label.unwrap_or_default()
                );
            }
        }
        KeysCommand::Revoke { key_id, storage } => {
            let record = open(&storage)?.revoke(&key_id).await?;
            println!("revoked {} ({})", record.key_id, record.username);
        }
    }
    Ok(())
}

async fn teams(command: TeamsCommand) -> anyhow::Result<()> {
    let open = |storage: &StorageArgs| -> anyhow::Result<TeamStore> {
        Ok(TeamStore::new(storage.open()?.store))
    };
    match command {
        TeamsCommand::Set { username, team, storage } => {
            let (user, team) = (Username::parse(&username)?, Team::parse(&team)?);
            open(&storage)?.set(&user, Some(&team)).await?;
            println!("{user} is in team {team}");
        }
        TeamsCommand::Remove { username, storage } => {
            let user = Username::parse(&username)?;
            open(&storage)?.set(&user, None).await?;
            println!("{user} is in no team");
        }
        TeamsCommand::List { storage } => {
            println!("{:<24}TEAM", "USERNAME");
            for (user, team) in open(&storage)?.all().await? {
                println!("{:<24}{team}", user.as_str());
            }
        }
    }
    Ok(())
}
