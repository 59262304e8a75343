//! `icebreaker turn-server`: icebreaker-turn's sans-IO [`Server`] over real sockets.
//!
//! The server core decides everything (authentication, quotas, the peer policy, lifetimes,
//! which socket each datagram leaves on); this module only moves bytes:
//!
//! - UDP and TCP on the listening address, and TLS on `--tls-listen` (streams split into
//!   frames by [`StreamFramer`]; a TCP or TLS allocation ends with its connection);
//! - one UDP socket per relayed address, bound by [`SocketPorts`], the [`PortAllocator`] the
//!   core asks for relayed addresses: the core stays in charge of which ports are in use, and
//!   this runtime learns of each bind and release through a channel;
//! - the zero-copy ChannelData paths in both directions ([`Server::relay_channel_data_on`] and
//!   [`Server::relay_to_channel`] into a buffer with headroom);
//! - `handle_timeout` when `poll_timeout` says;
//! - the nonce secret and the RNG seed from OS entropy.
//!
//! All socket tasks share the core behind one mutex, never held across an `.await`.

use core::cell::Cell;
use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak, mpsc as std_mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use icebreaker_stun::attributes::AddressFamily;
use icebreaker_stun::framing::{FramerConfig, StreamFramer};
use icebreaker_stun::{Class, Method};
use icebreaker_turn::{
    Cidr, ClientRelay, FiveTuple, PeerPolicy, PeerRelay, PortAllocator, PortError, Server,
    ServerConfig, ServerTransmit, Transport, Via,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng as _, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, Interest};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::cli::{EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, emit, fail};
use crate::refusals::Refusals;
use crate::udp_batch::{BATCH, RecvBatch, grow_buffers, send_to_many_coalesced};

/// Most TCP and TLS connections served at once, by default (`--max-connections`); more are
/// closed at once.
pub const MAX_TCP_CONNECTIONS: usize = 1024;
/// Frames queued towards one TCP or TLS client; beyond, frames are dropped (as UDP would).
const TCP_QUEUE: usize = 256;
/// Of those, the slots peer data cannot take: room kept for the server's answers, since a
/// stream client never retransmits a request, so that a peer flooding an allocation cannot
/// leave its client's requests (a Refresh, say) unanswered.
const TCP_QUEUE_ANSWERS: usize = 16;
/// Bytes of peer data queued towards one TCP or TLS client (frames waiting for the kernel's
/// send buffer); beyond, peer data is dropped (as UDP would). Frames are up to 64 KiB, so
/// without this a client that stops reading could hold [`TCP_QUEUE`] × 64 KiB of the server's
/// memory.
const TCP_QUEUE_BYTES: usize = 256 << 10;
/// Bytes of answers queued towards one TCP or TLS client, apart from peer data's budget.
const TCP_ANSWER_BYTES: usize = 16 << 10;
/// Peer data queued towards all TCP and TLS clients together, in KiB, by default
/// (`--stream-queue-total`): 64 MiB, where 1024 clients that stop reading would otherwise
/// hold 1024 × [`TCP_QUEUE_BYTES`].
const STREAM_QUEUE_TOTAL_KIB: u64 = 64 << 10;
/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;
/// Longest a TLS handshake may take before the connection is dropped.
const TLS_HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);
/// How long a TCP or TLS connection may go without an allocation, or without taking a frame the
/// server is writing to it, by default (`--stream-idle`).
const STREAM_IDLE_SECS: u64 = 30;
/// Kernel buffer asked for on the listening UDP socket, which every client shares.
const LISTENER_BUFFER: usize = 4 << 20;
/// UDP batches (of up to [`BATCH`] datagrams) drained per wake-up before other work runs.
const DRAIN: usize = 16;

/// Arguments of `icebreaker turn-server`.
#[derive(Debug, Args)]
pub struct TurnServerArgs {
    /// The listening address, UDP and TCP (port 0 picks a free port, the same for both).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The long-term credential realm (fewer than 128 characters).
    #[arg(long, value_name = "R", value_parser = crate::cli::stun_text)]
    pub realm: String,
    /// A static user (repeatable).
    #[arg(long = "user", value_name = "U:P")]
    pub users: Vec<String>,
    /// A TURN REST API shared secret (repeatable; the current one first).
    #[arg(long = "auth-secret", value_name = "S")]
    pub auth_secrets: Vec<String>,
    /// The IP relayed sockets are bound on (default: the listening IP, which must then not be a
    /// wildcard).
    #[arg(long, value_name = "IP")]
    pub relay_ip: Option<IpAddr>,
    /// The address relayed addresses are given to clients with (XOR-RELAYED-ADDRESS) when the
    /// relay IP is behind a 1:1 NAT, as a cloud VM's private address is behind its public one:
    /// the same family as the relay IP. The relayed sockets are still bound on the relay IP.
    #[arg(long, value_name = "IP")]
    pub external_ip: Option<IpAddr>,
    /// The relayed port range (default: any port the OS gives).
    #[arg(long, value_name = "LO-HI", value_parser = parse_ports)]
    pub ports: Option<(u16, u16)>,
    /// Allow relaying to this network, which the default policy refuses (loopback, private,
    /// link-local ...); repeatable.
    #[arg(long = "allow-peer", value_name = "CIDR")]
    pub allow_peer: Vec<Cidr>,
    /// Allocations per user (486 beyond).
    #[arg(long, value_name = "N")]
    pub user_quota: Option<usize>,
    /// Allocations in total (508 beyond).
    #[arg(long, value_name = "N")]
    pub total_quota: Option<usize>,
    /// SOFTWARE in answers (none by default; fewer than 128 characters).
    #[arg(long, value_name = "S", value_parser = crate::cli::stun_text)]
    pub software: Option<String>,
    /// Seconds a nonce stays valid; a request with an older one is answered 438 (Stale Nonce)
    /// with a fresh nonce (default 600).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub nonce_lifetime: Option<u64>,
    /// Most TCP and TLS connections served at once; more are closed when accepted (default
    /// 1024).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections: Option<u32>,
    /// Most TCP and TLS connections from one IP address at once; more are closed when
    /// accepted (default: only --max-connections applies, since many clients can share one
    /// NAT's address).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections_per_ip: Option<u32>,
    /// Close a TCP or TLS connection that has had no allocation for this long, from its start
    /// or since its allocation ended, or that has not taken a frame the server is writing to it
    /// for this long (default 30).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub stream_idle: Option<u64>,
    /// KiB of peer data queued towards all TCP and TLS clients together, waiting for clients
    /// that read slower than their peers send; beyond, such data is dropped, as UDP would
    /// (default 65536, 64 MiB; each client may queue at most 256 KiB of it).
    #[arg(long, value_name = "KIB", value_parser = clap::value_parser!(u64).range(256..=16 << 20))]
    pub stream_queue_total: Option<u64>,
    /// Also serve TURN over TLS here: `IP:PORT`, or an IP for port 5349 (needs --cert, --key).
    #[arg(long, value_name = "ADDR", value_parser = parse_tls_listen, requires_all = ["cert", "key"])]
    pub tls_listen: Option<SocketAddr>,
    /// The TLS certificate chain, PEM, leaf first.
    #[arg(long, value_name = "PEM", requires = "tls_listen")]
    pub cert: Option<PathBuf>,
    /// The TLS private key, PEM.
    #[arg(long, value_name = "PEM", requires = "tls_listen")]
    pub key: Option<PathBuf>,
    /// Print JSON lines instead of text:
    /// `{"type":"listening","udp":"...","tcp":"...","tls":"..."|null,"relay_ip":"...",
    /// "external_ip":"..."|null}` once
    /// bound, and `{"type":"stopped","allocations":N,"relayed":N,"relayed_bytes":N,"dropped":N}`
    /// on SIGINT or SIGTERM.
    #[arg(long)]
    pub json: bool,
}

