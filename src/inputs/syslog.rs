//! `type: syslog`: syslog over UDP, TCP (optionally TLS), and unix stream or datagram sockets.
//!
//! Sockets are served by tokio tasks (one per connection, one per datagram socket). They hand
//! finished batches to a small bounded queue drained by one blocking thread per input, which calls
//! `BatchSender::send_blocking`; so a full pipeline never blocks the runtime's workers. When that
//! queue is full a stream task waits and stops reading its socket (backpressure reaches the
//! sender through TCP flow control), while a datagram task cannot wait and drops the batch,
//! counting it. Records carry the peer address in `Origin.peer`, so batches are per peer.

mod framing;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::{InputContext, InputError};
use crate::config::{SyslogFraming, SyslogInputConfig, SyslogMode};
use crate::event::{Origin, RawBatch};
use crate::metrics::{Counter, Gauge, Metrics};
use crate::pipeline::ack::AckRef;
use crate::pipeline::BatchSender;
use crate::source_type::SourceType;
use crate::tls::TlsError;
use framing::{trim_end, StreamFramer};

/// Bytes read from a stream socket at a time.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes of batches waiting between the socket tasks and the pipeline hand-off thread: the real
/// bound of that queue, so that many small per-peer batches (a UDP collector with a thousand
/// senders) still fit while a few large ones make streams wait.
const HANDOFF_BYTES: usize = 8 * 1024 * 1024;
/// What a record costs in that budget besides its bytes (its place in the batch).
const RECORD_OVERHEAD: usize = 32;
/// Batches in that queue at most, whatever their size.
const HANDOFF_BATCHES: usize = 4096;
/// Datagram peers with a batch being filled at once; beyond this every batch is sent right away.
const MAX_PENDING_PEERS: usize = 256;
/// A TLS client that has not finished its handshake by then is disconnected.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long closing a connection cleanly may take before it is just dropped.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);
/// SO_RCVBUF asked for on datagram sockets unless `receive_buffer_bytes` says otherwise.
const DEFAULT_RECEIVE_BUFFER: usize = 4 * 1024 * 1024;
/// At most one warning per this interval for repeated per-connection problems.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// Reads of already-arrived data when stopping, per connection (each up to `READ_CHUNK`).
const STOP_DRAIN_READS: usize = 64;
/// Datagrams already received by the kernel that are still taken when stopping.
const STOP_DRAIN_DATAGRAMS: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum SyslogError {
    #[error("cannot listen on `{listen}`: {source}")]
    Bind { listen: String, source: io::Error },
    #[error("`{path}` exists and is not a socket; not replacing it")]
    NotASocket { path: String },
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    #[error("network inputs need the async runtime")]
    NoRuntime,
}

impl From<SyslogError> for InputError {
    fn from(e: SyslogError) -> Self {
        match e {
            SyslogError::Bind { .. } => InputError::Io(e.to_string()),
            _ => InputError::Config(e.to_string()),
        }
    }
}

/// Binds the socket now (so a port in use is an error at start or reload) and starts serving it.
pub fn start(cfg: &SyslogInputConfig, ctx: InputContext) -> Result<JoinHandle<()>, InputError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(SyslogError::NoRuntime.into());
    }
    let socket = bind(cfg, &ctx.name)?;
    // Connection series mean nothing for datagram sockets: keep them out of `/metrics` there.
    let conn_metrics = match socket {
        Socket::Stream(_) => ctx.metrics.clone(),
        Socket::Datagram(_) => Metrics::new(),
    };
    let counters = Counters::new(&ctx.metrics, &conn_metrics, &ctx.name);
    let (tx, rx) = mpsc::channel(HANDOFF_BATCHES);
    let handoff = {
        let sender = ctx.sender.clone();
        let abort = ctx.abort.clone();
        let dropped = counters.dropped_shutdown.clone();
        tokio::task::spawn_blocking(move || hand_off(rx, &sender, &abort, &dropped))
    };
    let shared = Arc::new(Shared {
        name: Arc::clone(&ctx.name),
        source_type: cfg.source_type.as_deref().map(SourceType::from_name),
        framing: cfg.framing,
        max_message_bytes: cfg.max_message_bytes,
        max_connections: cfg.max_connections,
        idle_timeout: (!cfg.idle_timeout.is_zero()).then_some(cfg.idle_timeout),
        batch_timeout: cfg.batch_timeout,
        batch_size: ctx.batch_size.max(1),
        tx,
        budget: Arc::new(Semaphore::new(HANDOFF_BYTES)),
        stop: ctx.stop.clone(),
        abort: ctx.abort.clone(),
        open: AtomicUsize::new(0),
        throttle: Throttles::default(),
        c: counters,
        health: ctx.health.clone(),
    });
    Ok(tokio::spawn(run(socket, shared, handoff)))
}

