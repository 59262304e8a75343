//! The TURN server core (RFC 8656), sans-IO.
//!
//! See the crate docs for the loop. Memory is bounded everywhere:
//!
//! | state                     | bound                                                    |
//! |---------------------------|----------------------------------------------------------|
//! | allocations               | [`ServerConfig::total_quota`] (and per user `user_quota`) |
//! | permissions / allocation  | [`ServerConfig::max_permissions`]                        |
//! | channels / allocation     | [`ServerConfig::max_channels`] (≤ 4096 by the number range) |
//! | reservations (EVEN-PORT R)| `total_quota` (and per user `user_quota`), 30 s each      |
//! | 401 rate-limit table      | [`ServerConfig::rate_limit_slots`], allocated once       |
//! | queued datagrams          | [`ServerConfig::max_queued`]                             |
//!
//! Unauthenticated requests leave no state behind: nonces are stateless (a MAC over a timestamp
//! and the client's address), and the only thing a 401 touches is one slot of the fixed
//! rate-limit table.

use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use icebreaker_stun::attributes::{
    self, AdditionalAddressFamily, AddressErrorCode, AddressFamily, ChannelNumber, Data,
    DontFragment, ErrorCode, EvenPort, Lifetime, Nonce, PasswordAlgorithm, PasswordAlgorithmId,
    PasswordAlgorithms, Realm, RequestedAddressFamily, RequestedTransport, ReservationToken,
    Software, UnknownAttributes, UnknownList, Userhash, Username, XorMappedAddress, XorPeerAddress,
    XorRelayedAddress, codes,
};
use icebreaker_stun::integrity::{Key, NonceCookie, Preparation};
use icebreaker_stun::server::{BindingServer, ServerConfig as BindingConfig};
use icebreaker_stun::{
    AttributeType, CHANNEL_RANGE, ChannelData, Class, Integrity, Message, MessageWriter, Method,
    TransactionId,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha1::Sha1;

use crate::auth::{NonceCheck, NonceMinter, RateLimiter, rest_expiry};
use crate::policy::PeerPolicy;
use crate::ports::{PortAllocator, PortError, PortPool};
use crate::table::Table;
use crate::{Bandwidth, FiveTuple, Transport};

/// Largest STUN response written.
const MAX_RESPONSE: usize = 1280;
/// RFC 8656 §7.1: a reservation made with EVEN-PORT's R bit lasts about 30 seconds.
const RESERVATION_LIFETIME: Duration = Duration::from_secs(30);
/// RFC 8656 §9: permissions last 300 seconds.
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// RFC 8656 §12: channel bindings last 600 seconds.
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
/// Largest response size per request byte for unauthenticated answers over UDP, as a fraction
/// `NUM / DEN` (2.5): an answer that would be larger is slimmed down, then dropped.
const AMPLIFICATION: (usize, usize) = (5, 2);
/// Most REST API secrets accepted (each costs one HMAC per authentication attempt).
pub const MAX_AUTH_SECRETS: usize = 8;

/// Server settings. `nonce_secret` and `rng_seed` must come from a real entropy source in
/// production (the runtime reads the OS); tests and the simulator pass fixed values.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The long-term credential realm.
    pub realm: String,
    /// Static users: `(username, password)`.
    pub users: Vec<(String, String)>,
    /// TURN REST API shared secrets, current first (several for rotation; at most
    /// [`MAX_AUTH_SECRETS`]).
    pub auth_secrets: Vec<Vec<u8>>,
    /// Key of the nonce MAC.
    pub nonce_secret: [u8; 32],
    /// Seed of the server's RNG (reservation tokens, rate-limit hashing).
    pub rng_seed: [u8; 32],
    /// UNIX time in seconds at the `now` passed to [`Server::new`] (REST API expiry checks).
    pub unix_time: u64,
    /// Where relaying is allowed. The server's own addresses are added to it.
    pub peer_policy: PeerPolicy,
    /// The server's own addresses (listening and relay IPs): denied as peers unless the
    /// allow-list names them. With a wildcard listen address, list every local address.
    pub own_addresses: Vec<IpAddr>,
    /// The listening socket addresses: never relayed to, whatever the allow-list says.
    pub listen: Vec<SocketAddr>,
    /// Allocation lifetime when the client asks for none or less: 600 s.
    pub default_lifetime: Duration,
    /// Longest allocation lifetime granted: 3600 s.
    pub max_lifetime: Duration,
    /// How long a nonce stays valid: 600 s.
    pub nonce_lifetime: Duration,
    /// Allocations per username (486 beyond).
    pub user_quota: usize,
    /// Allocations in total (508 beyond).
    pub total_quota: usize,
    /// Permissions per allocation (508 beyond).
    pub max_permissions: usize,
    /// Channels per allocation (508 beyond).
    pub max_channels: usize,
    /// Per-allocation relay bandwidth cap (both directions together); `None` for no cap.
    pub bandwidth: Option<Bandwidth>,
    /// 401 answers per second per source IP, and the burst.
    pub challenge_rate: (u32, u32),
    /// Slots of the 401 rate-limit table (fixed memory).
    pub rate_limit_slots: usize,
    /// Datagrams queued for `poll_transmit` at most; beyond, new ones are dropped.
    pub max_queued: usize,
    /// Offer SHA-256 through PASSWORD-ALGORITHMS (and the nonce cookie). On by default.
    pub password_algorithms: bool,
    /// Accept USERHASH (static users only). On by default.
    pub userhash: bool,
    /// SOFTWARE in answers; none by default.
    pub software: Option<String>,
    /// Reason phrases in error answers; off by default.
    pub reason_phrases: bool,
    /// Whether the relayed sockets can send with the DF bit set (on by default). Off, a
    /// DONT-FRAGMENT in an Allocate (the client asking whether DF is supported) is an
    /// unknown attribute (420) and a Send indication carrying it is dropped, as RFC 8656
    /// §7.2 and §11.2 ask of a server that cannot.
    pub dont_fragment: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            realm: "icebreaker".into(),
            users: Vec::new(),
            auth_secrets: Vec::new(),
            nonce_secret: [0; 32],
            rng_seed: [0; 32],
            unix_time: 0,
            peer_policy: PeerPolicy::new(),
            own_addresses: Vec::new(),
            listen: Vec::new(),
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            nonce_lifetime: Duration::from_secs(600),
            user_quota: 10,
            total_quota: 1000,
            max_permissions: 64,
            max_channels: 64,
            bandwidth: None,
            challenge_rate: (20, 40),
            rate_limit_slots: 4096,
            max_queued: 1024,
            password_algorithms: true,
            userhash: true,
            software: None,
            reason_phrases: false,
            dont_fragment: true,
        }
    }
}

/// Which socket a server datagram leaves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// The listening socket (or, for TCP and TLS, the connection `from`↔`to`) of this transport:
    /// responses, Data indications and ChannelData to clients.
    Listener(Transport),
    /// The relayed UDP socket bound at `from`: data to a peer.
    Relay {
        /// Send with the DF bit set (IPv4), and without fragmenting at the source: the Send
        /// indication carrying the data asked with DONT-FRAGMENT. Only ever `true` when
        /// [`ServerConfig::dont_fragment`] is; a datagram that cannot be sent so must be
        /// dropped. `false`: the DF bit clear, the alternate behaviour of RFC 8656 §14 (the
        /// preferred one copies the DF bit of the packet the data came in, which a UDP socket
        /// does not see).
        dont_fragment: bool,
    },
}

/// One datagram to send: the bytes are in the caller's buffer.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerTransmit {
    /// The local address to send from: a listening address or a relayed address.
    pub from: SocketAddr,
    /// The destination: a client or a peer.
    pub to: SocketAddr,
    /// Which kind of socket.
    pub via: Via,
}

/// Outcome of [`Server::relay_channel_data`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRelay<'a> {
    /// Send `data` (borrowed from the input) as described.
    Relayed {
        /// Where.
        transmit: ServerTransmit,
        /// The payload.
        data: &'a [u8],
    },
    /// A ChannelData message that is not relayed (unbound channel, no permission, bad length,
    /// over the bandwidth cap): drop it.
    Dropped,
    /// Not ChannelData: pass it to [`Server::handle_receive`].
    NotChannelData,
}