fn parse_tls_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let ip = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    ip.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, crate::tls::DEFAULT_TLS_PORT))
        .map_err(|_| format!("{s:?} is neither IP:PORT nor an IP"))
}

fn parse_ports(s: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = s
        .split_once('-')
        .ok_or_else(|| "expected LO-HI, e.g. 49152-65535".to_string())?;
    let p = |x: &str| {
        x.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{x:?} is not a port between 1 and 65535"))
    };
    let (lo, hi) = (p(lo)?, p(hi)?);
    if lo > hi {
        return Err(format!("empty range {lo}-{hi}"));
    }
    Ok((lo, hi))
}

/// What [`SocketPorts`] tells the runtime.
#[derive(Debug)]
pub enum PortEvent {
    /// A relayed socket was bound for the core.
    Bound(SocketAddr, std::net::UdpSocket),
    /// The core gave this relayed address back.
    Released(SocketAddr),
}

/// A [`PortAllocator`] that binds a real UDP socket for every address it hands out, and
/// reports binds and releases to the runtime over a channel.
#[derive(Debug)]
pub struct SocketPorts {
    v4: Option<IpAddr>,
    v6: Option<IpAddr>,
    /// The IP the relayed addresses are shown with, when not the bound one (1:1 NAT): the
    /// server core, and `used`, see only shown addresses.
    external: Option<IpAddr>,
    range: Option<(u16, u16)>,
    rng: ChaCha20Rng,
    used: BTreeSet<SocketAddr>,
    events: std_mpsc::Sender<PortEvent>,
}

/// Tries per allocation before answering "exhausted".
const BIND_TRIES: usize = 64;

impl SocketPorts {
    /// Binds on `ip` (one family), in `range` (or any port), reporting to `events`.
    pub fn new(
        ip: IpAddr,
        range: Option<(u16, u16)>,
        seed: [u8; 32],
        events: std_mpsc::Sender<PortEvent>,
    ) -> Self {
        let (v4, v6) = if ip.is_ipv4() {
            (Some(ip), None)
        } else {
            (None, Some(ip))
        };
        Self {
            v4,
            v6,
            external: None,
            range,
            rng: ChaCha20Rng::from_seed(seed),
            used: BTreeSet::new(),
            events,
        }
    }

    /// Shows the relayed addresses with `ip` (the same family as the bound IP): a 1:1 NAT's
    /// external address.
    #[must_use]
    pub fn with_external(mut self, ip: IpAddr) -> Self {
        self.external = Some(ip);
        self
    }

    /// The address the server core knows the socket bound at `bound` by.
    fn shown(&self, bound: SocketAddr) -> SocketAddr {
        SocketAddr::new(self.external.unwrap_or(bound.ip()), bound.port())
    }

    /// Binds at `addr` (a bound address, not a shown one).
    fn bind(&mut self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let (sock, bound) = relayed_socket(addr)?;
        let shown = self.shown(bound);
        if self.used.contains(&shown) {
            return Err(std::io::Error::from(std::io::ErrorKind::AddrInUse));
        }
        self.used.insert(shown);
        let _ = self.events.send(PortEvent::Bound(shown, sock));
        Ok(shown)
    }
}

/// A relayed socket bound at `addr`, and the address it got: with DF clear, whatever the
/// OS default, until a datagram asks for DF ([`Relay::with_df`]).
fn relayed_socket(addr: SocketAddr) -> std::io::Result<(std::net::UdpSocket, SocketAddr)> {
    let sock = std::net::UdpSocket::bind(addr)?;
    let bound = sock.local_addr()?;
    set_dont_fragment(&sock, bound, false)?;
    Ok((sock, bound))
}

impl PortAllocator for SocketPorts {
    fn allocate(&mut self, family: AddressFamily, even: bool) -> Result<SocketAddr, PortError> {
        let ip = match family {
            AddressFamily::V4 => self.v4,
            AddressFamily::V6 => self.v6,
        }
        .ok_or(PortError::FamilyUnsupported)?;
        for _ in 0..BIND_TRIES {
            let port = match self.range {
                Some((lo, hi)) => {
                    let span = u32::from(hi - lo) + 1;
                    lo + (self.rng.next_u32() % span) as u16
                }
                None => 0,
            };
            if even && port != 0 && !port.is_multiple_of(2) {
                continue;
            }
            // Bind first, then check the OS's choice: a socket dropped here frees the port.
            let (sock, bound) = match relayed_socket(SocketAddr::new(ip, port)) {
                Ok(bound) => bound,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                Err(e) => {
                    tracing::warn!("cannot bind a relayed socket on {ip}: {e}");
                    return Err(PortError::Exhausted);
                }
            };
            let shown = self.shown(bound);
            if (even && !bound.port().is_multiple_of(2)) || self.used.contains(&shown) {
                continue;
            }
            self.used.insert(shown);
            let _ = self.events.send(PortEvent::Bound(shown, sock));
            return Ok(shown);
        }
        Err(PortError::Exhausted)
    }