/// A bound socket, before serving.
enum Socket {
    Stream(StreamListener),
    Datagram(DatagramSocket),
}

enum StreamListener {
    Tcp(TcpListener, Option<TlsAcceptor>),
    Unix(UnixListener, PathBuf),
}

enum DatagramSocket {
    Udp(UdpSocket),
    Unix(UnixDatagram, PathBuf),
}

/// One accepted stream connection, before any TLS handshake.
enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

fn bind(cfg: &SyslogInputConfig, input: &str) -> Result<Socket, SyslogError> {
    let listen = cfg.listen.as_str();
    let bind_err = |source: io::Error| SyslogError::Bind {
        listen: listen.to_string(),
        source,
    };
    let socket = match cfg.mode {
        SyslogMode::Tcp => {
            let tls = match &cfg.tls {
                Some(t) => Some(TlsAcceptor::from(crate::tls::server_config(t)?)),
                None => None,
            };
            let l = std::net::TcpListener::bind(listen).map_err(bind_err)?;
            l.set_nonblocking(true).map_err(bind_err)?;
            let l = TcpListener::from_std(l).map_err(bind_err)?;
            let local = l.local_addr().map_err(bind_err)?;
            let proto = if tls.is_some() { "tls" } else { "tcp" };
            tracing::info!(input, mode = proto, address = %local, "syslog input listening");
            Socket::Stream(StreamListener::Tcp(l, tls))
        }
        SyslogMode::Udp => {
            let s = std::net::UdpSocket::bind(listen).map_err(bind_err)?;
            set_receive_buffer(socket2::SockRef::from(&s), cfg, input);
            s.set_nonblocking(true).map_err(bind_err)?;
            let s = UdpSocket::from_std(s).map_err(bind_err)?;
            let local = s.local_addr().map_err(bind_err)?;
            tracing::info!(input, mode = "udp", address = %local, "syslog input listening");
            Socket::Datagram(DatagramSocket::Udp(s))
        }
        SyslogMode::Unix => {
            let path = PathBuf::from(listen);
            clear_stale_socket(&path)?;
            let l = std::os::unix::net::UnixListener::bind(&path).map_err(bind_err)?;
            l.set_nonblocking(true).map_err(bind_err)?;
            let l = UnixListener::from_std(l).map_err(bind_err)?;
            tracing::info!(input, mode = "unix", address = %path.display(), "syslog input listening");
            Socket::Stream(StreamListener::Unix(l, path))
        }
        SyslogMode::UnixDatagram => {
            let path = PathBuf::from(listen);
            clear_stale_socket(&path)?;
            let s = std::os::unix::net::UnixDatagram::bind(&path).map_err(bind_err)?;
            set_receive_buffer(socket2::SockRef::from(&s), cfg, input);
            s.set_nonblocking(true).map_err(bind_err)?;
            let s = UnixDatagram::from_std(s).map_err(bind_err)?;
            tracing::info!(input, mode = "unix_datagram", address = %path.display(), "syslog input listening");
            Socket::Datagram(DatagramSocket::Unix(s, path))
        }
    };
    Ok(socket)
}

