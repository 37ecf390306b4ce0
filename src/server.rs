//! The HTTP server: poem's endpoint on hyper, with the connection limits poem's own `Server`
//! cannot set, so that no client, slow, idle or many, can hold the service.
//!
//! - A request's head must be complete within `header_timeout`, counted from the connection's
//!   accept for its first request and from the first byte of each later one: a connection
//!   that sends nothing, or dribbles a head, is closed then.
//! - Between requests a keep-alive connection may sit idle for `idle_timeout`; a response a
//!   client stops reading is cut after it too. While the service works on a request the
//!   connection is not idle; request bodies are bounded by the routes (`routes::upload`).
//! - At most `max_connections` at once (more wait in the listen backlog), and at most
//!   `per_address` from one address: past it a connection waits its turn for as long as a
//!   head may take, while the address's idle keep-alive connections are closed to make room;
//!   past [`WAITING_PER_CAP`] times the cap waiting, it is answered 503 and closed.
//!   Behind a proxy every connection comes from the proxy's address, so there the cap is on
//!   requests in flight per client address instead (see [`crate::access::InFlight`]).
//! - On shutdown: stop accepting, let requests in flight finish for up to `drain`.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    io,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use crate::metrics::Metrics;
use http_body_util::combinators::BoxBody;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use poem::{
    Addr, Endpoint, EndpointExt,
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpListener,
    sync::Semaphore,
    time::{Instant, Sleep},
};

/// How connections are bounded (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// Connections from one address; `None` behind a proxy.
    pub per_address: Option<usize>,
    pub drain: Duration,
}

/// The listen backlog asked for (the kernel caps it at `net.core.somaxconn`, 4096 on current
/// Linux): connections not yet accepted wait there. When it is full the kernel drops new SYNs,
/// and every client, whatever its address, waits for its SYN to be sent again (1 s, then 3 s):
/// it must hold more connections than one address can keep coming.
pub const LISTEN_BACKLOG: u32 = 4096;

/// How long a refused connection is kept to deliver its answer: it is sent, the connection is
/// half-closed, and what the client sent is read and dropped until it closes its side (closing
/// with unread bytes would reset the connection, and the client could lose the answer).
const REFUSED_LINGER: Duration = Duration::from_millis(500);
/// Refused connections lingering at once; past it one is closed as soon as its answer is
/// written. A client that reconnects as soon as it is closed costs the service nothing held:
/// refusals must not pile up file descriptors faster than they are closed.
const MAX_LINGERING: usize = 256;

/// How often a connection waiting for its address's turn looks for an idle one to close.
const RECYCLE_EVERY: Duration = Duration::from_millis(50);
/// Connections of one address that may wait their turn, as many times its cap.
const WAITING_PER_CAP: usize = 4;

/// What an address over its connection cap is told before its connection is closed: the one
/// error model's answer, written by hand only because no HTTP connection is served.
static TOO_MANY: std::sync::LazyLock<bytes::Bytes> =
    std::sync::LazyLock::new(|| crate::error::ApiError::too_many_connections().http1_close());