/// Outcome of [`Server::relay_to_channel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRelay {
    /// `buf[..len]` now holds a ChannelData message: send it as described.
    Channel {
        /// Where.
        transmit: ServerTransmit,
        /// Bytes of `buf` to send.
        len: usize,
    },
    /// Dropped (no allocation on that address, no permission, over the bandwidth cap).
    Dropped,
    /// No channel is bound to this peer: call [`Server::handle_peer_receive`] with the payload
    /// instead (it sends a Data indication).
    NoChannel,
}

/// Counters and state sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Live allocations.
    pub allocations: usize,
    /// Installed permissions, all allocations together.
    pub permissions: usize,
    /// Bound channels, all allocations together.
    pub channels: usize,
    /// Outstanding EVEN-PORT reservations.
    pub reservations: usize,
    /// Distinct users with allocations.
    pub users: usize,
    /// Datagrams waiting in the queue.
    pub queued: usize,
    /// Slots of the rate-limit table (constant).
    pub rate_limit_slots: usize,
    /// 401 challenges sent.
    pub challenges: u64,
    /// 401 challenges not sent because of the per-source rate limit.
    pub rate_limited: u64,
    /// Unauthenticated answers not sent because they would amplify more than 2.5×.
    pub amplification_dropped: u64,
    /// Datagrams relayed (both directions).
    pub relayed: u64,
    /// Bytes of payload relayed.
    pub relayed_bytes: u64,
    /// Datagrams dropped (no allocation, no permission, denied peer, bad input, cap).
    pub dropped: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    milli_bytes: u128,
    at: Instant,
}

#[derive(Debug, Clone)]
struct Channel {
    peer: SocketAddr,
    /// The relayed address (of the peer's family) datagrams to the peer leave from.
    relay: SocketAddr,
    expires: Instant,
    /// The peer is another allocation's relayed address that the policy alone would refuse:
    /// each datagram checks that it still is one.
    to_relay: bool,
}

#[derive(Debug, Clone)]
struct Allocation {
    username: Box<str>,
    created_by: TransactionId,
    /// What the success to `created_by` carried beyond the addresses, for a retransmission:
    /// the RESERVATION-TOKEN and the ADDRESS-ERROR-CODE of the additional family.
    reservation_token: Option<[u8; 8]>,
    family_error: Option<u16>,
    relayed: [Option<SocketAddr>; 2],
    /// When each relayed address expires, index for index with `relayed`: a Refresh with
    /// REQUESTED-ADDRESS-FAMILY refreshes or deletes one family of a dual allocation, one
    /// without refreshes or deletes both (RFC 8656 §7.1). The allocation lives as long as
    /// one of them does.
    expires: [Instant; 2],
    permissions: Permissions,
    channels: BTreeMap<u16, Channel>,
    peer_channels: BTreeMap<SocketAddr, u16>,
    bucket: Bucket,
}

/// The permissions of one allocation: a few IPs (at most `max_permissions`), so a vector
/// searched linearly beats a tree, and the relay paths look one up per datagram.
#[derive(Debug, Clone, Default)]
struct Permissions(Vec<(IpAddr, Instant)>);

impl Permissions {
    fn get(&self, ip: &IpAddr) -> Option<Instant> {
        self.0.iter().find(|(p, _)| p == ip).map(|(_, e)| *e)
    }

    fn contains_key(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|(p, _)| p == ip)
    }

    fn insert(&mut self, ip: IpAddr, expires: Instant) {
        match self.0.iter_mut().find(|(p, _)| *p == ip) {
            Some((_, e)) => *e = expires,
            None => self.0.push((ip, expires)),
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&IpAddr, &mut Instant) -> bool) {
        self.0.retain_mut(|(p, e)| keep(p, e));
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn values(&self) -> impl Iterator<Item = Instant> + '_ {
        self.0.iter().map(|(_, e)| *e)
    }
}

impl Allocation {
    /// The relayed addresses it still has, each with its index and its expiry.
    fn families(&self) -> impl Iterator<Item = (usize, SocketAddr, Instant)> {
        self.relayed
            .into_iter()
            .zip(self.expires)
            .enumerate()
            .filter_map(|(i, (r, e))| Some((i, r?, e)))
    }

    /// When the allocation ends: when the last of its relayed addresses does.
    fn expires(&self) -> Instant {
        self.families()
            .map(|(_, _, e)| e)
            .max()
            .unwrap_or(self.expires[0])
    }

    /// Whether `relay` is one of the allocation's relayed addresses and has not expired at
    /// `now` (its timer may not have run yet).
    fn relays_on(&self, now: Instant, relay: SocketAddr) -> bool {
        self.families().any(|(_, r, e)| r == relay && now < e)
    }

    /// The relayed address of `peer`'s family, unless it has expired at `now`.
    fn relayed_for(&self, now: Instant, peer: IpAddr) -> Option<SocketAddr> {
        let fam = AddressFamily::of(&peer);
        self.families()
            .find(|&(_, r, e)| AddressFamily::of(&r.ip()) == fam && now < e)
            .map(|(_, r, _)| r)
    }

    fn permitted(&self, now: Instant, peer: IpAddr) -> bool {
        self.permissions.get(&peer).is_some_and(|e| now < e)
    }

    fn channel(&self, now: Instant, channel: u16) -> Option<&Channel> {
        self.channels.get(&channel).filter(|c| now < c.expires)
    }

    fn channel_peer(&self, now: Instant, channel: u16) -> Option<SocketAddr> {
        self.channels
            .get(&channel)
            .filter(|c| now < c.expires)
            .map(|c| c.peer)
    }

    fn channel_of(&self, now: Instant, peer: SocketAddr) -> Option<u16> {
        let ch = *self.peer_channels.get(&peer)?;
        self.channel_peer(now, ch).map(|_| ch)
    }

    fn take_tokens(&mut self, now: Instant, bw: Option<Bandwidth>, bytes: usize) -> bool {
        let Some(bw) = bw else {
            return true;
        };
        let elapsed = now.saturating_duration_since(self.bucket.at).as_micros();
        let full = u128::from(bw.burst) * 1000;
        let refill = elapsed.saturating_mul(u128::from(bw.bytes_per_second)) / 1000;
        self.bucket.milli_bytes = self.bucket.milli_bytes.saturating_add(refill).min(full);
        self.bucket.at = self.bucket.at.max(now);
        let need = (bytes as u128) * 1000;
        if self.bucket.milli_bytes >= need {
            self.bucket.milli_bytes -= need;
            true
        } else {
            false
        }
    }
}

#[derive(Clone)]
struct UserKeys {
    md5: Key,
    sha256: Key,
}

#[derive(Debug, Clone)]
struct Reservation {
    addr: SocketAddr,
    expires: Instant,
    /// Who made it: each user holds at most `user_quota` reservations.
    owner: Box<str>,
}

/// Who a request was authenticated as.
struct Authed {
    username: Box<str>,
    key: Key,
    integrity: Integrity,
}

/// A negative outcome of a request.
enum Reject {
    /// Answer with this error code, unsigned.
    Code(u16),
    /// 401 with a fresh challenge.
    Challenge,
    /// 438 with a fresh nonce.
    Stale,
    /// 420 with these unknown attributes.
    Unknown(UnknownList),
}

/// The TURN server state machine. `P` supplies relayed addresses.
pub struct Server<P: PortAllocator = PortPool> {
    config: ServerConfig,
    policy: PeerPolicy,
    ports: P,
    binding: BindingServer,
    nonces: NonceMinter,
    epoch: Instant,
    now: Instant,
    users: BTreeMap<String, UserKeys>,
    userhashes: BTreeMap<[u8; 32], String>,
    rest: Vec<Hmac<Sha1>>,
    allocations: Table<Allocation>,
    /// How many relayed addresses each relay IP has (for permissions, which are by IP).
    relay_ips: BTreeMap<IpAddr, usize>,
    per_user: BTreeMap<Box<str>, usize>,
    reservations: BTreeMap<[u8; 8], Reservation>,
    limiter: RateLimiter,
    queue: VecDeque<(ServerTransmit, Vec<u8>)>,
    rng: ChaCha20Rng,
    next_timeout: Option<Instant>,
    stats: ServerStats,
    pa_value: [u8; 8],
}

impl<P: PortAllocator> core::fmt::Debug for Server<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Server")
            .field("realm", &self.config.realm)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn is_known(t: AttributeType) -> bool {
    attributes::is_known(t)
}

/// The PASSWORD-ALGORITHMS value this server offers: SHA-256 first, then MD5.
const PA_VALUE: [u8; 8] = [0, 2, 0, 0, 0, 1, 0, 0];

