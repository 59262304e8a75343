//! The tokio driver of a [`Peer`]: UDP sockets on the host's interfaces, timers from
//! `poll_timeout`, and two channels of [`Signal`]s (in from the other side or the user, out to
//! them).
//!
//! The loop, in the poll shape of DESIGN.md: drain `poll_transmit` into `send_to`, drain
//! `poll_signal` into the output channel, then wait for the first of a datagram (stamped with `Instant::now()` when it
//! was read), an input signal, the peer's timer or the shutdown future. Nothing polls: with no
//! timer and no input the task sleeps.
//!
//! Each socket has a reader task feeding one channel; sends use `send_to` one datagram at a
//! time (no `sendmmsg`/`recvmmsg` batching: a peer sends a few checks per Ta, far from where
//! batching pays).
//!
//! A TURN server reached over TCP or TLS ([`StreamTurn`]) gets one connection per host address,
//! opened from that address when the agent first sends to it, and a task that writes the
//! agent's frames and cuts what comes back into frames for the same channel. A connection that
//! fails or closes is not reopened: the allocation lived on it (RFC 6062 §4.1), and the agent's
//! TURN client gives up on its own.
//!
//! Stopping closes the peer, which deletes its TURN allocations; the loop keeps sending and
//! reading until the servers confirm (at most 1 s) before it ends the tasks.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use icebreaker_stun::framing::{FramerConfig, StreamFramer};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpSocket, UdpSocket};
use tokio::sync::mpsc;

use crate::peer::{Peer, PeerConfig, Reports, Role, Signal};

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_535;
/// How long an mDNS name may take to resolve before its candidate is dropped.
const MDNS_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The addresses to bind peer sockets on: `127.0.0.1` when `loopback_only`, else every interface
/// address that is up and can reach beyond the link ([`reaches_beyond_the_link`]), IPv4 and
/// IPv6 (falling back to `127.0.0.1` when there is none).
pub fn interface_addresses(loopback_only: bool) -> Vec<IpAddr> {
    let loopback = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    if loopback_only {
        return loopback;
    }
    let found: Vec<IpAddr> = match if_addrs::get_if_addrs() {
        Ok(list) => list
            .into_iter()
            .map(|i| i.ip())
            .filter(reaches_beyond_the_link)
            .collect(),
        Err(e) => {
            tracing::warn!("cannot list the network interfaces: {e}");
            Vec::new()
        }
    };
    if found.is_empty() { loopback } else { found }
}

/// Whether a host candidate on `ip` can be reached from another machine: not loopback,
/// unspecified, multicast or link-local (IPv4 169.254/16; IPv6 fe80::/10, which would need a
/// scope to be used), and for IPv6 not an IPv4-mapped address. IPv6 global and unique-local
/// addresses are kept: an IPv6 address is often reachable with no NAT at all.
pub fn reaches_beyond_the_link(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified() && !v4.is_multicast()
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !v6.is_loopback()
                && !v6.is_unspecified()
                && !v6.is_multicast()
                && s[0] & 0xffc0 != 0xfe80
                && v6.to_ipv4_mapped().is_none()
        }
    }
}

/// Binds one UDP socket (ephemeral port) on each address.
///
/// # Errors
/// When no socket could be bound.
pub async fn bind_sockets(ips: &[IpAddr]) -> std::io::Result<Vec<Arc<UdpSocket>>> {
    let mut out = Vec::new();
    let mut last = None;
    for ip in ips {
        match UdpSocket::bind(SocketAddr::new(*ip, 0)).await {
            Ok(s) => out.push(Arc::new(s)),
            Err(e) => {
                tracing::warn!(%ip, "cannot bind: {e}");
                last = Some(e);
            }
        }
    }
    if out.is_empty() {
        return Err(last.unwrap_or_else(|| std::io::Error::other("no address to bind")));
    }
    Ok(out)
}

/// How the driver starts.
#[derive(Debug)]
pub struct DriverOptions {
    /// The peer's settings; `host_addresses` is filled in from the sockets, and `reports` is
    /// set to [`Reports::Signals`]: the output carries them.
    pub config: PeerConfig,
    /// When no role was asked for: an offerer that receives an offer before any answer becomes
    /// the answerer (two people pasting into each other's terminals).
    pub auto_role: bool,
    /// The TURN servers of `config` reached over TCP or TLS, and how to connect to them.
    pub stream_turns: Vec<StreamTurn>,
}

