//! The STUN binding server over real UDP sockets: the sans-IO
//! [`BindingServer`] does the protocol, this module owns
//! the sockets.
//!
//! With an alternate address (RFC 5780) it binds four sockets, A1:P1, A1:P2, A2:P1 and A2:P2,
//! and sends every answer from the socket whose address is the answer's `from` (that is how
//! CHANGE-REQUEST works). Each socket has its own thread with its own copy of the server, so
//! the hot path takes no lock and allocates nothing: receive slots and answer buffers for one
//! batch per socket, reused. With [`ServerOptions::threads`] above one (Linux), each address
//! is bound that many times with `SO_REUSEPORT`, one thread per socket: the kernel spreads the
//! clients over them by their address (each client keeps to one socket), so the server uses
//! that many CPUs. Datagrams come in batches (`recvmmsg`) and the answers leave in
//! batches (`sendmmsg`) on Linux, which roughly halves the system calls per answer compared
//! with one `recv_from` and one `send_to` each.
//!
//! The threads block in the kernel instead of waiting on tokio's reactor. A socket registered
//! with epoll carries a wait-queue entry for its whole life, and the kernel calls it every time
//! one of the socket's sent datagrams is freed (to report write space): one wake-up call per
//! answer for a server that never waits to write. A socket only a blocking receive waits on has
//! that entry only while the thread sleeps, that is, never while there is work queued.

use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;
use std::io;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use icebreaker_stun::server::{BindingServer, MAX_REPLY, ServerConfig, ServerStats};
use tracing::{debug, info, warn};

use crate::udp_batch::{BATCH, RecvBatch, grow_buffers, send_to_many};

/// What to listen on and how to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// The primary address A1:P1, bound exactly as given (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The RFC 5780 alternate address A2:P2: another IP and another port (port 0 picks one).
    pub other: Option<SocketAddr>,
    /// SOFTWARE in every answer; none by default.
    pub software: Option<String>,
    /// Sockets (and threads) per address, 1 to [`MAX_THREADS`]; above one, bound with
    /// `SO_REUSEPORT` (Linux only).
    pub threads: usize,
}

impl ServerOptions {
    /// One thread on `listen`, no alternate address, no SOFTWARE.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            other: None,
            software: None,
            threads: 1,
        }
    }
}

