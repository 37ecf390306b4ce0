//! The `session-share` binary: keys made, listed and revoked from the command line while the
//! service runs (configured only by environment variables), logs without keys, SIGTERM drain.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{S3Target, assert_error, eventually, small_session};

fn binary(storage: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_session-share"));
    cmd.env("SESSION_SHARE_STORAGE", storage);
    for (name, value) in S3Target::get().env() {
        cmd.env(name, value);
    }
    cmd
}

fn run(storage: &str, args: &[&str]) -> (String, String) {
    let out = binary(storage).args(args).output().unwrap();
    let (stdout, stderr) =
        (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    (stdout, stderr)
}

fn fresh_storage() -> String {
    format!(
        "s3://{}/cli-{}",
        S3Target::get().bucket,
        nanoid::nanoid!(10, &['a', 'b', 'c', 'd', '1', '2', '3', '4'])
    )
}

/// `session-share serve` as a child process, its stderr collected as it comes.
struct Server {
    child: Child,
    log: Arc<Mutex<String>>,
    address: String,
}

impl Server {
    async fn start(storage: &str) -> Server {
        Self::start_with(storage, &[]).await
    }

    /// With more `serve` flags.
    async fn start_with(storage: &str, flags: &[&str]) -> Server {
        let mut child = binary(storage)
            .arg("serve")
            .args(flags)
            .env("SESSION_SHARE_BIND", "127.0.0.1:0")
            .env("SESSION_SHARE_METADATA_CACHE_TTL", "2s")
            // Request lines too (off by default), to check that none holds a key.
            .env("RUST_LOG", "info,session_share::telemetry=debug")
            .env("SESSION_SHARE_LOG_FORMAT", "json")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let mut address = None;
        for _ in 0..100 {
            address = log.lock().unwrap().lines().find_map(|l| {
                let v: Value = serde_json::from_str(l).ok()?;
                (v["fields"]["message"] == "session-share listening")
                    .then(|| v["fields"]["address"].as_str().unwrap().to_owned())
            });
            if address.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let address = format!("http://{}", address.expect("the server logs its address"));
        Server { child, log, address }
    }

    fn terminate(&self) {
        let status =
            Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Listening on every interface with no `--public-url`, the share links name `localhost`,
/// which nobody else reaches: the log says so, with the flag to set.
#[tokio::test]
async fn listening_on_every_interface_without_a_public_url_is_warned_of() {
    let storage = fresh_storage();
    let server = Server::start_with(&storage, &["--bind", "0.0.0.0:0"]).await;
    let log = server.log.lock().unwrap().clone();
    let warning = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| {
            v["level"] == "WARN"
                && v["fields"]["message"].as_str().unwrap_or("").contains("--public-url")
        })
        .unwrap_or_else(|| panic!("no warning in:\n{log}"));
    let message = warning["fields"]["message"].as_str().unwrap();
    assert!(
        message.contains("localhost") && message.contains("SESSION_SHARE_PUBLIC_URL"),
        "{message}"
    );
    drop(server);
    let named = Server::start_with(
        &storage,
        &["--bind", "0.0.0.0:0", "--public-url", "https://sessions.example.com"],
    )
    .await;
    let log = named.log.lock().unwrap().clone();
    assert!(!log.contains("--public-url"), "warned although a public URL is set:\n{log}");
}

#[tokio::test]
async fn keys_made_listed_and_revoked_by_the_cli_work_on_a_running_server() {
    let storage = fresh_storage();
    let (stdout, _) = run(&storage, &["keys", "create", "--username", "Bob", "--label", "laptop"]);
    let key = stdout.trim_end().to_owned();
    assert_eq!(stdout, format!("{key}\n"), "stdout must hold the key alone");
    assert!(key.starts_with("ssk_") && key.len() == 47, "{key}");

    let server = Server::start(&storage).await;
    let client = reqwest::Client::new();
    let create = || {
        client
            .post(format!("{}/api/sessions/create", server.address))
            .header("Content-Type", "application/json")
            .header("Syntx-Api-Key", &key)
            .body(small_session())
            .send()
    };
    let resp = create().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["username"], "bob");
    assert!(created["url"].as_str().unwrap().starts_with(&server.address));

    let (listing, _) = run(&storage, &["keys", "list"]);
    assert!(
        listing.contains("bob") && listing.contains("laptop") && listing.contains("active"),
        "{listing}"
    );
    assert!(!listing.contains(&key[4..]), "keys list printed the key");
    let key_id = listing.lines().nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let (other_user, _) = run(&storage, &["keys", "list", "--username", "carol"]);
    assert_eq!(other_user.lines().count(), 1, "{other_user}");

    run(&storage, &["keys", "revoke", &key_id]);
    // The server remembers key checks for --metadata-cache-ttl (2 s here): the revocation,
    // made by another process, takes effect within that bound.
    let revoked = Instant::now();
    eventually(Duration::from_secs(4), || async {
        create().await.unwrap().status() == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(revoked.elapsed() <= Duration::from_secs(3), "took {:?}", revoked.elapsed());
    let resp = create().await.unwrap();
    assert_error(resp, StatusCode::UNAUTHORIZED, "INVALID_API_KEY").await;
    let (listing, _) = run(&storage, &["keys", "list"]);
    assert!(listing.contains("revoked"), "{listing}");

    // Nothing stored or logged holds the key in clear text.
    server.terminate();
    eventually(Duration::from_secs(10), || async {
        server.log.lock().unwrap().contains("draining")
    })
    .await;
    let log = server.log.lock().unwrap().clone();
    assert!(log.contains("\"status\":201") && log.contains("\"status\":401"), "{log}");
    assert!(!log.contains(&key[4..]), "a key was logged");
    let target = S3Target::get();
    let store = session_share::storage::open_store(
        &storage.parse().unwrap(),
        &target.options(&target.endpoint),
    )
    .unwrap()
    .store;
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;
    let objects: Vec<_> = store.list(None).try_collect().await.unwrap();
    assert!(!objects.is_empty());
    for meta in objects {
        assert!(!meta.location.as_ref().contains(&key[4..]));
        let bytes = store.get(&meta.location).await.unwrap().bytes().await.unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&key[4..]),
            "{} holds the key",
            meta.location
        );
    }
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_upload_finish() {
    let storage = fresh_storage();
    let (stdout, _) = run(&storage, &["keys", "create", "--username", "dana"]);
    let key = stdout.trim().to_owned();
    let server = Server::start(&storage).await;

    // An upload that trickles in over ~1.5 s; SIGTERM arrives in the middle of it.
    let body = small_session();
    let chunks: Vec<Vec<u8>> = body.chunks(body.len() / 6 + 1).map(<[u8]>::to_vec).collect();
    use futures::StreamExt;
    let stream = futures::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        Ok::<_, std::io::Error>(chunk)
    });
    let upload = reqwest::Client::new()
        .post(format!("{}/api/sessions/create", server.address))
        .header("Content-Type", "application/json")
        .header("Syntx-Api-Key", &key)
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let upload = tokio::spawn(upload);
    crate::helpers::eventually(Duration::from_secs(5), || async {
        crate::helpers::metric_at(&server.address, "session_share_uploads_in_flight").await == 1.0
    })
    .await;
    server.terminate();
    let resp = upload.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    let status = tokio::task::spawn_blocking(move || {
        let mut server = server;
        server.child.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "the server did not exit cleanly after SIGTERM: {status:?}");
}

/// Runs `session-share gc --grace <grace>` on `storage`; answers its report line.
pub async fn gc(storage: &str, grace: &str) -> String {
    let storage = storage.to_owned();
    let grace = grace.to_owned();
    tokio::task::spawn_blocking(move || run(&storage, &["gc", "--grace", &grace]).0).await.unwrap()
}

/// What gc is for, made the way the service leaves it: a share that expired, a create's write
/// that landed after its deadline (its client told it failed), and revisions nothing keeps
/// (a delete cut short). Two collectors at once do it once; live shares are left alone.
#[tokio::test]
async fn gc_collects_what_expiry_and_failures_leave_and_is_safe_to_run_twice_at_once() {
    use object_store::{ObjectStoreExt, path::Path};
    use session_share::{
        domain::{ShareRecord, Username},
        storage::share_file::{self, Compressed, StoredRecord},
    };
    let app = crate::helpers::spawn_app().await;
    let live_body = crate::helpers::fresh_session();
    let live = app.create_id(live_body.clone()).await;
    // Revision 1 of `live` kept, as a re-share leaves it.
    let revised = crate::helpers::with_message(&live_body, "more");
    assert_eq!(app.create(revised.clone()).await["revision"], 2);

    // A create whose write landed past its deadline: stored as it would have been.
    let late = "K9gGyX8OLateLateLate1";
    let then = chrono::Utc::now() - chrono::Duration::hours(2);
    let record = ShareRecord {
        username: Username::parse("alice").unwrap(),
        created_at: then,
        title: "late".into(),
        description: None,
        tags: vec![],
        visibility: session_share::domain::Visibility::Public,
        link_generation: 0,
        expires_at: None,
        task_excerpt: String::new(),
        revision: 1,
        revised_at: then,
        size: small_session().len() as u64,
        message_count: 8,
        redactions: 0,
        earlier: vec![],
        pending_until: Some(then + chrono::Duration::seconds(11)),
    };
    let object =
        share_file::object(&StoredRecord::Share(record), &Compressed::of(&small_session()))
            .unwrap();
    app.store.put(&Path::from(crate::helpers::share_key("alice", late)), object).await.unwrap();
    // Revisions of a share that is no more.
    let orphan = Path::from("sessions/alice/K9gGyX8OGoneGoneGone1/1.json.gz");
    app.store.put(&orphan, Compressed::of(b"{}").bytes().clone().into()).await.unwrap();
    assert_error(
        app.get(&format!("/api/sessions/{late}")).await,
        StatusCode::NOT_FOUND,
        "SESSION_NOT_FOUND",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // A generous grace keeps what is fresh; a zero grace takes it, once between two at once.
    let report = gc(&app.storage_url, "1h").await;
    assert!(report.contains("0 late") && report.contains("0 revisions"), "{report}");
    let (a, b) = tokio::join!(gc(&app.storage_url, "0s"), gc(&app.storage_url, "0s"));
    assert!(a.contains("1 late") || b.contains("1 late"), "{a}\n{b}");
    assert!(a.contains("1 revisions") || b.contains("1 revisions"), "{a}\n{b}");
    let left = app.stored_sessions().await;
    let late_key = crate::helpers::share_key("alice", late);
    let mut expected = vec![
        crate::helpers::share_key("alice", &live),
        format!("sessions/alice/{live}/1.json.gz"),
        late_key.clone(),
    ];
    expected.sort();
    assert_eq!(left, expected);
    // The late write's document is gone; a marker of a hundred bytes or so keeps its place.
    assert!(app.stored(&late_key).await.len() < 300);
    assert_eq!(app.get(&format!("/api/sessions/{live}")).await.bytes().await.unwrap(), revised);
    assert_eq!(
        app.get(&format!("/api/sessions/{live}?revision=1")).await.bytes().await.unwrap(),
        live_body
    );
}

/// `scan` finds credentials in shares stored without the check, every revision of them, and
/// `scan --redact` rewrites them as a create would have stored them.
#[tokio::test]
async fn scan_finds_credentials_stored_before_and_redacts_them() {
    use session_share::secrets::SecretPolicy;
    let app = crate::helpers::spawn_app_with(|s| s.secret_policy = SecretPolicy::Off).await;
    let corpus = crate::credentials::session(21);
    let id = app.create_id(corpus.upload.clone()).await;
    let latest = crate::helpers::with_message(&corpus.upload, "one more step");
    assert_eq!(app.create(latest.clone()).await["revision"], 2);
    let clean = app.create_id(crate::helpers::fresh_session()).await;

    let storage = app.storage_url.clone();
    let scan = |args: &'static [&'static str]| {
        let storage = storage.clone();
        tokio::task::spawn_blocking(move || run(&storage, args).0)
    };
    let report = scan(&["scan"]).await.unwrap();
    let count = corpus.planted.len();
    for revision in [1, 2] {
        let line = format!("alice/{id} revision {revision}: {count} credential(s): ");
        assert!(report.contains(&line), "{report}");
    }
    assert!(!report.contains(&clean), "{report}");
    assert!(report.contains("3 documents scanned, 2 with credentials"), "{report}");
    assert_eq!(app.get(&format!("/api/sessions/{id}")).await.bytes().await.unwrap(), latest);

    let report = scan(&["scan", "--username", "alice", "--redact"]).await.unwrap();
    assert_eq!(report.matches("(redacted)").count(), 2, "{report}");
    let redacted_latest = crate::helpers::with_message(&corpus.redacted, "one more step");
    let app = &app;
    let read = |path: String| async move { app.get(&path).await.bytes().await.unwrap() };
    // Another process rewrote it: this service sees it within --metadata-cache-ttl.
    crate::helpers::eventually(Duration::from_secs(15), || async {
        read(format!("/api/sessions/{id}")).await == redacted_latest
    })
    .await;
    assert_eq!(read(format!("/api/sessions/{id}?revision=1")).await, corpus.redacted);
    let revisions: Value = app.revisions(&id).await.json().await.unwrap();
    let counts: Vec<&Value> =
        revisions["items"].as_array().unwrap().iter().map(|r| &r["redactions"]).collect();
    assert_eq!(counts, [count, count]);
    let report = scan(&["scan"]).await.unwrap();
    assert!(report.contains("3 documents scanned, 0 with credentials"), "{report}");
}

/// Teams from the command line: `keys create --team`, `teams set`, `list` and `remove`; and a
/// signed link never appears in a log line, however much is logged.
#[tokio::test]
async fn teams_are_set_from_the_cli_and_links_stay_out_of_logs() {
    let storage = fresh_storage();
    let (bob_key, made) = run(&storage, &["keys", "create", "--username", "bob", "--team", "Acme"]);
    assert!(made.contains("bob is in team acme"), "{made}");
    run(&storage, &["teams", "set", "carol", "acme"]);
    let (listing, _) = run(&storage, &["teams", "list"]);
    assert!(
        listing.contains("bob") && listing.contains("carol") && listing.contains("acme"),
        "{listing}"
    );
    run(&storage, &["teams", "remove", "bob"]);
    let (listing, _) = run(&storage, &["teams", "list"]);
    assert!(!listing.contains("bob") && listing.contains("carol"), "{listing}");

    let server = Server::start(&storage).await;
    let client = reqwest::Client::new();
    let key = bob_key.trim();
    let created: Value = client
        .post(format!("{}/api/sessions/create", server.address))
        .header("Syntx-Api-Key", key)
        .header("Content-Type", "application/json")
        .body(small_session())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let link: Value = client
        .post(format!("{}/api/sessions/{id}/links", server.address))
        .header("Syntx-Api-Key", key)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = link["url"].as_str().unwrap();
    let token = url.split_once("?link=").unwrap().1;
    assert_eq!(client.get(url).send().await.unwrap().status(), StatusCode::OK);
    let read = client.get(format!("{}/api/sessions/{id}?link={token}", server.address));
    assert_eq!(read.send().await.unwrap().status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = server.log.lock().unwrap().clone();
    assert!(log.contains("link made"), "{log}");
    assert!(!log.contains(token), "a link was logged:\n{log}");
}

/// Logs that go to a file or a pipe (`docker logs`, journald) are plain text in either
/// format: colour codes would be text to `grep` and to log shippers.
#[tokio::test]
async fn the_pretty_log_written_to_a_pipe_holds_no_colour_codes() {
    let mut child = binary(&fresh_storage())
        .arg("serve")
        .env("SESSION_SHARE_BIND", "127.0.0.1:0")
        .env("SESSION_SHARE_LOG_FORMAT", "pretty")
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let listening = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("session-share listening"));
    let _ = child.kill();
    let _ = child.wait();
    let line = listening.expect("the server logs that it listens");
    assert!(!line.contains('\u{1b}'), "colour codes in a piped log: {line:?}");
    assert!(line.contains(" INFO ") && line.contains("address=127.0.0.1:"), "{line}");
}