/// A TURN server reached over a stream: TCP, or TLS when `tls` is set.
#[derive(Clone)]
pub struct StreamTurn {
    /// The server's address (the `server` of the agent's `TurnServer`).
    pub server: SocketAddr,
    /// For TLS (`turns:`): the connector, and the name the server's certificate must carry.
    pub tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
}

impl fmt::Debug for StreamTurn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamTurn")
            .field("server", &self.server)
            .field("tls", &self.tls.as_ref().map(|(_, name)| name))
            .finish()
    }
}

/// How long connecting to a stream TURN server (and the TLS handshake) may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(5);
/// Frames waiting for one stream connection; more are dropped, as a full socket would.
const STREAM_QUEUE: usize = 64;
/// How long a stopping peer waits for its TURN servers to confirm the deletions: the first
/// Refresh and one retransmission.
const RELEASE_LIMIT: Duration = Duration::from_secs(1);

/// What the reader tasks hand the loop: arrived on local address `local` from `from`, read at
/// `at`; `stream` for a frame from a stream TURN connection.
struct Incoming {
    local: SocketAddr,
    from: SocketAddr,
    data: Vec<u8>,
    at: Instant,
    stream: bool,
}

impl Incoming {
    /// Hands it to the peer: a frame from a stream TURN connection, or a datagram.
    fn feed(self, peer: &mut Peer) {
        if self.stream {
            peer.handle_stream_receive(self.at, self.from, self.local, &self.data);
        } else {
            peer.handle_receive(self.at, self.from, self.local, &self.data);
        }
    }
}

/// Runs a peer on `sockets` until `shutdown` completes or the input channel closes and the peer
/// has nothing left to do. Signals from `input` go to the peer; everything the peer signals goes
/// to `output`.
pub async fn run(
    mut options: DriverOptions,
    sockets: Vec<Arc<UdpSocket>>,
    mut input: mpsc::Receiver<Signal>,
    output: mpsc::Sender<Signal>,
    shutdown: impl Future<Output = ()>,
) {
    // Each socket with its address, read once: every datagram sent looks its socket up by it.
    let sockets: Vec<(SocketAddr, Arc<UdpSocket>)> = sockets
        .into_iter()
        .filter_map(|s| Some((s.local_addr().ok()?, s)))
        .collect();
    options.config.host_addresses = sockets.iter().map(|(a, _)| *a).collect();
    options.config.reports = Reports::Signals;
    let (dgram_tx, mut dgrams) = mpsc::channel::<Incoming>(1024);
    let mut readers = Vec::new();
    for (local, s) in &sockets {
        let (local, s, tx) = (*local, s.clone(), dgram_tx.clone());
        readers.push(tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                match s.recv_from(&mut buf).await {
                    Ok((n, from)) => {
                        let d = Incoming {
                            local,
                            from,
                            data: buf.get(..n).unwrap_or_default().to_vec(),
                            at: Instant::now(),
                            stream: false,
                        };
                        if tx.send(d).await.is_err() {
                            return;
                        }
                    }
                    // ICMP errors surface here on some systems: not fatal.
                    Err(e) => tracing::trace!(%local, "receive error: {e}"),
                }
            }
        }));
    }
    // Stream connections feed the same channel; without any, every sender belongs to a reader.
    let frames_tx = (!options.stream_turns.is_empty()).then(|| dgram_tx.clone());
    drop(dgram_tx);
    let mut streams = Streams {
        turns: options.stream_turns.clone(),
        frames: frames_tx,
        open: HashMap::new(),
        tasks: Vec::new(),
    };
    // mDNS answers come back here from their resolving tasks (at most 32 wait at a time).
    let (mdns_tx, mut mdns_rx) = mpsc::channel::<(String, Option<std::net::IpAddr>)>(32);
    let mut peer = Peer::new(options.config.clone(), Instant::now());
    let mut auto_role = options.auto_role;
    let mut input_open = true;
    let mut buf = Vec::new();
    let mut shutdown = core::pin::pin!(shutdown);
    loop {
        send_datagrams(&mut peer, &sockets, &mut buf).await;
        streams.send_frames(&mut peer, &mut buf);
        while let Some(s) = peer.poll_signal() {
            if output.send(s).await.is_err() {
                tracing::debug!("output closed");
            }
        }
        while let Some(name) = peer.poll_mdns_query() {
            let tx = mdns_tx.clone();
            tokio::spawn(async move {
                let ip = crate::mdns::resolve(&name, crate::mdns::MDNS_V4, MDNS_LIMIT).await;
                if ip.is_none() {
                    tracing::debug!("mDNS name {name} not resolved; its candidate is dropped");
                }
                let _ = tx.send((name, ip)).await;
            });
        }
        let deadline = peer.poll_timeout();
        tokio::select! {
            () = &mut shutdown => break,
            d = dgrams.recv() => match d {
                Some(d) => d.feed(&mut peer),
                None => break,
            },
            msg = input.recv(), if input_open => match msg {
                Some(msg) => {
                    if auto_role
                        && matches!(msg, Signal::Offer { .. })
                        && peer.role() == Role::Offerer
                        && peer.state() != icebreaker_ice::State::Connected
                    {
                        tracing::info!("an offer arrived: answering it instead of offering");
                        // The offerer's allocations go first (those still being made too): the
                        // answerer makes its own from the same sockets, which a server would
                        // refuse (437) while they last.
                        if !release(&mut peer, &sockets, &mut streams, &mut dgrams, &mut buf).await {
                            break;
                        }
                        options.config.role = Role::Answerer;
                        peer = Peer::new(options.config.clone(), Instant::now());
                    }
                    if matches!(msg, Signal::Answer { .. } | Signal::Offer { .. }) {
                        auto_role = false;
                    }
                    peer.handle_signal(Instant::now(), msg);
                }
                None => input_open = false,
            },
            Some((name, ip)) = mdns_rx.recv() => peer.resolve_mdns(&name, ip),
            () = sleep_until(deadline) => peer.handle_timeout(Instant::now()),
        }
    }
    // Stopping: the TURN allocations are deleted rather than left to expire with their relayed
    // ports open.
    release(&mut peer, &sockets, &mut streams, &mut dgrams, &mut buf).await;
    for r in readers.into_iter().chain(streams.tasks) {
        r.abort();
    }
}

