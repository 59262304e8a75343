//! The TURN client (RFC 8656, with RFC 6156 folded in), sans-IO.

use core::fmt;
use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use icebreaker_stun::attributes::{
    self, AdditionalAddressFamily, AddressErrorCode, AddressFamily, AlternateServer, Attribute,
    ChannelNumber, Data, DontFragment, ErrorCode, EvenPort, Lifetime, Nonce, PasswordAlgorithm,
    PasswordAlgorithmId, PasswordAlgorithms, Realm, RequestedAddressFamily, RequestedTransport,
    ReservationToken, Software, UnknownAttributes, Userhash, Username, XorMappedAddress,
    XorPeerAddress, XorRelayedAddress, codes,
};
use icebreaker_stun::integrity::{Key, NonceCookie, Preparation};
use icebreaker_stun::transaction::{
    ClientTransaction, ResponseFault, TransactionConfig, TransactionState,
};
use icebreaker_stun::{
    CHANNEL_RANGE, ChannelData, Class, Integrity, Message, MessageWriter, Method, TransactionId,
    Transmit,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::Transport;
use crate::policy::PeerPolicy;

/// Largest request the client writes.
const MAX_REQUEST: usize = 1280;
/// Requests in flight at most.
pub const MAX_PENDING: usize = 64;
/// Permissions the client keeps at most.
pub const MAX_PERMISSIONS: usize = 256;
/// Channels the client keeps at most (the number range holds 4096).
pub const MAX_CHANNELS: usize = 256;
/// Datagrams queued for `poll_transmit` at most.
pub const MAX_QUEUED_SENDS: usize = 256;
/// Permissions are refreshed this long after they were installed (they last 300 s).
pub const PERMISSION_REFRESH: Duration = Duration::from_secs(240);
/// Channels are refreshed this long after they were bound (they last 600 s).
pub const CHANNEL_REFRESH: Duration = Duration::from_secs(540);
/// 438 answers tolerated in a row for one request.
const MAX_STALE: u8 = 3;
/// 300 answers followed at most.
const MAX_REDIRECTS: u8 = 2;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Our local address (the source of what we send).
    pub local: SocketAddr,
    /// The TURN server.
    pub server: SocketAddr,
    /// How we reach the server. Streams get one send per request and padded ChannelData.
    pub transport: Transport,
    /// Long-term credential username.
    pub username: String,
    /// Long-term credential password.
    pub password: String,
    /// Seed of the client's RNG (transaction ids).
    pub rng_seed: [u8; 32],
    /// REQUESTED-ADDRESS-FAMILY: the family of the relayed address (IPv4 when `None`).
    pub requested_family: Option<AddressFamily>,
    /// ADDITIONAL-ADDRESS-FAMILY: also ask for an IPv6 relayed address.
    pub additional_ipv6: bool,
    /// EVEN-PORT; `Some(true)` also reserves the next port (a RESERVATION-TOKEN comes back).
    pub even_port: Option<bool>,
    /// RESERVATION-TOKEN from an earlier EVEN-PORT allocation.
    pub reservation_token: Option<[u8; 8]>,
    /// DONT-FRAGMENT in the Allocate request (is DF supported?) and in every Send indication
    /// (relay this with the DF bit set). A server that cannot set DF answers the Allocate with
    /// 420 (Unknown Attribute), which fails it unless `dont_fragment_fallback` is set.
    /// ChannelData cannot ask: it leaves the relay with DF clear (RFC 8656 §14), so data that
    /// must not be fragmented goes as Send indications (no channel bound to that peer).
    pub dont_fragment: bool,
    /// With `dont_fragment`: when the server answers the Allocate with an authenticated 420
    /// that lists DONT-FRAGMENT among the attributes it does not know, allocate again without it
    /// (RFC 8656 §7.4 allows the retry) and report [`Event::DontFragmentRefused`]; Send
    /// indications then go without it ([`Client::dont_fragment`] turns false). Off by
    /// default: a caller that needs DF learns the server cannot, from the failed Allocate.
    pub dont_fragment_fallback: bool,
    /// LIFETIME to ask for; the server's default when `None`.
    pub lifetime: Option<Duration>,
    /// Send USERHASH instead of USERNAME when the server offers it.
    pub use_userhash: bool,
    /// SOFTWARE in requests; none by default.
    pub software: Option<String>,
    /// Where a 300 (Try Alternate) may send us: special-purpose ranges are refused by default.
    pub alternate_policy: PeerPolicy,
    /// Retransmission settings (made reliable automatically over TCP and TLS).
    pub transaction: TransactionConfig,
}