/// Most sockets bound per address ([`ServerOptions::threads`]).
pub const MAX_THREADS: usize = 256;

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    /// The options cannot work (same IP for both addresses, mixed families, ...).
    Invalid(&'static str),
    /// The operating system would not start a socket thread.
    Thread(io::Error),
    /// Binding a socket failed.
    Bind {
        /// The address that could not be bound.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(why) => f.write_str(why),
            Self::Thread(e) => write!(f, "cannot start a server thread: {e}"),
            Self::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A server whose sockets are bound and whose threads are running. Dropping it stops them
/// (each within [`STOP_POLL`]).
#[derive(Debug)]
pub struct RunningServer {
    addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<ServerStats>>,
}

impl RunningServer {
    /// The bound addresses: `[A1:P1]`, or with RFC 5780 `[A1:P1, A1:P2, A2:P1, A2:P2]`.
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The primary address A1:P1.
    pub fn primary(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The RFC 5780 alternate address A2:P2, when enabled.
    pub fn other(&self) -> Option<SocketAddr> {
        (self.addrs.len() == 4).then(|| self.addrs[3])
    }

    /// Stops every socket thread and returns the summed counters. Takes up to [`STOP_POLL`]
    /// (a thread blocked in a receive notices the stop when its read times out); the wait
    /// happens on tokio's blocking pool, not on the caller's worker.
    pub async fn shutdown(self) -> ServerStats {
        let mut total = ServerStats::default();
        for s in self.shutdown_each().await {
            total.answered += s.answered;
            total.errors += s.errors;
            total.dropped += s.dropped;
        }
        total
    }

    /// As [`shutdown`](Self::shutdown), with each socket thread's counters: address by
    /// address as [`addresses`](Self::addresses) lists them, [`ServerOptions::threads`] each.
    pub async fn shutdown_each(mut self) -> Vec<ServerStats> {
        self.stop.store(true, Ordering::Relaxed);
        let threads = core::mem::take(&mut self.threads);
        let join = move || {
            threads
                .into_iter()
                .map(|t| t.join().unwrap_or_default())
                .collect()
        };
        tokio::task::spawn_blocking(join).await.unwrap_or_default()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How long a socket thread blocks in a receive before it looks at the stop flag again.
pub const STOP_POLL: Duration = Duration::from_millis(50);

fn bind(addr: SocketAddr, reuse_port: bool) -> Result<UdpSocket, StartError> {
    let bound = bind_socket(addr, reuse_port).and_then(|socket| {
        // Blocking, so that a thread can wait in the kernel; never longer than STOP_POLL.
        socket.set_read_timeout(Some(STOP_POLL))?;
        Ok(socket)
    });
    let socket = bound.map_err(|source| StartError::Bind { addr, source })?;
    grow_buffers(&socket, SOCKET_BUFFER);
    Ok(socket)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn bind_socket(addr: SocketAddr, reuse_port: bool) -> io::Result<UdpSocket> {
    use std::os::fd::AsRawFd as _;

    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrStorage, bind, setsockopt, socket, sockopt,
    };
    if !reuse_port {
        return UdpSocket::bind(addr);
    }
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(family, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::ReusePort, &true)?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    Ok(UdpSocket::from(fd))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn bind_socket(addr: SocketAddr, _reuse_port: bool) -> io::Result<UdpSocket> {
    // `start` refuses several threads per address here.
    UdpSocket::bind(addr)
}

/// Binds `addr` `copies` times: once plainly, or (more than one) with `SO_REUSEPORT` on the
/// port the first one got.
fn bind_group(addr: SocketAddr, copies: usize) -> Result<Vec<UdpSocket>, StartError> {
    let reuse = copies > 1;
    let first = bind(addr, reuse)?;
    let port = first
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?
        .port();
    let mut group = Vec::with_capacity(copies);
    group.push(first);
    for _ in 1..copies {
        group.push(bind(SocketAddr::new(addr.ip(), port), reuse)?);
    }
    Ok(group)
}

/// Kernel buffer asked for on each socket, so bursts from many clients queue instead of being
/// dropped while a batch is answered.
const SOCKET_BUFFER: usize = 4 << 20;

/// Binds A1:P1, A1:P2, A2:P1, A2:P2, `copies` sockets each (see [`bind_group`]). Ports given as
/// 0 are picked by the OS; the same port must then also be free on the other IP, so the whole
/// set is retried a few times.
fn bind_four(
    listen: SocketAddr,
    other: SocketAddr,
    copies: usize,
) -> Result<Vec<UdpSocket>, StartError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = (|| {
            let a1p1 = bind_group(listen, copies)?;
            let p1 = a1p1[0]
                .local_addr()
                .map_err(|source| StartError::Bind {
                    addr: listen,
                    source,
                })?
                .port();
            let a2p1 = bind_group(SocketAddr::new(other.ip(), p1), copies)?;
            let a1p2 = bind_group(SocketAddr::new(listen.ip(), other.port()), copies)?;
            let p2 = a1p2[0]
                .local_addr()
                .map_err(|source| StartError::Bind {
                    addr: other,
                    source,
                })?
                .port();
            let a2p2 = bind_group(SocketAddr::new(other.ip(), p2), copies)?;
            Ok([a1p1, a1p2, a2p1, a2p2].into_iter().flatten().collect())
        })();
        match result {
            Err(StartError::Bind { source, .. })
                if attempt < 20
                    && source.kind() == io::ErrorKind::AddrInUse
                    && (listen.port() == 0 || other.port() == 0) =>
            {
                debug!(
                    attempt,
                    "ephemeral port taken on the other address, retrying"
                );
            }
            other => return other,
        }
    }
}

/// Binds the sockets and starts one serving thread per socket. [`RunningServer::shutdown`]
/// must be awaited inside a tokio runtime.
pub async fn start(options: ServerOptions) -> Result<RunningServer, StartError> {
    let copies = options.threads;
    if !(1..=MAX_THREADS).contains(&copies) {
        return Err(StartError::Invalid(
            "the threads per address must be 1 to 256",
        ));
    }
    if copies > 1 && !cfg!(any(target_os = "linux", target_os = "android")) {
        return Err(StartError::Invalid(
            "several threads per address need SO_REUSEPORT's load balancing (Linux)",
        ));
    }
    // Sockets `copies` per address, address by address: socket `i` serves address
    // `i / copies`.
    let sockets = match options.other {
        None => bind_group(options.listen, copies)?,
        Some(other) => {
            let listen = options.listen;
            if listen.is_ipv4() != other.is_ipv4() {
                return Err(StartError::Invalid(
                    "--listen and --other must be of the same address family",
                ));
            }
            if listen.ip() == other.ip() {
                return Err(StartError::Invalid(
                    "--other needs a different IP address from --listen (RFC 5780)",
                ));
            }
            if listen.ip().is_unspecified() || other.ip().is_unspecified() {
                return Err(StartError::Invalid(
                    "with --other, both addresses must be specific IPs (answers must come from a known address)",
                ));
            }
            if listen.port() != 0 && listen.port() == other.port() {
                return Err(StartError::Invalid(
                    "--other needs a different port from --listen (RFC 5780)",
                ));
            }
            bind_four(listen, other, copies)?
        }
    };
    let mut addrs = Vec::with_capacity(sockets.len() / copies);
    for s in sockets.iter().step_by(copies) {
        addrs.push(s.local_addr().map_err(|source| StartError::Bind {
            addr: options.listen,
            source,
        })?);
    }
    let config = ServerConfig {
        primary: Some(addrs[0]),
        other: (addrs.len() == 4).then(|| addrs[3]),
        software: options.software,
        ..ServerConfig::default()
    };
    let server = BindingServer::new(config);
    for (addr, role) in addrs.iter().zip([
        "primary",
        "alternate port",
        "alternate address",
        "alternate address and port",
    ]) {
        info!(%addr, role, "listening");
    }
    let sockets: Arc<[UdpSocket]> = sockets.into();
    let shared_addrs: Arc<[SocketAddr]> = addrs.clone().into();
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::with_capacity(sockets.len());
    for i in 0..sockets.len() {
        let (sockets, shared_addrs) = (Arc::clone(&sockets), Arc::clone(&shared_addrs));
        let (server, stopped) = (server.clone(), Arc::clone(&stop));
        let name = format!("stun {} #{}", addrs[i / copies], i % copies);
        let spawned = thread::Builder::new()
            .name(name)
            .spawn(move || serve(i, copies, &sockets, &shared_addrs, server, &stopped));
        match spawned {
            Ok(t) => threads.push(t),
            Err(source) => {
                // Those already started stop with `stop`, dropped here.
                stop.store(true, Ordering::Relaxed);
                return Err(StartError::Thread(source));
            }
        }
    }
    Ok(RunningServer {
        addrs,
        stop,
        threads,
    })
}

/// Largest datagram read. Longer ones are dropped unread: a Binding request, even with RFC
/// 5780 PADDING, fits in one MTU.
const MAX_DATAGRAM: usize = 4096;

/// One socket's loop: receive a batch (one `recvmmsg`, blocking for the first datagram),
/// answer each request into its own buffer, send the answers that leave from this socket as
/// one batch (one `sendmmsg`).
fn serve(
    index: usize,
    copies: usize,
    sockets: &[UdpSocket],
    addrs: &[SocketAddr],
    mut server: BindingServer,
    stop: &AtomicBool,
) -> ServerStats {
    let socket = &sockets[index];
    let local = addrs[index / copies];
    let mut batch = RecvBatch::new(MAX_DATAGRAM, 0, 0);
    let mut out = vec![[0u8; MAX_REPLY]; BATCH].into_boxed_slice();
    let mut replies = [(local, 0usize); BATCH];
    while !stop.load(Ordering::Relaxed) {
        let n = match batch.recv_wait(socket, local) {
            Ok(n) => n,
            // The read timed out (nothing came for STOP_POLL), or a signal interrupted it.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                // Transient (ICMP-induced errors on some systems); never fatal for a server.
                debug!(%local, error = %e, "receive error");
                thread::sleep(Duration::from_millis(1));
                continue;
            }
        };
        let mut ready = 0;
        for k in 0..n {
            let Some((from, data)) = batch.datagram(k) else {
                debug!(%local, "dropped a datagram longer than {MAX_DATAGRAM} bytes");
                continue;
            };
            let Some(slot) = out.get_mut(ready) else {
                break;
            };
            let Some(reply) = server.respond(from, local, data, slot) else {
                debug!(%local, %from, len = data.len(), "dropped datagram");
                continue;
            };
            if reply.from == local {
                replies[ready] = (reply.to, reply.len);
                ready += 1;
                continue;
            }
            // An answer from another of our sockets (CHANGE-REQUEST): rare, sent alone.
            let Some(via) = addrs.iter().position(|a| *a == reply.from) else {
                warn!(%local, from = %reply.from, "answer from an address this server does not listen on; dropped");
                continue;
            };
            let answer = slot.get(..reply.len).unwrap_or_default();
            send_batch(
                &sockets[via * copies + index % copies],
                reply.from,
                &[(reply.to, answer)],
            );
        }
        let mut msgs = [(local, &[][..]); BATCH];
        for ((msg, (to, len)), answer) in msgs.iter_mut().zip(&replies[..ready]).zip(out.iter()) {
            *msg = (*to, answer.get(..*len).unwrap_or_default());
        }
        send_batch(socket, local, &msgs[..ready]);
    }
    server.stats()
}

/// Sends every datagram of `msgs` from `socket`, in as few `sendmmsg` calls as the kernel
/// allows. A datagram the kernel refuses is skipped; when the send buffer is full the rest is
/// dropped, as a congested UDP path would: on Linux every send is `MSG_DONTWAIT`, so a full
/// buffer never blocks the thread.
fn send_batch(socket: &UdpSocket, local: SocketAddr, msgs: &[(SocketAddr, &[u8])]) {
    let mut done = 0;
    while let Some(rest) = msgs.get(done..).filter(|r| !r.is_empty()) {
        match send_to_many(socket, rest) {
            Ok(k) => done += k.max(1),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                debug!(%local, dropped = rest.len(), "send buffer full");
                break;
            }
            Err(e) => {
                debug!(%local, to = %rest[0].0, error = %e, "send failed");
                done += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(n: u8) -> [u8; 20] {
        let mut req = [0u8; 20];
        req[..8].copy_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]);
        req[8..].copy_from_slice(&[b't', b'e', b's', b't', 0, 0, 0, 0, 0, 0, 0, n]);
        req
    }

    #[tokio::test(flavor = "current_thread")]
    async fn answers_from_its_thread_and_shuts_down_with_the_counts() {
        let options = ServerOptions::new("127.0.0.1:0".parse().expect("addr"));
        let running = start(options).await.expect("start");
        let addr = running.primary();
        let client = UdpSocket::bind("127.0.0.1:0").expect("client");
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut buf = [0u8; 256];
        for n in 0..3 {
            let req = binding_request(n);
            client.send_to(&req, addr).expect("send");
            let (len, from) = client.recv_from(&mut buf).expect("an answer");
            assert_eq!(from, addr);
            assert!(len >= 20, "answer of {len} bytes");
            assert_eq!(buf[..2], [0x01, 0x01], "not a Binding success");
            assert_eq!(buf[8..20], req[8..20], "another transaction's answer");
        }
        // Not a STUN message, and a datagram longer than the receive slots: both dropped, and
        // the thread keeps serving.
        client.send_to(b"junk", addr).expect("send");
        let mut long = [0u8; MAX_DATAGRAM + 100];
        long[..20].copy_from_slice(&binding_request(8));
        client.send_to(&long, addr).expect("send");
        client.send_to(&binding_request(9), addr).expect("send");
        let (len, _) = client.recv_from(&mut buf).expect("an answer after junk");
        assert_eq!(buf[19], 9, "{len}-byte answer to another request");
        let stats = running.shutdown().await;
        assert_eq!(stats.answered, 4);
        // The threads are gone and their socket with them: the port can be bound again.
        UdpSocket::bind(addr).expect("port released by shutdown");
    }
}