/// Closes `peer` and waits, at most [`RELEASE_LIMIT`], for its TURN servers to confirm that
/// its allocations are deleted (those still being made are deleted once made). `false` when
/// the readers are gone.
async fn release(
    peer: &mut Peer,
    sockets: &[(SocketAddr, Arc<UdpSocket>)],
    streams: &mut Streams,
    dgrams: &mut mpsc::Receiver<Incoming>,
    buf: &mut Vec<u8>,
) -> bool {
    peer.close(Instant::now());
    let until = Instant::now() + RELEASE_LIMIT;
    loop {
        send_datagrams(peer, sockets, buf).await;
        streams.send_frames(peer, buf);
        if !peer.releasing() {
            return true;
        }
        let deadline = peer.poll_timeout().map_or(until, |t| t.min(until));
        tokio::select! {
            d = dgrams.recv() => match d {
                Some(d) => d.feed(peer),
                None => return false,
            },
            () = sleep_until(Some(deadline)) => {
                if Instant::now() >= until {
                    tracing::debug!("a TURN allocation was not deleted within {RELEASE_LIMIT:?}");
                    return true;
                }
                peer.handle_timeout(Instant::now());
            }
        }
    }
}

/// Sends what the peer has to send over UDP, each datagram from the socket of its address.
async fn send_datagrams(
    peer: &mut Peer,
    sockets: &[(SocketAddr, Arc<UdpSocket>)],
    buf: &mut Vec<u8>,
) {
    while let Some(t) = peer.poll_transmit(buf) {
        match sockets.iter().find(|(local, _)| *local == t.from) {
            Some((_, s)) => {
                if let Err(e) = s.send_to(buf, t.to).await {
                    tracing::debug!(from = %t.from, to = %t.to, "send failed: {e}");
                }
            }
            None => tracing::debug!(from = %t.from, "no socket for this address"),
        }
    }
}