    fn reserve(&mut self, addr: SocketAddr) -> bool {
        // `addr` is a shown address: the bound IP of its family, or the external one.
        let bound_ip = match (self.external, addr.ip()) {
            (Some(ext), ip) if ip == ext => self.v4.or(self.v6),
            (Some(_), _) => None,
            (None, ip) => [self.v4, self.v6].into_iter().flatten().find(|&b| b == ip),
        };
        let in_range = self
            .range
            .is_none_or(|(lo, hi)| (lo..=hi).contains(&addr.port()));
        match bound_ip {
            Some(ip) if in_range && !self.used.contains(&addr) => {
                self.bind(SocketAddr::new(ip, addr.port())).is_ok()
            }
            _ => false,
        }
    }

    fn release(&mut self, addr: SocketAddr) {
        if self.used.remove(&addr) {
            let _ = self.events.send(PortEvent::Released(addr));
        }
    }
}

/// The server core and every socket it may send on.
struct Core {
    server: Server<SocketPorts>,
    /// The listening socket, for sending: a plain non-blocking socket, so a send never depends
    /// on tokio's cached write readiness (a fresh socket may not be marked writable yet).
    udp: std::net::UdpSocket,
    /// Relayed sockets by relayed address.
    relays: HashMap<SocketAddr, Relay>,
    /// TCP and TLS connections by (client, local address).
    tcp: HashMap<(SocketAddr, SocketAddr), StreamOut>,
    /// Bytes of peer data all of them may queue together.
    stream_budget: Arc<Semaphore>,
    port_events: std_mpsc::Receiver<PortEvent>,
    buf: Vec<u8>,
    me: Weak<Mutex<Self>>,
}

type Shared = Arc<Mutex<Core>>;

/// One relayed socket.
struct Relay {
    /// The sending handle (the receiving task has its own, on the same socket).
    tx: std::net::UdpSocket,
    task: JoinHandle<()>,
    /// Whether the socket is set to send with DF. It is bound without, and switches only when
    /// a datagram asks for the other setting (only Send indications with DONT-FRAGMENT ask
    /// for DF).
    df: Cell<bool>,
}

impl Relay {
    /// The socket, set to send with DF or not (RFC 8656 §11.2, §14); an error means the
    /// datagram must not be sent.
    fn with_df(
        &self,
        addr: SocketAddr,
        dont_fragment: bool,
    ) -> std::io::Result<&std::net::UdpSocket> {
        if self.df.get() != dont_fragment {
            set_dont_fragment(&self.tx, addr, dont_fragment)?;
            self.df.set(dont_fragment);
        }
        Ok(&self.tx)
    }
}

/// Whether [`set_dont_fragment`] works here (the core refuses DONT-FRAGMENT otherwise).
const DF_SUPPORTED: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Sets `sock` (bound at `addr`) to send with the DF bit and never fragment at the source
/// (`IP_PMTUDISC_DO`, `IPV6_PMTUDISC_DO`: a datagram longer than the path MTU the kernel
/// knows is refused), or with DF clear (`IP_PMTUDISC_DONT`; Linux's default, `WANT`, would
/// set DF on whatever fits the path MTU it knows). IPv6 has no DF bit; off, it keeps the
/// default, `IPV6_PMTUDISC_WANT`: fragment at the source what exceeds the path MTU.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_dont_fragment(
    sock: &std::net::UdpSocket,
    addr: SocketAddr,
    on: bool,
) -> std::io::Result<()> {
    use rustix::net::sockopt::{self, Ipv4PathMtuDiscovery as V4, Ipv6PathMtuDiscovery as V6};
    let set = match addr {
        SocketAddr::V4(_) => sockopt::set_ip_mtu_discover(sock, if on { V4::DO } else { V4::DONT }),
        SocketAddr::V6(_) => {
            sockopt::set_ipv6_mtu_discover(sock, if on { V6::DO } else { V6::WANT })
        }
    };
    set.map_err(std::io::Error::from)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_dont_fragment(
    _sock: &std::net::UdpSocket,
    _addr: SocketAddr,
    on: bool,
) -> std::io::Result<()> {
    if on {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the DF bit cannot be set on this OS",
        ));
    }
    Ok(())
}

/// The way out to one TCP or TLS client: a queue of frames for its writer task, bounded in
/// frames by the channel and in bytes by semaphores, whose permits travel with each frame and
/// return when it has been written (or dropped). Peer data and the server's answers have
/// separate budgets, so that a flood of the one cannot crowd out the other.
struct StreamOut {
    frames: mpsc::Sender<QueuedFrame>,
    /// Bytes of peer data this connection may queue.
    data: Arc<Semaphore>,
    /// Bytes of answers this connection may queue.
    answers: Arc<Semaphore>,
    /// Bytes of peer data all connections may queue together.
    total: Arc<Semaphore>,
}

/// A frame on its way to a stream client, with the budget it holds until written.
struct QueuedFrame {
    bytes: Vec<u8>,
    _budget: OwnedSemaphorePermit,
    _total: Option<OwnedSemaphorePermit>,
}

/// Whether a frame for a client carries a peer's data (ChannelData or a Data indication)
/// rather than an answer to the client's own request.
fn is_peer_data(frame: &[u8]) -> bool {
    const DATA_INDICATION: u16 = icebreaker_stun::message_type(Class::Indication, Method::DATA);
    match frame {
        [b, ..] if b & 0xc0 == 0x40 => true,
        [t0, t1, ..] => u16::from_be_bytes([*t0, *t1]) == DATA_INDICATION,
        _ => false,
    }
}

impl StreamOut {
    /// Queues a copy of `frame`, or refuses it when its budget is spent: peer data leaves the
    /// last [`TCP_QUEUE_ANSWERS`] slots to answers, and counts against this connection's and
    /// the server-wide budget; answers have a budget of their own.
    fn queue(&self, frame: &[u8]) -> std::io::Result<()> {
        let full = || std::io::Error::new(std::io::ErrorKind::WouldBlock, "TCP queue full");
        let n = u32::try_from(frame.len()).map_err(|_| full())?;
        let take = |budget: &Arc<Semaphore>| Arc::clone(budget).try_acquire_many_owned(n);
        let (budget, total) = if is_peer_data(frame) {
            if self.frames.capacity() <= TCP_QUEUE_ANSWERS {
                return Err(full());
            }
            let budget = take(&self.data).map_err(|_| full())?;
            (budget, Some(take(&self.total).map_err(|_| full())?))
        } else {
            (take(&self.answers).map_err(|_| full())?, None)
        };
        self.frames
            .try_send(QueuedFrame {
                bytes: frame.to_vec(),
                _budget: budget,
                _total: total,
            })
            .map_err(|_| full())
    }
}

