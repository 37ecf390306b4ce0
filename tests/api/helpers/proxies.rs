//! TCP proxies between the service and its S3 server that break what storage does on a bad
//! day: an outage, lost replies, stalls and resets, writes held until long after.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy in front of the S3 server that can be cut and restored: an outage that any
/// S3 implementation can be put through.
pub struct TcpProxy {
    pub endpoint: String,
    up: Arc<Mutex<bool>>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl TcpProxy {
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(Mutex::new(true));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                if !*up2.lock().unwrap() {
                    drop(inbound); // refused: the connection is reset at once
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns2.lock().unwrap().push(task);
            }
        });
        Self { endpoint, up, connections }
    }

    /// Storage goes away: open connections are dropped, new ones are reset.
    pub fn cut(&self) {
        *self.up.lock().unwrap() = false;
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        *self.up.lock().unwrap() = true;
    }
}

/// A TCP proxy in front of the S3 server that lets requests through but loses the replies to
/// the first `losses` requests whose request line contains `needle`: S3 did the work, the
/// client never hears of it and retries. (HTTP/1.1 here is one request at a time per
/// connection, so the first bytes back after such a request are its reply.)
pub struct LostReplyProxy {
    pub endpoint: String,
    pub lost: Arc<std::sync::atomic::AtomicUsize>,
    /// Replies still to lose.
    budget: Arc<std::sync::atomic::AtomicUsize>,
}

impl LostReplyProxy {
    pub async fn start(upstream: &str, needle: &'static str, losses: usize) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let lost = Arc::new(AtomicUsize::new(0));
        let budget = Arc::new(AtomicUsize::new(losses));
        let (lost2, budget2) = (lost.clone(), budget.clone());
        tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else { return };
                let Ok(outbound) = TcpStream::connect(&upstream).await else { continue };
                let (mut client_read, mut client_write) = inbound.into_split();
                let (mut server_read, mut server_write) = outbound.into_split();
                let doomed = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let (doomed_up, budget, lost) = (doomed.clone(), budget2.clone(), lost2.clone());
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let chunk = &buf[..n];
                        let line_end = chunk.iter().position(|&b| b == b'\r').unwrap_or(n.min(512));
                        let line = String::from_utf8_lossy(&chunk[..line_end]);
                        if line.starts_with("PUT ")
                            && line.contains(needle)
                            && budget
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                                    b.checked_sub(1)
                                })
                                .is_ok()
                        {
                            doomed_up.store(true, Ordering::SeqCst);
                            lost.fetch_add(1, Ordering::SeqCst);
                        }
                        if server_write.write_all(chunk).await.is_err() {
                            return;
                        }
                    }
                });
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if doomed.load(Ordering::SeqCst) {
                            // The reply to the doomed request: S3 has done the work; the
                            // client hears nothing and its connection is cut.
                            break;
                        }
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    up.abort();
                });
            }
        });
        Self { endpoint, lost, budget }
    }

    /// Loses the replies to the next `n` matching `PUT`s.
    pub fn lose(&self, n: usize) {
        self.budget.store(n, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A storage endpoint that accepts connections and never answers: a stalled S3.
pub async fn black_hole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket); // kept open, never read, never answered
        }
    });
    endpoint
}

/// What a [`FaultyProxy`] does to one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Closed at once.
    Reset,
    /// Accepted, never answered.
    Stall,
    /// The reply cut after a few bytes.
    Cut,
    /// The request forwarded, the reply lost.
    LoseReply,
}

/// A TCP proxy in front of the S3 server that breaks a share of the requests it carries,
/// each drawn from a seed (so a failure can be replayed): the network as it is on a bad day.
/// A request starts when the client sends after a reply (HTTP/1.1 is one request at a time
/// per connection), so a kept-alive connection meets a fault per request, not once.
pub struct FaultyProxy {
    pub endpoint: String,
    pub faults: Arc<Mutex<Vec<Fault>>>,
}

impl FaultyProxy {
    pub async fn start(upstream: &str, seed: u64, fault_rate: f64) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

