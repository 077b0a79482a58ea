//! The accept loop. Replaces `axum::serve` to add what a public server needs:
//!
//! - a cap on open connections (websocket consumers included, for their whole life), and past
//!   it a small reserve whose connections may only reach admin and health routes; beyond both
//!   a connection is closed at once, so accepting never runs the process out of descriptors;
//! - a watchdog per connection: a request's headers must arrive within the header timeout of
//!   its first byte (a new connection's first request within that time of the accept), and a
//!   connection with nothing in flight and no bytes moving for the idle timeout is closed, so
//!   slowloris and silent sockets cannot hold a slot;
//! - graceful shutdown: stop accepting, let open requests finish within the drain timeout.
//!
//! Connections speak HTTP/1.1 (websocket upgrades included).

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{extract::ConnectInfo, middleware, Router};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore},
};
use tower::ServiceExt;

use super::{
    guard::{self, Guard},
    loggate::LogGate,
    Admission, EdgeLimits,
};

/// Serves `router` on `listener` under `limits` until `shutdown` completes, then stops
/// accepting and waits up to the drain timeout for open requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: EdgeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router.layer(middleware::from_fn_with_state(
        Guard::new(&limits),
        guard::guard,
    ));
    let public = Arc::new(Semaphore::new(limits.max_connections));
    let reserved = Arc::new(Semaphore::new(limits.reserved_connections));
    let public_http = builder(true);
    let reserved_http = builder(false);
    let limits = Arc::new(limits);
    let (stop, stopping) = watch::channel(false);
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                accept_failed(&error).await;
                continue;
            }
        };
        let (permit, admission, http) = if let Ok(permit) = public.clone().try_acquire_owned() {
            (permit, Admission::Public, public_http.clone())
        } else if let Ok(permit) = reserved.clone().try_acquire_owned() {
            (permit, Admission::Reserved, reserved_http.clone())
        } else {
            static REFUSED: LogGate = LogGate::new(Duration::from_secs(10));
            if let Some(more) = REFUSED.check() {
                tracing::warn!(%peer, also_refused = more, "connection cap reached; connection closed");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            stream,
            peer,
            admission,
            permit,
            router: router.clone(),
            limits: limits.clone(),
            stopping: stopping.clone(),
            _alive: alive.clone(),
        };
        tokio::spawn(connection.serve(http));
    }
    drop(listener);
    let _ = stop.send(true);
    drop(alive);
    if tokio::time::timeout(limits.drain_timeout, all_closed.recv())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: open requests did not finish in time; closing them");
    }
    Ok(())
}

/// The HTTP/1.1 builder; `keep_alive` is off for reserved connections (one request each).
fn builder(keep_alive: bool) -> Arc<auto::Builder<TokioExecutor>> {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        // The watchdog times headers from their first byte; hyper's own timer would also
        // count the wait between keep-alive requests.
        .header_read_timeout(None)
        .keep_alive(keep_alive);
    Arc::new(builder)
}

/// An accept error: a connection that failed before we saw it is skipped; running out of
/// descriptors or memory pauses accepting briefly instead of spinning.
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    ) {
        return;
    }
    static FAILED: LogGate = LogGate::new(Duration::from_secs(10));
    if let Some(more) = FAILED.check() {
        tracing::warn!(%error, also_failed = more, "accept failed; pausing");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    admission: Admission,
    permit: OwnedSemaphorePermit,
    router: Router,
    limits: Arc<EdgeLimits>,
    stopping: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
}

impl Connection {
    async fn serve(self, http: Arc<auto::Builder<TokioExecutor>>) {
        let Connection {
            stream,
            peer,
            admission,
            permit,
            router,
            limits,
            mut stopping,
            _alive,
        } = self;
        let activity = Arc::new(Activity::new());
        let io = Watched {
            inner: stream,
            activity: activity.clone(),
            _permit: permit,
        };
        let requests = activity.clone();
        let service = tower::service_fn(move |mut request: hyper::Request<Incoming>| {
            let in_flight = requests.request_started();
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(admission);
            let router = router.clone();
            async move {
                let _in_flight = in_flight;
                router.oneshot(request).await
            }
        });
        let conn = http
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
        tokio::pin!(conn);
        let check_every = (limits.header_read_timeout.min(limits.idle_timeout) / 4)
            .clamp(Duration::from_millis(20), Duration::from_secs(1));
        let mut watchdog = tokio::time::interval(check_every);
        let mut draining = *stopping.borrow();
        if draining {
            conn.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                    return;
                }
                _ = watchdog.tick() => {
                    if let Some(reason) = activity.stalled(&limits) {
                        tracing::debug!(%peer, reason, "closing a stalled connection");
                        return;
                    }
                }
                changed = stopping.changed(), if !draining => {
                    if changed.is_err() || *stopping.borrow() {
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}

/// What a connection's watchdog looks at; times are milliseconds since `epoch`.
struct Activity {
    epoch: Instant,
    /// The last time bytes were read or written.
    last_io: AtomicU64,
    /// When the first byte of a request whose headers are not complete arrived, plus one
    /// (0: no request pending).
    head_since: AtomicU64,
    /// Requests whose handler is running.
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            epoch: Instant::now(),
            last_io: AtomicU64::new(0),
            // A new connection's first request is timed from the accept.
            head_since: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn on_read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ =
                self.head_since
                    .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn on_write(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    /// A request's headers are complete and its handler starts.
    fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
        InFlight(self.clone())
    }

    /// Why the connection should be closed now, if it should.
    fn stalled(&self, limits: &EdgeLimits) -> Option<&'static str> {
        let now = self.now();
        let head_since = self.head_since.load(Ordering::Acquire);
        let timeout_ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if head_since != 0
            && now.saturating_sub(head_since - 1) >= timeout_ms(limits.header_read_timeout)
        {
            return Some("request headers not received within the header timeout");
        }
        if self.in_flight.load(Ordering::Acquire) == 0
            && now.saturating_sub(self.last_io.load(Ordering::Relaxed))
                >= timeout_ms(limits.idle_timeout)
        {
            return Some("idle");
        }
        None
    }
}

/// A running request; dropping it (the handler finished or was cancelled) ends it.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.last_io.store(self.0.now(), Ordering::Relaxed);
    }
}

/// The TCP stream of a connection: reports reads and writes to the watchdog and holds the
/// connection's place under the cap for as long as the socket lives (after a websocket
/// upgrade too).
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