fn lock(core: &Shared) -> std::sync::MutexGuard<'_, Core> {
    core.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Core {
    /// Starts a task for every relayed socket the allocator bound, stops those released.
    fn sync_ports(&mut self) {
        while let Ok(e) = self.port_events.try_recv() {
            match e {
                PortEvent::Bound(addr, sock) => {
                    let pair = sock.set_nonblocking(true).and_then(|()| {
                        let tx = sock.try_clone()?;
                        Ok((tx, UdpSocket::from_std(sock)?))
                    });
                    match pair {
                        Ok((tx, rx)) => {
                            let task = tokio::spawn(relay_task(self.me.clone(), addr, rx));
                            tracing::debug!(%addr, "relayed socket bound");
                            self.relays.insert(
                                addr,
                                Relay {
                                    tx,
                                    task,
                                    df: Cell::new(false),
                                },
                            );
                        }
                        Err(e) => tracing::warn!(%addr, "relayed socket unusable: {e}"),
                    }
                }
                PortEvent::Released(addr) => {
                    if let Some(relay) = self.relays.remove(&addr) {
                        relay.task.abort();
                        tracing::debug!(%addr, "relayed socket closed");
                    }
                }
            }
        }
    }

    /// Sends one datagram (or stream frame) where the core said.
    fn send(&self, t: ServerTransmit, data: &[u8]) {
        let r = match t.via {
            Via::Listener(Transport::Udp) => self.udp.send_to(data, t.to).map(drop),
            Via::Listener(_) => match self.tcp.get(&(t.to, t.from)) {
                Some(out) => out.queue(data),
                None => Err(std::io::Error::from(std::io::ErrorKind::NotConnected)),
            },
            Via::Relay { dont_fragment } => match self.relays.get(&t.from) {
                Some(relay) => relay
                    .with_df(t.from, dont_fragment)
                    .and_then(|s| s.send_to(data, t.to))
                    .map(drop),
                None => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
            },
        };
        if let Err(e) = r {
            tracing::debug!(from = %t.from, to = %t.to, "not sent: {e}");
        }
    }

    /// Binds what the allocator asked for, then sends everything the core queued.
    fn flush(&mut self) {
        self.sync_ports();
        let mut buf = core::mem::take(&mut self.buf);
        while let Some(t) = self.server.poll_transmit(&mut buf) {
            self.send(t, &buf);
        }
        self.buf = buf;
        // A release can follow a request (Refresh with lifetime 0).
        self.sync_ports();
    }

    /// A datagram or frame from a client.
    fn client_input(
        &mut self,
        now: Instant,
        transport: Transport,
        from: SocketAddr,
        to: SocketAddr,
        data: &[u8],
    ) {
        match self
            .server
            .relay_channel_data_on(now, transport, from, to, data)
        {
            ClientRelay::Relayed { transmit, data } => self.send(transmit, data),
            ClientRelay::Dropped => {}
            ClientRelay::NotChannelData => {
                self.server
                    .handle_receive_on(now, transport, from, to, data);
                self.flush();
            }
        }
    }
}

std::thread_local! {
    /// Receive slots, with 4 bytes of headroom so that ChannelData towards the client is
    /// framed in place, shared by the relayed sockets' tasks on this thread: a task uses them
    /// only between two `.await`s, so memory does not grow with the number of allocations.
    static RELAY_SLOTS: core::cell::RefCell<Option<RecvBatch>> =
        const { core::cell::RefCell::new(None) };
}