impl<P: PortAllocator> Server<P> {
    /// A server that starts at `now`, taking relayed addresses from `ports`.
    pub fn new(config: ServerConfig, ports: P, now: Instant) -> Self {
        let mut policy = config.peer_policy.clone();
        for ip in &config.own_addresses {
            policy.deny_own(*ip);
        }
        let mut users = BTreeMap::new();
        let mut userhashes = BTreeMap::new();
        for (user, pass) in &config.users {
            let mk =
                |alg| Key::long_term(user, &config.realm, pass, alg, Preparation::OpaqueString);
            if let (Ok(md5), Ok(sha256)) = (
                mk(PasswordAlgorithmId::MD5),
                mk(PasswordAlgorithmId::SHA256),
            ) {
                users.insert(user.clone(), UserKeys { md5, sha256 });
                if let Ok(h) = icebreaker_stun::integrity::userhash(user, &config.realm) {
                    userhashes.insert(h, user.clone());
                }
            }
        }
        let rest = config
            .auth_secrets
            .iter()
            .take(MAX_AUTH_SECRETS)
            .map(|s| <Hmac<Sha1> as KeyInit>::new_from_slice(s).unwrap_or_else(|_| unreachable!()))
            .collect();
        let mut rng = ChaCha20Rng::from_seed(config.rng_seed);
        let mut limiter_key = [0u8; 16];
        rng.fill_bytes(&mut limiter_key);
        // The table's hash seed, from the same secret draw (one more draw would shift every
        // later random value, and seeded runs are meant to replay as they did).
        let mut half = [0u8; 8];
        half.copy_from_slice(limiter_key.get(8..).unwrap_or(&[0; 8]));
        let table_seed = u64::from_le_bytes(half).rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15;
        let binding = BindingServer::new(BindingConfig {
            software: config.software.clone(),
            reason_phrases: config.reason_phrases,
            ..Default::default()
        });
        Self {
            policy,
            ports,
            binding,
            nonces: NonceMinter::new(&config.nonce_secret, now, config.nonce_lifetime),
            epoch: now,
            now,
            users,
            userhashes,
            rest,
            allocations: Table::new(table_seed),
            relay_ips: BTreeMap::new(),
            per_user: BTreeMap::new(),
            reservations: BTreeMap::new(),
            limiter: RateLimiter::new(
                config.rate_limit_slots,
                limiter_key,
                config.challenge_rate.0,
                config.challenge_rate.1,
                now,
            ),
            queue: VecDeque::new(),
            rng,
            next_timeout: None,
            stats: ServerStats::default(),
            pa_value: PA_VALUE,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The port allocator (to inspect it, e.g. how many ports are in use).
    pub fn ports(&self) -> &P {
        &self.ports
    }

    /// The effective peer policy (configured allow-list plus own addresses).
    pub fn policy(&self) -> &PeerPolicy {
        &self.policy
    }

    /// Counters and the current sizes of every table.
    pub fn stats(&self) -> ServerStats {
        let mut s = self.stats;
        s.allocations = self.allocations.len();
        s.permissions = self.allocations.values().map(|a| a.permissions.len()).sum();
        s.channels = self.allocations.values().map(|a| a.channels.len()).sum();
        s.reservations = self.reservations.len();
        s.users = self.per_user.len();
        s.queued = self.queue.len();
        s.rate_limit_slots = self.limiter.len();
        s
    }

    /// The relayed addresses of the allocation on `five_tuple`, if there is one.
    pub fn relayed_addresses(&self, five_tuple: &FiveTuple) -> Vec<SocketAddr> {
        self.allocations
            .get(five_tuple)
            .map(|a| a.relayed.into_iter().flatten().collect())
            .unwrap_or_default()
    }

    /// Whether `five_tuple` has an allocation that has not expired at `now` (a runtime closes
    /// stream connections that stay without one).
    pub fn has_allocation(&self, now: Instant, five_tuple: &FiveTuple) -> bool {
        self.live_allocation(now, five_tuple).is_some()
    }

    /// The allocation on `five_tuple`, unless it has expired at `now` (its timer may not have
    /// run yet).
    fn live_allocation(&self, now: Instant, five_tuple: &FiveTuple) -> Option<&Allocation> {
        self.allocations
            .get(five_tuple)
            .filter(|a| now < a.expires())
    }

    /// Every relayed address in use (what the runtime must have sockets bound on).
    pub fn relay_addresses(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.allocations
            .values()
            .flat_map(|a| a.relayed.into_iter().flatten())
    }

    fn clock(&mut self, now: Instant) -> Instant {
        // A `now` that goes backwards is clamped.
        self.now = self.now.max(now);
        self.now
    }

    fn schedule(&mut self, at: Instant) {
        self.next_timeout = Some(self.next_timeout.map_or(at, |t| t.min(at)));
    }

    // ----- Input --------------------------------------------------------------------------

    /// A datagram from a client over UDP, received on listening address `to`.
    pub fn handle_receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.handle_receive_on(now, Transport::Udp, from, to, data);
    }

    /// A datagram (UDP) or one frame (TCP/TLS, from the
    /// [`StreamFramer`](icebreaker_stun::framing::StreamFramer)) from a client.
    pub fn handle_receive_on(
        &mut self,
        now: Instant,
        transport: Transport,
        from: SocketAddr,
        to: SocketAddr,
        data: &[u8],
    ) {
        let now = self.clock(now);
        let ft = FiveTuple {
            client: from,
            server: to,
            transport,
        };
        if data.first().is_some_and(|b| b >> 6 == 0b01) {
            match self.relay_channel_data_at(now, ft, data) {
                ClientRelay::Relayed { transmit, data } => self.enqueue(transmit, data),
                _ => self.stats.dropped += 1,
            }
            return;
        }
        let Ok(msg) = Message::parse(data) else {
            // Malformed: a Binding request header still gets the STUN server's 400.
            self.binding_answer(ft, data);
            return;
        };
        if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
            self.stats.dropped += 1;
            return;
        }
        match (msg.class(), msg.method()) {
            (Class::Request, Method::BINDING) => self.binding_answer(ft, data),
            (
                Class::Request,
                m @ (Method::ALLOCATE
                | Method::REFRESH
                | Method::CREATE_PERMISSION
                | Method::CHANNEL_BIND),
            ) => {
                self.request(now, ft, &msg, m, data.len());
            }
            (Class::Indication, Method::SEND) => self.send_indication(now, ft, &msg),
            _ => self.stats.dropped += 1,
        }
    }

    /// A datagram from `peer` arriving on relayed address `relay`.
    pub fn handle_peer_receive(
        &mut self,
        now: Instant,
        relay: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
    ) {
        let now = self.clock(now);
        let Some(ft) = self.check_peer(now, relay, peer, data.len()) else {
            return;
        };
        let Some(alloc) = self.allocations.get(&ft) else {
            return;
        };
        let to = ft.client;
        let from = ft.server;
        let transmit = ServerTransmit {
            from,
            to,
            via: Via::Listener(ft.transport),
        };
        if let Some(ch) = alloc.channel_of(now, peer) {
            let mut buf = vec![0u8; data.len() + 8];
            if let Ok(n) = ChannelData::encode(ch, data, ft.transport != Transport::Udp, &mut buf) {
                buf.truncate(n);
                self.push_queue(transmit, buf);
            }
            return;
        }
        // RFC 8656 §11.3: a Data indication with XOR-PEER-ADDRESS and DATA.
        let mut tid = [0u8; 12];
        self.rng.fill_bytes(&mut tid);
        let mut buf = vec![0u8; data.len() + 64];
        let Ok(mut w) = MessageWriter::new(
            &mut buf,
            Class::Indication,
            Method::DATA,
            TransactionId::new(tid),
        ) else {
            return;
        };
        if w.push(&XorPeerAddress(peer)).is_err() || w.push(&Data(data)).is_err() {
            self.stats.dropped += 1;
            return;
        }
        if let Ok(n) = w.finish(false) {
            buf.truncate(n);
            self.push_queue(transmit, buf);
        }
    }

    /// The TCP or TLS connection of `five_tuple` closed: its allocation, if any, ends with it
    /// (RFC 8656 §3.1 and §7: an allocation over a stream lives as long as its connection), so
    /// the client can allocate again from the same address. Ignored for UDP.
    pub fn handle_connection_closed(&mut self, now: Instant, five_tuple: FiveTuple) {
        self.clock(now);
        if five_tuple.transport != Transport::Udp {
            self.remove_allocation(&five_tuple);
        }
    }