/// Binds `address` with a listen backlog of [`LISTEN_BACKLOG`].
pub async fn listen(address: &str) -> io::Result<TcpListener> {
    let mut last = None;
    for candidate in tokio::net::lookup_host(address).await? {
        let socket = match candidate {
            std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(candidate).and_then(|()| socket.listen(LISTEN_BACKLOG)) {
            Ok(listener) => return Ok(listener),
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
}

/// What every connection is served with.
struct Serving<A> {
    app: Arc<A>,
    local: LocalAddr,
    builder: auto::Builder<TokioExecutor>,
    limits: ConnectionLimits,
    slots: Arc<Semaphore>,
    /// Refused connections lingering to deliver their answer (see [`refuse`]).
    lingering: Arc<Semaphore>,
    addresses: Addresses,
    metrics: Arc<Metrics>,
    /// Becomes `true` on shutdown; every connection holds a receiver while it lives.
    stopping: tokio::sync::watch::Receiver<bool>,
}

/// Serves `app` on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    app: impl Endpoint + 'static,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Heads are timed here (from accept, not from a first byte), so hyper's own timer is off.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(None).keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let serving = Arc::new(Serving {
        app: Arc::new(app.map_to_response()),
        local: LocalAddr(Addr::SocketAddr(listener.local_addr()?)),
        builder,
        limits,
        slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
        lingering: Arc::new(Semaphore::new(MAX_LINGERING)),
        addresses: Addresses::default(),
        metrics,
        stopping,
    });
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = serving.slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(cap) = limits.per_address else {
            serving.connection(socket, peer, permit, None);
            continue;
        };
        match serving.addresses.enter(peer.ip(), cap) {
            Entry::Open(held) => serving.connection(socket, peer, permit, Some(held)),
            // Its address is at its cap: it waits its turn, without a place meanwhile, for
            // as long as a head may take; more than a cap's worth waiting are refused.
            Entry::Wait(waiting) => {
                drop(permit);
                tokio::spawn(serving.clone().in_turn(socket, peer, cap, waiting));
            }
            Entry::Full => {
                drop(permit);
                tokio::spawn(refuse(socket, serving.lingering.clone()));
            }
        }
    }
    drop((listener, serving));
    tracing::info!("shutting down: draining in-flight requests");
    let _ = stop.send(true);
    tokio::select! {
        () = stop.closed() => {}
        () = tokio::time::sleep(limits.drain) => {
            tracing::warn!(drain = ?limits.drain, "requests still in flight after the drain time");
        }
    }
    Ok(())
}

/// Answers 503 and closes: at once when [`MAX_LINGERING`] refusals are already lingering,
/// else once the client has read it and closed (at most [`REFUSED_LINGER`]).
async fn refuse(mut socket: tokio::net::TcpStream, lingering: Arc<Semaphore>) {
    use tokio::io::AsyncReadExt;
    let Ok(_lingers) = lingering.try_acquire_owned() else {
        let _ = socket.try_write(&TOO_MANY);
        return;
    };
    let _ = tokio::time::timeout(REFUSED_LINGER, async {
        socket.write_all(&TOO_MANY).await?;
        socket.shutdown().await?;
        let mut sink = [0u8; 1024];
        while socket.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    })
    .await;
}

impl<A: Endpoint<Output = poem::Response> + 'static> Serving<A> {
    /// A connection whose address was at its cap: served when one of its address's closes,
    /// within the header timeout, or refused.
    async fn in_turn(
        self: Arc<Self>,
        socket: tokio::net::TcpStream,
        peer: std::net::SocketAddr,
        cap: usize,
        waiting: Waiting,
    ) {
        let deadline = Instant::now() + self.limits.header_timeout;
        let counted = self.metrics.connection_waiting();
        let held = loop {
            let freed = self.addresses.freed.notified();
            if let Some(held) = waiting.take_turn(cap) {
                break held;
            }
            // Its address's connections may have gone idle since: one is asked to make room.
            waiting.recycle_idle();
            let retry = (Instant::now() + RECYCLE_EVERY).min(deadline);
            let _ = tokio::time::timeout_at(retry, freed).await;
            if Instant::now() >= deadline {
                drop(waiting);
                return refuse(socket, self.lingering.clone()).await;
            }
        };
        let permit =
            match tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned()).await {
                Ok(permit) => permit.expect("the semaphore is never closed"),
                Err(_) => return refuse(socket, self.lingering.clone()).await,
            };
        drop(counted);
        self.connection(socket, peer, permit, Some(held));
    }

    /// Serves one connection on a task of its own, holding its place until it closes.
    fn connection(
        &self,
        socket: tokio::net::TcpStream,
        peer: std::net::SocketAddr,
        permit: tokio::sync::OwnedSemaphorePermit,
        held: Option<Held>,
    ) {
        // Nagle off: a response written in two parts otherwise waits ~40 ms for the
        // client's delayed ACK (measured: 45 ms vs 2 ms for a small create).
        let _ = socket.set_nodelay(true);
        let (app, local) = (self.app.clone(), self.local.clone());
        let remote = RemoteAddr(Addr::SocketAddr(peer));
        let conn = held.as_ref().map_or_else(|| Arc::new(Conn::default()), |held| held.2.clone());
        let phase = conn.phase.clone();
        let working = phase.clone();
        let service = hyper::service::service_fn(move |req| {
            let (app, local, remote) = (app.clone(), local.clone(), remote.clone());
            let working = Working::start(&working);
            async move {
                let req = poem::Request::from((req, local, remote, Scheme::HTTP));
                let resp: hyper::Response<BoxBody<bytes::Bytes, io::Error>> =
                    app.get_response(req).await.into();
                drop(working);
                Ok::<_, Infallible>(resp)
            }
        });
        let io = TokioIo::new(Watched::new(socket, self.limits, phase));
        let connection = self.builder.serve_connection(io, service).into_owned();
        let mut stopping = self.stopping.clone();
        let counted = self.metrics.connection_open();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let closed = tokio::select! {
                closed = &mut connection => closed,
                // Shutting down (the only change ever sent is the stop), or making room for
                // another connection of its address: requests in flight finish; no new ones
                // are taken.
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
                () = conn.close.notified() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = closed {
                tracing::debug!(%error, %peer, "connection closed with an error");
            }
            drop((permit, held, stopping, conn, counted));
        });
    }
}