/// The connections to TURN servers reached over TCP or TLS, one per (host address, server),
/// opened when the peer first sends on it.
struct Streams {
    turns: Vec<StreamTurn>,
    /// Where the connections' tasks hand their frames (`None` without stream servers).
    frames: Option<mpsc::Sender<Incoming>>,
    open: HashMap<(SocketAddr, SocketAddr), mpsc::Sender<Vec<u8>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Streams {
    /// Queues what the peer has for its stream TURN servers, opening connections as needed.
    fn send_frames(&mut self, peer: &mut Peer, buf: &mut Vec<u8>) {
        while let Some(t) = peer.poll_stream_transmit(buf) {
            let tx = match self.open.entry((t.from, t.to)) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let turn = self.turns.iter().find(|s| s.server == t.to);
                    let (Some(turn), Some(frames)) = (turn, &self.frames) else {
                        tracing::debug!(to = %t.to, "no stream TURN server at this address");
                        continue;
                    };
                    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
                    let task = stream_task(t.from, turn.clone(), rx, frames.clone());
                    self.tasks.push(tokio::spawn(task));
                    e.insert(tx)
                }
            };
            if tx.try_send(buf.clone()).is_err() {
                tracing::debug!(to = %t.to, "TURN connection closed or backed up: frame dropped");
            }
        }
    }
}

/// A byte stream to a TURN server: TCP or TLS over TCP.
trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// Connects from host address `base` (any port) to the server, with TLS when asked.
async fn connect(base: SocketAddr, turn: &StreamTurn) -> std::io::Result<Box<dyn Duplex>> {
    let socket = if base.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(base.ip(), 0))?;
    let stream = socket.connect(turn.server).await?;
    let _ = stream.set_nodelay(true);
    Ok(match &turn.tls {
        Some((connector, name)) => Box::new(connector.connect(name.clone(), stream).await?),
        None => Box::new(stream),
    })
}

/// One stream TURN connection: writes the frames from `out`, and hands each frame read back to
/// the loop as coming from the server to `base`. Ends when the connection fails or closes, the
/// server sends something that is not STUN or ChannelData, or the loop goes away.
async fn stream_task(
    base: SocketAddr,
    turn: StreamTurn,
    mut out: mpsc::Receiver<Vec<u8>>,
    frames: mpsc::Sender<Incoming>,
) {
    let server = turn.server;
    let conn = match tokio::time::timeout(CONNECT_LIMIT, connect(base, &turn)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::warn!(%server, "cannot connect to the TURN server: {e}");
            return;
        }
        Err(_) => {
            tracing::warn!(%server, "cannot connect to the TURN server: timed out");
            return;
        }
    };
    tracing::debug!(%server, tls = turn.tls.is_some(), "connected to the TURN server");
    let (mut rd, mut wr) = tokio::io::split(conn);
    let mut framer = StreamFramer::new(FramerConfig::default());
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            f = out.recv() => {
                let Some(f) = f else { return };
                if let Err(e) = async { wr.write_all(&f).await?; wr.flush().await }.await {
                    tracing::warn!(%server, "TURN connection lost: {e}");
                    return;
                }
            }
            r = rd.read(&mut buf) => {
                let n = match r {
                    Ok(0) => {
                        tracing::warn!(%server, "the TURN server closed the connection");
                        return;
                    }
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(%server, "TURN connection lost: {e}");
                        return;
                    }
                };
                if let Err(e) = framer.push(buf.get(..n).unwrap_or_default()) {
                    tracing::warn!(%server, "TURN connection: {e}");
                    return;
                }
                loop {
                    let data = match framer.next_frame() {
                        Ok(Some(f)) => f.as_bytes().to_vec(),
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(%server, "TURN connection: {e}");
                            return;
                        }
                    };
                    let d = Incoming { local: base, from: server, data, at: Instant::now(), stream: true };
                    if frames.send(d).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_candidates_come_from_addresses_that_reach_beyond_the_link() {
        let ok = |s: &str| reaches_beyond_the_link(&s.parse().unwrap());
        for good in [
            "192.0.2.2",
            "10.1.2.3",
            "2001:db8::1",
            "fd00::2",
            "2a00:1450::1",
        ] {
            assert!(ok(good), "{good}");
        }
        for bad in [
            "127.0.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "224.0.0.251",
            "::1",
            "::",
            "fe80::1",
            "febf::1",
            "ff02::fb",
            "::ffff:192.0.2.1",
        ] {
            assert!(!ok(bad), "{bad}");
        }
    }
}