impl ClientConfig {
    /// A configuration with the defaults for everything but addresses and credentials.
    pub fn new(local: SocketAddr, server: SocketAddr, username: &str, password: &str) -> Self {
        Self {
            local,
            server,
            transport: Transport::Udp,
            username: username.into(),
            password: password.into(),
            rng_seed: [0; 32],
            requested_family: None,
            additional_ipv6: false,
            even_port: None,
            reservation_token: None,
            dont_fragment: false,
            dont_fragment_fallback: false,
            lifetime: None,
            use_userhash: false,
            software: None,
            alternate_policy: PeerPolicy::new(),
            transaction: TransactionConfig::default(),
        }
    }
}

/// What a datagram handed to [`Client::handle_receive`] was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received<'a> {
    /// A TURN message for this client, consumed.
    Handled,
    /// Not from our server, not TURN, or a response to none of our requests (a late
    /// retransmission, or the answer to another client's request sharing the socket and the
    /// server, such as a STUN Binding request): the caller should try another consumer.
    NotForUs,
    /// Data from a peer (Data indication or ChannelData), borrowed from the datagram.
    PeerData {
        /// The peer.
        peer: SocketAddr,
        /// The payload.
        data: &'a [u8],
    },
}

/// What a request was for, in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Allocate.
    Allocate,
    /// Refresh (including delete).
    Refresh,
    /// Deleting one family of a dual allocation (Refresh with REQUESTED-ADDRESS-FAMILY and
    /// LIFETIME 0, RFC 8656 §7.1).
    DeleteFamily(AddressFamily),
    /// CreatePermission for this peer IP.
    CreatePermission(IpAddr),
    /// ChannelBind of this channel to this peer.
    ChannelBind(u16, SocketAddr),
}

/// Something that happened.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The allocation exists.
    Allocated {
        /// Relayed addresses (one, or IPv4 and IPv6).
        relayed: Vec<SocketAddr>,
        /// Our address as the server saw it.
        mapped: Option<SocketAddr>,
        /// Lifetime granted.
        lifetime: Duration,
        /// RESERVATION-TOKEN, when EVEN-PORT reserved the next port.
        reservation_token: Option<[u8; 8]>,
        /// ADDRESS-ERROR-CODE for the additional family, if it was refused.
        additional_family_error: Option<u16>,
    },
    /// A Refresh succeeded.
    Refreshed {
        /// New lifetime.
        lifetime: Duration,
    },
    /// The allocation was deleted (LIFETIME 0 accepted).
    Deleted,
    /// One family of a dual allocation was deleted; the other goes on.
    FamilyDeleted(AddressFamily),
    /// A permission is installed.
    PermissionCreated(IpAddr),
    /// A channel is bound.
    ChannelBound {
        /// The peer.
        peer: SocketAddr,
        /// The channel number.
        channel: u16,
    },
    /// The server answered the Allocate's DONT-FRAGMENT with 420 (Unknown Attribute): it
    /// cannot relay with the DF bit set. With [`ClientConfig::dont_fragment_fallback`] the
    /// Allocate goes again without it, and Send indications stop asking for DF.
    DontFragmentRefused,
    /// A 300 (Try Alternate) was followed.
    Redirected {
        /// The new server.
        to: SocketAddr,
    },
    /// A request failed: with the server's error code, or `None` after a timeout or a response
    /// that fails it (an unknown comprehension-required attribute, an error without ERROR-CODE:
    /// RFC 8489 §6.3).
    Failed {
        /// Which request.
        operation: Operation,
        /// The error code (e.g. 403), `None` when the server never answered (or answered
        /// without one).
        code: Option<u16>,
    },
}

/// Misuse of the client API (never caused by the network).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// There is no allocation (yet, or any more).
    NotAllocated,
    /// No permission was asked for this peer.
    NoPermission,
    /// The permission, channel or pending-request limit is reached.
    TooMany,
    /// Every channel number is taken.
    ChannelsExhausted,
    /// The caller's buffer is too small.
    BufferTooSmall,
    /// The payload does not fit in one message.
    PayloadTooLarge,
    /// The allocation has no relayed address of that family, or it is its only one (delete
    /// the allocation instead).
    NotOneOfTwoFamilies,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAllocated => "no allocation",
            Self::NoPermission => "no permission for this peer",
            Self::TooMany => "too many permissions, channels or pending requests",
            Self::ChannelsExhausted => "no free channel number",
            Self::BufferTooSmall => "buffer too small",
            Self::PayloadTooLarge => "payload too large",
            Self::NotOneOfTwoFamilies => {
                "the allocation does not have this family beside another one"
            }
        })
    }
}

impl std::error::Error for Error {}

/// Where the client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Nothing asked yet.
    Idle,
    /// Allocate in flight.
    Allocating,
    /// The allocation exists.
    Allocated,
    /// Delete in flight.
    Deleting,
    /// Deleted, failed or expired: nothing more happens.
    Closed,
}

#[derive(Clone)]
struct Creds {
    realm: String,
    nonce: String,
    key: Key,
    algorithm: Option<PasswordAlgorithmId>,
    offered: Option<Vec<u8>>,
    integrity: Integrity,
    userhash: Option<[u8; 32]>,
}