/// Receives on one relayed socket, a batch (`recvmmsg`) at a time, and relays to the clients.
async fn relay_task(core: Weak<Mutex<Core>>, relay: SocketAddr, sock: UdpSocket) {
    loop {
        if let Err(e) = sock.readable().await {
            tracing::debug!(%relay, "relayed socket not readable: {e}");
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let Some(core) = core.upgrade() else {
            return;
        };
        let drained = RELAY_SLOTS.with(|slots| {
            let mut slots = slots
                .try_borrow_mut()
                .map_err(|_| std::io::Error::other("relay slots in use"))?;
            let batch = slots.get_or_insert_with(|| RecvBatch::new(MAX_DATAGRAM, 4, 4));
            relay_input(&core, relay, &sock, batch)
        });
        drop(core);
        if let Err(e) = drained {
            tracing::debug!(%relay, "receive error: {e}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Drains a relayed socket: every peer datagram on a channel becomes ChannelData in place, and
/// those bound for UDP clients leave in one `sendmmsg` per batch.
fn relay_input(
    core: &Shared,
    relay: SocketAddr,
    sock: &UdpSocket,
    batch: &mut RecvBatch,
) -> std::io::Result<()> {
    for _ in 0..DRAIN {
        let n = match sock.try_io(Interest::READABLE, || batch.recv(sock, relay)) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut c = lock(core);
        let now = Instant::now();
        // (slot, client, length) of the ChannelData messages for UDP clients.
        let mut out = [(0usize, relay, 0usize); BATCH];
        let mut ready = 0;
        for k in 0..n {
            let Some((peer, slot, len)) = batch.slot_mut(k) else {
                continue;
            };
            match c.server.relay_to_channel(now, relay, peer, slot, len) {
                PeerRelay::Channel { transmit, len }
                    if transmit.via == Via::Listener(Transport::Udp) =>
                {
                    out[ready] = (k, transmit.to, len);
                    ready += 1;
                }
                PeerRelay::Channel { transmit, len } => {
                    c.send(transmit, slot.get(..len).unwrap_or_default());
                }
                PeerRelay::Dropped => {}
                PeerRelay::NoChannel => {
                    let data = slot.get(4..4 + len).unwrap_or_default();
                    c.server.handle_peer_receive(now, relay, peer, data);
                    c.flush();
                }
            }
        }
        let mut msgs = [(relay, &[][..]); BATCH];
        for (msg, &(k, to, len)) in msgs.iter_mut().zip(&out[..ready]) {
            *msg = (
                to,
                batch.slot(k).and_then(|s| s.get(..len)).unwrap_or_default(),
            );
        }
        send_all(&c.udp, &msgs[..ready]);
        drop(c);
        if n < BATCH {
            return Ok(());
        }
    }
    Ok(())
}

/// Drains the listening UDP socket a batch (`recvmmsg`) at a time. ChannelData is relayed
/// with one `sendmmsg` per relayed socket per batch; everything else goes through the core.
fn listener_input(core: &Shared, udp: &UdpSocket, listen: SocketAddr, batch: &mut RecvBatch) {
    for _ in 0..DRAIN {
        let n = match udp.try_io(Interest::READABLE, || batch.recv(udp, listen)) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) => {
                tracing::debug!("UDP receive error: {e}");
                return;
            }
        };
        let mut c = lock(core);
        let now = Instant::now();
        // (relayed address, peer, payload, DF) of the ChannelData to relay.
        let mut out = [(listen, listen, &[][..], false); BATCH];
        let mut ready = 0;
        for k in 0..n {
            let Some((from, data)) = batch.datagram(k) else {
                continue;
            };
            match c
                .server
                .relay_channel_data_on(now, Transport::Udp, from, listen, data)
            {
                ClientRelay::Relayed {
                    transmit:
                        ServerTransmit {
                            from: relay,
                            to: peer,
                            via: Via::Relay { dont_fragment },
                        },
                    data,
                } => {
                    out[ready] = (relay, peer, data, dont_fragment);
                    ready += 1;
                }
                ClientRelay::Relayed { transmit, data } => c.send(transmit, data),
                ClientRelay::Dropped => {}
                ClientRelay::NotChannelData => {
                    c.server
                        .handle_receive_on(now, Transport::Udp, from, listen, data);
                    c.flush();
                }
            }
        }
        // One `sendmmsg` per relayed socket and DF setting (the core relays ChannelData with
        // DF clear, so in practice one per socket): gather each one's datagrams, in order.
        let mut sent = [false; BATCH];
        for i in 0..ready {
            if sent[i] {
                continue;
            }
            let (relay, _, _, df) = out[i];
            let mut msgs = [(relay, &[][..]); BATCH];
            let mut m = 0;
            for j in i..ready {
                if !sent[j] && out[j].0 == relay && out[j].3 == df {
                    sent[j] = true;
                    msgs[m] = (out[j].1, out[j].2);
                    m += 1;
                }
            }
            match c.relays.get(&relay).map(|r| r.with_df(relay, df)) {
                Some(Ok(s)) => send_all(s, &msgs[..m]),
                Some(Err(e)) => tracing::debug!(from = %relay, dropped = m, "not sent: {e}"),
                None => tracing::debug!(from = %relay, "not sent: no relayed socket"),
            }
        }
        drop(c);
        if n < BATCH {
            return;
        }
    }
}

/// Sends every `(to, datagram)` of `msgs` from `sock` in as few `sendmmsg` calls as the kernel
/// allows; a datagram it refuses is skipped, and a full send buffer drops the rest (as UDP
/// would).
fn send_all(sock: &impl std::os::fd::AsFd, msgs: &[(SocketAddr, &[u8])]) {
    let mut done = 0;
    while let Some(rest) = msgs.get(done..).filter(|r| !r.is_empty()) {
        match send_to_many_coalesced(sock, rest) {
            Ok(k) => done += k.max(1),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                tracing::debug!(dropped = rest.len(), "send buffer full");
                return;
            }
            Err(e) => {
                tracing::debug!(to = %rest[0].0, "not sent: {e}");
                done += 1;
            }
        }
    }
}

/// The TCP and TLS connections being served, and the limits on how many are. Admitting one
/// costs O(1) whatever the limits: finished tasks are reaped as they finish, and each source's
/// count is kept by the connections themselves.
struct Connections {
    /// The connections' tasks (aborted when this is dropped).
    tasks: JoinSet<()>,
    max: usize,
    /// With `--max-connections-per-ip`: the limit, and the live connections by source.
    per_source: Option<(usize, SourceCounts)>,
    full: Refusals,
    full_for_source: Refusals,
}

/// Live connections by source ([`source_of`]).
type SourceCounts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// A connection's place in its source's count, given back when its task ends (or is aborted).
struct SourceSlot {
    counts: SourceCounts,
    source: IpAddr,
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.source);
            }
        }
    }
}

impl Connections {
    fn new(max: usize, per_source: Option<usize>) -> Self {
        Self {
            tasks: JoinSet::new(),
            max,
            per_source: per_source.map(|n| (n, Arc::default())),
            full: Refusals::new("too many TCP and TLS connections"),
            full_for_source: Refusals::new(
                "too many TCP and TLS connections from one address (--max-connections-per-ip)",
            ),
        }
    }

    /// Serves a connection just accepted from `client` with `task`, unless a limit refuses
    /// it: then the refusal is logged, and dropping `task` unstarted closes the stream.
    fn serve<F>(&mut self, now: Instant, client: SocketAddr, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        while self.tasks.try_join_next().is_some() {}
        if self.tasks.len() >= self.max {
            self.full.refused(now, client);
            return;
        }
        let slot = match &self.per_source {
            None => None,
            Some((limit, counts)) => {
                let source = source_of(client.ip());
                let mut c = counts.lock().unwrap_or_else(PoisonError::into_inner);
                let n = c.entry(source).or_insert(0);
                if *n >= *limit {
                    drop(c);
                    self.full_for_source.refused(now, client);
                    return;
                }
                *n += 1;
                Some(SourceSlot {
                    counts: Arc::clone(counts),
                    source,
                })
            }
        };
        self.tasks.spawn(async move {
            let _slot = slot;
            task.await;
        });
    }
}

/// What a connection counts against for `--max-connections-per-ip`: its IPv4 address (also
/// when mapped into IPv6), or its IPv6 /64, the usual size of one subnet, so that a host
/// cannot sidestep the limit with the addresses of its own /64. A site given a shorter prefix
/// still has that many /64s, and the clients of one Teredo or NAT64 relay share one.
fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((v6.to_bits() & !u128::from(u64::MAX)).into()),
        },
    }
}

/// Serves one TCP connection.
async fn tcp_connection(
    core: Weak<Mutex<Core>>,
    stream: TcpStream,
    client: SocketAddr,
    idle: Duration,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    stream_connection(core, stream, client, local, Transport::Tcp, idle).await;
}

/// Serves one TLS connection: the handshake (bounded in time), then frames as over TCP. A
/// failed handshake closes this connection only.
async fn tls_connection(
    core: Weak<Mutex<Core>>,
    acceptor: TlsAcceptor,
    stream: TcpStream,
    client: SocketAddr,
    idle: Duration,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let tls = match tokio::time::timeout(TLS_HANDSHAKE_LIMIT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%client, "TLS handshake failed: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!(%client, "TLS handshake timed out");
            return;
        }
    };
    stream_connection(core, tls, client, local, Transport::Tls, idle).await;
}