/// Asks for a large kernel receive buffer: datagrams that arrive while the buffer is full are
/// dropped by the kernel, where no counter of ours sees them.
fn set_receive_buffer(sock: socket2::SockRef<'_>, cfg: &SyslogInputConfig, input: &str) {
    let want = cfg.receive_buffer_bytes.unwrap_or(DEFAULT_RECEIVE_BUFFER);
    if let Err(e) = sock.set_recv_buffer_size(want) {
        tracing::warn!(input, error = %e, "cannot set the receive buffer size");
        return;
    }
    // Linux doubles the value asked for (bookkeeping) and caps it at net.core.rmem_max.
    match sock.recv_buffer_size() {
        Ok(got) if got < want => {
            tracing::info!(
                input,
                asked = want,
                got,
                "receive buffer capped by the kernel; raise net.core.rmem_max for bursts"
            )
        }
        _ => {}
    }
}

/// A socket file left by an earlier run (or a predecessor during reload) is replaced, as rsyslog
/// and syslog-ng do; any other file at that path is not ours to delete.
fn clear_stale_socket(path: &Path) -> Result<(), SyslogError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(|source| SyslogError::Bind {
                listen: path.display().to_string(),
                source,
            })
        }
        Ok(_) => Err(SyslogError::NotASocket {
            path: path.display().to_string(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SyslogError::Bind {
            listen: path.display().to_string(),
            source,
        }),
    }
}

/// What every task of one input shares.
struct Shared {
    name: Arc<str>,
    source_type: Option<SourceType>,
    framing: SyslogFraming,
    max_message_bytes: usize,
    max_connections: usize,
    idle_timeout: Option<Duration>,
    /// How long a record may wait for its batch to fill (`batch_timeout`).
    batch_timeout: Duration,
    batch_size: usize,
    tx: mpsc::Sender<Queued>,
    /// `HANDOFF_BYTES` as permits; a queued batch holds its cost until the pipeline took it.
    budget: Arc<Semaphore>,
    stop: CancellationToken,
    abort: CancellationToken,
    /// Stream connections currently served (the limit is checked against this, not the gauge,
    /// which other runs of the same input name share across a reload).
    open: AtomicUsize,
    throttle: Throttles,
    c: Counters,
    health: crate::readiness::ComponentHealth,
}

impl Shared {
    fn origin(&self, peer: Option<SocketAddr>) -> Arc<Origin> {
        Arc::new(Origin {
            peer,
            source_type: self.source_type.clone(),
            ..Origin::input(Arc::clone(&self.name))
        })
    }

    /// Queues a batch for the pipeline, waiting while it is full. False once the input is aborted
    /// or the pipeline is gone (the batch is then counted as dropped).
    async fn send(&self, batch: RawBatch) -> bool {
        let n = batch.len() as u64;
        let queue = async {
            let permit = Arc::clone(&self.budget)
                .acquire_many_owned(cost(&batch))
                .await
                .ok()?;
            self.tx.send((batch, permit)).await.ok()
        };
        let queued = tokio::select! {
            r = queue => r.is_some(),
            _ = self.abort.cancelled() => false,
        };
        if !queued {
            self.c.dropped_shutdown.add(n);
        }
        queued
    }

    /// Queues a batch without waiting: datagrams keep arriving whether or not we can take them,
    /// so a full pipeline means a counted drop here rather than an uncounted one in the kernel.
    fn try_send(&self, batch: RawBatch) {
        let n = batch.len() as u64;
        let full = match Arc::clone(&self.budget).try_acquire_many_owned(cost(&batch)) {
            Err(_) => true,
            Ok(permit) => match self.tx.try_send((batch, permit)) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => true,
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            },
        };
        if full {
            self.c.dropped_full.add(n);
            if self.throttle.drops.ready() {
                tracing::warn!(input = %self.name, "pipeline full: dropping datagrams (counted in sluice_dropped_records_total)");
            }
        } else {
            self.c.dropped_shutdown.add(n);
        }
    }
}

/// A batch waiting for the hand-off thread, with its share of `HANDOFF_BYTES`.
type Queued = (RawBatch, OwnedSemaphorePermit);

/// A batch's share of `HANDOFF_BYTES`; capped so that one huge batch can still go alone.
fn cost(batch: &RawBatch) -> u32 {
    let bytes = batch.buf.len() + batch.len() * RECORD_OVERHEAD;
    // HANDOFF_BYTES fits in u32.
    bytes.min(HANDOFF_BYTES) as u32
}