    /// Finds the allocation for a peer datagram and checks permission and bandwidth.
    fn check_peer(
        &mut self,
        now: Instant,
        relay: SocketAddr,
        peer: SocketAddr,
        len: usize,
    ) -> Option<FiveTuple> {
        let bw = self.config.bandwidth;
        let slot = self.allocations.by_relay(&relay);
        let ok = slot.and_then(|slot| {
            let (ft, alloc) = self.allocations.at_mut(slot)?;
            (alloc.relays_on(now, relay)
                && alloc.permitted(now, peer.ip())
                && alloc.take_tokens(now, bw, len))
            .then_some(*ft)
        });
        match ok {
            Some(ft) => {
                self.stats.relayed += 1;
                self.stats.relayed_bytes += len as u64;
                Some(ft)
            }
            None => {
                self.stats.dropped += 1;
                None
            }
        }
    }

    /// The allocation-free fast path for ChannelData from a client: when `data` is a
    /// ChannelData message on a bound channel with a permission, returns the payload (borrowed
    /// from `data`) and where to send it. UDP; see [`relay_channel_data_on`](Self::relay_channel_data_on).
    pub fn relay_channel_data<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        data: &'a [u8],
    ) -> ClientRelay<'a> {
        self.relay_channel_data_on(now, Transport::Udp, from, to, data)
    }

    /// [`relay_channel_data`](Self::relay_channel_data) for any transport.
    pub fn relay_channel_data_on<'a>(
        &mut self,
        now: Instant,
        transport: Transport,
        from: SocketAddr,
        to: SocketAddr,
        data: &'a [u8],
    ) -> ClientRelay<'a> {
        if data.first().is_none_or(|b| b >> 6 != 0b01) {
            return ClientRelay::NotChannelData;
        }
        let now = self.clock(now);
        let r = self.relay_channel_data_at(
            now,
            FiveTuple {
                client: from,
                server: to,
                transport,
            },
            data,
        );
        if r == ClientRelay::Dropped {
            self.stats.dropped += 1;
        }
        r
    }

    fn relay_channel_data_at<'a>(
        &mut self,
        now: Instant,
        ft: FiveTuple,
        data: &'a [u8],
    ) -> ClientRelay<'a> {
        // RFC 8656 §12.5: a bad length, an unbound channel or a missing permission: discard.
        let Ok(cd) = ChannelData::parse(data) else {
            return ClientRelay::Dropped;
        };
        let Some(slot) = self.allocations.slot(&ft) else {
            return ClientRelay::Dropped;
        };
        let Some((_, alloc)) = self.allocations.at(slot) else {
            return ClientRelay::Dropped;
        };
        let Some(c) = alloc.channel(now, cd.channel()) else {
            return ClientRelay::Dropped;
        };
        let (peer, relay) = (c.peer, c.relay);
        if !alloc.relays_on(now, relay)
            || !alloc.permitted(now, peer.ip())
            // The policy was checked when the channel was bound; a channel to another
            // allocation's relayed address needs that allocation to still be there.
            || (c.to_relay && !self.allocations.is_relay(&peer))
        {
            return ClientRelay::Dropped;
        }
        if let Some(bw) = self.config.bandwidth {
            let ok = self
                .allocations
                .at_mut(slot)
                .is_some_and(|(_, a)| a.take_tokens(now, Some(bw), cd.data().len()));
            if !ok {
                return ClientRelay::Dropped;
            }
        }
        self.stats.relayed += 1;
        self.stats.relayed_bytes += cd.data().len() as u64;
        ClientRelay::Relayed {
            transmit: ServerTransmit {
                from: relay,
                to: peer,
                // RFC 8656 §14: application data other than a Send indication carrying
                // DONT-FRAGMENT leaves with the DF bit of the packet it came in, which a UDP
                // socket cannot see; the alternate behaviour takes that bit as 0.
                via: Via::Relay {
                    dont_fragment: false,
                },
            },
            data: cd.data(),
        }
    }

    /// The allocation-free fast path for peer data: the caller received the payload into
    /// `buf[4..4 + len]` (leaving 4 bytes of headroom, and 3 more after it for stream padding);
    /// when the peer has a channel, the ChannelData header is written in place and `buf[..n]`
    /// is ready to send to the client.
    pub fn relay_to_channel(
        &mut self,
        now: Instant,
        relay: SocketAddr,
        peer: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> PeerRelay {
        let now = self.clock(now);
        let bw = self.config.bandwidth;
        // One lookup of each table: the relayed address, then the allocation.
        let Some((&ft, alloc)) = self
            .allocations
            .by_relay(&relay)
            .and_then(|slot| self.allocations.at_mut(slot))
        else {
            self.stats.dropped += 1;
            return PeerRelay::Dropped;
        };
        let Some(ch) = alloc.channel_of(now, peer) else {
            return PeerRelay::NoChannel;
        };
        let total = if ft.transport == Transport::Udp {
            4 + len
        } else {
            4 + ((len + 3) & !3)
        };
        let Some((head, rest)) = buf
            .get_mut(..total)
            .and_then(|f| f.split_first_chunk_mut::<4>())
        else {
            return PeerRelay::NoChannel;
        };
        if ChannelData::encode_header(ch, len, head).is_err()
            || !alloc.relays_on(now, relay)
            || !alloc.permitted(now, peer.ip())
            || !alloc.take_tokens(now, bw, len)
        {
            self.stats.dropped += 1;
            return PeerRelay::Dropped;
        }
        self.stats.relayed += 1;
        self.stats.relayed_bytes += len as u64;
        if let Some(pad) = rest.get_mut(len..) {
            pad.fill(0);
        }
        PeerRelay::Channel {
            transmit: ServerTransmit {
                from: ft.server,
                to: ft.client,
                via: Via::Listener(ft.transport),
            },
            len: total,
        }
    }

    /// Expires allocations, permissions, channels and reservations that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock(now);
        if self.next_timeout.is_some_and(|t| now < t) {
            return;
        }
        let mut expired: Vec<FiveTuple> = self
            .allocations
            .iter()
            .filter(|(_, a)| now >= a.expires())
            .map(|(k, _)| *k)
            .collect();
        // Release ports in 5-tuple order, whatever the slots: replays stay identical.
        expired.sort_unstable();
        for ft in expired {
            self.remove_allocation(&ft);
        }
        // One family of a dual allocation that was not refreshed with the other.
        let mut lapsed: Vec<(FiveTuple, usize)> = self
            .allocations
            .iter()
            .flat_map(|(k, a)| {
                a.families()
                    .filter(|&(_, _, e)| now >= e)
                    .map(|(i, _, _)| (*k, i))
            })
            .collect();
        lapsed.sort_unstable();
        for (ft, i) in lapsed {
            self.remove_family(&ft, i);
        }
        let mut next: Option<Instant> = None;
        let mut bump = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        for a in self.allocations.values_mut() {
            a.permissions.retain(|_, e| now < *e);
            let gone: Vec<u16> = a
                .channels
                .iter()
                .filter(|(_, c)| now >= c.expires)
                .map(|(n, _)| *n)
                .collect();
            for n in gone {
                if let Some(c) = a.channels.remove(&n) {
                    a.peer_channels.remove(&c.peer);
                }
            }
            a.families().for_each(|(_, _, e)| bump(e));
            a.permissions.values().for_each(&mut bump);
            a.channels.values().for_each(|c| bump(c.expires));
        }
        let ports = &mut self.ports;
        self.reservations.retain(|_, r| {
            let keep = now < r.expires;
            if !keep {
                ports.release(r.addr);
            }
            keep
        });
        self.reservations.values().for_each(|r| bump(r.expires));
        self.next_timeout = next;
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout
    }

    /// The next datagram to send: its bytes replace the contents of `buf`.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<ServerTransmit> {
        let (t, bytes) = self.queue.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&bytes);
        Some(t)
    }

    fn enqueue(&mut self, t: ServerTransmit, data: &[u8]) {
        self.push_queue(t, data.to_vec());
    }

    fn push_queue(&mut self, t: ServerTransmit, data: Vec<u8>) {
        if self.queue.len() < self.config.max_queued {
            self.queue.push_back((t, data));
        } else {
            self.stats.dropped += 1;
        }
    }

    fn remove_allocation(&mut self, ft: &FiveTuple) {
        let Some(a) = self.allocations.remove_with(ft, |a| a.relayed) else {
            return;
        };
        for r in a.relayed.into_iter().flatten() {
            self.release_relay(r);
        }
        if let Some(n) = self.per_user.get_mut(&a.username) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_user.remove(&a.username);
            }
        }
    }

    /// Ends relayed address `i` of the allocation on `ft` and what used it: its port, the
    /// channels bound through it, the permissions of its family. The other family stays.
    fn remove_family(&mut self, ft: &FiveTuple, i: usize) {
        let Some(alloc) = self.allocations.get_mut(ft) else {
            return;
        };
        let Some(r) = alloc.relayed.get_mut(i).and_then(Option::take) else {
            return;
        };
        let family = AddressFamily::of(&r.ip());
        let peer_channels = &mut alloc.peer_channels;
        alloc.channels.retain(|_, c| {
            let keep = c.relay != r;
            if !keep {
                peer_channels.remove(&c.peer);
            }
            keep
        });
        alloc
            .permissions
            .retain(|ip, _| AddressFamily::of(ip) != family);
        self.allocations.unlink_relay(&r);
        self.release_relay(r);
    }

    /// Gives relayed address `r` back: its port, and its count among the relay IPs.
    fn release_relay(&mut self, r: SocketAddr) {
        if let Some(n) = self.relay_ips.get_mut(&r.ip()) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.relay_ips.remove(&r.ip());
            }
        }
        self.ports.release(r);
    }

    // ----- Answers ------------------------------------------------------------------------

    fn binding_answer(&mut self, ft: FiveTuple, data: &[u8]) {
        let mut out = [0u8; MAX_RESPONSE];
        let Some(r) = self.binding.respond(ft.client, ft.server, data, &mut out) else {
            self.stats.dropped += 1;
            return;
        };
        let Some(bytes) = out.get(..r.len) else {
            return;
        };
        if ft.transport == Transport::Udp && !within_budget(bytes.len(), data.len()) {
            self.stats.amplification_dropped += 1;
            return;
        }
        let t = ServerTransmit {
            from: ft.server,
            to: ft.client,
            via: Via::Listener(ft.transport),
        };
        self.push_queue(t, bytes.to_vec());
    }

    fn cookie(&self) -> Option<NonceCookie> {
        let pa = self.config.password_algorithms;
        let uh = self.config.userhash;
        (pa || uh).then_some(NonceCookie {
            password_algorithms: pa,
            username_anonymity: uh,
            reserved: 0,
        })
    }

    /// Writes an unauthenticated error answer: ERROR-CODE, and for 401/438 REALM, NONCE and
    /// PASSWORD-ALGORITHMS. Over UDP, unauthenticated answers must stay within 2.5× the request:
    /// a 401 first drops the nonce cookie and PASSWORD-ALGORITHMS, then is not sent at all.
    #[allow(clippy::too_many_arguments)]
    fn error(
        &mut self,
        now: Instant,
        ft: FiveTuple,
        msg: &Message<'_>,
        code: u16,
        unknown: &[AttributeType],
        request_len: usize,
        authed: Option<&Authed>,
    ) {
        let mut out = [0u8; MAX_RESPONSE];
        let challenge = matches!(code, codes::UNAUTHENTICATED | codes::STALE_NONCE);
        let mut cookie = if challenge { self.cookie() } else { None };
        let mut fp = msg.has_fingerprint();
        loop {
            let n = self.write_error(now, ft, msg, code, unknown, cookie, fp, authed, &mut out);
            let Some(n) = n else {
                return;
            };
            let budget_ok =
                ft.transport != Transport::Udp || authed.is_some() || within_budget(n, request_len);
            if budget_ok {
                if code == codes::UNAUTHENTICATED {
                    self.stats.challenges += 1;
                }
                let t = ServerTransmit {
                    from: ft.server,
                    to: ft.client,
                    via: Via::Listener(ft.transport),
                };
                let bytes = out.get(..n).unwrap_or_default().to_vec();
                self.push_queue(t, bytes);
                return;
            }
            // Slim down: first FINGERPRINT, then the nonce cookie with PASSWORD-ALGORITHMS
            // (the client then falls back to MD5 and MESSAGE-INTEGRITY, RFC 5389 style).
            if fp {
                fp = false;
                continue;
            }
            if cookie.is_some() {
                cookie = None;
                continue;
            }
            self.stats.amplification_dropped += 1;
            return;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write_error(
        &self,
        now: Instant,
        ft: FiveTuple,
        msg: &Message<'_>,
        code: u16,
        unknown: &[AttributeType],
        cookie: Option<NonceCookie>,
        fp: bool,
        authed: Option<&Authed>,
        out: &mut [u8],
    ) -> Option<usize> {
        let mut w =
            MessageWriter::new(out, Class::Error, msg.method(), msg.transaction_id()).ok()?;
        let ec = if self.config.reason_phrases {
            ErrorCode::with_reason(code)
        } else {
            ErrorCode::bare(code)
        };
        w.push(&ec).ok()?;
        if !unknown.is_empty() {
            w.push(&UnknownAttributes::List(unknown)).ok()?;
        }
        if matches!(code, codes::UNAUTHENTICATED | codes::STALE_NONCE) {
            w.push(&Realm(&self.config.realm)).ok()?;
            let nonce = self.nonces.mint(now, ft.client, ft.transport, cookie);
            w.push(&Nonce(nonce.as_str())).ok()?;
            if cookie.is_some_and(|c| c.password_algorithms) {
                w.push(&PasswordAlgorithms::Raw(&self.pa_value)).ok()?;
            }
        }
        if let Some(sw) = &self.config.software {
            w.push(&Software(sw)).ok()?;
        }
        match authed {
            // RFC 8489 §9.2.4: 400, 401 and 438 answers are never signed; others are when the
            // request was authenticated.
            Some(a)
                if !matches!(
                    code,
                    codes::BAD_REQUEST | codes::UNAUTHENTICATED | codes::STALE_NONCE
                ) =>
            {
                w.finish_with_integrity(&a.key, a.integrity, fp).ok()
            }
            _ => w.finish(fp).ok(),
        }
    }

    fn reject(
        &mut self,
        now: Instant,
        ft: FiveTuple,
        msg: &Message<'_>,
        r: Reject,
        len: usize,
        authed: Option<&Authed>,
    ) {
        match r {
            Reject::Code(c) => self.error(now, ft, msg, c, &[], len, authed),
            Reject::Stale => self.error(now, ft, msg, codes::STALE_NONCE, &[], len, authed),
            Reject::Unknown(list) => {
                self.error(
                    now,
                    ft,
                    msg,
                    codes::UNKNOWN_ATTRIBUTE,
                    list.as_slice(),
                    len,
                    authed,
                );
            }
            Reject::Challenge => {
                // The per-source limit guards against spoofed sources, which only UDP has: a
                // TCP or TLS client proved its address with the handshake, and it never
                // retransmits, so a dropped 401 would leave it waiting forever.
                if ft.transport != Transport::Udp || self.limiter.allow(now, ft.client.ip()) {
                    self.error(now, ft, msg, codes::UNAUTHENTICATED, &[], len, None);
                } else {
                    self.stats.rate_limited += 1;
                }
            }
        }
    }

    /// Writes and queues a signed success response with whatever `attrs` pushes.
    fn success(
        &mut self,
        ft: FiveTuple,
        msg: &Message<'_>,
        a: &Authed,
        attrs: impl FnOnce(&mut MessageWriter<'_>) -> Option<()>,
    ) {
        let mut out = [0u8; MAX_RESPONSE];
        let n = (|| {
            let mut w =
                MessageWriter::new(&mut out, Class::Success, msg.method(), msg.transaction_id())
                    .ok()?;
            attrs(&mut w)?;
            if let Some(sw) = &self.config.software {
                w.push(&Software(sw)).ok()?;
            }
            w.finish_with_integrity(&a.key, a.integrity, msg.has_fingerprint())
                .ok()
        })();
        if let Some(n) = n {
            let t = ServerTransmit {
                from: ft.server,
                to: ft.client,
                via: Via::Listener(ft.transport),
            };
            self.push_queue(t, out.get(..n).unwrap_or_default().to_vec());
        }
    }

    // ----- Authentication (RFC 8489 §9.2.4) -----------------------------------------------

    fn authenticate(
        &self,
        now: Instant,
        ft: FiveTuple,
        msg: &Message<'_>,
    ) -> Result<Authed, Reject> {
        if !msg.has_integrity() && !msg.has_integrity_sha256() {
            return Err(Reject::Challenge);
        }
        let bad = Reject::Code(codes::BAD_REQUEST);
        let username = msg
            .get::<Username<'_>>()
            .map_err(|_| Reject::Code(codes::BAD_REQUEST))?;
        let userhash = msg
            .get::<Userhash>()
            .map_err(|_| Reject::Code(codes::BAD_REQUEST))?;
        let realm = msg
            .get::<Realm<'_>>()
            .map_err(|_| Reject::Code(codes::BAD_REQUEST))?;
        let nonce = msg
            .get::<Nonce<'_>>()
            .map_err(|_| Reject::Code(codes::BAD_REQUEST))?;
        let (Some(realm), Some(nonce)) = (realm, nonce) else {
            return Err(bad);
        };
        if username.is_none() && userhash.is_none() {
            return Err(bad);
        }
        let check = self.nonces.check(now, ft.client, ft.transport, nonce.0);
        let cookie = match check {
            NonceCheck::Valid(c) | NonceCheck::Stale(c) => c,
        };
        // RFC 8489 §9.2.4: with the "password algorithms" bit, PASSWORD-ALGORITHMS must be what
        // we sent and PASSWORD-ALGORITHM one of them; neither means MD5.
        let mut algorithm = PasswordAlgorithmId::MD5;
        if cookie.is_some_and(|c| c.password_algorithms) && self.config.password_algorithms {
            let pas = msg
                .get::<PasswordAlgorithms<'_>>()
                .map_err(|_| Reject::Code(codes::BAD_REQUEST))?;
            let pa = msg
                .get::<PasswordAlgorithm<'_>>()
                .map_err(|_| Reject::Code(codes::BAD_REQUEST))?;
            match (pas, pa) {
                (None, None) => {}
                (Some(PasswordAlgorithms::Raw(list)), Some(pa)) if list == self.pa_value => {
                    if !pa.params.is_empty()
                        || !(pa.algorithm == PasswordAlgorithmId::MD5
                            || pa.algorithm == PasswordAlgorithmId::SHA256)
                    {
                        return Err(bad);
                    }
                    algorithm = pa.algorithm;
                }
                _ => return Err(bad),
            }
        }
        if realm.0 != self.config.realm {
            return Err(Reject::Challenge);
        }
        let name: &str = match (username, userhash) {
            (Some(u), _) => u.0,
            (None, Some(h)) if self.config.userhash => match self.userhashes.get(&h.0) {
                Some(n) => n.as_str(),
                None => return Err(Reject::Challenge),
            },
            _ => return Err(Reject::Challenge),
        };
        let integrity = if msg.has_integrity_sha256() {
            Integrity::Sha256
        } else {
            Integrity::Sha1
        };
        let key = self
            .key_for(name, algorithm, msg)
            .ok_or(Reject::Challenge)?;
        if matches!(check, NonceCheck::Stale(_)) {
            return Err(Reject::Stale);
        }
        Ok(Authed {
            username: name.into(),
            key,
            integrity,
        })
    }

    /// The key `name` signs with, checked against the message: a static user, or a TURN REST
    /// API username that has not expired and whose password one of the secrets derives.
    fn key_for(&self, name: &str, alg: PasswordAlgorithmId, msg: &Message<'_>) -> Option<Key> {
        if let Some(k) = self.users.get(name) {
            let key = if alg == PasswordAlgorithmId::SHA256 {
                &k.sha256
            } else {
                &k.md5
            };
            return msg.verify(key).is_ok().then(|| key.clone());
        }
        let expiry = rest_expiry(name)?;
        let unix_now = self
            .config
            .unix_time
            .saturating_add(self.now.saturating_duration_since(self.epoch).as_secs());
        if expiry <= unix_now {
            return None;
        }
        self.rest.iter().find_map(|mac| {
            let mut mac = mac.clone();
            mac.update(name.as_bytes());
            let password = crate::auth::base64(&mac.finalize().into_bytes());
            let key = Key::long_term(
                name,
                &self.config.realm,
                &password,
                alg,
                Preparation::OpaqueString,
            )
            .ok()?;
            msg.verify(&key).is_ok().then_some(key)
        })
    }

    // ----- Requests -----------------------------------------------------------------------

    fn request(
        &mut self,
        now: Instant,
        ft: FiveTuple,
        msg: &Message<'_>,
        method: Method,
        len: usize,
    ) {
        let authed = match self.authenticate(now, ft, msg) {
            Ok(a) => a,
            Err(r) => return self.reject(now, ft, msg, r, len, None),
        };
        // RFC 8489 §6.3.1: unknown comprehension-required attributes get a 420; so does
        // DONT-FRAGMENT in an Allocate when DF cannot be set (RFC 8656 §7.2).
        let df_unknown = method == Method::ALLOCATE && !self.config.dont_fragment;
        let known = move |t| is_known(t) && !(df_unknown && t == attributes::DONT_FRAGMENT);
        let unknown = msg.unknown_attributes(known);
        let outcome = if !unknown.is_empty() {
            Err(Reject::Unknown(unknown))
        } else {
            match method {
                Method::ALLOCATE => self.allocate(now, ft, msg, &authed),
                Method::REFRESH => self.refresh(now, ft, msg, &authed),
                Method::CREATE_PERMISSION => self.create_permission(now, ft, msg, &authed),
                _ => self.channel_bind(now, ft, msg, &authed),
            }
        };
        if let Err(r) = outcome {
            self.reject(now, ft, msg, r, len, Some(&authed));
        }
    }

    /// The allocation on `ft`, checked to belong to the authenticated user.
    fn owned(&self, now: Instant, ft: &FiveTuple, a: &Authed) -> Result<(), Reject> {
        let alloc = self
            .live_allocation(now, ft)
            .ok_or(Reject::Code(codes::ALLOCATION_MISMATCH))?;
        if *alloc.username != *a.username {
            return Err(Reject::Code(codes::WRONG_CREDENTIALS));
        }
        Ok(())
    }

    fn lifetime(&self, msg: &Message<'_>) -> Result<Duration, Reject> {
        let asked = msg
            .get::<Lifetime>()
            .map_err(|_| Reject::Code(codes::BAD_REQUEST))?;
        let d = self.config.default_lifetime;
        Ok(match asked {
            None => d,
            Some(Lifetime(0)) => Duration::ZERO,
            Some(Lifetime(s)) => Duration::from_secs(u64::from(s))
                .clamp(d.min(self.config.max_lifetime), self.config.max_lifetime),
        })
    }

    fn allocate(
        &mut self,
        now: Instant,
        ft: FiveTuple,
        msg: &Message<'_>,
        a: &Authed,
    ) -> Result<(), Reject> {
        let bad = || Reject::Code(codes::BAD_REQUEST);
        if let Some(existing) = self.allocations.get(&ft) {
            if now < existing.expires() {
                // RFC 8656 §7.2: a retransmission of the request that made the allocation gets
                // the same success again; anything else is 437.
                if existing.created_by == msg.transaction_id() && *existing.username == *a.username
                {
                    let (relayed, token, family_error) = (
                        existing.relayed,
                        existing.reservation_token,
                        existing.family_error,
                    );
                    let left = existing.expires().saturating_duration_since(now);
                    return self.allocate_success(ft, msg, a, relayed, left, token, family_error);
                }
                return Err(Reject::Code(codes::ALLOCATION_MISMATCH));
            }
            // Expired, and its timer has not run yet: it is gone, so free its ports and its
            // place in the quotas before this 5-tuple gets a new one.
            self.remove_allocation(&ft);
        }
        match msg.get::<RequestedTransport>().map_err(|_| bad())? {
            None => return Err(bad()),
            Some(RequestedTransport::UDP) => {}
            Some(_) => return Err(Reject::Code(codes::UNSUPPORTED_TRANSPORT)),
        }
        // DONT-FRAGMENT in an Allocate only asks whether the server can set DF (RFC 8656
        // §18.8): it can, or the attribute would have been answered 420 as unknown.
        msg.get::<DontFragment>().map_err(|_| bad())?;
        let token = msg.get::<ReservationToken>().map_err(|_| bad())?;
        let even = msg.get::<EvenPort>().map_err(|_| bad())?;
        let requested = msg.get::<RequestedAddressFamily>().map_err(|_| bad())?;
        let additional = msg.get::<AdditionalAddressFamily>().map_err(|_| bad())?;
        if token.is_some() && (even.is_some() || requested.is_some() || additional.is_some()) {
            return Err(bad());
        }
        if requested.is_some() && additional.is_some() {
            return Err(bad());
        }
        // RFC 8656 §7.2: a reservation of the next port is for one address family only.
        if additional.is_some() && even.is_some_and(|e| e.reserve) {
            return Err(bad());
        }
        if additional.is_some_and(|f| f.0 != AddressFamily::V6) {
            return Err(bad());
        }
        // RFC 8656 §7.2: a LIFETIME below the default, 0 included, gets the default (only a
        // Refresh deletes with 0).
        let lifetime = match self.lifetime(msg)? {
            Duration::ZERO => self.config.default_lifetime,
            l => l,
        };
        let user_count = self.per_user.get(&a.username).copied().unwrap_or(0);
        if user_count >= self.config.user_quota {
            return Err(Reject::Code(codes::ALLOCATION_QUOTA_REACHED));
        }
        if self.allocations.len() >= self.config.total_quota {
            return Err(Reject::Code(codes::INSUFFICIENT_CAPACITY));
        }
        let mut new_token = None;
        let primary = if let Some(ReservationToken(t)) = token {
            let r = self
                .reservations
                .remove(&t)
                .ok_or(Reject::Code(codes::INSUFFICIENT_CAPACITY))?;
            if now >= r.expires {
                // Expired before its timer ran: its port goes back to the pool here.
                self.ports.release(r.addr);
                return Err(Reject::Code(codes::INSUFFICIENT_CAPACITY));
            }
            r.addr
        } else {
            let family = requested.map_or(AddressFamily::V4, |f| f.0);
            let port_err = |e| match e {
                PortError::FamilyUnsupported => Reject::Code(codes::ADDRESS_FAMILY_NOT_SUPPORTED),
                PortError::Exhausted => Reject::Code(codes::INSUFFICIENT_CAPACITY),
            };
            match even {
                Some(EvenPort { reserve: true }) => {
                    if self.reservations.len() >= self.config.total_quota {
                        return Err(Reject::Code(codes::INSUFFICIENT_CAPACITY));
                    }
                    // A user who deletes each allocation at once must not pile up reservations
                    // past the allocations it may hold.
                    let held = self
                        .reservations
                        .values()
                        .filter(|r| r.owner == a.username)
                        .count();
                    if held >= self.config.user_quota {
                        return Err(Reject::Code(codes::ALLOCATION_QUOTA_REACHED));
                    }
                    let mut got = None;
                    for _ in 0..8 {
                        let p = self.ports.allocate(family, true).map_err(port_err)?;
                        let next = SocketAddr::new(p.ip(), p.port().wrapping_add(1));
                        if p.port() < u16::MAX && self.ports.reserve(next) {
                            got = Some((p, next));
                            break;
                        }
                        self.ports.release(p);
                    }
                    let (p, next) = got.ok_or(Reject::Code(codes::INSUFFICIENT_CAPACITY))?;
                    let mut t = [0u8; 8];
                    self.rng.fill_bytes(&mut t);
                    let expires = now + RESERVATION_LIFETIME;
                    self.reservations.insert(
                        t,
                        Reservation {
                            addr: next,
                            expires,
                            owner: a.username.clone(),
                        },
                    );
                    self.schedule(expires);
                    new_token = Some(t);
                    p
                }
                Some(EvenPort { reserve: false }) => {
                    self.ports.allocate(family, true).map_err(port_err)?
                }
                None => self.ports.allocate(family, false).map_err(port_err)?,
            }
        };
        // RFC 8656 §7.2: when the additional IPv6 address cannot be had, the allocation still
        // succeeds with the IPv4 one and an ADDRESS-ERROR-CODE.
        let mut family_error = None;
        let second = match additional {
            Some(_) => match self.ports.allocate(AddressFamily::V6, false) {
                Ok(addr) => Some(addr),
                Err(PortError::FamilyUnsupported) => {
                    family_error = Some(codes::ADDRESS_FAMILY_NOT_SUPPORTED);
                    None
                }
                Err(PortError::Exhausted) => {
                    family_error = Some(codes::INSUFFICIENT_CAPACITY);
                    None
                }
            },
            None => None,
        };
        let relayed = [Some(primary), second];
        for r in relayed.into_iter().flatten() {
            *self.relay_ips.entry(r.ip()).or_insert(0) += 1;
        }
        let expires = now + lifetime;
        let bucket = Bucket {
            milli_bytes: self
                .config
                .bandwidth
                .map_or(0, |b| u128::from(b.burst) * 1000),
            at: now,
        };
        // Both relayed addresses (the primary twice when there is one), without allocating.
        let relays = [primary, second.unwrap_or(primary)];
        self.allocations.insert(
            ft,
            &relays,
            Allocation {
                username: a.username.clone(),
                created_by: msg.transaction_id(),
                reservation_token: new_token,
                family_error,
                relayed,
                expires: [expires; 2],
                permissions: Permissions::default(),
                channels: BTreeMap::new(),
                peer_channels: BTreeMap::new(),
                bucket,
            },
        );
        *self.per_user.entry(a.username.clone()).or_insert(0) += 1;
        self.schedule(expires);
        self.allocate_success(ft, msg, a, relayed, lifetime, new_token, family_error)
    }

    #[allow(clippy::too_many_arguments)]
    fn allocate_success(
        &mut self,
        ft: FiveTuple,
        msg: &Message<'_>,
        a: &Authed,
        relayed: [Option<SocketAddr>; 2],
        lifetime: Duration,
        token: Option<[u8; 8]>,
        family_error: Option<u16>,
    ) -> Result<(), Reject> {
        let secs = u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX);
        self.success(ft, msg, a, |w| {
            for r in relayed.into_iter().flatten() {
                w.push(&XorRelayedAddress(r)).ok()?;
            }
            w.push(&Lifetime(secs)).ok()?;
            if let Some(t) = token {
                w.push(&ReservationToken(t)).ok()?;
            }
            w.push(&XorMappedAddress(ft.client)).ok()?;
            if let Some(code) = family_error {
                w.push(&AddressErrorCode {
                    family: AddressFamily::V6,
                    code,
                    reason: "",
                })
                .ok()?;
            }
            Some(())
        });
        Ok(())
    }

    fn refresh(
        &mut self,
        now: Instant,
        ft: FiveTuple,
        msg: &Message<'_>,
        a: &Authed,
    ) -> Result<(), Reject> {
        self.owned(now, &ft, a)?;
        let lifetime = self.lifetime(msg)?;
        // RFC 8656 §7.1: REQUESTED-ADDRESS-FAMILY names the one family of a dual allocation
        // to refresh (or delete); without it, the request applies to every relayed address.
        let family = msg
            .get::<RequestedAddressFamily>()
            .map_err(|_| Reject::Code(codes::BAD_REQUEST))?;
        let named = |r: SocketAddr| family.is_none_or(|f| AddressFamily::of(&r.ip()) == f.0);
        let (chosen, others_stay) = self.allocations.get(&ft).map_or((Vec::new(), false), |al| {
            let chosen: Vec<usize> = al
                .families()
                .filter(|&(_, r, _)| named(r))
                .map(|(i, _, _)| i)
                .collect();
            (chosen, al.families().any(|(_, r, _)| !named(r)))
        });
        if chosen.is_empty() {
            return Err(Reject::Code(codes::PEER_ADDRESS_FAMILY_MISMATCH));
        }
        if lifetime.is_zero() && !others_stay {
            self.remove_allocation(&ft);
        } else if lifetime.is_zero() {
            for i in chosen {
                self.remove_family(&ft, i);
            }
        } else if let Some(al) = self.allocations.get_mut(&ft) {
            let e = now + lifetime;
            for i in chosen {
                if let Some(x) = al.expires.get_mut(i) {
                    *x = e;
                }
            }
            self.schedule(e);
        }
        let secs = u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX);
        self.success(ft, msg, a, |w| w.push(&Lifetime(secs)).ok());
        Ok(())
    }

    /// Checks a peer address against the allocation's families and the policy. `Ok(true)`
    /// means the peer is another allocation's relayed address that only that fact makes
    /// reachable (see [`Self::peer_target`]). With `by_ip` (CreatePermission, which installs a
    /// permission for the IP whatever the port), a peer given with port 0 may also be an IP
    /// that holds relayed addresses and that the policy refuses only for being the server's
    /// own: each datagram's full address is checked when it is sent. A special-purpose IP
    /// (loopback, private ...) stays refused unless allowed, relays on it or not.
    fn check_peer_address(
        &self,
        now: Instant,
        ft: &FiveTuple,
        peer: SocketAddr,
        by_ip: bool,
    ) -> Result<bool, Reject> {
        let alloc = self
            .allocations
            .get(ft)
            .ok_or(Reject::Code(codes::ALLOCATION_MISMATCH))?;
        if alloc.relayed_for(now, peer.ip()).is_none() {
            return Err(Reject::Code(codes::PEER_ADDRESS_FAMILY_MISMATCH));
        }
        match self.peer_target(alloc, peer) {
            Some(to_relay) => Ok(to_relay),
            None if by_ip
                && peer.port() == 0
                && self.relay_ips.contains_key(&peer.ip())
                && self.policy.denies_only_as_own(peer.ip()) =>
            {
                Ok(true)
            }
            None => Err(Reject::Code(codes::FORBIDDEN)),
        }
    }

    /// Whether `alloc` may relay to `peer`: `Some(false)` when the policy permits it,
    /// `Some(true)` when it is the relayed address of another allocation on this server (as
    /// coturn does, clients of one server reach each other's relayed addresses, whatever the
    /// policy says about the server's own IPs), `None` when refused. A listening address and
    /// the allocation's own relayed addresses are always refused.
    fn peer_target(&self, alloc: &Allocation, peer: SocketAddr) -> Option<bool> {
        if self.config.listen.contains(&peer) || alloc.relayed.contains(&Some(peer)) {
            return None;
        }
        if self.policy.permits(peer.ip()) {
            return Some(false);
        }
        self.allocations.is_relay(&peer).then_some(true)
    }

    fn create_permission(
        &mut self,
        now: Instant,
        ft: FiveTuple,
        msg: &Message<'_>,
        a: &Authed,
    ) -> Result<(), Reject> {
        self.owned(now, &ft, a)?;
        let tid = msg.transaction_id();
        let mut peers: [Option<IpAddr>; 8] = [None; 8];
        let mut n = 0;
        for raw in msg
            .attributes()
            .filter(|r| r.attr_type == attributes::XOR_PEER_ADDRESS)
        {
            use icebreaker_stun::attributes::Attribute as _;
            let p = XorPeerAddress::decode(raw.value, &tid)
                .map_err(|_| Reject::Code(codes::BAD_REQUEST))?;
            // A permission is by IP: whether each datagram's port is allowed is checked when
            // it is sent (`send_indication`, `channel_bind`).
            self.check_peer_address(now, &ft, p.0, true)?;
            // At most 8 peers per request (bounded work); more is a bad request.
            *peers.get_mut(n).ok_or(Reject::Code(codes::BAD_REQUEST))? = Some(p.0.ip());
            n += 1;
        }
        if n == 0 {
            return Err(Reject::Code(codes::BAD_REQUEST));
        }
        let max = self.config.max_permissions;
        let alloc = self
            .allocations
            .get_mut(&ft)
            .ok_or(Reject::Code(codes::ALLOCATION_MISMATCH))?;
        alloc.permissions.retain(|_, e| now < *e);
        let new = peers
            .iter()
            .flatten()
            .filter(|p| !alloc.permissions.contains_key(p))
            .count();
        if alloc.permissions.len() + new > max {
            return Err(Reject::Code(codes::INSUFFICIENT_CAPACITY));
        }
        let expires = now + PERMISSION_LIFETIME;
        for p in peers.into_iter().flatten() {
            alloc.permissions.insert(p, expires);
        }
        self.schedule(expires);
        self.success(ft, msg, a, |_| Some(()));
        Ok(())
    }

    fn channel_bind(
        &mut self,
        now: Instant,
        ft: FiveTuple,
        msg: &Message<'_>,
        a: &Authed,
    ) -> Result<(), Reject> {
        let bad = || Reject::Code(codes::BAD_REQUEST);
        self.owned(now, &ft, a)?;
        let ch = msg
            .get::<ChannelNumber>()
            .map_err(|_| bad())?
            .ok_or_else(bad)?
            .0;
        let peer = msg
            .get::<XorPeerAddress>()
            .map_err(|_| bad())?
            .ok_or_else(bad)?
            .0;
        if !CHANNEL_RANGE.contains(&ch) {
            return Err(bad());
        }
        let (max_ch, max_perm) = (self.config.max_channels, self.config.max_permissions);
        {
            let alloc = self
                .allocations
                .get(&ft)
                .ok_or(Reject::Code(codes::ALLOCATION_MISMATCH))?;
            // RFC 8656 §11.2: the channel bound to another peer, or the peer bound to another
            // channel, is a 400.
            if alloc.channel_peer(now, ch).is_some_and(|p| p != peer)
                || alloc.channel_of(now, peer).is_some_and(|c| c != ch)
            {
                return Err(bad());
            }
        }
        let to_relay = self.check_peer_address(now, &ft, peer, false)?;
        let alloc = self
            .allocations
            .get_mut(&ft)
            .ok_or(Reject::Code(codes::ALLOCATION_MISMATCH))?;
        // Forget expired bindings of this number or peer before installing.
        if let Some(old) = alloc
            .channels
            .get(&ch)
            .filter(|c| now >= c.expires)
            .map(|c| c.peer)
        {
            alloc.channels.remove(&ch);
            alloc.peer_channels.remove(&old);
        }
        if let Some(old) = alloc
            .peer_channels
            .get(&peer)
            .copied()
            .filter(|c| alloc.channel_peer(now, *c).is_none())
        {
            alloc.peer_channels.remove(&peer);
            alloc.channels.remove(&old);
        }
        if !alloc.channels.contains_key(&ch) && alloc.channels.len() >= max_ch {
            return Err(Reject::Code(codes::INSUFFICIENT_CAPACITY));
        }
        alloc.permissions.retain(|_, e| now < *e);
        if !alloc.permissions.contains_key(&peer.ip()) && alloc.permissions.len() >= max_perm {
            return Err(Reject::Code(codes::INSUFFICIENT_CAPACITY));
        }
        let expires = now + CHANNEL_LIFETIME;
        let Some(relay) = alloc.relayed_for(now, peer.ip()) else {
            return Err(Reject::Code(codes::PEER_ADDRESS_FAMILY_MISMATCH));
        };
        alloc.channels.insert(
            ch,
            Channel {
                peer,
                relay,
                expires,
                to_relay,
            },
        );
        alloc.peer_channels.insert(peer, ch);
        // RFC 8656 §11.2: binding a channel installs or refreshes the permission for the peer.
        let perm = now + PERMISSION_LIFETIME;
        alloc.permissions.insert(peer.ip(), perm);
        self.schedule(perm);
        self.success(ft, msg, a, |_| Some(()));
        Ok(())
    }

    fn send_indication(&mut self, now: Instant, ft: FiveTuple, msg: &Message<'_>) {
        // RFC 8656 §10.2: anything wrong with a Send indication means a silent drop.
        let (Ok(Some(XorPeerAddress(peer))), Ok(Some(Data(data)))) =
            (msg.get::<XorPeerAddress>(), msg.get::<Data<'_>>())
        else {
            self.stats.dropped += 1;
            return;
        };
        // RFC 8489 §6.3.2: an indication with an unknown comprehension-required attribute is
        // discarded.
        if msg
            .unknown_comprehension_required(is_known)
            .next()
            .is_some()
        {
            self.stats.dropped += 1;
            return;
        }
        let df_asked = msg.has(attributes::DONT_FRAGMENT);
        // RFC 8656 §11.2: DF asked for and impossible: the indication is dropped.
        if df_asked && !self.config.dont_fragment {
            self.stats.dropped += 1;
            return;
        }
        let bw = self.config.bandwidth;
        let allowed = self
            .allocations
            .get(&ft)
            .is_some_and(|alloc| self.peer_target(alloc, peer).is_some());
        let target = self.allocations.get_mut(&ft).and_then(|alloc| {
            let relay = alloc.relayed_for(now, peer.ip())?;
            let ok = allowed && alloc.permitted(now, peer.ip());
            (ok && alloc.take_tokens(now, bw, data.len())).then_some(relay)
        });
        match target {
            Some(relay) => {
                self.stats.relayed += 1;
                self.stats.relayed_bytes += data.len() as u64;
                let t = ServerTransmit {
                    from: relay,
                    to: peer,
                    via: Via::Relay {
                        dont_fragment: df_asked,
                    },
                };
                self.enqueue(t, data);
            }
            _ => self.stats.dropped += 1,
        }
    }
}

/// Whether an answer of `out` bytes to a request of `inp` bytes stays within the 2.5× budget.
fn within_budget(out: usize, inp: usize) -> bool {
    out * AMPLIFICATION.1 <= inp * AMPLIFICATION.0
}