#[derive(Debug)]
struct Pending {
    op: Operation,
    lifetime: Option<u32>,
    tx: ClientTransaction,
    signed: bool,
    stale: u8,
}

#[derive(Debug, Clone, Copy)]
struct Perm {
    refresh_at: Option<Instant>,
    confirmed: bool,
}

#[derive(Debug, Clone, Copy)]
struct Chan {
    number: u16,
    refresh_at: Option<Instant>,
    confirmed: bool,
}

/// The TURN client state machine.
pub struct Client {
    config: ClientConfig,
    rng: ChaCha20Rng,
    state: State,
    creds: Option<Creds>,
    pending: Vec<Pending>,
    relayed: Vec<SocketAddr>,
    mapped: Option<SocketAddr>,
    refresh_at: Option<Instant>,
    permissions: BTreeMap<IpAddr, Perm>,
    channels: BTreeMap<SocketAddr, Chan>,
    by_number: BTreeMap<u16, SocketAddr>,
    next_channel: u16,
    redirects: u8,
    /// This server answered DONT-FRAGMENT with 420 (and the fallback is on).
    dont_fragment_refused: bool,
    queue: VecDeque<(Transmit, Vec<u8>)>,
    events: VecDeque<Event>,
    now: Option<Instant>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.config.server)
            .field("state", &self.state)
            .field("relayed", &self.relayed)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client; nothing is sent until [`allocate`](Self::allocate).
    pub fn new(mut config: ClientConfig) -> Self {
        if config.transport != Transport::Udp {
            config.transaction.reliable = true;
        }
        Self {
            rng: ChaCha20Rng::from_seed(config.rng_seed),
            config,
            state: State::Idle,
            creds: None,
            pending: Vec::new(),
            relayed: Vec::new(),
            mapped: None,
            refresh_at: None,
            permissions: BTreeMap::new(),
            channels: BTreeMap::new(),
            by_number: BTreeMap::new(),
            next_channel: *CHANNEL_RANGE.start(),
            dont_fragment_refused: false,
            redirects: 0,
            queue: VecDeque::new(),
            events: VecDeque::new(),
            now: None,
        }
    }

    /// Whether the Allocate and Send indications carry DONT-FRAGMENT: the configured value,
    /// unless the server cannot set DF and the client fell back
    /// ([`ClientConfig::dont_fragment_fallback`]).
    pub fn dont_fragment(&self) -> bool {
        self.config.dont_fragment && !self.dont_fragment_refused
    }

    /// Where the client stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// The server currently used (it changes after a followed 300).
    pub fn server(&self) -> SocketAddr {
        self.config.server
    }

    /// How the server is reached.
    pub fn transport(&self) -> Transport {
        self.config.transport
    }

    /// The relayed addresses, once allocated.
    pub fn relayed_addresses(&self) -> &[SocketAddr] {
        &self.relayed
    }

    /// Our address as the server saw it, once allocated.
    pub fn mapped_address(&self) -> Option<SocketAddr> {
        self.mapped
    }

    /// The channel bound (confirmed) to `peer`.
    pub fn channel(&self, peer: SocketAddr) -> Option<u16> {
        self.channels
            .get(&peer)
            .filter(|c| c.confirmed)
            .map(|c| c.number)
    }

    fn clock(&mut self, now: Instant) -> Instant {
        let now = self.now.map_or(now, |n| n.max(now));
        self.now = Some(now);
        now
    }

    /// Starts the allocation.
    pub fn allocate(&mut self, now: Instant) {
        let now = self.clock(now);
        if self.state == State::Idle {
            self.state = State::Allocating;
            self.start(now, Operation::Allocate, None);
        }
    }

    /// Deletes the allocation (Refresh with LIFETIME 0).
    pub fn delete(&mut self, now: Instant) -> Result<(), Error> {
        let now = self.clock(now);
        if self.state != State::Allocated {
            return Err(Error::NotAllocated);
        }
        self.state = State::Deleting;
        self.refresh_at = None;
        self.start(now, Operation::Refresh, Some(0));
        Ok(())
    }

    /// Deletes the `family` side of a dual allocation (RFC 8656 §7.1): its relayed address, and
    /// the permissions and channels to peers of that family, go; the other family keeps
    /// relaying and is refreshed alone from then on. [`Event::FamilyDeleted`] follows.
    ///
    /// # Errors
    /// [`Error::NotAllocated`] before the allocation exists; [`Error::NotOneOfTwoFamilies`]
    /// unless the allocation has two relayed addresses, one of `family`.
    pub fn delete_family(&mut self, now: Instant, family: AddressFamily) -> Result<(), Error> {
        let now = self.clock(now);
        if self.state != State::Allocated {
            return Err(Error::NotAllocated);
        }
        let has = |f| self.relayed.iter().any(|a| AddressFamily::of(&a.ip()) == f);
        if self.relayed.len() != 2 || !has(family) {
            return Err(Error::NotOneOfTwoFamilies);
        }
        if self.pending.len() >= MAX_PENDING {
            return Err(Error::TooMany);
        }
        self.start(now, Operation::DeleteFamily(family), Some(0));
        Ok(())
    }

    /// Asks for a permission for `peer` (kept fresh until the allocation ends).
    pub fn create_permission(&mut self, now: Instant, peer: IpAddr) -> Result<(), Error> {
        let now = self.clock(now);
        if self.state != State::Allocated {
            return Err(Error::NotAllocated);
        }
        if self.permissions.contains_key(&peer) {
            return Ok(());
        }
        if self.permissions.len() >= MAX_PERMISSIONS || self.pending.len() >= MAX_PENDING {
            return Err(Error::TooMany);
        }
        self.permissions.insert(
            peer,
            Perm {
                refresh_at: None,
                confirmed: false,
            },
        );
        self.start(now, Operation::CreatePermission(peer), None);
        Ok(())
    }

    /// Binds a channel to `peer` (kept fresh); returns its number.
    pub fn bind_channel(&mut self, now: Instant, peer: SocketAddr) -> Result<u16, Error> {
        let now = self.clock(now);
        if self.state != State::Allocated {
            return Err(Error::NotAllocated);
        }
        if let Some(c) = self.channels.get(&peer) {
            return Ok(c.number);
        }
        if self.channels.len() >= MAX_CHANNELS || self.pending.len() >= MAX_PENDING {
            return Err(Error::TooMany);
        }
        let span = CHANNEL_RANGE.end() - CHANNEL_RANGE.start() + 1;
        let number = (0..span)
            .map(|i| CHANNEL_RANGE.start() + (self.next_channel - CHANNEL_RANGE.start() + i) % span)
            .find(|n| !self.by_number.contains_key(n))
            .ok_or(Error::ChannelsExhausted)?;
        self.next_channel = if number == *CHANNEL_RANGE.end() {
            *CHANNEL_RANGE.start()
        } else {
            number + 1
        };
        self.channels.insert(
            peer,
            Chan {
                number,
                refresh_at: None,
                confirmed: false,
            },
        );
        self.by_number.insert(number, peer);
        // The channel binding also installs the permission on the server; track it as ours.
        self.permissions.entry(peer.ip()).or_insert(Perm {
            refresh_at: None,
            confirmed: false,
        });
        self.start(now, Operation::ChannelBind(number, peer), None);
        Ok(number)
    }

    /// Queues `data` for `peer`: as ChannelData when a channel is bound, else as a Send
    /// indication. A permission (or channel) must have been asked for first.
    pub fn send_to(&mut self, peer: SocketAddr, data: &[u8]) -> Result<(), Error> {
        if self.queue.len() >= MAX_QUEUED_SENDS {
            return Err(Error::TooMany);
        }
        let mut buf = vec![0u8; data.len() + 64];
        let (t, n) = self.send_into(peer, data, &mut buf)?;
        buf.truncate(n);
        self.queue.push_back((t, buf));
        Ok(())
    }

    /// Writes `data` for `peer` into `out` without allocating (ChannelData when a channel is
    /// bound, else a Send indication) and says where to send it.
    pub fn send_into(
        &mut self,
        peer: SocketAddr,
        data: &[u8],
        out: &mut [u8],
    ) -> Result<(Transmit, usize), Error> {
        if self.state != State::Allocated {
            return Err(Error::NotAllocated);
        }
        if !self.permissions.contains_key(&peer.ip()) {
            return Err(Error::NoPermission);
        }
        let t = Transmit {
            from: self.config.local,
            to: self.config.server,
        };
        if let Some(ch) = self.channel(peer) {
            let n = ChannelData::encode(ch, data, self.config.transport != Transport::Udp, out)
                .map_err(|e| match e {
                    icebreaker_stun::EncodeError::BufferTooSmall { .. } => Error::BufferTooSmall,
                    _ => Error::PayloadTooLarge,
                })?;
            return Ok((t, n));
        }
        let mut tid = [0u8; 12];
        rand_core::Rng::fill_bytes(&mut self.rng, &mut tid);
        let map = |e| match e {
            icebreaker_stun::EncodeError::BufferTooSmall { .. } => Error::BufferTooSmall,
            _ => Error::PayloadTooLarge,
        };
        let mut w = MessageWriter::new(
            out,
            Class::Indication,
            Method::SEND,
            TransactionId::new(tid),
        )
        .map_err(map)?;
        w.push(&XorPeerAddress(peer)).map_err(map)?;
        if self.dont_fragment() {
            w.push(&DontFragment).map_err(map)?;
        }
        w.push(&Data(data)).map_err(map)?;
        Ok((t, w.finish(false).map_err(map)?))
    }

    fn start(&mut self, now: Instant, op: Operation, lifetime: Option<u32>) {
        let tx = (self.pending.len() < MAX_PENDING)
            .then(|| self.build(op, lifetime))
            .flatten()
            .and_then(|(bytes, signed)| {
                let tx =
                    ClientTransaction::new(now, self.config.server, bytes, self.config.transaction)
                        .ok()?;
                Some((tx, signed))
            });
        match tx {
            Some((tx, signed)) => self.pending.push(Pending {
                op,
                lifetime,
                tx,
                signed,
                stale: 0,
            }),
            // An Allocate or a delete that cannot even be sent (64 transactions pending, a
            // request over MAX_REQUEST) ends the client, as its failure would: it must not
            // stay Allocating or Deleting with nothing under way.
            None if op == Operation::Allocate || lifetime == Some(0) => self.failed(op, None),
            None => self.events.push_back(Event::Failed {
                operation: op,
                code: None,
            }),
        }
    }

    fn build(&mut self, op: Operation, lifetime: Option<u32>) -> Option<(Vec<u8>, bool)> {
        let tid = TransactionId::random(&mut self.rng);
        let method = match op {
            Operation::Allocate => Method::ALLOCATE,
            Operation::Refresh | Operation::DeleteFamily(_) => Method::REFRESH,
            Operation::CreatePermission(_) => Method::CREATE_PERMISSION,
            Operation::ChannelBind(..) => Method::CHANNEL_BIND,
        };
        let mut buf = vec![0u8; MAX_REQUEST];
        let mut w = MessageWriter::new(&mut buf, Class::Request, method, tid).ok()?;
        let c = &self.config;
        match op {
            Operation::Allocate => {
                w.push(&RequestedTransport::UDP).ok()?;
                if let Some(l) = c.lifetime {
                    w.push(&Lifetime(u32::try_from(l.as_secs()).unwrap_or(u32::MAX)))
                        .ok()?;
                }
                if let Some(t) = c.reservation_token {
                    w.push(&ReservationToken(t)).ok()?;
                } else {
                    if let Some(f) = c.requested_family {
                        w.push(&RequestedAddressFamily(f)).ok()?;
                    } else if c.additional_ipv6 {
                        w.push(&AdditionalAddressFamily(AddressFamily::V6)).ok()?;
                    }
                    if let Some(reserve) = c.even_port {
                        w.push(&EvenPort { reserve }).ok()?;
                    }
                }
                if self.dont_fragment() {
                    w.push(&DontFragment).ok()?;
                }
            }
            Operation::Refresh => {
                let l = lifetime.or(c
                    .lifetime
                    .map(|l| u32::try_from(l.as_secs()).unwrap_or(u32::MAX)));
                if let Some(l) = l {
                    w.push(&Lifetime(l)).ok()?;
                }
            }
            Operation::DeleteFamily(f) => {
                w.push(&RequestedAddressFamily(f)).ok()?;
                w.push(&Lifetime(0)).ok()?;
            }
            Operation::CreatePermission(ip) => {
                w.push(&XorPeerAddress(SocketAddr::new(ip, 0))).ok()?
            }
            Operation::ChannelBind(ch, peer) => {
                w.push(&ChannelNumber(ch)).ok()?;
                w.push(&XorPeerAddress(peer)).ok()?;
            }
        }
        if let Some(sw) = &c.software {
            w.push(&Software(sw)).ok()?;
        }
        let n = match &self.creds {
            Some(cr) => {
                match cr.userhash {
                    Some(h) => w.push(&Userhash(h)).ok()?,
                    None => w.push(&Username(&c.username)).ok()?,
                }
                w.push(&Realm(&cr.realm)).ok()?;
                w.push(&Nonce(&cr.nonce)).ok()?;
                if let (Some(list), Some(alg)) = (&cr.offered, cr.algorithm) {
                    w.push(&PasswordAlgorithms::Raw(list)).ok()?;
                    w.push(&PasswordAlgorithm::new(alg)).ok()?;
                }
                w.finish_with_integrity(&cr.key, cr.integrity, true).ok()?
            }
            // FINGERPRINT also keeps the first request large enough for the server's 2.5×
            // anti-amplification budget on its 401 answer.
            None => w.finish(true).ok()?,
        };
        buf.truncate(n);
        Some((buf, self.creds.is_some()))
    }

    /// Takes in a 401 or 438 challenge: realm, nonce and the password algorithm negotiation.
    fn learn(&mut self, msg: &Message<'_>) -> bool {
        let (Ok(Some(Realm(realm))), Ok(Some(Nonce(nonce)))) =
            (msg.get::<Realm<'_>>(), msg.get::<Nonce<'_>>())
        else {
            return false;
        };
        let cookie = NonceCookie::parse(nonce);
        let offered = msg.get::<PasswordAlgorithms<'_>>().ok().flatten();
        let (algorithm, offered_bytes) = match (cookie, offered) {
            (Some(c), Some(PasswordAlgorithms::Raw(raw))) if c.password_algorithms => {
                let algs: Vec<PasswordAlgorithmId> = PasswordAlgorithms::Raw(raw)
                    .iter()
                    .map(|a| a.algorithm)
                    .collect();
                let alg = if algs.contains(&PasswordAlgorithmId::SHA256) {
                    PasswordAlgorithmId::SHA256
                } else if algs.contains(&PasswordAlgorithmId::MD5) {
                    PasswordAlgorithmId::MD5
                } else {
                    return false;
                };
                (Some(alg), Some(raw.to_vec()))
            }
            _ => (None, None),
        };
        let Ok(key) = Key::long_term(
            &self.config.username,
            realm,
            &self.config.password,
            algorithm.unwrap_or(PasswordAlgorithmId::MD5),
            Preparation::OpaqueString,
        ) else {
            return false;
        };
        let userhash = (self.config.use_userhash && cookie.is_some_and(|c| c.username_anonymity))
            .then(|| icebreaker_stun::integrity::userhash(&self.config.username, realm).ok())
            .flatten();
        // An RFC 8489 server (nonce cookie) gets MESSAGE-INTEGRITY-SHA256; others the SHA-1 one.
        let integrity = if cookie.is_some() {
            Integrity::Sha256
        } else {
            Integrity::Sha1
        };
        self.creds = Some(Creds {
            realm: realm.into(),
            nonce: nonce.into(),
            key,
            algorithm,
            offered: offered_bytes,
            integrity,
            userhash,
        });
        true
    }

    /// Handles a datagram that arrived from `from` on our local address `to`.
    pub fn handle_receive<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        data: &'a [u8],
    ) -> Received<'a> {
        let now = self.clock(now);
        let _ = to;
        if from != self.config.server {
            return Received::NotForUs;
        }
        if data.first().is_some_and(|b| b >> 6 == 0b01) {
            let Ok(cd) = ChannelData::parse(data) else {
                return Received::NotForUs;
            };
            return match self.by_number.get(&cd.channel()) {
                Some(&peer) if self.state == State::Allocated => Received::PeerData {
                    peer,
                    data: cd.data(),
                },
                _ => Received::Handled,
            };
        }
        let Ok(msg) = Message::parse(data) else {
            return Received::NotForUs;
        };
        if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
            return Received::NotForUs;
        }
        match msg.class() {
            Class::Indication if msg.method() == Method::DATA => {
                match (msg.get::<XorPeerAddress>(), msg.get::<Data<'a>>()) {
                    (Ok(Some(XorPeerAddress(peer))), Ok(Some(Data(d))))
                        if self.state == State::Allocated =>
                    {
                        Received::PeerData { peer, data: d }
                    }
                    _ => Received::Handled,
                }
            }
            // A response to none of our requests may answer someone else's sharing the
            // address: a STUN Binding request to the same server, sent from the same socket.
            Class::Success | Class::Error => {
                match self.pending.iter().position(|p| p.tx.matches(&msg)) {
                    Some(i) => {
                        self.response(now, i, &msg);
                        Received::Handled
                    }
                    None => Received::NotForUs,
                }
            }
            _ => Received::NotForUs,
        }
    }

    fn response(&mut self, now: Instant, i: usize, msg: &Message<'_>) {
        let Some(p) = self.pending.get(i) else {
            return;
        };
        let (op, lifetime, signed) = (p.op, p.lifetime, p.signed);
        let code = match msg.get::<ErrorCode<'_>>() {
            Ok(Some(ec)) if msg.class() == Class::Error => Some(ec.code),
            _ => None,
        };
        // Every answer other than 400/401/438 to a signed request must verify; anything else
        // is ignored as if it never came (the transaction keeps going).
        let needs_integrity = signed
            && !matches!(
                code,
                Some(codes::BAD_REQUEST | codes::UNAUTHENTICATED | codes::STALE_NONCE)
            );
        let verified = self
            .creds
            .as_ref()
            .is_some_and(|c| msg.verify(&c.key).is_ok());
        if needs_integrity && !verified {
            return;
        }
        // RFC 8489 §6.3.3, §6.3.4: an unknown comprehension-required attribute, or an error
        // without ERROR-CODE, fails the transaction.
        if ResponseFault::of(msg).is_some() {
            return self.fail(now, i, code);
        }
        match code {
            Some(codes::UNAUTHENTICATED) if !signed => {
                if self.learn(msg) {
                    self.retry(now, i);
                } else {
                    self.fail(now, i, code);
                }
            }
            Some(codes::STALE_NONCE) if signed => {
                let stale = self.pending.get(i).map_or(MAX_STALE, |p| p.stale);
                if stale < MAX_STALE && self.learn(msg) {
                    self.retry(now, i);
                    if let Some(p) = self.pending.last_mut() {
                        p.stale = stale + 1;
                    }
                } else {
                    self.fail(now, i, code);
                }
            }
            // Only an authenticated 420 counts (a server checks credentials before attributes,
            // so a real one always is): an unsigned one to the first Allocate would let anyone
            // on the path turn DF off.
            Some(codes::UNKNOWN_ATTRIBUTE)
                if op == Operation::Allocate
                    && signed
                    && verified
                    && self.dont_fragment()
                    && self.config.dont_fragment_fallback
                    && msg
                        .get::<UnknownAttributes<'_>>()
                        .ok()
                        .flatten()
                        .is_some_and(|u| u.iter().any(|t| t == DontFragment::TYPE)) =>
            {
                // RFC 8656 §7.4: the server does not support DONT-FRAGMENT; the retry goes
                // without it (and keeps the 438 count). It cannot loop: the flag stays off for
                // this server.
                let stale = self.pending.get(i).map_or(0, |p| p.stale);
                self.dont_fragment_refused = true;
                self.events.push_back(Event::DontFragmentRefused);
                self.retry(now, i);
                if let Some(p) = self.pending.last_mut() {
                    p.stale = stale;
                }
            }
            Some(codes::TRY_ALTERNATE) if op == Operation::Allocate => {
                // Followed only when authenticated (checked above: signed and verified), to an
                // address the policy allows, and a bounded number of times.
                let alt = msg.get::<AlternateServer>().ok().flatten().map(|a| a.0);
                match alt {
                    Some(to)
                        if signed
                            && verified
                            && self.redirects < MAX_REDIRECTS
                            && to != self.config.server
                            && self.config.alternate_policy.permits(to.ip()) =>
                    {
                        self.redirects += 1;
                        self.pending.clear();
                        self.config.server = to;
                        self.creds = None;
                        self.dont_fragment_refused = false;
                        self.events.push_back(Event::Redirected { to });
                        self.start(now, Operation::Allocate, None);
                    }
                    _ => self.fail(now, i, code),
                }
            }
            Some(_) => self.fail(now, i, code),
            None => {
                let p = self.pending.remove(i);
                let _ = p;
                self.succeeded(now, op, lifetime, msg);
            }
        }
    }

    fn retry(&mut self, now: Instant, i: usize) {
        if i < self.pending.len() {
            let p = self.pending.remove(i);
            self.start(now, p.op, p.lifetime);
        }
    }

    fn fail(&mut self, _now: Instant, i: usize, code: Option<u16>) {
        if i >= self.pending.len() {
            return;
        }
        let p = self.pending.remove(i);
        self.failed(p.op, code);
    }

    fn failed(&mut self, op: Operation, code: Option<u16>) {
        match op {
            Operation::Allocate => self.close(),
            Operation::Refresh => {
                // A failed delete still ends our side; a failed refresh (437, timeout) means
                // the allocation is gone or going.
                self.close();
            }
            // The allocation is gone (437), or the server kept both families (it answered
            // something else, or nothing): the regular refresh tells which.
            Operation::DeleteFamily(_) if code == Some(codes::ALLOCATION_MISMATCH) => self.close(),
            Operation::DeleteFamily(_) => {}
            Operation::CreatePermission(ip) => {
                if !self.channels.keys().any(|p| p.ip() == ip) {
                    self.permissions.remove(&ip);
                }
            }
            Operation::ChannelBind(n, peer) => {
                self.channels.remove(&peer);
                self.by_number.remove(&n);
            }
        }
        self.events.push_back(Event::Failed {
            operation: op,
            code,
        });
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.refresh_at = None;
        self.pending.clear();
        self.permissions.clear();
        self.channels.clear();
        self.by_number.clear();
    }

    fn succeeded(&mut self, now: Instant, op: Operation, lifetime: Option<u32>, msg: &Message<'_>) {
        match op {
            Operation::Allocate => {
                let tid = msg.transaction_id();
                let relayed: Vec<SocketAddr> = msg
                    .attributes()
                    .filter(|a| a.attr_type == attributes::XOR_RELAYED_ADDRESS)
                    .filter_map(|a| XorRelayedAddress::decode(a.value, &tid).ok().map(|r| r.0))
                    .take(2)
                    .collect();
                let granted = msg.get::<Lifetime>().ok().flatten().map_or(600, |l| l.0);
                if relayed.is_empty() {
                    self.close();
                    self.events.push_back(Event::Failed {
                        operation: op,
                        code: None,
                    });
                    return;
                }
                self.relayed.clone_from(&relayed);
                self.mapped = msg.get::<XorMappedAddress>().ok().flatten().map(|m| m.0);
                self.state = State::Allocated;
                let lifetime = Duration::from_secs(u64::from(granted));
                self.refresh_at = Some(now + refresh_after(lifetime));
                self.events.push_back(Event::Allocated {
                    relayed,
                    mapped: self.mapped,
                    lifetime,
                    reservation_token: msg.get::<ReservationToken>().ok().flatten().map(|t| t.0),
                    additional_family_error: msg
                        .get::<AddressErrorCode<'_>>()
                        .ok()
                        .flatten()
                        .map(|e| e.code),
                });
            }
            Operation::Refresh => {
                let granted = msg.get::<Lifetime>().ok().flatten().map_or(0, |l| l.0);
                if lifetime == Some(0) || granted == 0 {
                    self.close();
                    self.events.push_back(Event::Deleted);
                } else {
                    let lifetime = Duration::from_secs(u64::from(granted));
                    self.refresh_at = Some(now + refresh_after(lifetime));
                    self.events.push_back(Event::Refreshed { lifetime });
                }
            }
            Operation::DeleteFamily(family) => {
                let gone = |ip: &IpAddr| AddressFamily::of(ip) == family;
                self.relayed.retain(|a| !gone(&a.ip()));
                self.permissions.retain(|ip, _| !gone(ip));
                self.channels.retain(|peer, _| !gone(&peer.ip()));
                let channels = &self.channels;
                self.by_number.retain(|_, peer| channels.contains_key(peer));
                self.events.push_back(Event::FamilyDeleted(family));
            }
            Operation::CreatePermission(ip) => {
                if let Some(p) = self.permissions.get_mut(&ip) {
                    let first = !p.confirmed;
                    p.confirmed = true;
                    p.refresh_at = Some(now + PERMISSION_REFRESH);
                    if first {
                        self.events.push_back(Event::PermissionCreated(ip));
                    }
                }
            }
            Operation::ChannelBind(number, peer) => {
                if let Some(c) = self.channels.get_mut(&peer) {
                    let first = !c.confirmed;
                    c.confirmed = true;
                    c.refresh_at = Some(now + CHANNEL_REFRESH);
                    if first {
                        self.events.push_back(Event::ChannelBound {
                            peer,
                            channel: number,
                        });
                    }
                }
                if let Some(p) = self.permissions.get_mut(&peer.ip()) {
                    let first = !p.confirmed;
                    p.confirmed = true;
                    p.refresh_at = Some(now + PERMISSION_REFRESH);
                    if first {
                        self.events.push_back(Event::PermissionCreated(peer.ip()));
                    }
                }
            }
        }
    }

    /// Retransmits, times out requests, and refreshes what is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock(now);
        for p in &mut self.pending {
            p.tx.handle_timeout(now);
        }
        while let Some(i) = self
            .pending
            .iter()
            .position(|p| p.tx.state() == TransactionState::TimedOut)
        {
            self.fail(now, i, None);
        }
        if self.state != State::Allocated {
            return;
        }
        if self.refresh_at.is_some_and(|t| now >= t) {
            self.refresh_at = None;
            self.start(now, Operation::Refresh, None);
        }
        let due: Vec<IpAddr> = self
            .permissions
            .iter()
            .filter(|(_, p)| p.refresh_at.is_some_and(|t| now >= t))
            .map(|(ip, _)| *ip)
            .collect();
        for ip in due {
            if let Some(p) = self.permissions.get_mut(&ip) {
                p.refresh_at = None;
            }
            self.start(now, Operation::CreatePermission(ip), None);
        }
        let due: Vec<(SocketAddr, u16)> = self
            .channels
            .iter()
            .filter(|(_, c)| c.refresh_at.is_some_and(|t| now >= t))
            .map(|(p, c)| (*p, c.number))
            .collect();
        for (peer, n) in due {
            if let Some(c) = self.channels.get_mut(&peer) {
                c.refresh_at = None;
            }
            self.start(now, Operation::ChannelBind(n, peer), None);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let txs = self.pending.iter().filter_map(|p| p.tx.poll_timeout());
        // Refreshes run only while allocated (`handle_timeout` skips them otherwise): a due
        // one must not be reported while a delete is under way, or the caller would spin.
        let refreshes = self
            .permissions
            .values()
            .filter_map(|p| p.refresh_at)
            .chain(self.channels.values().filter_map(|c| c.refresh_at))
            .filter(|_| self.state == State::Allocated);
        txs.chain(refreshes).chain(self.refresh_at).min()
    }

    /// The next datagram to send: its bytes replace the contents of `buf`.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        if let Some((t, bytes)) = self.queue.pop_front() {
            buf.clear();
            buf.extend_from_slice(&bytes);
            return Some(t);
        }
        let from = self.config.local;
        for p in &mut self.pending {
            let to = p.tx.destination();
            if let Some(bytes) = p.tx.poll_transmit() {
                buf.clear();
                buf.extend_from_slice(bytes);
                return Some(Transmit { from, to });
            }
        }
        None
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// When to refresh an allocation of `lifetime`: a minute before it ends (half-way for short ones).
fn refresh_after(lifetime: Duration) -> Duration {
    if lifetime > Duration::from_secs(120) {
        lifetime - Duration::from_secs(60)
    } else {
        lifetime / 2
    }
}