/// The input's metrics; handles registered once.
struct Counters {
    open: Gauge,
    accepted: Counter,
    refused: Counter,
    tls_failed: Counter,
    closed_peer: Counter,
    closed_idle: Counter,
    closed_error: Counter,
    closed_stopping: Counter,
    partial: Counter,
    dropped_full: Counter,
    dropped_shutdown: Counter,
    errors: Counter,
}

impl Counters {
    /// `conn` registers the stream-only series.
    fn new(m: &Metrics, conn: &Metrics, input: &str) -> Self {
        let conns = |result: &str| {
            conn.counter(
                "sluice_input_connections_total",
                "Stream connections accepted, or refused over max_connections",
                &[("component", input), ("result", result)],
            )
        };
        let closed = |reason: &str| {
            conn.counter(
                "sluice_input_connections_closed_total",
                "Stream connections closed, by reason",
                &[("component", input), ("reason", reason)],
            )
        };
        let dropped = |reason: &str| {
            m.counter(
                "sluice_dropped_records_total",
                "Records dropped, by component and reason",
                &[("component", input), ("reason", reason)],
            )
        };
        Counters {
            open: conn.gauge(
                "sluice_input_connections_open",
                "Stream connections being served",
                &[("component", input)],
            ),
            accepted: conns("accepted"),
            refused: conns("refused"),
            tls_failed: conn.counter(
                "sluice_input_tls_handshake_failures_total",
                "TLS handshakes that failed or timed out (no or bad client certificate, not TLS)",
                &[("component", input)],
            ),
            closed_peer: closed("peer"),
            closed_idle: closed("idle"),
            closed_error: closed("error"),
            closed_stopping: closed("stopping"),
            partial: conn.counter(
                "sluice_input_partial_frames_total",
                "Octet-counted frames cut short by a disconnect, delivered tagged _sluice_truncated",
                &[("component", input)],
            ),
            dropped_full: dropped("pipeline_full"),
            dropped_shutdown: dropped("shutdown"),
            errors: m.counter(
                "sluice_component_errors_total",
                "I/O errors in a component",
                &[("component", input)],
            ),
        }
    }
}

/// One `Throttle` per kind of warning, so that one kind cannot hide another.
#[derive(Debug, Default)]
struct Throttles {
    drops: Throttle,
    refused: Throttle,
    tls: Throttle,
    io: Throttle,
}

/// Lets a repeated warning through at most once per `WARN_EVERY`, so that a flood of bad
/// connections does not become a flood of log lines.
#[derive(Debug, Default)]
struct Throttle(Mutex<Option<std::time::Instant>>);

impl Throttle {
    fn ready(&self) -> bool {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < WARN_EVERY) {
            return false;
        }
        *last = Some(std::time::Instant::now());
        true
    }
}

/// The blocking side of the hand-off: waits on the pipeline so that socket tasks never block a
/// runtime worker. After an abort (or with the pipeline gone) the rest is counted as dropped.
fn hand_off(
    mut rx: mpsc::Receiver<Queued>,
    sender: &BatchSender,
    abort: &CancellationToken,
    dropped: &Counter,
) {
    let mut failed = false;
    // The permit is given back when this iteration ends: the pipeline holds the batch now.
    while let Some((batch, _permit)) = rx.blocking_recv() {
        if failed {
            dropped.add(batch.len() as u64);
            continue;
        }
        if let Err(batch) = sender.send_blocking(batch, abort) {
            dropped.add(batch.len() as u64);
            failed = true;
            rx.close();
        }
    }
}

/// Serves the socket until `stop`, then finishes: connections deliver what they hold, the
/// socket is closed (the port is free again for a successor), and the queue is handed off.
async fn run(socket: Socket, shared: Arc<Shared>, handoff: JoinHandle<()>) {
    let path = match socket {
        Socket::Stream(l) => {
            let path = match &l {
                StreamListener::Unix(_, p) => Some(p.clone()),
                StreamListener::Tcp(..) => None,
            };
            accept_loop(l, &shared).await;
            path
        }
        Socket::Datagram(s) => {
            let path = match &s {
                DatagramSocket::Unix(_, p) => Some(p.clone()),
                DatagramSocket::Udp(_) => None,
            };
            datagram_loop(s, &shared).await;
            path
        }
    };
    if let Some(p) = path {
        let _ = std::fs::remove_file(p);
    }
    let name = Arc::clone(&shared.name);
    // The last sender goes with `shared`: the hand-off thread drains the queue and ends.
    drop(shared);
    let _ = handoff.await;
    tracing::info!(input = %name, "syslog input stopped");
}