/// Serves one stream connection: frames in, the core's frames out through a bounded queue.
/// A connection that has had no allocation for `idle` (from its start, or since its allocation
/// ended) is closed, so that silent connections cannot hold the connection slots.
async fn stream_connection<S>(
    core: Weak<Mutex<Core>>,
    stream: S,
    client: SocketAddr,
    local: SocketAddr,
    transport: Transport,
    idle: Duration,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (frames, mut rx) = mpsc::channel::<QueuedFrame>(TCP_QUEUE);
    {
        let Some(core) = core.upgrade() else {
            return;
        };
        let mut c = lock(&core);
        let out = StreamOut {
            frames,
            data: Arc::new(Semaphore::new(TCP_QUEUE_BYTES)),
            answers: Arc::new(Semaphore::new(TCP_ANSWER_BYTES)),
            total: Arc::clone(&c.stream_budget),
        };
        c.tcp.insert((client, local), out);
    }
    let mut writer = tokio::spawn(async move {
        // The permits are held until their frame is written: the bytes are in the kernel's
        // hands. A client that takes longer than `idle` to take one frame is not reading: the
        // writer gives up, and with it the connection, so that what its queue holds of the
        // server-wide budget returns. It returns why it stopped, for the log.
        while let Some(frame) = rx.recv().await {
            let write = async {
                wr.write_all(&frame.bytes).await?;
                wr.flush().await
            };
            match tokio::time::timeout(idle, write).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    let _ = wr.shutdown().await;
                    return format!("cannot write: {e}");
                }
                Err(_) => return format!("not reading for {idle:?}"),
            }
        }
        let _ = wr.shutdown().await;
        "its queue was closed".to_owned()
    });
    let mut framer = StreamFramer::new(FramerConfig::default());
    let mut rbuf = vec![0u8; 16 * 1024];
    let five_tuple = FiveTuple {
        client,
        server: local,
        transport,
    };
    let mut allocated_at = Instant::now();
    'conn: loop {
        let n = tokio::select! {
            r = rd.read(&mut rbuf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            why = &mut writer => {
                let why = why.unwrap_or_else(|e| format!("its writer ended: {e}"));
                tracing::debug!(%client, "{why}: closing");
                break;
            }
            () = tokio::time::sleep_until((allocated_at + idle).into()) => {
                let Some(core) = core.upgrade() else {
                    break;
                };
                let now = Instant::now();
                if lock(&core).server.has_allocation(now, &five_tuple) {
                    allocated_at = now;
                    continue;
                }
                tracing::debug!(%client, "no allocation for {idle:?}: closing");
                break;
            }
        };
        if framer.push(rbuf.get(..n).unwrap_or_default()).is_err() {
            break;
        }
        let Some(core) = core.upgrade() else {
            break;
        };
        let mut c = lock(&core);
        // The frames of one read arrived together: one clock read for all of them.
        let now = Instant::now();
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => c.client_input(now, transport, client, local, frame.as_bytes()),
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(%client, "closing: {e}");
                    break 'conn;
                }
            }
        }
        if c.server.has_allocation(now, &five_tuple) {
            allocated_at = now;
        }
    }
    if let Some(core) = core.upgrade() {
        let mut c = lock(&core);
        c.tcp.remove(&(client, local));
        // The allocation made over this connection ends with it.
        c.server
            .handle_connection_closed(Instant::now(), five_tuple);
        c.flush();
    }
    writer.abort();
}

fn split_user(s: &str) -> Option<(String, String)> {
    let (u, p) = s.split_once(':')?;
    (!u.is_empty()).then(|| (u.to_string(), p.to_string()))
}

fn entropy32() -> std::io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(format!("no OS entropy: {e}")))?;
    Ok(seed)
}

/// Binds the TLS listener and loads its certificate when `--tls-listen` is given; on failure,
/// the exit status (bad input for unusable PEM files).
async fn tls_listener(args: &TurnServerArgs) -> Result<Option<(TcpListener, TlsAcceptor)>, u8> {
    let Some(addr) = args.tls_listen else {
        return Ok(None);
    };
    let (Some(cert), Some(key)) = (&args.cert, &args.key) else {
        return Err(fail(EXIT_BAD_INPUT, "--tls-listen needs --cert and --key"));
    };
    let config = crate::tls::server_config(cert, key).map_err(|e| fail(EXIT_BAD_INPUT, e))?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| fail(EXIT_FAILURE, format_args!("cannot bind TLS {addr}: {e}")))?;
    Ok(Some((listener, TlsAcceptor::from(config))))
}

/// The next connection on the TLS listener; never completes without one.
async fn accept_tls(
    tls: Option<&(TcpListener, TlsAcceptor)>,
) -> std::io::Result<(TcpStream, SocketAddr, TlsAcceptor)> {
    match tls {
        Some((listener, acceptor)) => {
            let (stream, client) = listener.accept().await?;
            Ok((stream, client, acceptor.clone()))
        }
        None => core::future::pending().await,
    }
}

/// Tries at finding a port free for both UDP and TCP when `--listen` asks for port 0.
const LISTEN_TRIES: usize = 32;

/// The UDP socket (a second handle for sending, and the tokio one) and the TCP listener on the
/// same address. With port 0, the port the OS picks for UDP may be taken for TCP (an outgoing
/// connection's ephemeral port, say): then both are dropped and another port is tried.
async fn bind_listeners(
    listen: SocketAddr,
) -> Result<(std::net::UdpSocket, UdpSocket, TcpListener), String> {
    for _ in 0..LISTEN_TRIES {
        let bound = std::net::UdpSocket::bind(listen).and_then(|s| {
            s.set_nonblocking(true)?;
            grow_buffers(&s, LISTENER_BUFFER);
            let tx = s.try_clone()?;
            Ok((tx, UdpSocket::from_std(s)?))
        });
        let (udp_tx, udp) = bound.map_err(|e| format!("cannot bind UDP {listen}: {e}"))?;
        let at = udp
            .local_addr()
            .map_err(|e| format!("cannot bind UDP {listen}: {e}"))?;
        match TcpListener::bind(at).await {
            Ok(tcp) => return Ok((udp_tx, udp, tcp)),
            Err(e) if listen.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(e) => return Err(format!("cannot bind TCP {at}: {e}")),
        }
    }
    Err(format!(
        "cannot bind UDP and TCP {listen}: no port free for both in {LISTEN_TRIES} tries"
    ))
}