/// Connections per address: open ones, and ones waiting for their turn.
#[derive(Clone, Default)]
struct Addresses {
    counts: Arc<Mutex<HashMap<IpAddr, Counts>>>,
    /// Told whenever a connection closes.
    freed: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct Counts {
    open: Vec<Arc<Conn>>,
    waiting: usize,
}

/// An open connection as its address's count sees it.
#[derive(Default)]
struct Conn {
    phase: Arc<Phase>,
    /// Asks the connection to close (when idle, to make room for another of its address).
    close: tokio::sync::Notify,
    asked: std::sync::atomic::AtomicBool,
}

enum Entry {
    Open(Held),
    Wait(Waiting),
    Full,
}

/// One open connection counted against its address while it lives.
struct Held(Addresses, IpAddr, Arc<Conn>);

/// One connection waiting its turn, counted while it waits.
struct Waiting(Addresses, IpAddr);

impl Addresses {
    /// A place for a connection from `ip`. At the cap, an idle keep-alive connection of the
    /// same address is asked to close to make room: a client with many requests at once (a
    /// pool of connections) keeps going, one holding connections open cannot hold more.
    fn enter(&self, ip: IpAddr, cap: usize) -> Entry {
        let mut counts = self.counts.lock().expect("not poisoned");
        let count = counts.entry(ip).or_default();
        if count.open.len() < cap {
            let conn = Arc::new(Conn::default());
            count.open.push(conn.clone());
            return Entry::Open(Held(self.clone(), ip, conn));
        }
        if count.waiting >= cap * WAITING_PER_CAP {
            return Entry::Full;
        }
        count.waiting += 1;
        drop(counts);
        let waiting = Waiting(self.clone(), ip);
        waiting.recycle_idle();
        Entry::Wait(waiting)
    }

    fn change(&self, ip: IpAddr, change: impl FnOnce(&mut Counts)) {
        let mut counts = self.counts.lock().expect("not poisoned");
        if let Some(count) = counts.get_mut(&ip) {
            change(count);
            if count.open.is_empty() && count.waiting == 0 {
                counts.remove(&ip);
            }
        }
    }
}

impl Waiting {
    /// Asks one of its address's idle connections (kept alive between requests) to close, if
    /// one is, and none has been asked already.
    fn recycle_idle(&self) {
        let counts = self.0.counts.lock().expect("not poisoned");
        let Some(count) = counts.get(&self.1) else { return };
        let closing =
            count.open.iter().any(|conn| conn.asked.load(std::sync::atomic::Ordering::Relaxed));
        if closing {
            return;
        }
        if let Some(idle) = count.open.iter().find(|conn| conn.phase.is_idle()) {
            idle.asked.store(true, std::sync::atomic::Ordering::Relaxed);
            idle.close.notify_one();
        }
    }