impl StreamListener {
    async fn accept(&self) -> io::Result<(Conn, Option<SocketAddr>)> {
        match self {
            StreamListener::Tcp(l, _) => l
                .accept()
                .await
                .map(|(s, a)| (Conn::Tcp(s), Some(canonical(a)))),
            StreamListener::Unix(l, _) => l.accept().await.map(|(s, _)| (Conn::Unix(s), None)),
        }
    }

    fn tls(&self) -> Option<TlsAcceptor> {
        match self {
            StreamListener::Tcp(_, tls) => tls.clone(),
            StreamListener::Unix(..) => None,
        }
    }
}

async fn accept_loop(listener: StreamListener, shared: &Arc<Shared>) {
    let tls = listener.tls();
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            Some(r) = conns.join_next(), if !conns.is_empty() => {
                if let Err(e) = r {
                    // A bug, not the peer's doing; the other connections go on.
                    shared.c.errors.inc();
                    tracing::error!(input = %shared.name, error = %e, "a connection task failed");
                }
            }
            r = listener.accept() => match r {
                Ok((conn, peer)) => {
                    if shared.open.load(Ordering::Acquire) >= shared.max_connections {
                        // Closing at once tells the client to go elsewhere or retry later.
                        shared.c.refused.inc();
                        if shared.throttle.refused.ready() {
                            tracing::warn!(input = %shared.name, limit = shared.max_connections, "max_connections reached: refusing new connections");
                        }
                        drop(conn);
                        continue;
                    }
                    shared.c.accepted.inc();
                    shared.health.ready();
                    let slot = Slot::take(Arc::clone(shared));
                    conns.spawn(serve_conn(conn, peer, tls.clone(), slot));
                }
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning, and show
                    // it in `/ready` until a connection is accepted again.
                    shared.c.errors.inc();
                    shared.health.failed(format!("cannot accept connections: {e}"));
                    if shared.throttle.io.ready() {
                        tracing::warn!(input = %shared.name, error = %e, "cannot accept a connection");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// One connection's place under `max_connections`, given back when its task ends however it ends.
struct Slot(Arc<Shared>);

impl Slot {
    fn take(shared: Arc<Shared>) -> Self {
        shared.open.fetch_add(1, Ordering::AcqRel);
        shared.c.open.add(1);
        Slot(shared)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.c.open.add(-1);
    }
}

/// Why a connection ended.
#[derive(Debug)]
enum Closed {
    Peer,
    Idle,
    Error(io::Error),
    Stopping,
}

async fn serve_conn(conn: Conn, peer: Option<SocketAddr>, tls: Option<TlsAcceptor>, slot: Slot) {
    let shared = &*slot.0;
    let closed = match (conn, tls) {
        (Conn::Tcp(s), Some(acceptor)) => {
            let handshake = tokio::select! {
                r = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(s)) => Some(r),
                _ = shared.stop.cancelled() => None,
            };
            match handshake {
                Some(Ok(Ok(stream))) => serve_stream(stream, peer, shared).await,
                Some(Ok(Err(e))) => {
                    tls_failed(shared, peer, &e.to_string());
                    return;
                }
                Some(Err(_)) => {
                    tls_failed(shared, peer, "handshake timed out");
                    return;
                }
                None => Closed::Stopping,
            }
        }
        (Conn::Tcp(s), None) => serve_stream(s, peer, shared).await,
        (Conn::Unix(s), _) => serve_stream(s, None, shared).await,
    };
    let counter = match &closed {
        Closed::Peer => &shared.c.closed_peer,
        Closed::Idle => &shared.c.closed_idle,
        Closed::Error(_) => &shared.c.closed_error,
        Closed::Stopping => &shared.c.closed_stopping,
    };
    counter.inc();
    match &closed {
        Closed::Error(e) => {
            tracing::debug!(input = %shared.name, peer = ?peer, error = %e, "connection failed")
        }
        _ => {
            tracing::debug!(input = %shared.name, peer = ?peer, reason = ?closed, "connection closed")
        }
    }
}

fn tls_failed(shared: &Shared, peer: Option<SocketAddr>, error: &str) {
    shared.c.tls_failed.inc();
    if shared.throttle.tls.ready() {
        tracing::warn!(input = %shared.name, peer = ?peer, error, "TLS handshake failed");
    }
}

/// The batch being filled for one peer, and when it must go at the latest.
struct Outbox {
    origin: Arc<Origin>,
    batch: RawBatch,
    due: Option<Instant>,
    linger: Duration,
}

impl Outbox {
    fn new(origin: Arc<Origin>, linger: Duration) -> Self {
        Outbox {
            batch: RawBatch::new(Arc::clone(&origin), AckRef::none()),
            origin,
            due: None,
            linger,
        }
    }

    fn push(&mut self, bytes: &[u8], truncated: bool) {
        if self.batch.is_empty() {
            self.due = Some(Instant::now() + self.linger);
            // The empty batch was made when the previous one left, perhaps long before this
            // message: its receive time (`event.created`, end-to-end latency) is now.
            self.batch.received = chrono::Utc::now();
        }
        self.batch.push(bytes, None, truncated);
    }

    fn take(&mut self) -> RawBatch {
        self.due = None;
        std::mem::replace(
            &mut self.batch,
            RawBatch::new(Arc::clone(&self.origin), AckRef::none()),
        )
    }
}

/// An IPv4 client of a `[::]` listener as `1.2.3.4:5`, not `[::ffff:1.2.3.4]:5`.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// Sleeps until `at`, or forever without one (a disabled `select!` branch still needs a future).
async fn until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Reads messages from one connection until the peer closes, it idles out, or the input stops.
async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: Option<SocketAddr>,
    shared: &Shared,
) -> Closed {
    let mut framer = StreamFramer::new(shared.framing, shared.max_message_bytes);
    let mut out = Outbox::new(shared.origin(peer), shared.batch_timeout);
    let mut chunk = vec![0u8; READ_CHUNK];
    let idle_due = || shared.idle_timeout.map(|d| Instant::now() + d);
    let mut idle_at = idle_due();
    let closed = loop {
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break Closed::Stopping,
            _ = until(out.due), if out.due.is_some() => {
                if !shared.send(out.take()).await {
                    return Closed::Stopping;
                }
            }
            // Before the idle check: data waiting in the socket means the peer is not idle.
            r = stream.read(&mut chunk) => match r {
                Ok(0) => break Closed::Peer,
                Ok(n) => {
                    framer.feed(&chunk[..n]);
                    if !take_messages(&mut framer, false, &mut out, shared).await {
                        return Closed::Stopping;
                    }
                    // Time spent waiting on a full pipeline is not the peer's idleness.
                    idle_at = idle_due();
                }
                Err(e) => break Closed::Error(e),
            },
            _ = until(idle_at), if idle_at.is_some() => break Closed::Idle,
        }
    };
    if matches!(closed, Closed::Stopping) {
        // What the peer sent before the stop is already here: take it rather than reset it.
        for _ in 0..STOP_DRAIN_READS {
            let r = tokio::select! {
                biased;
                r = stream.read(&mut chunk) => r,
                _ = std::future::ready(()) => break,
            };
            match r {
                Ok(n) if n > 0 => {
                    framer.feed(&chunk[..n]);
                    if !take_messages(&mut framer, false, &mut out, shared).await {
                        return closed;
                    }
                }
                _ => break,
            }
        }
    }
    if take_messages(&mut framer, true, &mut out, shared).await && !out.batch.is_empty() {
        shared.send(out.take()).await;
    }
    if !matches!(closed, Closed::Error(_)) {
        // A clean close (TLS close_notify, then FIN) tells the client nothing was cut off.
        let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, stream.shutdown()).await;
    }
    closed
}