/// Runs `icebreaker turn-server` until Ctrl-C or SIGTERM; returns the exit status.
pub async fn run(args: TurnServerArgs) -> u8 {
    let mut users = Vec::new();
    for u in &args.users {
        match split_user(u) {
            Some((name, _)) if name.len() > icebreaker_stun::attributes::MAX_USERNAME_LEN => {
                return fail(
                    EXIT_BAD_INPUT,
                    format_args!(
                        "--user name of {} bytes: a USERNAME has at most {} (RFC 8489), so \
                         it could never log in",
                        name.len(),
                        icebreaker_stun::attributes::MAX_USERNAME_LEN
                    ),
                );
            }
            Some(pair) => users.push(pair),
            None => return fail(EXIT_BAD_INPUT, format_args!("--user wants U:P, got {u:?}")),
        }
    }
    if users.is_empty() && args.auth_secrets.is_empty() {
        return fail(
            EXIT_BAD_INPUT,
            "give at least one --user U:P or --auth-secret S",
        );
    }
    if args.auth_secrets.len() > icebreaker_turn::MAX_AUTH_SECRETS {
        return fail(
            EXIT_BAD_INPUT,
            format_args!(
                "at most {} --auth-secret",
                icebreaker_turn::MAX_AUTH_SECRETS
            ),
        );
    }
    let relay_ip = match args.relay_ip {
        Some(ip) if ip.is_unspecified() => {
            return fail(
                EXIT_BAD_INPUT,
                "--relay-ip must be a concrete address, not a wildcard",
            );
        }
        Some(ip) => ip,
        None if args.listen.ip().is_unspecified() => {
            return fail(
                EXIT_BAD_INPUT,
                "--listen is a wildcard address: give --relay-ip (the address peers reach)",
            );
        }
        None => args.listen.ip(),
    };
    // An IPv6 socket bound to an IPv4-mapped address sends IPv4, and the DF bit is an IPv4
    // socket option: the relay could not keep its DONT-FRAGMENT promise.
    if let IpAddr::V6(v6) = relay_ip
        && v6.to_ipv4_mapped().is_some()
    {
        return fail(
            EXIT_BAD_INPUT,
            format_args!(
                "the relay address {v6} is IPv4-mapped: give --relay-ip the IPv4 address itself"
            ),
        );
    }
    match args.external_ip {
        Some(ip) if ip.is_unspecified() || ip.is_multicast() => {
            return fail(
                EXIT_BAD_INPUT,
                format_args!("--external-ip {ip} is not an address peers can send to"),
            );
        }
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_some() => {
            return fail(
                EXIT_BAD_INPUT,
                format_args!("--external-ip {v6} is IPv4-mapped: give the IPv4 address itself"),
            );
        }
        Some(ip) if ip.is_ipv4() != relay_ip.is_ipv4() => {
            return fail(
                EXIT_BAD_INPUT,
                format_args!(
                    "--external-ip {ip} and the relay address {relay_ip} are of different families"
                ),
            );
        }
        _ => {}
    }
    let (nonce_secret, rng_seed, port_seed) = match (entropy32(), entropy32(), entropy32()) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return fail(EXIT_FAILURE, e),
    };
    let stop = match crate::cli::shutdown_signal() {
        Ok(s) => s,
        Err(e) => {
            return fail(
                EXIT_FAILURE,
                format_args!("cannot watch for Ctrl-C/SIGTERM: {e}"),
            );
        }
    };
    let (udp_tx, udp, tcp) = match bind_listeners(args.listen).await {
        Ok(bound) => bound,
        Err(e) => return fail(EXIT_FAILURE, e),
    };
    let listen = match udp.local_addr() {
        Ok(a) => a,
        Err(e) => return fail(EXIT_FAILURE, e),
    };
    let tls = match tls_listener(&args).await {
        Ok(t) => t,
        Err(code) => return code,
    };
    let tls_addr = tls.as_ref().and_then(|(l, _)| l.local_addr().ok());

    // At most 16 GiB (clap's range), which fits a semaphore's permits on 64-bit targets.
    let stream_queue_total = args
        .stream_queue_total
        .unwrap_or(STREAM_QUEUE_TOTAL_KIB)
        .saturating_mul(1024)
        .try_into()
        .unwrap_or(Semaphore::MAX_PERMITS)
        .min(Semaphore::MAX_PERMITS);

    let mut policy = PeerPolicy::new();
    for c in &args.allow_peer {
        policy.allow(*c);
    }
    let defaults = ServerConfig::default();
    let unix_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut own = vec![relay_ip];
    for ip in [
        Some(listen.ip()),
        tls_addr.map(|a| a.ip()),
        args.external_ip,
    ]
    .into_iter()
    .flatten()
    {
        if !ip.is_unspecified() && !own.contains(&ip) {
            own.push(ip);
        }
    }
    let config = ServerConfig {
        realm: args.realm.clone(),
        users,
        auth_secrets: args
            .auth_secrets
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect(),
        nonce_secret,
        rng_seed,
        unix_time,
        peer_policy: policy,
        own_addresses: own,
        // Behind a 1:1 NAT the listening ports are reached at the external IP too: never
        // relayed to either.
        listen: [Some(listen), tls_addr]
            .into_iter()
            .flatten()
            .flat_map(|a| {
                let external = args.external_ip.map(|ip| SocketAddr::new(ip, a.port()));
                [Some(a), external]
            })
            .flatten()
            .collect(),
        user_quota: args.user_quota.unwrap_or(defaults.user_quota),
        total_quota: args.total_quota.unwrap_or(defaults.total_quota),
        software: args.software.clone(),
        nonce_lifetime: args
            .nonce_lifetime
            .map_or(defaults.nonce_lifetime, Duration::from_secs),
        dont_fragment: DF_SUPPORTED,
        ..defaults
    };
    let (events_tx, events_rx) = std_mpsc::channel();
    let mut ports = SocketPorts::new(relay_ip, args.ports, port_seed, events_tx);
    if let Some(ip) = args.external_ip {
        ports = ports.with_external(ip);
    }
    let server = Server::new(config, ports, Instant::now());
    let core: Shared = Arc::new_cyclic(|me| {
        Mutex::new(Core {
            server,
            udp: udp_tx,
            relays: HashMap::new(),
            tcp: HashMap::new(),
            stream_budget: Arc::new(Semaphore::new(stream_queue_total)),
            port_events: events_rx,
            buf: Vec::new(),
            me: me.clone(),
        })
    });

    if args.json {
        crate::cli::json_line(&TurnServerLine::Listening {
            udp: listen,
            tcp: listen,
            tls: tls_addr,
            relay_ip,
            external_ip: args.external_ip,
        });
    } else {
        let tls_note = tls_addr.map_or(String::new(), |a| format!(" and {a} (tls)"));
        let external_note = args
            .external_ip
            .map_or(String::new(), |ip| format!(" (shown to clients as {ip})"));
        emit(&format!(
            "listening on {listen} (udp, tcp){tls_note}, relaying on {relay_ip}{external_note}\n"
        ));
    }
    let mut stop = core::pin::pin!(stop);
    let stream_idle = Duration::from_secs(args.stream_idle.unwrap_or(STREAM_IDLE_SECS));
    let mut rbatch = RecvBatch::new(MAX_DATAGRAM, 0, 0);
    let max = args
        .max_connections
        .map_or(MAX_TCP_CONNECTIONS, |n| n as usize);
    let per_source = args.max_connections_per_ip.map(|n| n as usize);
    let mut connections = Connections::new(max, per_source);
    loop {
        let deadline = {
            let c = lock(&core);
            let cap = Instant::now() + Duration::from_secs(1);
            c.server.poll_timeout().map_or(cap, |t| t.min(cap))
        };
        tokio::select! {
            () = &mut stop => break,
            r = udp.readable() => match r {
                Ok(()) => listener_input(&core, &udp, listen, &mut rbatch),
                Err(e) => tracing::debug!("UDP receive error: {e}"),
            },
            r = tcp.accept() => match r {
                Ok((stream, client)) => {
                    let _ = stream.set_nodelay(true);
                    connections.serve(Instant::now(), client, tcp_connection(Arc::downgrade(&core), stream, client, stream_idle));
                }
                Err(e) => {
                    tracing::debug!("TCP accept error: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            r = accept_tls(tls.as_ref()) => match r {
                Ok((stream, client, acceptor)) => {
                    let _ = stream.set_nodelay(true);
                    connections.serve(Instant::now(), client, tls_connection(Arc::downgrade(&core), acceptor, stream, client, stream_idle));
                }
                Err(e) => {
                    tracing::debug!("TLS accept error: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            () = tokio::time::sleep_until(deadline.into()) => {
                let mut c = lock(&core);
                c.server.handle_timeout(Instant::now());
                c.flush();
            }
        }
    }
    tracing::info!("shutting down");
    drop(connections);
    let mut c = lock(&core);
    for (_, relay) in c.relays.drain() {
        relay.task.abort();
    }
    let stats = c.server.stats();
    tracing::info!(
        allocations = stats.allocations,
        relayed = stats.relayed,
        dropped = stats.dropped,
        "stopped"
    );
    if args.json {
        crate::cli::json_line(&TurnServerLine::Stopped {
            allocations: stats.allocations,
            relayed: stats.relayed,
            relayed_bytes: stats.relayed_bytes,
            dropped: stats.dropped,
        });
    }
    EXIT_OK
}

/// What `turn-server --json` prints.
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TurnServerLine {
    /// Bound: UDP and TCP on one address, TLS on another if asked for.
    Listening {
        udp: SocketAddr,
        tcp: SocketAddr,
        tls: Option<SocketAddr>,
        relay_ip: IpAddr,
        /// `--external-ip`, when given.
        external_ip: Option<IpAddr>,
    },
    /// Stopped by a signal: allocations still live then, and what was relayed.
    Stopped {
        allocations: usize,
        relayed: u64,
        relayed_bytes: u64,
        dropped: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relayed sockets are bound with DF clear (not Linux's default, which sets DF on what fits
    /// the path MTU), switch to DF for a datagram that asks, and back.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn relayed_sockets_start_with_df_clear_and_switch() {
        use rustix::net::sockopt::{Ipv4PathMtuDiscovery as V4, ip_mtu_discover};
        let (tx, rx) = std_mpsc::channel();
        let mut ports = SocketPorts::new(IpAddr::from([127, 0, 0, 1]), None, [1; 32], tx);
        let addr = ports.allocate(AddressFamily::V4, false).unwrap();
        let Ok(PortEvent::Bound(bound, sock)) = rx.try_recv() else {
            panic!("no socket bound");
        };
        assert_eq!(bound, addr);
        assert_eq!(ip_mtu_discover(&sock).unwrap(), V4::DONT);
        set_dont_fragment(&sock, addr, true).unwrap();
        assert_eq!(ip_mtu_discover(&sock).unwrap(), V4::DO);
        set_dont_fragment(&sock, addr, false).unwrap();
        assert_eq!(ip_mtu_discover(&sock).unwrap(), V4::DONT);
    }

    /// With an external IP the server core sees only shown addresses: an allocation, a
    /// reservation (EVEN-PORT's R bit, then RESERVATION-TOKEN) and a release all go by the
    /// external IP, while the sockets are bound on the relay IP at the same ports.
    #[test]
    fn an_external_ip_is_shown_and_the_relay_ip_bound() {
        let (tx, rx) = std_mpsc::channel();
        let (relay, external) = (IpAddr::from([127, 0, 0, 1]), IpAddr::from([192, 0, 2, 9]));
        let mut ports = SocketPorts::new(relay, None, [1; 32], tx).with_external(external);
        let shown = ports.allocate(AddressFamily::V4, false).unwrap();
        assert_eq!(shown.ip(), external);
        let Ok(PortEvent::Bound(key, sock)) = rx.try_recv() else {
            panic!("no socket bound");
        };
        assert_eq!(key, shown);
        assert_eq!(
            sock.local_addr().unwrap(),
            SocketAddr::new(relay, shown.port())
        );
        drop(sock);
        // The next port, reserved by its shown address; the bound address is not ours to give.
        let free = std::net::UdpSocket::bind((relay, 0)).unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        assert!(!ports.reserve(SocketAddr::new(relay, port)));
        assert!(ports.reserve(SocketAddr::new(external, port)));
        let Ok(PortEvent::Bound(key, sock)) = rx.try_recv() else {
            panic!("no socket bound for the reservation");
        };
        assert_eq!(key, SocketAddr::new(external, port));
        assert_eq!(sock.local_addr().unwrap(), SocketAddr::new(relay, port));
        assert!(
            !ports.reserve(SocketAddr::new(external, port)),
            "reserved twice"
        );
        ports.release(shown);
        assert!(matches!(rx.try_recv(), Ok(PortEvent::Released(a)) if a == shown));
    }

    #[test]
    fn connections_count_against_an_ipv4_address_or_an_ipv6_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(source_of(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(source_of(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(source_of(ip("2001:db8:1:2:a:b:c:d")), ip("2001:db8:1:2::"));
        assert_eq!(
            source_of(ip("2001:db8:1:2:ffff::1")),
            source_of(ip("2001:db8:1:2::9"))
        );
        assert_ne!(
            source_of(ip("2001:db8:1:2::1")),
            source_of(ip("2001:db8:1:3::1"))
        );
    }
}