        use rand::{Rng, SeedableRng};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let faults = Arc::new(Mutex::new(Vec::new()));
        let seen = faults.clone();
        let rng = Arc::new(Mutex::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed)));
        tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else { return };
                let Ok(outbound) = TcpStream::connect(&upstream).await else { continue };
                let (mut client_read, mut client_write) = inbound.into_split();
                let (mut server_read, mut server_write) = outbound.into_split();
                // What the request in flight meets, set as it starts; a reply seen since.
                let fault = Arc::new(Mutex::new(Fault::None));
                let cut_after = Arc::new(AtomicUsize::new(0));
                let replied = Arc::new(AtomicBool::new(true));
                let (seen, rng) = (seen.clone(), rng.clone());
                let (fault_up, cut_up, replied_up) =
                    (fault.clone(), cut_after.clone(), replied.clone());
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if replied_up.swap(false, Ordering::SeqCst) {
                            // A new request: its fate.
                            let (drawn, cut) = {
                                let mut rng = rng.lock().unwrap();
                                let drawn = if rng.random_bool(fault_rate) {
                                    [Fault::Reset, Fault::Stall, Fault::Cut, Fault::LoseReply]
                                        [rng.random_range(0..4)]
                                } else {
                                    Fault::None
                                };
                                (drawn, rng.random_range(1..200usize))
                            };
                            cut_up.store(cut, Ordering::SeqCst);
                            *fault_up.lock().unwrap() = drawn;
                            seen.lock().unwrap().push(drawn);
                        }
                        let current = *fault_up.lock().unwrap();
                        match current {
                            Fault::Reset => return,
                            Fault::Stall => {
                                // Held, never forwarded, never answered.
                                while let Ok(n) = client_read.read(&mut buf).await {
                                    if n == 0 {
                                        break;
                                    }
                                }
                                return;
                            }
                            _ => {}
                        }
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut sent = 0usize;
                    loop {
                        let read = server_read.read(&mut buf);
                        // The client's half closing (a reset or stall) ends the connection.
                        let n = tokio::select! {
                            n = read => match n { Ok(0) | Err(_) => break, Ok(n) => n },
                            _ = async { while !up.is_finished() { tokio::time::sleep(Duration::from_millis(20)).await } } => break,
                        };
                        let current = *fault.lock().unwrap();
                        let cut = cut_after.load(Ordering::SeqCst);
                        let n = match current {
                            Fault::LoseReply => break,
                            Fault::Cut if sent + n > cut => {
                                let _ =
                                    client_write.write_all(&buf[..cut.saturating_sub(sent)]).await;
                                break;
                            }
                            _ => n,
                        };
                        sent += n;
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        if current == Fault::None {
                            // Whatever the client sends next starts another request.
                            replied.store(true, Ordering::SeqCst);
                            sent = 0;
                        }
                    }
                    up.abort();
                });
            }
        });
        Self { endpoint, faults }
    }
}

/// A TCP proxy in front of the S3 server that holds every `PUT` whose request line contains
/// `needle` for `hold`, then forwards it, whether or not its client is still there: a write
/// that lands long after the service gave up on it. (One request per connection at a time,
/// as HTTP/1.1 does: what follows a held request on its connection waits behind it.)
pub struct HoldingProxy {
    pub endpoint: String,
    /// Requests held so far.
    pub held: Arc<std::sync::atomic::AtomicUsize>,
}

impl HoldingProxy {
    pub async fn start(upstream: &str, needle: &'static str, hold: Duration) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let held = Arc::new(AtomicUsize::new(0));
        let counted = held.clone();
        tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else { return };
                let Ok(outbound) = TcpStream::connect(&upstream).await else { continue };
                let (mut client_read, mut client_write) = inbound.into_split();
                let (mut server_read, mut server_write) = outbound.into_split();
                let counted = counted.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let line_end =
                            buf[..n].iter().position(|&b| b == b'\r').unwrap_or(n.min(512));
                        let line = String::from_utf8_lossy(&buf[..line_end]).into_owned();
                        if line.starts_with("PUT ") && line.contains(needle) {
                            counted.fetch_add(1, Ordering::SeqCst);
                            // Collect what the client sends meanwhile, then forward it all.
                            let mut pending = buf[..n].to_vec();
                            let until = tokio::time::Instant::now() + hold;
                            while let Ok(Ok(m)) =
                                tokio::time::timeout_at(until, client_read.read(&mut buf)).await
                            {
                                if m == 0 {
                                    break;
                                }
                                pending.extend_from_slice(&buf[..m]);
                            }
                            tokio::time::sleep_until(until).await;
                            if server_write.write_all(&pending).await.is_err() {
                                break;
                            }
                            continue;
                        }
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    // Keep the upstream half open long enough for its answer to a held write.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                });
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
            }
        });
        Self { endpoint, held }
    }
}