/// Moves every complete message from the framer into batches, sending full ones (waiting while
/// the pipeline is full: this is where a stream stops being read). False if the input aborted.
async fn take_messages(
    framer: &mut StreamFramer,
    eof: bool,
    out: &mut Outbox,
    shared: &Shared,
) -> bool {
    while let Some(m) = framer.next_message(eof) {
        if m.partial {
            shared.c.partial.inc();
        }
        out.push(m.bytes, m.truncated);
        if out.batch.len() >= shared.batch_size && !shared.send(out.take()).await {
            return false;
        }
    }
    true
}

impl DatagramSocket {
    async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, Option<SocketAddr>)> {
        match self {
            DatagramSocket::Udp(s) => s.recv_from(buf).await.map(|(n, a)| (n, Some(canonical(a)))),
            DatagramSocket::Unix(s, _) => s.recv(buf).await.map(|n| (n, None)),
        }
    }

    fn try_recv(&self, buf: &mut [u8]) -> io::Result<(usize, Option<SocketAddr>)> {
        match self {
            DatagramSocket::Udp(s) => s.try_recv_from(buf).map(|(n, a)| (n, Some(canonical(a)))),
            DatagramSocket::Unix(s, _) => s.try_recv(buf).map(|n| (n, None)),
        }
    }
}