    /// Its address's place, if one is free now.
    fn take_turn(&self, cap: usize) -> Option<Held> {
        let mut counts = self.0.counts.lock().expect("not poisoned");
        let count = counts.get_mut(&self.1)?;
        if count.open.len() >= cap {
            return None;
        }
        let conn = Arc::new(Conn::default());
        count.open.push(conn.clone());
        Some(Held(self.0.clone(), self.1, conn))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.change(self.1, |count| count.waiting -= 1);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let conn = self.2.clone();
        self.0.change(self.1, |count| count.open.retain(|c| !Arc::ptr_eq(c, &conn)));
        self.0.freed.notify_waiters();
    }
}

/// Where a connection is in its life: requests being worked on, and whether a request head is
/// awaited (and since when).
#[derive(Default)]
struct Phase(Mutex<PhaseState>);

impl Phase {
    /// Kept alive between requests, with nothing in flight.
    fn is_idle(&self) -> bool {
        let state = self.0.lock().expect("not poisoned");
        state.working == 0 && state.head_since.is_none()
    }
}

#[derive(Default)]
struct PhaseState {
    working: usize,
    /// Since when a request head is awaited; `None` once it has come.
    head_since: Option<Instant>,
}

/// Counts a request as worked on while it lives: its head has come.
struct Working(Arc<Phase>);

impl Working {
    fn start(phase: &Arc<Phase>) -> Self {
        let mut state = phase.0.lock().expect("not poisoned");
        state.working += 1;
        state.head_since = None;
        Self(phase.clone())
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        self.0.0.lock().expect("not poisoned").working -= 1;
    }
}

/// A socket that fails with `TimedOut` when its connection overstays (see the module docs).
struct Watched<T> {
    inner: T,
    limits: ConnectionLimits,
    deadline: Pin<Box<Sleep>>,
    phase: Arc<Phase>,
}

impl<T> Watched<T> {
    fn new(inner: T, limits: ConnectionLimits, phase: Arc<Phase>) -> Self {
        // The first request's head is awaited from the accept.
        phase.0.lock().expect("not poisoned").head_since = Some(Instant::now());
        let deadline = Box::pin(tokio::time::sleep(limits.header_timeout));
        Self { inner, limits, deadline, phase }
    }

    /// Something moved: bytes `read` (when a read) or written.
    fn moved(&mut self, read: usize) {
        let now = Instant::now();
        let mut state = self.phase.0.lock().expect("not poisoned");
        if read > 0 && state.working == 0 && state.head_since.is_none() {
            // The first bytes of the next request on a kept-alive connection.
            state.head_since = Some(now);
        }
        let deadline = match state.head_since {
            Some(since) => since + self.limits.header_timeout,
            None => now + self.limits.idle_timeout,
        };
        drop(state);
        self.deadline.as_mut().reset(deadline);
    }

    /// Passes on what the inner socket did, failing when the connection overstayed.
    fn track<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
        read: impl Fn(&R) -> usize,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Ready(Ok(done)) => {
                self.moved(read(&done));
                Poll::Ready(Ok(done))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.check(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }

    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let (working, waiting_for_head) = {
            let state = self.phase.0.lock().expect("not poisoned");
            (state.working, state.head_since.is_some())
        };
        if working > 0 {
            // Not idle: the clock starts again when the work is done. The timer stays set,
            // so that the connection is looked at again then, even if nothing else moves.
            let idle = Instant::now() + self.limits.idle_timeout;
            self.deadline.as_mut().reset(idle);
            let _ = self.deadline.as_mut().poll(cx);
            return Ok(());
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) if waiting_for_head => {
                Err(io::Error::new(io::ErrorKind::TimedOut, "no complete request head in time"))
            }
            Poll::Ready(()) => Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle")),
            Poll::Pending => Ok(()),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        this.track(cx, polled, |()| read)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.track(cx, polled, |_| 0)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.track(cx, polled, |_| 0)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
