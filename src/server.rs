//! The HTTP server: poem's endpoint on hyper, with the connection limits poem's own `Server`
//! cannot set, so slow or idle clients cannot hold the service.
//!
//! - A request's headers must arrive within `header_timeout` (hyper's header read timeout,
//!   per request, keep-alive requests included): a client dribbling bytes is cut off.
//! - A connection on which nothing moves for `idle_timeout` between requests (an idle
//!   keep-alive), or while a response is being written (a client that stopped reading), is
//!   closed. While the service works on a request it is not idle (hyper keeps a read pending
//!   then); a body that stops arriving is the routes' to bound (`JsonUpload::read`).
//! - At most `max_connections` at once; past it, new connections wait in the listen backlog
//!   until one closes, rather than using up the process's file descriptors.
//! - On shutdown: stop accepting, let requests in flight finish for up to `drain`.

use std::{
    convert::Infallible,
    future::Future,
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use http_body_util::combinators::BoxBody;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use poem::{
    Addr, Endpoint, EndpointExt,
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
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
    pub drain: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    app: impl Endpoint + 'static,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let app = Arc::new(app.map_to_response());
    let local = LocalAddr(Addr::SocketAddr(listener.local_addr()?));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
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
        // Nagle off: a response written in two parts otherwise waits ~40 ms for the
        // client's delayed ACK (measured: 45 ms vs 2 ms for a small create).
        let _ = socket.set_nodelay(true);
        let (app, local) = (app.clone(), local.clone());
        let remote = RemoteAddr(Addr::SocketAddr(peer));
        // Requests this connection's service is working on: then it is not idle.
        let busy = Arc::new(AtomicUsize::new(0));
        let working = busy.clone();
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
        let io = TokioIo::new(IdleTimeout::new(socket, limits.idle_timeout, busy));
        let connection = graceful.watch(builder.serve_connection(io, service).into_owned());
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain) => {
            tracing::warn!(drain = ?limits.drain, "requests still in flight after the drain time");
        }
    }
    Ok(())
}

/// Counts a request as worked on while it lives.
struct Working(Arc<AtomicUsize>);

impl Working {
    fn start(busy: &Arc<AtomicUsize>) -> Self {
        busy.fetch_add(1, Ordering::SeqCst);
        Self(busy.clone())
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A socket that fails with `TimedOut` once nothing has been read or written on it for
/// `timeout` while a read or write waits and no request is being worked on.
struct IdleTimeout<T> {
    inner: T,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    busy: Arc<AtomicUsize>,
}

impl<T> IdleTimeout<T> {
    fn new(inner: T, timeout: Duration, busy: Arc<AtomicUsize>) -> Self {
        Self { inner, timeout, deadline: Box::pin(tokio::time::sleep(timeout)), busy }
    }

    fn moved(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.timeout);
    }

    /// Passes on what the inner socket did, restarting the clock when it did something and
    /// failing when it did nothing for too long.
    fn track<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Ready(result) => {
                self.moved();
                Poll::Ready(result)
            }
            Poll::Pending => match self.check(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }

    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.busy.load(Ordering::SeqCst) > 0 {
            // The clock starts again when the work is done.
            self.moved();
            return Ok(());
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle")),
            Poll::Pending => Ok(()),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.track(cx, polled)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.track(cx, polled)
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
        this.track(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