/// Batches being filled, one per datagram peer.
struct Pending {
    by_peer: HashMap<Option<SocketAddr>, Outbox>,
}

impl Pending {
    /// The earliest time a batch is due.
    fn due(&self) -> Option<Instant> {
        self.by_peer.values().filter_map(|o| o.due).min()
    }

    /// One datagram is one message; a longer one than `max_message_bytes` is cut.
    fn add(&mut self, shared: &Shared, datagram: &[u8], peer: Option<SocketAddr>) {
        let truncated = datagram.len() > shared.max_message_bytes;
        let msg = trim_end(&datagram[..datagram.len().min(shared.max_message_bytes)]);
        if msg.is_empty() {
            return;
        }
        let out = self
            .by_peer
            .entry(peer)
            .or_insert_with(|| Outbox::new(shared.origin(peer), shared.batch_timeout));
        out.push(msg, truncated);
        if out.batch.len() >= shared.batch_size {
            shared.try_send(out.take());
        }
        if self.by_peer.len() > MAX_PENDING_PEERS {
            self.flush_all(shared);
        }
    }

    fn flush_due(&mut self, shared: &Shared) {
        let now = Instant::now();
        self.by_peer.retain(|_, o| match o.due {
            Some(t) if t <= now => {
                shared.try_send(o.take());
                false
            }
            Some(_) => true,
            None => false,
        });
    }

    fn flush_all(&mut self, shared: &Shared) {
        for (_, mut o) in self.by_peer.drain() {
            if !o.batch.is_empty() {
                shared.try_send(o.take());
            }
        }
    }
}

async fn datagram_loop(socket: DatagramSocket, shared: &Shared) {
    // A UDP payload is at most 65,507 bytes; one more byte tells a longer datagram apart.
    let cap = shared.max_message_bytes.min(65_536) + 1;
    let mut buf = vec![0u8; cap];
    let mut pending = Pending {
        by_peer: HashMap::new(),
    };
    loop {
        let due = pending.due();
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            _ = until(due), if due.is_some() => pending.flush_due(shared),
            r = socket.recv(&mut buf) => match r {
                Ok((n, peer)) => pending.add(shared, &buf[..n.min(cap)], peer),
                Err(e) => {
                    shared.c.errors.inc();
                    if shared.throttle.io.ready() {
                        tracing::warn!(input = %shared.name, error = %e, "cannot receive a datagram");
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
    // Datagrams already queued in the kernel arrived before the stop: take them (a bounded
    // number, so that a sender that never pauses cannot hold the stop up).
    for _ in 0..STOP_DRAIN_DATAGRAMS {
        match socket.try_recv(&mut buf) {
            Ok((n, peer)) => pending.add(shared, &buf[..n.min(cap)], peer),
            Err(_) => break,
        }
    }
    for (_, mut o) in pending.by_peer.drain() {
        if !o.batch.is_empty() && !shared.send(o.take()).await {
            break;
        }
    }
}
