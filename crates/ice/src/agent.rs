//! The ICE agent (RFC 8445) with trickle (RFC 8838), consent freshness (RFC 7675), ICE-lite,
//! restarts and mDNS candidates.

use core::fmt;
use core::net::{IpAddr, SocketAddr};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use icebreaker_stun::attributes::{
    self, ErrorCode, IceControlled, IceControlling, MAX_WRITTEN_USERNAME_LEN, Priority,
    USE_CANDIDATE, UnknownAttributes, UnknownList, UseCandidate, Username, XorMappedAddress, codes,
};
use icebreaker_stun::integrity::Key;
use icebreaker_stun::transaction::{
    ClientTransaction, ResponseFault, TransactionConfig, TransactionState,
};
use icebreaker_stun::{
    AttributeType, Class, Integrity, Message, MessageWriter, Method, TransactionId,
};
pub use icebreaker_turn::Transport as TurnTransport;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::candidate::{
    Candidate, CandidateKind, Transport, is_ipv6, local_preference, pair_priority,
};

pub use icebreaker_stun::Transmit;

/// ICE credentials: the username fragment and the password (RFC 8445 §5.3).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// At least 4 ice-chars.
    pub ufrag: String,
    /// At least 22 ice-chars.
    pub pwd: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("ufrag", &self.ufrag)
            .field("pwd", &"..")
            .finish()
    }
}

const ICE_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl Credentials {
    /// Fresh random credentials (8-character ufrag, 24-character password) from the caller's RNG.
    pub fn random<R: rand_core::Rng + ?Sized>(rng: &mut R) -> Self {
        let mut pick = |n: usize| -> String {
            (0..n)
                .map(|_| char::from(ICE_CHARS[(rng.next_u32() % 64) as usize]))
                .collect()
        };
        Self {
            ufrag: pick(8),
            pwd: pick(24),
        }
    }
}

/// The agent's connection state, as RTCPeerConnection's `iceConnectionState` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Nothing started.
    New,
    /// Checks are running.
    Checking,
    /// A pair is selected for every component.
    Connected,
    /// Checks are done and a pair is selected for every component.
    Completed,
    /// No pair works, or consent was lost for good.
    Failed,
    /// Consent checks are going unanswered; data may recover.
    Disconnected,
    /// The agent was closed.
    Closed,
}

impl State {
    /// The lowercase name used in signalling (`checking`, `connected` ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Checking => "checking",
            Self::Connected => "connected",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Disconnected => "disconnected",
            Self::Closed => "closed",
        }
    }
}

/// What the agent reports.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The connection state changed.
    StateChanged(State),
    /// A local candidate to signal to the peer (trickle).
    LocalCandidate(Candidate),
    /// Gathering finished: signal end-of-candidates.
    GatheringComplete,
    /// A pair was selected for a component.
    SelectedPair {
        /// The component.
        component: u16,
        /// The local candidate.
        local: Candidate,
        /// The remote candidate.
        remote: Candidate,
        /// Round-trip time of the check that validated it.
        rtt: Option<Duration>,
    },
    /// The agent switched role after a role conflict (RFC 8445 §7.3.1.1).
    RoleChanged {
        /// The new role.
        controlling: bool,
    },
    /// A remote candidate carries an mDNS name: resolve it and call
    /// [`Agent::resolve_mdns`].
    ResolveMdns(String),
    /// A STUN or TURN server gave no candidate (a browser's `icecandidateerror`): gathering
    /// goes on without it.
    CandidateError {
        /// The server.
        server: SocketAddr,
        /// The host address the request left from.
        base: SocketAddr,
        /// A TURN Allocate (else a STUN Binding request).
        relay: bool,
        /// The server's error code (a TURN server's 401 is a wrong username or password, 486
        /// its quota); `None` when no answer came within the transaction timeout, or the
        /// answer could not be used (RFC 8489 §6.3: an unknown comprehension-required
        /// attribute, a success without the mapped address).
        code: Option<u16>,
    },
}

/// Agent settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// Whether this agent starts as the controlling one (the offerer, in JSEP).
    pub controlling: bool,
    /// ICE-lite (RFC 8445 §2.5): host candidates only, no checks of its own, always controlled.
    pub lite: bool,
    /// Seed of the agent's RNG (transaction ids, tie-breaker, consent jitter).
    pub rng_seed: [u8; 32],
    /// Ta, the pacing of new checks: 50 ms by default (RFC 8445 §14.2).
    pub ta: Duration,
    /// Components per data stream (1 for WebRTC with rtcp-mux).
    pub components: u16,
    /// STUN servers to learn server-reflexive candidates from.
    pub stun_servers: Vec<SocketAddr>,
    /// TURN servers to allocate relayed candidates on (UDP to the server).
    pub turn_servers: Vec<TurnServer>,
    /// Use relayed candidates only (`iceTransportPolicy: "relay"`): host and server-reflexive
    /// candidates are neither signalled nor paired.
    pub relay_only: bool,
    /// Most candidate pairs kept (RFC 8445 §6.1.2.5 recommends 100).
    pub max_pairs: usize,
    /// Most remote candidates accepted (signalled and peer-reflexive).
    pub max_remote_candidates: usize,
    /// Longest the controlling agent waits, after the first valid pair, for better pairs
    /// before it nominates. A better pair whose check is already out is given only twice the
    /// valid pair's round-trip time (at least Ta), so this cap matters for pairs not checked yet.
    pub nomination_delay: Duration,
    /// Consent check interval (RFC 7675 §5.1: 5 s, randomised by ±20 %).
    pub consent_interval: Duration,
    /// No consent for this long: [`State::Disconnected`].
    pub disconnected_timeout: Duration,
    /// No consent for this long: [`State::Failed`] and sending stops (RFC 7675: 30 s).
    pub consent_timeout: Duration,
    /// Retransmission of connectivity checks. With many checks under way the RTO is
    /// stretched to Ta × (Waiting + In-Progress pairs) (RFC 8445 §14.3), and `max_rto` with
    /// it, so that the checks keep to about one per Ta.
    pub check_transaction: TransactionConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            controlling: false,
            lite: false,
            rng_seed: [0; 32],
            ta: Duration::from_millis(50),
            components: 1,
            stun_servers: Vec::new(),
            turn_servers: Vec::new(),
            relay_only: false,
            max_pairs: 100,
            max_remote_candidates: 64,
            nomination_delay: Duration::from_millis(200),
            consent_interval: Duration::from_secs(5),
            disconnected_timeout: Duration::from_secs(10),
            consent_timeout: Duration::from_secs(30),
            // 0, 0.25, 0.75, 1.75 s, then every second until 15.75 s, answers awaited until
            // 17.75 s: the give-up time of 7 doubling sends, but 18 chances through a lossy path
            // instead of 7 (most of those late in the backoff).
            check_transaction: TransactionConfig {
                rto: Duration::from_millis(250),
                max_sends: 18,
                max_rto: Some(Duration::from_secs(1)),
                last_wait: 8,
                ..TransactionConfig::default()
            },
        }
    }
}

/// A TURN server and the long-term credential to use on it.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnServer {
    /// The server's address.
    pub server: SocketAddr,
    /// How the server is reached: UDP, or a TCP or TLS stream (`turn:…?transport=tcp`,
    /// `turns:`) whose frames go through
    /// [`Agent::poll_stream_transmit`] and [`Agent::handle_stream_receive`]. Relaying to the
    /// peer is UDP either way.
    pub transport: TurnTransport,
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnServer")
            .field("server", &self.server)
            .field("transport", &self.transport)
            .field("username", &self.username)
            .finish()
    }
}

/// Misuse of the agent's API, or input it refuses.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The candidate's component is outside `1..=components`.
    BadComponent(u16),
    /// Too many remote candidates; this one was dropped.
    TooManyCandidates,
    /// Only UDP candidates are connected; TCP ones are carried, not used.
    UnsupportedTransport,
    /// An ICE-lite agent only has host candidates.
    LiteNeedsHost,
    /// No selected pair (not connected, or consent lost).
    NotConnected,
    /// The TURN client refused to send (no permission or allocation any more).
    Relay,
    /// The checks' USERNAME, `remote-ufrag:local-ufrag`, would be `len` bytes, longer than
    /// STUN's 508 (RFC 8489 §14.3): two ufrags near SDP's 256-character limit do not fit.
    UsernameTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The agent is closed ([`Agent::close`]): it takes no more candidates.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadComponent(c) => write!(f, "component {c} is not part of this stream"),
            Self::TooManyCandidates => f.write_str("too many remote candidates"),
            Self::UnsupportedTransport => f.write_str("only UDP candidates are connected"),
            Self::LiteNeedsHost => f.write_str("an ICE-lite agent only has host candidates"),
            Self::NotConnected => f.write_str("no selected pair"),
            Self::Relay => f.write_str("the TURN allocation cannot carry this datagram"),
            Self::Closed => f.write_str("the agent is closed"),
            Self::UsernameTooLong { len } => write!(
                f,
                "the check USERNAME remote-ufrag:local-ufrag would be {len} bytes; STUN allows {MAX_WRITTEN_USERNAME_LEN}"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Why a received datagram was dropped. The agent is unchanged and still usable.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// A STUN message that is malformed, unauthenticated or not for this agent.
    BadStun,
    /// Not STUN, and not from a validated remote address.
    UnknownSource,
    /// Arrived on a local address that is no local candidate's base: the driver handed the
    /// agent a datagram from a socket it was never told about. Nothing is answered from there.
    UnknownLocal,
    /// A check for this agent after consent was lost (RFC 7675 §5.1): these credentials are
    /// never used again, so it is dropped unanswered until [`Agent::restart`].
    ConsentLost,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadStun => f.write_str("STUN message dropped"),
            Self::UnknownSource => f.write_str("data from an address that is not a validated pair"),
            Self::UnknownLocal => f.write_str("arrived on an address that is no candidate's base"),
            Self::ConsentLost => f.write_str("a check after consent was lost; restart ICE"),
        }
    }
}

impl std::error::Error for RecvError {}

/// What a received datagram was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received<'a> {
    /// An ICE message, consumed by the agent.
    Stun,
    /// Application data from a validated pair, borrowed from the datagram.
    Data {
        /// The component it belongs to.
        component: u16,
        /// The bytes.
        data: &'a [u8],
    },
}

/// Counters, for tests and dashboards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connectivity check requests sent (retransmissions included).
    pub checks_sent: u64,
    /// Connectivity checks received and answered with success.
    pub checks_answered: u64,
    /// STUN datagrams dropped (bad integrity, unknown user, malformed).
    pub stun_dropped: u64,
}

/// A candidate pair's state in the check list (RFC 8445 §6.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PairState {
    /// Waiting for a pair of the same foundation to succeed before it is checked.
    Frozen,
    /// To be checked when its turn comes.
    Waiting,
    /// A check is in flight.
    InProgress,
    /// A check succeeded: the pair (or the valid pair it produced) works.
    Succeeded,
    /// Its check failed or went unanswered.
    Failed,
}

impl PairState {
    /// The name W3C's `RTCStatsIceCandidatePairState` gives it (`frozen`, `in-progress` ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Frozen => "frozen",
            Self::Waiting => "waiting",
            Self::InProgress => "in-progress",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// What went over one candidate pair's 5-tuple, as W3C's `RTCIceCandidatePairStats` counts it.
///
/// Connectivity checks, consent checks (RFC 7675) and application data all count on the pair
/// of the check list whose 5-tuple carried them (see [`Agent::pairs`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairCounters {
    /// Check requests sent (consent checks included, retransmissions not).
    pub requests_sent: u64,
    /// Of those, consent checks (RFC 7675), sent once the pair was selected.
    pub consent_requests_sent: u64,
    /// Retransmissions of those requests (RFC 8489 §6.2.1).
    pub retransmissions_sent: u64,
    /// Authenticated responses to them (successes and errors).
    pub responses_received: u64,
    /// The peer's authenticated checks that arrived on the pair.
    pub requests_received: u64,
    /// Success responses sent to those checks.
    pub responses_sent: u64,
    /// Round-trip time of the latest success response (a check's or a consent check's).
    pub current_round_trip_time: Option<Duration>,
    /// Round-trip times of all success responses, added up.
    pub total_round_trip_time: Duration,
    /// How many round trips [`total_round_trip_time`](Self::total_round_trip_time) adds up.
    pub round_trip_time_measurements: u64,
    /// When the peer's latest check arrived.
    pub last_request_received: Option<Instant>,
    /// When the latest response to one of our checks arrived.
    pub last_response_received: Option<Instant>,
    /// Application datagrams sent ([`Agent::send`]).
    pub packets_sent: u64,
    /// Their payload bytes (no TURN framing).
    pub bytes_sent: u64,
    /// Application datagrams received ([`Received::Data`]).
    pub packets_received: u64,
    /// Their payload bytes.
    pub bytes_received: u64,
}

impl PairCounters {
    fn round_trip(&mut self, rtt: Duration) {
        self.current_round_trip_time = Some(rtt);
        self.total_round_trip_time += rtt;
        self.round_trip_time_measurements += 1;
    }
}

/// One pair of the check list with what it carried ([`Agent::pairs`]): what W3C's
/// `RTCIceCandidatePairStats` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairStats<'a> {
    /// The local candidate checks leave from (host or relayed: RFC 8445 §6.1.2.4 pairs a
    /// server-reflexive candidate through its base).
    pub local: &'a Candidate,
    /// The remote candidate.
    pub remote: &'a Candidate,
    /// When a success named a mapped address other than `local`'s (RFC 8445 §7.2.5.3.2: the
    /// check went out through a NAT), the local candidate of the valid pair it produced: a
    /// server-reflexive or peer-reflexive one. `None` while not valid, or when the valid pair
    /// is this pair.
    pub valid_local: Option<&'a Candidate>,
    /// The pair's state.
    pub state: PairState,
    /// The pair priority (RFC 8445 §6.1.2.3), from the current roles.
    pub priority: u64,
    /// Nominated (its valid pair is).
    pub nominated: bool,
    /// Its valid pair is its component's selected pair.
    pub selected: bool,
    /// What went over it.
    pub counters: PairCounters,
}

#[derive(Debug, Clone)]
struct LocalCandidate {
    cand: Candidate,
    /// The socket address checks and data from this candidate leave from (for a relayed
    /// candidate, the relayed address itself).
    base: SocketAddr,
    /// For a relayed candidate: the TURN client that carries it.
    relay: Option<usize>,
}

/// One TURN allocation the agent gathers a relayed candidate from.
struct Relay {
    client: icebreaker_turn::Client,
    /// The host socket the allocation is reached from (for a stream: the host address the
    /// driver connects from).
    base: SocketAddr,
    component: u16,
}

impl Relay {
    /// Reached over TCP or TLS: its traffic goes through the stream calls, never the datagram
    /// ones.
    fn stream(&self) -> bool {
        self.client.transport() != TurnTransport::Udp
    }
}

/// What [`Agent::wrap`] made of a datagram.
enum Wrapped {
    /// Send `buf` as a datagram.
    Datagram(Transmit),
    /// Queued for a TURN server reached over a stream (dropped if the queue was full, as a
    /// full socket buffer would).
    Stream,
    /// The TURN client refused it.
    Refused,
}

/// Most frames waiting for [`Agent::poll_stream_transmit`]; more are dropped, as a full socket
/// buffer would.
const MAX_STREAM_QUEUE: usize = 64;
/// Cancelled checks awaited per pair at most: one per check of the peer that arrived while ours
/// was in flight; a peer sends one check at most 7 times (Rc, RFC 8489 §6.2.1).
const MAX_CANCELLED: usize = 8;

#[derive(Debug)]
struct Check {
    tx: ClientTransaction,
    /// When the request first went out.
    sent_at: Instant,
    use_candidate: bool,
    /// The role the request claimed (ICE-CONTROLLING or ICE-CONTROLLED).
    controlling: bool,
}

#[derive(Debug)]
struct Pair {
    local: usize,
    remote: usize,
    priority: u64,
    state: PairState,
    foundation: (String, String),
    check: Option<Check>,
    /// Checks cancelled by triggered checks (RFC 8445 §7.3.1.4), oldest first, each with the
    /// end of its transaction timeout: never retransmitted, their lack of answer is no
    /// failure, but an answer within that timeout still counts. Each of the peer's checks
    /// (retransmissions too) that arrives while ours is in flight cancels it, so there may be
    /// several; at most [`MAX_CANCELLED`], the oldest dropped first.
    cancelled: Vec<(Check, Instant)>,
    /// The pair a success on this pair validated (RFC 8445 §7.2.5.3.2); often itself.
    valid: Option<usize>,
    /// For valid pairs: the pair whose checks validated it (where nomination checks go).
    checked_by: usize,
    nominated: bool,
    /// The controlled agent saw USE-CANDIDATE before this pair succeeded.
    nominate_on_success: bool,
    /// The controlling agent wants a USE-CANDIDATE check on this pair.
    nominating: bool,
    rtt: Option<Duration>,
    /// In the check list (`false` for a valid pair a check of another pair produced).
    listed: bool,
    /// What went over the pair's 5-tuple (kept on the listed pair that checks it).
    counters: PairCounters,
}

/// A gathering transaction waiting for its turn.
#[derive(Debug, Clone, Copy)]
enum PendingGather {
    /// A Binding request to a STUN server from `base`.
    Stun {
        base: SocketAddr,
        component: u16,
        server: SocketAddr,
    },
    /// The allocation of `relays[i]`.
    Relay(usize),
}

#[derive(Debug)]
struct Gather {
    tx: ClientTransaction,
    base: SocketAddr,
    component: u16,
    server: SocketAddr,
}

/// Consent freshness of one component's selected pair (RFC 7675 works per 5-tuple), from its
/// first nomination on.
#[derive(Debug)]
struct Consent {
    /// When consent was last granted (the nomination, then a response on the selected pair).
    last_ok: Instant,
    next_check: Instant,
    check: Option<ClientTransaction>,
}

/// A queued STUN answer: fixed-size storage so that answering a check allocates nothing once
/// the queue has grown to its working size.
struct Answer {
    transmit: Transmit,
    len: usize,
    bytes: [u8; ANSWER_MAX],
}

/// Queues an answer written by `write`, unless the queue is full; whether it was queued.
fn push_answer(
    answers: &mut VecDeque<Answer>,
    transmit: Transmit,
    write: impl FnOnce(&mut [u8]) -> Option<usize>,
) -> bool {
    if answers.len() >= MAX_ANSWERS {
        return false;
    }
    let mut a = Answer {
        transmit,
        len: 0,
        bytes: [0; ANSWER_MAX],
    };
    let Some(n) = write(&mut a.bytes) else {
        return false;
    };
    a.len = n;
    answers.push_back(a);
    true
}

/// The slowest pacing a peer can impose with `a=ice-pacing` ([`Agent::set_remote_pacing`]).
pub const MAX_REMOTE_PACING: Duration = Duration::from_secs(1);

/// Largest answer: header, then XOR-MAPPED-ADDRESS (IPv6: 24) or ERROR-CODE (8) and
/// UNKNOWN-ATTRIBUTES (4 + 2 × [`UnknownList::CAPACITY`]), then MESSAGE-INTEGRITY (24) and FINGERPRINT (8).
const ANSWER_MAX: usize = 128;
/// Whether the agent acts on comprehension-required attribute `t` in a check: others (a
/// CHANGE-REQUEST, say, which the STUN codec knows but a check has no use for) get a 420.
fn check_attribute(t: AttributeType) -> bool {
    matches!(
        t,
        attributes::USERNAME
            | attributes::MESSAGE_INTEGRITY
            | attributes::MESSAGE_INTEGRITY_SHA256
            | attributes::PRIORITY
            | USE_CANDIDATE
    )
}

const _: () = assert!(20 + 8 + (4 + 2 * UnknownList::CAPACITY) + 24 + 8 <= ANSWER_MAX);
/// Largest check: header, USERNAME at its longest, PRIORITY, the role, USE-CANDIDATE,
/// MESSAGE-INTEGRITY and FINGERPRINT.
const CHECK_LEN: usize = 20 + (4 + MAX_WRITTEN_USERNAME_LEN) + 8 + 12 + 4 + 24 + 8;
/// Answers queued and not yet drained beyond this are dropped.
const MAX_ANSWERS: usize = 256;
/// mDNS names waiting for resolution.
const MAX_PENDING_MDNS: usize = 32;
/// Local candidates (host, reflexive, relayed, peer-reflexive).
const MAX_LOCAL_CANDIDATES: usize = 64;
/// Events not yet drained beyond this are dropped (a caller that never drains must not grow us).
const MAX_EVENTS: usize = 1024;

/// A sans-IO ICE agent (RFC 8445, RFC 8838 trickle, RFC 7675 consent) for one data stream.
///
/// Call protocol: after each `handle_*` or `add_*` call, drain [`poll_transmit`](Self::poll_transmit)
/// until `None`, then read [`poll_timeout`](Self::poll_timeout), then drain
/// [`poll_event`](Self::poll_event). Call [`handle_timeout`](Self::handle_timeout) once
/// `poll_timeout` has passed; spurious calls are harmless. A `now` that goes backwards is
/// treated as the latest `now` seen.
pub struct Agent {
    config: AgentConfig,
    rng: ChaCha20Rng,
    controlling: bool,
    tie_breaker: u64,
    /// The pacing the peer asked for (`a=ice-pacing`); zero until it says.
    remote_ta: Duration,
    local_creds: Credentials,
    local_key: Key,
    /// USERNAME of our checks, `remote-ufrag:local-ufrag`, made when the remote credentials arrive.
    check_username: Option<String>,
    remote_key: Option<Key>,
    locals: Vec<LocalCandidate>,
    remotes: Vec<Candidate>,
    pending_mdns: Vec<Candidate>,
    pairs: Vec<Pair>,
    triggered: VecDeque<usize>,
    /// Whether the initial Waiting states are set for every pair formed so far.
    unfrozen: bool,
    gathers: Vec<Gather>,
    relays: Vec<Relay>,
    /// Gathering transactions not started yet: they start one per Ta (RFC 8445 §14).
    pending_gathers: VecDeque<PendingGather>,
    /// When the next of `pending_gathers` starts.
    next_gather: Option<Instant>,
    gathering_done: bool,
    started: bool,
    remote_end_of_candidates: bool,
    foundations: BTreeMap<(CandidateKind, IpAddr, Option<SocketAddr>), u32>,
    selected: BTreeMap<u16, usize>,
    /// The pair that carried data before a restart (local base, remote address), until the new
    /// one is selected, the restart fails, or the consent it had runs out (the instant here).
    /// Nothing refreshes that consent: the restart dropped the credentials consent checks are
    /// made with (RFC 7675 §5.1: no sending without consent).
    previous: BTreeMap<u16, (SocketAddr, SocketAddr, Instant)>,
    /// Per component with a selected pair.
    consent: BTreeMap<u16, Consent>,
    /// Consent expired (RFC 7675 §5.1): this credential generation is dead. No check is sent
    /// or answered and nothing is nominated until [`Agent::restart`].
    consent_lost: bool,
    first_valid_at: Option<Instant>,
    next_check: Option<Instant>,
    answers: VecDeque<Answer>,
    /// Holds a datagram while it is wrapped for a TURN relay.
    scratch: Vec<u8>,
    /// Frames from relayed candidates for stream TURN servers, and emptied frame buffers.
    stream_out: VecDeque<(Transmit, Vec<u8>)>,
    stream_spare: Vec<Vec<u8>>,
    events: VecDeque<Event>,
    state: State,
    now: Option<Instant>,
    stats: Stats,
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("state", &self.state)
            .field("controlling", &self.controlling)
            .field("locals", &self.locals.len())
            .field("remotes", &self.remotes.len())
            .field("pairs", &self.pairs.len())
            .finish_non_exhaustive()
    }
}

fn key(pwd: &str) -> Key {
    // Passwords that OpaqueString refuses (control characters) are used as raw bytes, the way
    // RFC 5389 agents do; they still have to match on both sides.
    Key::short_term(pwd).unwrap_or_else(|_| Key::new(pwd.as_bytes()))
}

impl Agent {
    /// A new agent with its local credentials.
    pub fn new(config: AgentConfig, local: Credentials) -> Self {
        let mut rng = ChaCha20Rng::from_seed(config.rng_seed);
        let tie_breaker = rng.next_u64();
        let controlling = config.controlling && !config.lite;
        Self {
            local_key: key(&local.pwd),
            local_creds: local,
            controlling,
            tie_breaker,
            remote_ta: Duration::ZERO,
            rng,
            config,
            check_username: None,
            remote_key: None,
            locals: Vec::new(),
            remotes: Vec::new(),
            pending_mdns: Vec::new(),
            pairs: Vec::new(),
            triggered: VecDeque::new(),
            unfrozen: true,
            gathers: Vec::new(),
            relays: Vec::new(),
            pending_gathers: VecDeque::new(),
            next_gather: None,
            gathering_done: false,
            started: false,
            remote_end_of_candidates: false,
            foundations: BTreeMap::new(),
            selected: BTreeMap::new(),
            previous: BTreeMap::new(),
            consent: BTreeMap::new(),
            consent_lost: false,
            first_valid_at: None,
            next_check: None,
            answers: VecDeque::new(),
            scratch: Vec::new(),
            stream_out: VecDeque::new(),
            stream_spare: Vec::new(),
            events: VecDeque::new(),
            state: State::New,
            now: None,
            stats: Stats::default(),
        }
    }

    /// The local credentials.
    pub fn local_credentials(&self) -> &Credentials {
        &self.local_creds
    }

    /// Whether the agent is controlling now.
    pub fn is_controlling(&self) -> bool {
        self.controlling
    }

    /// Whether this is an ICE-lite agent.
    pub fn is_lite(&self) -> bool {
        self.config.lite
    }

    /// Takes the pacing the peer signalled (`a=ice-pacing`, RFC 8839 §5.5; 50 ms when its
    /// description has none): both agents pace at the larger of the two values, so from the
    /// next check on this agent paces at the larger of `ta` and [`AgentConfig::ta`]. A value
    /// above [`MAX_REMOTE_PACING`] is taken as that much: the RFC sets no bound, and a peer
    /// asking for days between checks would stall the agent without ever failing it.
    pub fn set_remote_pacing(&mut self, ta: Duration) {
        self.remote_ta = ta.min(MAX_REMOTE_PACING);
    }

    /// Ta, the pacing in use (RFC 8445 §14.2): the larger of [`AgentConfig::ta`] and what the
    /// peer asked for with [`set_remote_pacing`](Self::set_remote_pacing).
    pub fn pacing(&self) -> Duration {
        self.config.ta.max(self.remote_ta)
    }

    /// The configuration the agent was made with.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// Takes the role signalling decided, best before [`start`](Self::start): RFC 8445 §6.1.1
    /// makes a full agent the controlling one when its peer is ICE-lite, whichever side offered.
    /// A lite agent stays controlled. A change recomputes pair priorities; it is no role
    /// conflict, so no [`Event::RoleChanged`] is reported.
    pub fn set_controlling(&mut self, controlling: bool) {
        if !self.config.lite && self.controlling != controlling {
            self.controlling = controlling;
            self.recompute_priorities();
        }
    }

    /// The connection state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The local candidates gathered so far.
    pub fn local_candidates(&self) -> impl Iterator<Item = &Candidate> {
        self.locals
            .iter()
            .map(|l| &l.cand)
            .filter(|c| self.signalled(c.kind))
    }

    /// The remote candidates known so far (signalled and peer-reflexive).
    pub fn remote_candidates(&self) -> &[Candidate] {
        &self.remotes
    }

    /// Number of candidate pairs (check list plus valid pairs it produced).
    pub fn pair_count(&self) -> usize {
        self.pairs.len()
    }

    /// The pairs of the check list, each with its state and what went over it: one entry per
    /// 5-tuple, as a browser's `getStats()` reports `candidate-pair`s. A pair that succeeded
    /// through a NAT names the valid pair's local candidate in
    /// [`valid_local`](PairStats::valid_local); the consent checks and data of that valid pair
    /// count on this entry, whose 5-tuple carries them. A restart starts a new list.
    pub fn pairs(&self) -> impl Iterator<Item = PairStats<'_>> {
        self.pairs.iter().filter(|p| p.listed).map(|p| {
            let valid = p.valid.map(|v| (v, &self.pairs[v]));
            let component = self.remotes[p.remote].component;
            PairStats {
                local: &self.locals[p.local].cand,
                remote: &self.remotes[p.remote],
                valid_local: valid
                    .filter(|(_, v)| v.local != p.local)
                    .map(|(_, v)| &self.locals[v.local].cand),
                state: p.state,
                priority: p.priority,
                nominated: valid.is_some_and(|(_, v)| v.nominated),
                selected: valid.is_some_and(|(v, _)| self.selected.get(&component) == Some(&v)),
                counters: p.counters,
            }
        })
    }

    /// The selected pair of a component: `(local, remote)` candidates.
    pub fn selected_pair(&self, component: u16) -> Option<(&Candidate, &Candidate)> {
        let p = &self.pairs[*self.selected.get(&component)?];
        Some((&self.locals[p.local].cand, &self.remotes[p.remote]))
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() < MAX_EVENTS {
            self.events.push_back(e);
        }
    }

    fn set_state(&mut self, s: State) {
        if self.state == State::Closed {
            // Final: nothing a closed agent still handles (its TURN clients' answers, a late
            // end-of-candidates) changes it.
            return;
        }
        if s == State::Failed {
            // A restart that fails ends the old pair's use too.
            self.previous.clear();
        }
        if self.state != s {
            self.state = s;
            self.push_event(Event::StateChanged(s));
        }
    }

    fn clamp(&mut self, now: Instant) -> Instant {
        let now = match self.now {
            Some(prev) if prev > now => prev,
            _ => now,
        };
        self.now = Some(now);
        now
    }

    fn foundation(
        &mut self,
        kind: CandidateKind,
        base: IpAddr,
        server: Option<SocketAddr>,
    ) -> String {
        let next = self.foundations.len() as u32 + 1;
        self.foundations
            .entry((kind, base, server))
            .or_insert(next)
            .to_string()
    }

    /// Adds a host candidate for a local socket address (`component` 1 unless the stream has
    /// several). Its gathering transactions (a Binding request to each STUN server, an
    /// allocation on each TURN server) join a queue that [`start`](Self::start) and then
    /// [`handle_timeout`](Self::handle_timeout) work through, one per Ta (RFC 8445 §14).
    pub fn add_host_candidate(&mut self, address: SocketAddr, component: u16) -> Result<(), Error> {
        if self.state == State::Closed {
            return Err(Error::Closed);
        }
        if component == 0 || component > self.config.components {
            return Err(Error::BadComponent(component));
        }
        if self.locals.len() >= MAX_LOCAL_CANDIDATES {
            return Err(Error::TooManyCandidates);
        }
        if self
            .locals
            .iter()
            .any(|l| l.base == address && l.cand.kind == CandidateKind::Host)
        {
            return Ok(());
        }
        let rank = self.rank(CandidateKind::Host, &address.ip());
        let foundation = self.foundation(CandidateKind::Host, address.ip(), None);
        let cand = Candidate::new(
            CandidateKind::Host,
            address,
            local_preference(&address.ip(), rank),
            component,
            foundation,
        );
        self.add_local(cand, address, None);
        if !self.config.lite {
            self.queue_binding_requests(address, component);
            let turns: Vec<TurnServer> = self
                .config
                .turn_servers
                .iter()
                .filter(|t| t.server.is_ipv4() == address.is_ipv4())
                .cloned()
                .collect();
            for t in turns {
                let mut config =
                    icebreaker_turn::ClientConfig::new(address, t.server, &t.username, &t.password);
                config.transport = t.transport;
                self.rng.fill_bytes(&mut config.rng_seed);
                self.relays.push(Relay {
                    client: icebreaker_turn::Client::new(config),
                    base: address,
                    component,
                });
                self.queue_gather(PendingGather::Relay(self.relays.len() - 1));
            }
        }
        self.gathering_done = false;
        Ok(())
    }

    /// Adds an already-known local candidate (for example a relayed one obtained elsewhere)
    /// whose checks and data leave from `base`.
    pub fn add_local_candidate(&mut self, cand: Candidate, base: SocketAddr) -> Result<(), Error> {
        if self.state == State::Closed {
            return Err(Error::Closed);
        }
        if cand.component == 0 || cand.component > self.config.components {
            return Err(Error::BadComponent(cand.component));
        }
        if self.config.lite && cand.kind != CandidateKind::Host {
            return Err(Error::LiteNeedsHost);
        }
        if cand.transport != Transport::Udp {
            return Err(Error::UnsupportedTransport);
        }
        if self.locals.len() >= MAX_LOCAL_CANDIDATES {
            return Err(Error::TooManyCandidates);
        }
        self.add_local(cand, base, None);
        Ok(())
    }

    fn signalled(&self, kind: CandidateKind) -> bool {
        kind != CandidateKind::PeerReflexive
            && (!self.config.relay_only || kind == CandidateKind::Relayed)
    }

    fn add_local(&mut self, cand: Candidate, base: SocketAddr, relay: Option<usize>) {
        // RFC 8445 §5.1.3: a candidate with the same address and base as one we have is redundant.
        if self
            .locals
            .iter()
            .any(|l| l.cand.address == cand.address && l.base == base)
        {
            return;
        }
        if self.signalled(cand.kind) {
            self.push_event(Event::LocalCandidate(cand.clone()));
        }
        self.locals.push(LocalCandidate { cand, base, relay });
        let local = self.locals.len() - 1;
        for remote in 0..self.remotes.len() {
            // RFC 8445 §7.3.1.3: a peer-reflexive remote candidate learned from a request is
            // paired only with the local candidate that request reached.
            if self.remotes[remote].kind != CandidateKind::PeerReflexive {
                self.form_pair(local, remote, false);
            }
        }
    }

    /// Queues a Binding request from `base` to each STUN server of its address family.
    fn queue_binding_requests(&mut self, base: SocketAddr, component: u16) {
        for i in 0..self.config.stun_servers.len() {
            let server = self.config.stun_servers[i];
            if server.is_ipv4() == base.is_ipv4() {
                self.queue_gather(PendingGather::Stun {
                    base,
                    component,
                    server,
                });
            }
        }
    }

    /// Queues a gathering transaction; once the agent has started, the queue is paced by
    /// [`pace_gathering`](Self::pace_gathering).
    fn queue_gather(&mut self, g: PendingGather) {
        match g {
            // Binding requests go before allocations: they are cheaper, and server-reflexive
            // candidates are what direct paths through NATs are found with.
            PendingGather::Stun { .. } => {
                let at = self
                    .pending_gathers
                    .iter()
                    .position(|q| matches!(q, PendingGather::Relay(_)))
                    .unwrap_or(self.pending_gathers.len());
                self.pending_gathers.insert(at, g);
            }
            PendingGather::Relay(_) => self.pending_gathers.push_back(g),
        }
        if let Some(now) = self.now.filter(|_| self.started) {
            self.next_gather.get_or_insert(now);
        }
    }

    /// Starts the next queued gathering transaction when its time has come: one per Ta, so
    /// that many interfaces and servers do not send a burst (RFC 8445 §14).
    fn pace_gathering(&mut self, now: Instant) {
        if self.next_gather.is_none_or(|at| now < at) {
            return;
        }
        match self.pending_gathers.pop_front() {
            Some(PendingGather::Stun {
                base,
                component,
                server,
            }) => self.start_gather(now, base, component, server),
            Some(PendingGather::Relay(i)) => self.relays[i].client.allocate(now),
            None => {}
        }
        self.next_gather = (!self.pending_gathers.is_empty()).then(|| now + self.pacing());
    }

    fn start_gather(&mut self, now: Instant, base: SocketAddr, component: u16, server: SocketAddr) {
        let tid = TransactionId::random(&mut self.rng);
        let mut buf = [0u8; 28];
        let Ok(n) = MessageWriter::new(&mut buf, Class::Request, Method::BINDING, tid)
            .and_then(|w| w.finish(true))
        else {
            return;
        };
        if let Ok(tx) =
            ClientTransaction::new(now, server, buf[..n].to_vec(), TransactionConfig::default())
        {
            self.gathers.push(Gather {
                tx,
                base,
                component,
                server,
            });
        }
    }

    /// Sets the peer's credentials (from its description). Checks start once they are known.
    ///
    /// Fails, changing nothing, when the checks' USERNAME `remote-ufrag:local-ufrag` would not
    /// fit in STUN's 508 bytes: any ufrag SDP allows (up to 256 characters) fits beside the
    /// 8-character ones [`Credentials::random`] makes.
    pub fn set_remote_credentials(&mut self, creds: Credentials) -> Result<(), Error> {
        let len = creds.ufrag.len() + 1 + self.local_creds.ufrag.len();
        if len > MAX_WRITTEN_USERNAME_LEN {
            return Err(Error::UsernameTooLong { len });
        }
        self.remote_key = Some(key(&creds.pwd));
        self.check_username = Some(format!("{}:{}", creds.ufrag, self.local_creds.ufrag));
        Ok(())
    }

    /// Adds a remote candidate (signalled or trickled). mDNS candidates raise
    /// [`Event::ResolveMdns`] and wait for [`resolve_mdns`](Self::resolve_mdns).
    pub fn add_remote_candidate(&mut self, cand: Candidate) -> Result<(), Error> {
        if self.state == State::Closed {
            return Err(Error::Closed);
        }
        if cand.component == 0 || cand.component > self.config.components {
            return Err(Error::BadComponent(cand.component));
        }
        if cand.transport != Transport::Udp {
            return Err(Error::UnsupportedTransport);
        }
        if cand.needs_resolution() {
            if self.pending_mdns.len() >= MAX_PENDING_MDNS {
                return Err(Error::TooManyCandidates);
            }
            let name = cand.hostname.clone().unwrap_or_default();
            self.pending_mdns.push(cand);
            self.push_event(Event::ResolveMdns(name));
            return Ok(());
        }
        self.add_remote(cand).map(|_| ())
    }

    fn add_remote(&mut self, cand: Candidate) -> Result<usize, Error> {
        let remote = self.add_remote_unpaired(cand)?;
        for local in 0..self.locals.len() {
            self.form_pair(local, remote, false);
        }
        Ok(remote)
    }

    /// Adds (or updates) a remote candidate without pairing it; returns its index.
    fn add_remote_unpaired(&mut self, mut cand: Candidate) -> Result<usize, Error> {
        // A candidate we already know (perhaps as peer-reflexive) is updated, not duplicated.
        if let Some(i) = self
            .remotes
            .iter()
            .position(|r| r.address == cand.address && r.component == cand.component)
        {
            if self.remotes[i].kind == CandidateKind::PeerReflexive
                && cand.kind != CandidateKind::PeerReflexive
            {
                // RFC 8445 §7.3.1.3: the signalled candidate replaces the peer-reflexive one,
                // keeping the pairs (whose priorities change); `add_remote` then pairs it with
                // every local candidate, as any signalled candidate.
                self.remotes[i] = cand;
                self.recompute_priorities();
            }
            return Ok(i);
        }
        if self.remotes.len() >= self.config.max_remote_candidates {
            return Err(Error::TooManyCandidates);
        }
        cand.hostname = cand.hostname.filter(|_| cand.address.ip().is_unspecified());
        self.remotes.push(cand);
        Ok(self.remotes.len() - 1)
    }

    /// The answer to an [`Event::ResolveMdns`]: the name's address, or `None` when it did not
    /// resolve (the candidate is then dropped).
    pub fn resolve_mdns(&mut self, name: &str, ip: Option<IpAddr>) {
        let (matching, rest): (Vec<Candidate>, Vec<Candidate>) = self
            .pending_mdns
            .drain(..)
            .partition(|c| c.hostname.as_deref() == Some(name));
        self.pending_mdns = rest;
        if let Some(ip) = ip {
            for mut c in matching {
                c.address = SocketAddr::new(ip, c.address.port());
                // Ignored when over the limit, like any other remote candidate.
                let _ = self.add_remote(c);
            }
        }
        self.fail_if_hopeless();
    }

    /// The peer signalled end-of-candidates: once every pair has failed, the agent fails.
    pub fn end_of_remote_candidates(&mut self) {
        self.remote_end_of_candidates = true;
        self.fail_if_hopeless();
    }

    /// Starts gathering and checking. Idempotent.
    pub fn start(&mut self, now: Instant) {
        let now = self.clamp(now);
        if !self.started {
            self.started = true;
            self.set_state(State::Checking);
            self.next_check = Some(now);
        }
        if !self.pending_gathers.is_empty() {
            self.next_gather.get_or_insert(now);
        }
        self.pace_gathering(now);
        // With no server to ask (or nothing left to ask one), gathering is done at once, not
        // at the next timer: a peer that does not trickle can describe itself now.
        self.check_gathering_done();
    }

    /// A server-reflexive candidate learned from `server` (a STUN Binding or a TURN Allocate).
    fn add_server_reflexive(
        &mut self,
        base: SocketAddr,
        mapped: SocketAddr,
        component: u16,
        server: SocketAddr,
    ) {
        // RFC 8445 §5.1.3: a reflexive address equal to its base is redundant.
        if mapped == base || self.locals.len() >= MAX_LOCAL_CANDIDATES {
            return;
        }
        let rank = self.rank(CandidateKind::ServerReflexive, &mapped.ip());
        let foundation = self.foundation(CandidateKind::ServerReflexive, base.ip(), Some(server));
        let mut c = Candidate::new(
            CandidateKind::ServerReflexive,
            mapped,
            local_preference(&mapped.ip(), rank),
            component,
            foundation,
        );
        c.related = Some(base);
        self.add_local(c, base, None);
    }

    /// How many local candidates of `kind` there are in `ip`'s address family: the rank of the
    /// next one for [`local_preference`] (RFC 8421 §4: the families alternate).
    fn rank(&self, kind: CandidateKind, ip: &IpAddr) -> usize {
        self.locals
            .iter()
            .filter(|l| l.cand.kind == kind && is_ipv6(&l.cand.address.ip()) == is_ipv6(ip))
            .count()
    }

    /// Handles what the TURN clients report: relayed (and server-reflexive) candidates.
    fn relay_events(&mut self) {
        for i in 0..self.relays.len() {
            while let Some(e) = self.relays[i].client.poll_event() {
                let (relayed, mapped) = match e {
                    icebreaker_turn::Event::Allocated {
                        relayed, mapped, ..
                    } => (relayed, mapped),
                    icebreaker_turn::Event::Failed {
                        operation: icebreaker_turn::Operation::Allocate,
                        code,
                    } => {
                        let r = &self.relays[i];
                        let (server, base) = (r.client.server(), r.base);
                        self.push_event(Event::CandidateError {
                            server,
                            base,
                            relay: true,
                            code,
                        });
                        continue;
                    }
                    _ => continue,
                };
                let relay = &self.relays[i];
                let (base, component, server) =
                    (relay.base, relay.component, relay.client.server());
                // A relay reached over UDP before TCP before TLS, whatever the order of the
                // servers (a stream adds head-of-line blocking, TLS a handshake and its
                // overhead): each transport is ranked below every candidate of the one before
                // (there are at most MAX_LOCAL_CANDIDATES of them).
                let transport_rank = MAX_LOCAL_CANDIDATES
                    * match relay.client.transport() {
                        TurnTransport::Udp => 0,
                        TurnTransport::Tcp => 1,
                        TurnTransport::Tls => 2,
                    };
                if let Some(mapped) = mapped {
                    self.add_server_reflexive(base, mapped, component, server);
                }
                for address in relayed {
                    if self.locals.len() >= MAX_LOCAL_CANDIDATES {
                        break;
                    }
                    let foundation =
                        self.foundation(CandidateKind::Relayed, base.ip(), Some(server));
                    let rank = self.rank(CandidateKind::Relayed, &address.ip()) + transport_rank;
                    let mut c = Candidate::new(
                        CandidateKind::Relayed,
                        address,
                        local_preference(&address.ip(), rank),
                        component,
                        foundation,
                    );
                    c.related = mapped;
                    self.add_local(c, address, Some(i));
                }
            }
        }
    }

    /// Restarts ICE (RFC 8445 §9): new local credentials, the remote side's old credentials and
    /// candidates forgotten. The selected pairs keep carrying data until new ones are selected,
    /// but no longer than the consent they had lasts (RFC 7675 §5.1: nothing can refresh it, the
    /// restart drops the credentials consent checks are made with), and not once the restart
    /// has failed. A closed agent stays closed: this does nothing then.
    pub fn restart(&mut self, now: Instant, local: Credentials) {
        if self.state == State::Closed {
            // A closed agent stays closed.
            return;
        }
        let now = self.clamp(now);
        for (&component, &pair) in &self.selected {
            let p = &self.pairs[pair];
            let until = self.consent.get(&component).map_or(now, |k| k.last_ok)
                + self.config.consent_timeout;
            if until <= now {
                continue;
            }
            self.previous.insert(
                component,
                (
                    self.locals[p.local].base,
                    self.remotes[p.remote].address,
                    until,
                ),
            );
        }
        self.local_key = key(&local.pwd);
        self.local_creds = local;
        self.check_username = None;
        self.remote_key = None;
        self.remotes.clear();
        self.pending_mdns.clear();
        self.pairs.clear();
        self.triggered.clear();
        self.selected.clear();
        self.consent.clear();
        self.consent_lost = false;
        self.first_valid_at = None;
        self.remote_end_of_candidates = false;
        self.locals
            .retain(|l| l.cand.kind != CandidateKind::PeerReflexive);
        // Re-signal the local candidates with the new credentials, and learn fresh
        // server-reflexive addresses: the NAT may have changed.
        let hosts: Vec<(SocketAddr, u16)> = self
            .locals
            .iter()
            .filter(|l| l.cand.kind == CandidateKind::Host)
            .map(|l| (l.base, l.cand.component))
            .collect();
        self.locals
            .retain(|l| l.cand.kind != CandidateKind::ServerReflexive);
        for l in self.locals.clone() {
            if self.signalled(l.cand.kind) {
                self.push_event(Event::LocalCandidate(l.cand));
            }
        }
        self.gathers.clear();
        // TURN allocations stay (their relayed candidates are re-signalled above), and so do
        // those still waiting for their turn.
        self.pending_gathers
            .retain(|g| matches!(g, PendingGather::Relay(_)));
        if !self.config.lite {
            for (base, component) in hosts {
                self.queue_binding_requests(base, component);
            }
        }
        self.gathering_done = false;
        self.state = State::New;
        self.started = false;
        self.start(now);
    }

    /// Closes the agent: no more checks or data. Its TURN allocations are deleted (RFC 8656
    /// §7.2: a Refresh with LIFETIME 0), so that each server frees the relayed address now
    /// rather than when the allocation would expire; one still being made is deleted as soon
    /// as it succeeds. Until [`releasing`](Self::releasing) turns false, keep sending what
    /// [`poll_transmit`](Self::poll_transmit) and
    /// [`poll_stream_transmit`](Self::poll_stream_transmit) give, and feeding the servers'
    /// answers and the timers: the agent handles nothing else once closed.
    pub fn close(&mut self, now: Instant) {
        let now = self.clamp(now);
        self.pairs.iter_mut().for_each(|p| {
            p.check = None;
            p.cancelled.clear();
        });
        self.gathers.clear();
        self.pending_gathers.clear();
        self.next_gather = None;
        self.consent.clear();
        self.selected.clear();
        self.previous.clear();
        self.answers.clear();
        self.pending_mdns.clear();
        // Checks already wrapped for a stream TURN server: no more checks.
        self.stream_out.clear();
        self.set_state(State::Closed);
        self.release_relays(now);
    }

    /// Whether a closed agent is still deleting a TURN allocation (or waiting for one still
    /// being made, to delete it): the Refresh is retransmitted, and given up after the TURN
    /// client's transaction timeout (RFC 8489 §6.2.1), so this turns false on its own.
    pub fn releasing(&self) -> bool {
        self.state == State::Closed
            && self.relays.iter().any(|r| {
                matches!(
                    r.client.state(),
                    icebreaker_turn::State::Allocating | icebreaker_turn::State::Deleting
                )
            })
    }

    /// Once closed: deletes each allocation that exists (and drops what its client reported).
    fn release_relays(&mut self, now: Instant) {
        for r in &mut self.relays {
            while r.client.poll_event().is_some() {}
            if r.client.state() == icebreaker_turn::State::Allocated {
                let _ = r.client.delete(now);
            }
        }
    }

    fn recompute_priorities(&mut self) {
        for p in &mut self.pairs {
            let (l, r) = (
                self.locals[p.local].cand.priority,
                self.remotes[p.remote].priority,
            );
            p.priority = if self.controlling {
                pair_priority(l, r)
            } else {
                pair_priority(r, l)
            };
        }
    }

    /// Forms the pair of `local` and `remote` (or finds it) and returns its index. A full check
    /// list (`max_pairs`) makes room by replacing the lowest-priority pair that no check and
    /// no valid pair depends on (RFC 8445 §6.1.2.5 keeps the best pairs): a Failed one first,
    /// then a Frozen or Waiting one of lower priority than the new pair. A pair a peer's
    /// check arrived on (`triggered`, RFC 8445 §7.3.1.4) is let in even when every such pair
    /// ranks above it: that check just proved the path works from the peer's side.
    fn form_pair(&mut self, local: usize, remote: usize, triggered: bool) -> Option<usize> {
        let (l, r) = (&self.locals[local], &self.remotes[remote]);
        if l.cand.component != r.component
            || l.base.is_ipv4() != r.address.is_ipv4()
            || r.address.port() == 0
        {
            return None;
        }
        // RFC 8445 §6.1.2.4: a server-reflexive local candidate is replaced by its base, so
        // its pairs would duplicate the host's; peer-reflexive ones are never paired.
        if matches!(
            l.cand.kind,
            CandidateKind::ServerReflexive | CandidateKind::PeerReflexive
        ) {
            return None;
        }
        if self.config.relay_only && l.cand.kind != CandidateKind::Relayed {
            return None;
        }
        if let Some(i) = self
            .pairs
            .iter()
            .position(|p| p.local == local && p.remote == remote)
        {
            return Some(i);
        }
        let priority = if self.controlling {
            pair_priority(l.cand.priority, r.priority)
        } else {
            pair_priority(r.priority, l.cand.priority)
        };
        let foundation = (l.cand.foundation.clone(), r.foundation.clone());
        let slot = if self.pairs.len() < self.config.max_pairs {
            None
        } else {
            Some(self.evictable(priority, triggered)?)
        };
        if let (Some(relay), Some(now)) = (self.locals[local].relay, self.now) {
            // Checks through a relay need a permission for the peer's IP (RFC 8656 §9).
            let peer = self.remotes[remote].address.ip();
            let _ = self.relays[relay].client.create_permission(now, peer);
        }
        let index = slot.unwrap_or(self.pairs.len());
        let pair = Pair {
            local,
            remote,
            priority,
            state: PairState::Frozen,
            foundation,
            check: None,
            cancelled: Vec::new(),
            valid: None,
            checked_by: index,
            nominated: false,
            nominate_on_success: false,
            nominating: false,
            rtt: None,
            listed: true,
            counters: PairCounters::default(),
        };
        match slot {
            Some(i) => self.pairs[i] = pair,
            None => self.pairs.push(pair),
        }
        self.unfrozen = false;
        if self.started && self.next_check.is_none() {
            self.next_check = self.now;
        }
        Some(index)
    }

    /// The pair a new pair of `priority` may replace in a full check list: the lowest-priority
    /// Failed one, else the lowest-priority Frozen or Waiting one if it ranks below the new
    /// pair (or whatever its rank, for a `triggered` pair). Never a pair with a check in
    /// flight, queued as a triggered check, or cancelled but still awaited, nor one that is or
    /// made a valid pair.
    fn evictable(&self, priority: u64, triggered: bool) -> Option<usize> {
        let free = |i: usize, p: &Pair| {
            p.check.is_none()
                && p.cancelled.is_empty()
                && !self.triggered.contains(&i)
                && p.valid.is_none()
                && !p.nominated
                && !self
                    .pairs
                    .iter()
                    .any(|q| q.valid.is_some() && q.checked_by == i)
        };
        let lowest = |states: &[PairState]| {
            self.pairs
                .iter()
                .enumerate()
                .filter(|(i, p)| states.contains(&p.state) && free(*i, p))
                .min_by_key(|(i, p)| (p.priority, usize::MAX - i))
                .map(|(i, p)| (i, p.priority))
        };
        if let Some((i, _)) = lowest(&[PairState::Failed]) {
            return Some(i);
        }
        lowest(&[PairState::Frozen, PairState::Waiting])
            .filter(|&(_, worst)| triggered || worst < priority)
            .map(|(i, _)| i)
    }

    /// RFC 8445 §6.1.2.6: for each foundation with no pair waiting, in progress or succeeded,
    /// the pair with the lowest component and the highest priority becomes Waiting.
    fn unfreeze_initial(&mut self) {
        let mut active: Vec<&(String, String)> = self
            .pairs
            .iter()
            .filter(|p| p.state != PairState::Frozen && p.state != PairState::Failed)
            .map(|p| &p.foundation)
            .collect();
        active.sort();
        active.dedup();
        let mut best: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (i, p) in self.pairs.iter().enumerate() {
            if p.state != PairState::Frozen || active.binary_search(&&p.foundation).is_ok() {
                continue;
            }
            let comp = self.locals[p.local].cand.component;
            match best.get(&p.foundation) {
                Some(&b) => {
                    let bp = &self.pairs[b];
                    let bcomp = self.locals[bp.local].cand.component;
                    if (comp, std::cmp::Reverse(p.priority))
                        < (bcomp, std::cmp::Reverse(bp.priority))
                    {
                        best.insert(p.foundation.clone(), i);
                    }
                }
                None => {
                    best.insert(p.foundation.clone(), i);
                }
            }
        }
        for i in best.into_values() {
            self.pairs[i].state = PairState::Waiting;
        }
    }

    /// Feeds a datagram that arrived on local socket `to` from `from`.
    pub fn handle_receive<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        data: &'a [u8],
    ) -> Result<Received<'a>, RecvError> {
        let now = self.clamp(now);
        // TURN traffic from one of our servers over UDP: the client's own answers, or peer
        // data that arrived on a relayed address.
        if let Some(i) = self
            .relays
            .iter()
            .position(|r| !r.stream() && r.client.server() == from && r.base == to)
            && let Some(r) = self.receive_from_relay(now, i, from, to, data)
        {
            return r;
        }
        if self.state == State::Closed {
            return Err(RecvError::UnknownSource);
        }
        self.receive_direct(now, from, to, data)
    }

    /// Handles one frame that arrived on the TCP or TLS connection from local address `base` to
    /// the TURN server `server` (a [`TurnServer`] with a stream transport). The driver owns the
    /// connection and cuts its bytes into frames (icebreaker-stun's `StreamFramer`).
    ///
    /// # Errors
    /// [`RecvError::UnknownSource`] when no stream TURN client runs on that connection; as for
    /// [`handle_receive`](Self::handle_receive) otherwise.
    pub fn handle_stream_receive<'a>(
        &mut self,
        now: Instant,
        server: SocketAddr,
        base: SocketAddr,
        frame: &'a [u8],
    ) -> Result<Received<'a>, RecvError> {
        let now = self.clamp(now);
        let i = self
            .relays
            .iter()
            .position(|r| r.stream() && r.client.server() == server && r.base == base)
            .ok_or(RecvError::UnknownSource)?;
        self.receive_from_relay(now, i, server, base, frame)
            .unwrap_or(Err(RecvError::UnknownSource))
    }

    /// What TURN client `i` makes of a message from its server: its own answer, or peer data
    /// from a relayed address (handled as if it had arrived there directly). `None` when it was
    /// not for the client.
    fn receive_from_relay<'a>(
        &mut self,
        now: Instant,
        i: usize,
        from: SocketAddr,
        to: SocketAddr,
        data: &'a [u8],
    ) -> Option<Result<Received<'a>, RecvError>> {
        let received = self.relays[i].client.handle_receive(now, from, to, data);
        if self.state == State::Closed {
            // Only the answers to a delete (or to an Allocate made before the close) matter.
            self.release_relays(now);
            return Some(match received {
                icebreaker_turn::Received::Handled => Ok(Received::Stun),
                _ => Err(RecvError::UnknownSource),
            });
        }
        match received {
            icebreaker_turn::Received::Handled => {
                self.relay_events();
                Some(Ok(Received::Stun))
            }
            icebreaker_turn::Received::PeerData { peer, data } => {
                let relayed = self.relays[i]
                    .client
                    .relayed_addresses()
                    .iter()
                    .copied()
                    .find(|a| a.is_ipv4() == peer.is_ipv4());
                Some(match relayed {
                    Some(relayed) => self.receive_direct(now, peer, relayed, data),
                    None => Err(RecvError::UnknownSource),
                })
            }
            icebreaker_turn::Received::NotForUs => None,
        }
    }

    fn receive_direct<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        data: &'a [u8],
    ) -> Result<Received<'a>, RecvError> {
        if !self.locals.iter().any(|l| l.base == to) {
            self.stats.stun_dropped += u64::from(icebreaker_stun::is_stun(data));
            return Err(RecvError::UnknownLocal);
        }
        if icebreaker_stun::is_stun(data) {
            let Ok(msg) = Message::parse(data) else {
                self.stats.stun_dropped += 1;
                return Err(RecvError::BadStun);
            };
            let r = match msg.class() {
                Class::Request if msg.method() == Method::BINDING => {
                    self.on_request(now, from, to, &msg)
                }
                Class::Success | Class::Error => self.on_response(now, from, to, &msg),
                // Binding indications are keepalives (RFC 8445 §11): nothing to do.
                Class::Indication => Ok(()),
                Class::Request => Err(RecvError::BadStun),
            };
            if r.is_err() {
                self.stats.stun_dropped += 1;
            }
            return r.map(|()| Received::Stun);
        }
        // Application data is accepted only from validated pairs (and the pre-restart pair).
        // The selected pairs carry nearly all of it, so they are looked at first.
        let from_pair = |p: &&Pair| {
            p.valid.is_some()
                && self.remotes[p.remote].address == from
                && self.locals[p.local].base == to
        };
        let valid = self
            .selected
            .values()
            .copied()
            .find(|&i| from_pair(&&self.pairs[i]))
            .or_else(|| self.pairs.iter().position(|p| from_pair(&p)));
        if let Some(i) = valid {
            let component = self.remotes[self.pairs[i].remote].component;
            let checked_by = self.pairs[i].checked_by;
            let counters = &mut self.pairs[checked_by].counters;
            counters.packets_received += 1;
            counters.bytes_received += data.len() as u64;
            return Ok(Received::Data { component, data });
        }
        if let Some((&component, _)) = self
            .previous
            .iter()
            .find(|(_, (l, r, until))| *l == to && *r == from && now < *until)
        {
            return Ok(Received::Data { component, data });
        }
        Err(RecvError::UnknownSource)
    }

    fn on_request(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        msg: &Message<'_>,
    ) -> Result<(), RecvError> {
        if self.consent_lost {
            return Err(RecvError::ConsentLost);
        }
        // RFC 8445 §7.3 / RFC 8489 §9.1.3: FINGERPRINT (when present) must be right, USERNAME
        // must start with our ufrag, and MESSAGE-INTEGRITY must verify with our password; none
        // of this creates any state when it fails.
        if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
            return Err(RecvError::BadStun);
        }
        let tid = msg.transaction_id();
        let Ok(Some(Username(user))) = msg.get::<Username<'_>>() else {
            self.error_answer(from, to, tid, codes::BAD_REQUEST, &[]);
            return Err(RecvError::BadStun);
        };
        let local_ufrag = user.split(':').next().unwrap_or("");
        if local_ufrag != self.local_creds.ufrag || msg.verify_integrity(&self.local_key).is_err() {
            self.error_answer(from, to, tid, codes::UNAUTHENTICATED, &[]);
            return Err(RecvError::BadStun);
        }
        // RFC 8489 §6.3.1.1: comprehension-required attributes we do not know get a 420 that
        // lists them, and the check is not taken.
        let unknown = msg.unknown_attributes(check_attribute);
        if !unknown.is_empty() {
            self.error_answer(from, to, tid, codes::UNKNOWN_ATTRIBUTE, unknown.as_slice());
            return Err(RecvError::BadStun);
        }
        let priority = match msg.get::<Priority>() {
            Ok(Some(p)) => p.0,
            _ => {
                self.error_answer(from, to, tid, codes::BAD_REQUEST, &[]);
                return Err(RecvError::BadStun);
            }
        };
        // RFC 8445 §7.3.1.1: role conflicts.
        let theirs_controlling = msg.get::<IceControlling>().ok().flatten();
        let theirs_controlled = msg.get::<IceControlled>().ok().flatten();
        if self.controlling {
            if let Some(IceControlling(tb)) = theirs_controlling {
                if self.tie_breaker >= tb {
                    self.error_answer(from, to, tid, codes::ROLE_CONFLICT, &[]);
                    return Ok(());
                }
                self.switch_role(false);
            }
        } else if let Some(IceControlled(tb)) = theirs_controlled
            && !self.config.lite
        {
            if self.tie_breaker >= tb {
                self.switch_role(true);
            } else {
                self.error_answer(from, to, tid, codes::ROLE_CONFLICT, &[]);
                return Ok(());
            }
        }
        let use_candidate = msg.has(USE_CANDIDATE);
        // The answer: XOR-MAPPED-ADDRESS of the source, MESSAGE-INTEGRITY, FINGERPRINT.
        let key = &self.local_key;
        let answered = push_answer(&mut self.answers, Transmit { from: to, to: from }, |buf| {
            let mut w = MessageWriter::new(buf, Class::Success, Method::BINDING, tid).ok()?;
            w.push(&XorMappedAddress(from)).ok()?;
            w.finish_with_integrity(key, Integrity::Sha1, true).ok()
        });
        self.stats.checks_answered += 1;
        if !self.started {
            // Checks may arrive before our own start (the peer got our description first).
            self.started = true;
            self.set_state(State::Checking);
        }
        // Which local candidate did it arrive on?
        let Some(local) = self
            .locals
            .iter()
            .position(|l| l.base == to && l.cand.kind == CandidateKind::Host)
            .or_else(|| self.locals.iter().position(|l| l.base == to))
        else {
            return Ok(());
        };
        let component = self.locals[local].cand.component;
        // RFC 8445 §7.3.1.3: an unknown source is a peer-reflexive remote candidate.
        let remote = match self
            .remotes
            .iter()
            .position(|r| r.address == from && r.component == component)
        {
            Some(r) => r,
            None => {
                let foundation = format!("prflx{}", self.rng.next_u32());
                let mut c =
                    Candidate::new(CandidateKind::PeerReflexive, from, 0, component, foundation);
                c.priority = priority;
                // Paired below with the local candidate it reached, and with no other.
                match self.add_remote_unpaired(c) {
                    Ok(r) => r,
                    Err(_) => return Ok(()),
                }
            }
        };
        let Some(pair) = self.form_pair(local, remote, true) else {
            return Ok(());
        };
        let counters = &mut self.pairs[pair].counters;
        counters.requests_received += 1;
        counters.responses_sent += u64::from(answered);
        counters.last_request_received = Some(now);
        if self.config.lite {
            // A lite agent does no checks: a check from the peer validates the pair, and
            // USE-CANDIDATE selects it (RFC 8445 §7.3.1.5 for lite implementations).
            let p = &mut self.pairs[pair];
            p.state = PairState::Succeeded;
            p.valid = Some(pair);
            if use_candidate {
                self.nominate(now, pair);
            }
            return Ok(());
        }
        // RFC 8445 §7.3.1.4: triggered checks.
        let p = &mut self.pairs[pair];
        match p.state {
            PairState::Succeeded => {}
            PairState::InProgress => {
                // RFC 8445 §7.3.1.4: cancel the check in flight (its answer still counts, but
                // it is not retransmitted) and check again now. The peer's request just came
                // through, so a fresh check is likelier to be answered than a retransmission
                // well into its backoff; this breaks the deadlock where each side's answers are
                // lost while its own checks get through.
                let until = now + self.config.check_transaction.total_timeout();
                if let Some(c) = p.check.take() {
                    // A nomination stays one: the new check carries USE-CANDIDATE too.
                    p.nominating |= c.use_candidate;
                    if p.cancelled.len() == MAX_CANCELLED {
                        p.cancelled.remove(0);
                    }
                    p.cancelled.push((c, until));
                }
                self.trigger(now, pair);
            }
            PairState::Frozen | PairState::Waiting | PairState::Failed => self.trigger(now, pair),
        }
        // RFC 8445 §7.3.1.5: USE-CANDIDATE from the controlling agent.
        if use_candidate && !self.controlling {
            match self.pairs[pair].valid {
                Some(valid) if self.pairs[pair].state == PairState::Succeeded => {
                    self.nominate(now, valid)
                }
                _ => self.pairs[pair].nominate_on_success = true,
            }
        }
        Ok(())
    }

    /// Puts `pair` on the triggered-check queue (once) as Waiting; checks resume at `now` if
    /// the pacing timer was idle.
    fn trigger(&mut self, now: Instant, pair: usize) {
        self.pairs[pair].state = PairState::Waiting;
        if !self.triggered.contains(&pair) {
            self.triggered.push_back(pair);
        }
        self.next_check.get_or_insert(now);
    }

    /// Answers a check with error `code` (listing `unknown` attributes for a 420). An answer to
    /// an authenticated check (a 487 or a 420) is authenticated too (RFC 8489 §9.1.3); a 400
    /// or 401 cannot be.
    fn error_answer(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        tid: TransactionId,
        code: u16,
        unknown: &[AttributeType],
    ) {
        let key = &self.local_key;
        push_answer(&mut self.answers, Transmit { from: to, to: from }, |buf| {
            let mut w = MessageWriter::new(buf, Class::Error, Method::BINDING, tid).ok()?;
            w.push(&ErrorCode::bare(code)).ok()?;
            if !unknown.is_empty() {
                w.push(&UnknownAttributes::List(unknown)).ok()?;
            }
            if matches!(code, codes::ROLE_CONFLICT | codes::UNKNOWN_ATTRIBUTE) {
                w.finish_with_integrity(key, Integrity::Sha1, true).ok()
            } else {
                w.finish(true).ok()
            }
        });
    }

    fn switch_role(&mut self, controlling: bool) {
        if self.controlling != controlling {
            self.controlling = controlling;
            self.recompute_priorities();
            self.push_event(Event::RoleChanged { controlling });
        }
    }

    fn on_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        msg: &Message<'_>,
    ) -> Result<(), RecvError> {
        let tid = msg.transaction_id();
        // Server-reflexive gathering.
        if let Some(g) = self
            .gathers
            .iter()
            .position(|g| g.tx.transaction_id() == tid)
        {
            if from != self.gathers[g].server || !self.gathers[g].tx.handle_response(now, msg) {
                return Err(RecvError::BadStun);
            }
            // Only a success that passes RFC 8489 §6.3.3 (no unknown comprehension-required
            // attribute) gives a server-reflexive candidate.
            let success = matches!(
                self.gathers[g].tx.state(),
                TransactionState::Done {
                    class: Class::Success,
                    ..
                }
            );
            let g = &self.gathers[g];
            let (base, component, server) = (g.base, g.component, g.server);
            match (success, msg.get::<XorMappedAddress>()) {
                (true, Ok(Some(XorMappedAddress(mapped)))) => {
                    self.add_server_reflexive(base, mapped, component, server);
                }
                _ => {
                    let code = match (msg.class(), msg.get::<ErrorCode<'_>>()) {
                        (Class::Error, Ok(Some(e))) => Some(e.code),
                        _ => None,
                    };
                    self.push_event(Event::CandidateError {
                        server,
                        base,
                        relay: false,
                        code,
                    });
                }
            }
            return Ok(());
        }
        // Consent checks on a selected pair.
        if let Some(component) = self.consent.iter().find_map(|(&c, k)| {
            k.check
                .as_ref()
                .is_some_and(|t| t.transaction_id() == tid)
                .then_some(c)
        }) {
            let Some(key) = &self.remote_key else {
                return Err(RecvError::BadStun);
            };
            // RFC 7675 §5.1: consent comes from the remote peer's transport address, to the
            // address the check left from.
            let on_pair = self.selected.get(&component).is_some_and(|&s| {
                let p = &self.pairs[self.pairs[s].checked_by];
                from == self.remotes[p.remote].address && to == self.locals[p.local].base
            });
            if on_pair && msg.class() == Class::Success && msg.verify_integrity(key).is_ok() {
                let mut rtt = None;
                if let Some(k) = self.consent.get_mut(&component) {
                    if let Some(mut tx) = k.check.take() {
                        tx.handle_response(now, msg);
                        if let TransactionState::Done { rtt: r, .. } = tx.state() {
                            rtt = Some(r);
                        }
                    }
                    k.last_ok = now;
                }
                if let Some(&s) = self.selected.get(&component) {
                    let i = self.pairs[s].checked_by;
                    let counters = &mut self.pairs[i].counters;
                    counters.responses_received += 1;
                    counters.last_response_received = Some(now);
                    if let Some(rtt) = rtt {
                        counters.round_trip(rtt);
                    }
                }
                let fresh = |k: &Consent| {
                    now.saturating_duration_since(k.last_ok) < self.config.disconnected_timeout
                };
                if self.state == State::Disconnected && self.consent.values().all(fresh) {
                    self.set_state(State::Connected);
                }
                return Ok(());
            }
            return Err(RecvError::BadStun);
        }
        let is_tid = |c: &Check| c.tx.transaction_id() == tid;
        let Some(pair) = self.pairs.iter().position(|p| {
            p.check.as_ref().is_some_and(is_tid) || p.cancelled.iter().any(|(c, _)| is_tid(c))
        }) else {
            return Err(RecvError::BadStun);
        };
        let Some(key) = self.remote_key.clone() else {
            return Err(RecvError::BadStun);
        };
        // RFC 8445 §7.2.5.1: a response must be authenticated before anything is concluded.
        if msg.verify_integrity(&key).is_err() {
            return Err(RecvError::BadStun);
        }
        let (local, remote) = (self.pairs[pair].local, self.pairs[pair].remote);
        let counters = &mut self.pairs[pair].counters;
        counters.responses_received += 1;
        counters.last_response_received = Some(now);
        let cancelled = self.pairs[pair]
            .cancelled
            .iter()
            .position(|(c, _)| is_tid(c));
        let check = if let Some(i) = cancelled {
            // An answer to a cancelled check: a success concludes the pair (the checks that
            // replaced it are then moot); anything else is left to the newest check.
            let (c, _) = self.pairs[pair].cancelled.remove(i);
            if msg.class() != Class::Success {
                return Ok(());
            }
            self.pairs[pair].check = None;
            self.pairs[pair].cancelled.clear();
            self.triggered.retain(|&t| t != pair);
            c
        } else {
            match self.pairs[pair].check.take() {
                Some(c) => {
                    if msg.class() == Class::Success {
                        // The pair is concluded: a late answer to a cancelled check would only
                        // measure a stale round trip.
                        self.pairs[pair].cancelled.clear();
                    }
                    c
                }
                None => return Err(RecvError::BadStun),
            }
        };
        let mut tx = check.tx;
        tx.handle_response(now, msg);
        let rtt = match tx.state() {
            TransactionState::Done { rtt, .. } => Some(rtt),
            _ => None,
        };
        // RFC 8445 §7.2.5.2.1: the response must come from where the request went, to where
        // it left from.
        // RFC 8489 §6.3.3: a success with an unknown comprehension-required attribute fails
        // the check like an error does (an error without ERROR-CODE fails it below).
        let faulty = matches!(
            tx.state(),
            TransactionState::Failed(ResponseFault::UnknownAttribute(_))
        );
        if faulty || from != self.remotes[remote].address || to != self.locals[local].base {
            self.pairs[pair].state = PairState::Failed;
            self.check_failure(now);
            return Ok(());
        }
        if msg.class() == Class::Error {
            let code = msg.get::<ErrorCode<'_>>().ok().flatten().map(|e| e.code);
            if code == Some(codes::ROLE_CONFLICT) {
                // RFC 8445 §7.2.5.1: take the role opposite to the one the request claimed (if
                // an earlier answer has not switched it already) and check again.
                if self.controlling == check.controlling {
                    self.switch_role(!check.controlling);
                }
                self.trigger(now, pair);
            } else {
                self.pairs[pair].state = PairState::Failed;
                self.check_failure(now);
            }
            return Ok(());
        }
        let Ok(Some(XorMappedAddress(mapped))) = msg.get::<XorMappedAddress>() else {
            self.pairs[pair].state = PairState::Failed;
            self.check_failure(now);
            return Ok(());
        };
        // RFC 8445 §7.2.5.3.1: the mapped address names the local candidate of the valid
        // pair, or is a new peer-reflexive candidate.
        let base = self.locals[local].base;
        let valid_local = match self
            .locals
            .iter()
            .position(|l| l.cand.address == mapped && l.base == base)
        {
            Some(i) => i,
            None if self.locals.len() < MAX_LOCAL_CANDIDATES => {
                let foundation = self.foundation(CandidateKind::PeerReflexive, base.ip(), None);
                let component = self.locals[local].cand.component;
                let mut c = Candidate::new(
                    CandidateKind::PeerReflexive,
                    mapped,
                    0,
                    component,
                    foundation,
                );
                c.priority = self.prflx_priority(local);
                c.related = Some(base);
                let relay = self.locals[local].relay;
                self.locals.push(LocalCandidate {
                    cand: c,
                    base,
                    relay,
                });
                self.locals.len() - 1
            }
            None => local,
        };
        // Valid pairs that are not in the check list are bounded too: past the cap, the checked
        // pair stands for its valid pair.
        let valid = if valid_local == local || self.pairs.len() >= self.config.max_pairs * 2 {
            pair
        } else {
            match self
                .pairs
                .iter()
                .position(|p| p.local == valid_local && p.remote == remote)
            {
                Some(v) => v,
                None => {
                    let (l, r) = (
                        self.locals[valid_local].cand.priority,
                        self.remotes[remote].priority,
                    );
                    self.pairs.push(Pair {
                        local: valid_local,
                        remote,
                        priority: if self.controlling {
                            pair_priority(l, r)
                        } else {
                            pair_priority(r, l)
                        },
                        state: PairState::Succeeded,
                        foundation: (
                            self.locals[valid_local].cand.foundation.clone(),
                            self.remotes[remote].foundation.clone(),
                        ),
                        check: None,
                        cancelled: Vec::new(),
                        valid: None,
                        checked_by: pair,
                        nominated: false,
                        nominate_on_success: false,
                        nominating: false,
                        rtt,
                        listed: false,
                        counters: PairCounters::default(),
                    });
                    self.pairs.len() - 1
                }
            }
        };
        {
            let v = &mut self.pairs[valid];
            v.valid = Some(valid);
            v.checked_by = pair;
            v.rtt = rtt;
            v.state = PairState::Succeeded;
        }
        let p = &mut self.pairs[pair];
        p.state = PairState::Succeeded;
        p.valid = Some(valid);
        p.rtt = rtt;
        if let Some(rtt) = rtt {
            p.counters.round_trip(rtt);
        }
        self.first_valid_at.get_or_insert(now);
        // RFC 8445 §7.2.5.3.3: unfreeze the pairs with the same foundation.
        let foundation = self.pairs[pair].foundation.clone();
        for q in &mut self.pairs {
            if q.state == PairState::Frozen && q.foundation == foundation {
                q.state = PairState::Waiting;
            }
        }
        let nominate =
            (check.use_candidate && self.controlling) || self.pairs[pair].nominate_on_success;
        if nominate {
            self.nominate(now, valid);
        }
        self.next_check.get_or_insert(now);
        Ok(())
    }

    /// The PRIORITY a check from `local` carries: what a peer-reflexive candidate learned from
    /// it would get (RFC 8445 §7.1.1).
    fn prflx_priority(&self, local: usize) -> u32 {
        let c = &self.locals[local].cand;
        (u32::from(CandidateKind::PeerReflexive.type_preference()) << 24)
            | (c.priority & 0x00ff_ffff)
    }

    fn nominate(&mut self, now: Instant, valid: usize) {
        if self.consent_lost {
            return;
        }
        let component = self.locals[self.pairs[valid].local].cand.component;
        if self.selected.contains_key(&component) && self.pairs[valid].nominated {
            return;
        }
        self.pairs[valid].nominated = true;
        // Keep the highest-priority nominated pair (RFC 8445 §8.1.1).
        if let Some(&cur) = self.selected.get(&component)
            && self.pairs[cur].priority >= self.pairs[valid].priority
        {
            return;
        }
        self.selected.insert(component, valid);
        // Data over a relayed pair goes in ChannelData: 4 bytes of overhead instead of 36.
        let (local, remote) = (self.pairs[valid].local, self.pairs[valid].remote);
        if let Some(relay) = self.locals[local].relay {
            let peer = self.remotes[remote].address;
            let _ = self.relays[relay].client.bind_channel(now, peer);
        }
        self.previous.remove(&component);
        let p = &self.pairs[valid];
        let event = Event::SelectedPair {
            component,
            local: self.locals[p.local].cand.clone(),
            remote: self.remotes[p.remote].clone(),
            rtt: p.rtt,
        };
        self.push_event(event);
        if !self.consent.contains_key(&component) {
            let consent = Consent {
                last_ok: now,
                next_check: now + self.consent_interval(),
                check: None,
            };
            self.consent.insert(component, consent);
        }
        if (1..=self.config.components).all(|c| self.selected.contains_key(&c)) {
            self.set_state(State::Connected);
        }
    }

    fn consent_interval(&mut self) -> Duration {
        // RFC 7675 §5.1: randomised between 0.8 and 1.2 times the interval.
        let base = self.config.consent_interval;
        let jitter = 800 + self.rng.next_u32() % 401;
        base * jitter / 1000
    }

    /// Advances timers: pacing of new checks, retransmissions, nomination, consent.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clamp(now);
        if self.state == State::Closed {
            for r in &mut self.relays {
                r.client.handle_timeout(now);
            }
            self.release_relays(now);
            return;
        }
        if !self.started {
            return;
        }
        // Gathering.
        self.pace_gathering(now);
        for i in 0..self.gathers.len() {
            let g = &mut self.gathers[i];
            let answered = g.tx.is_finished();
            g.tx.handle_timeout(now);
            if !answered && g.tx.is_finished() {
                let (server, base) = (g.server, g.base);
                self.push_event(Event::CandidateError {
                    server,
                    base,
                    relay: false,
                    code: None,
                });
            }
        }
        for r in &mut self.relays {
            r.client.handle_timeout(now);
        }
        self.relay_events();
        self.check_gathering_done();
        // Check transactions.
        let mut failed = false;
        let mut awaited = false;
        for p in &mut self.pairs {
            let before = p.cancelled.len();
            p.cancelled.retain(|&(_, until)| now < until);
            awaited |= p.cancelled.len() < before && p.state == PairState::Failed;
            if let Some(c) = &mut p.check {
                c.tx.handle_timeout(now);
                if c.tx.state() == TransactionState::TimedOut {
                    p.check = None;
                    p.state = PairState::Failed;
                    failed = true;
                }
            }
        }
        if failed || awaited {
            self.check_failure(now);
        }
        // Controlling agent, regular nomination (RFC 8445 §8.1.1).
        if self.controlling && !self.config.lite {
            self.maybe_nominate(now);
        }
        // Pacing: one new check every Ta.
        if self.next_check.is_some_and(|at| now >= at) && self.remote_key.is_some() {
            self.next_check = if self.send_next_check(now) {
                Some(now + self.pacing())
            } else {
                None
            };
        }
        self.consent_timers(now);
        self.previous.retain(|_, &mut (_, _, until)| now < until);
    }

    fn maybe_nominate(&mut self, now: Instant) {
        if self.consent_lost {
            return;
        }
        for component in 1..=self.config.components {
            if self.selected.contains_key(&component) {
                continue;
            }
            let comp_of = |p: &Pair| self.locals[p.local].cand.component;
            let in_flight =
                |p: &Pair| p.nominating || p.check.as_ref().is_some_and(|c| c.use_candidate);
            if self
                .pairs
                .iter()
                .any(|p| comp_of(p) == component && in_flight(p))
            {
                continue;
            }
            let Some(best) = self.best_valid(component) else {
                continue;
            };
            if self.nomination_wait(best).is_some_and(|until| now < until) {
                continue;
            }
            let check_pair = self.pairs[best].checked_by;
            self.pairs[check_pair].nominating = true;
            self.pairs[check_pair].check = None;
            self.pairs[check_pair].cancelled.clear();
            self.pairs[check_pair].state = PairState::Waiting;
            self.triggered.retain(|&t| t != check_pair);
            self.triggered.push_front(check_pair);
            self.next_check.get_or_insert(now);
        }
    }

    /// The highest-priority valid pair of `component`.
    fn best_valid(&self, component: u16) -> Option<usize> {
        self.pairs
            .iter()
            .enumerate()
            .filter(|(i, p)| {
                p.valid == Some(*i) && self.locals[p.local].cand.component == component
            })
            .max_by_key(|(_, p)| p.priority)
            .map(|(i, _)| i)
    }

    /// Until when the controlling agent holds back the nomination of the valid pair `best` for
    /// a better pair of its component that may still succeed (RFC 8445 §8.1.1 leaves this
    /// stopping rule to the agent); `None` when no better pair is pending.
    ///
    /// A better pair not checked yet is waited for until `nomination_delay` after the first
    /// valid pair. A better pair whose check is out gets twice `best`'s round-trip time from its
    /// first send, and at least Ta: an answer that has not come back by then is on a path much
    /// slower than the one that works, or lost (and a retransmission comes only after the
    /// RTO). Without that, a host pair between private addresses that can never answer held
    /// every nomination behind a NAT back by the whole `nomination_delay`.
    fn nomination_wait(&self, best: usize) -> Option<Instant> {
        let b = &self.pairs[best];
        let component = self.locals[b.local].cand.component;
        let cap = self.first_valid_at? + self.config.nomination_delay;
        let patience = b.rtt.map(|rtt| (rtt * 2).max(self.pacing()));
        self.pairs
            .iter()
            .filter(|p| p.priority > b.priority && self.locals[p.local].cand.component == component)
            .filter_map(|p| match p.state {
                PairState::Waiting | PairState::Frozen => Some(cap),
                PairState::InProgress => Some(
                    p.check
                        .as_ref()
                        .zip(patience)
                        .map_or(cap, |(c, patience)| (c.sent_at + patience).min(cap)),
                ),
                PairState::Succeeded | PairState::Failed => None,
            })
            .max()
    }

    /// Starts one check; returns whether there was one to start.
    fn send_next_check(&mut self, now: Instant) -> bool {
        if self.config.lite || self.consent_lost {
            return false;
        }
        if !self.unfrozen {
            // Pairs formed since the last check: set the initial states once, not per pair.
            self.unfreeze_initial();
            self.unfrozen = true;
        }
        let all_selected = (1..=self.config.components).all(|c| self.selected.contains_key(&c));
        let next = loop {
            match self.triggered.pop_front() {
                Some(i) if self.pairs[i].state == PairState::Waiting => break Some(i),
                Some(_) => continue,
                None => break None,
            }
        };
        let next = next.or_else(|| {
            if all_selected {
                return None;
            }
            let pick = |state| {
                self.pairs
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.state == state)
                    .max_by_key(|(i, p)| (p.priority, std::cmp::Reverse(*i)))
                    .map(|(i, _)| i)
            };
            pick(PairState::Waiting).or_else(|| {
                // RFC 8445 §6.1.4.2: with nothing Waiting, a Frozen pair goes only if no pair
                // of its foundation is Waiting or In-Progress; nothing is Waiting here, so only
                // a check in flight holds a foundation back.
                let busy = |f: &(String, String)| {
                    self.pairs
                        .iter()
                        .any(|q| q.state == PairState::InProgress && &q.foundation == f)
                };
                self.pairs
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.state == PairState::Frozen && !busy(&p.foundation))
                    .max_by_key(|(i, p)| (p.priority, std::cmp::Reverse(*i)))
                    .map(|(i, _)| i)
            })
        });
        let Some(pair) = next else { return false };
        self.start_check(now, pair);
        true
    }

    /// Writes a connectivity check (also used for consent) from local candidate `local`:
    /// USERNAME, PRIORITY, the role with our tie-breaker, USE-CANDIDATE when nominating,
    /// MESSAGE-INTEGRITY with the peer's password and FINGERPRINT (RFC 8445 §7.1).
    fn write_check(&mut self, buf: &mut [u8], local: usize, use_candidate: bool) -> Option<usize> {
        let (Some(username), Some(key)) = (&self.check_username, &self.remote_key) else {
            return None;
        };
        let tid = TransactionId::random(&mut self.rng);
        let mut w = MessageWriter::new(buf, Class::Request, Method::BINDING, tid).ok()?;
        w.push(&Username(username)).ok()?;
        w.push(&Priority(self.prflx_priority(local))).ok()?;
        if self.controlling {
            w.push(&IceControlling(self.tie_breaker)).ok()?;
        } else {
            w.push(&IceControlled(self.tie_breaker)).ok()?;
        }
        if use_candidate {
            w.push(&UseCandidate).ok()?;
        }
        w.finish_with_integrity(key, Integrity::Sha1, true).ok()
    }

    fn start_check(&mut self, now: Instant, pair: usize) {
        if self.check_username.is_none() {
            return;
        }
        let (local, remote) = (self.pairs[pair].local, self.pairs[pair].remote);
        let use_candidate = self.controlling && self.pairs[pair].nominating;
        let mut buf = [0u8; CHECK_LEN];
        let written = self.write_check(&mut buf, local, use_candidate);
        let Some(n) = written else {
            self.pairs[pair].state = PairState::Failed;
            return;
        };
        let to = self.remotes[remote].address;
        // RFC 8445 §14.3: the RTO grows with the checks under way, to Ta × (Waiting +
        // In-Progress) when that is longer, so that every pair gets its first check before any
        // is sent again and the checks keep to about one per Ta.
        let mut config = self.config.check_transaction;
        let under_way = self
            .pairs
            .iter()
            .filter(|p| matches!(p.state, PairState::Waiting | PairState::InProgress))
            .count();
        let scaled = self
            .pacing()
            .saturating_mul(u32::try_from(under_way).unwrap_or(u32::MAX));
        if scaled > config.rto {
            config.rto = scaled;
            config.max_rto = config.max_rto.map(|m| m.max(scaled));
        }
        match ClientTransaction::new(now, to, buf[..n].to_vec(), config) {
            Ok(tx) => {
                let p = &mut self.pairs[pair];
                p.check = Some(Check {
                    tx,
                    sent_at: now,
                    use_candidate,
                    controlling: self.controlling,
                });
                p.state = PairState::InProgress;
                if use_candidate {
                    p.nominating = false;
                }
            }
            Err(_) => self.pairs[pair].state = PairState::Failed,
        }
    }

    fn check_failure(&mut self, now: Instant) {
        // A failed pair may leave its foundation with nothing Waiting or In-Progress, which
        // lets one of its Frozen pairs go (RFC 8445 §6.1.4.2): wake the pacer to look.
        self.next_check.get_or_insert(now);
        self.fail_if_hopeless();
    }

    /// RFC 8445 §7.2.5.4 and RFC 8838 §8: with every pair done and none valid, no candidate
    /// left to come from either side (the peer's end-of-candidates, our gathering finished, no
    /// mDNS name unresolved), the agent has failed. Each of those four inputs calls this when
    /// it changes, so the last one to arrive decides; that includes having no pair at all.
    fn fail_if_hopeless(&mut self) {
        let done = self.pairs.iter().all(|p| {
            // A cancelled check's answer may still make a failed pair valid.
            p.state == PairState::Succeeded
                || (p.state == PairState::Failed && p.cancelled.is_empty())
        });
        let none_valid = self.pairs.iter().all(|p| p.valid.is_none());
        if done
            && none_valid
            && self.started
            && !self.config.lite
            && self.remote_end_of_candidates
            && self.gathering_done
            && self.pending_mdns.is_empty()
            && matches!(self.state, State::Checking | State::New)
        {
            self.set_state(State::Failed);
        }
    }

    fn consent_timers(&mut self, now: Instant) {
        // RFC 7675 §5.1: consent is per 5-tuple, so each component's selected pair has its own.
        let mut disconnected = false;
        for component in 1..=self.config.components {
            let Some(&pair) = self.selected.get(&component) else {
                continue;
            };
            let Some(k) = self.consent.get_mut(&component) else {
                continue;
            };
            let silent = now.saturating_duration_since(k.last_ok);
            if silent >= self.config.consent_timeout {
                self.lose_consent();
                return;
            }
            disconnected |= silent >= self.config.disconnected_timeout;
            if let Some(tx) = &mut k.check {
                tx.handle_timeout(now);
                if tx.is_finished() {
                    k.check = None;
                }
            }
            if k.check.is_some() || now < k.next_check {
                continue;
            }
            let next = now + self.consent_interval();
            if let Some(k) = self.consent.get_mut(&component) {
                k.next_check = next;
            }
            let p = &self.pairs[self.pairs[pair].checked_by];
            let (to, local) = (self.remotes[p.remote].address, p.local);
            let mut buf = [0u8; CHECK_LEN];
            let written = self.write_check(&mut buf, local, false);
            // A consent check retransmits like any STUN transaction (RFC 7675 §5.1), but
            // finishes before the next one is due: 4 sends over 1.75 s, 2.75 s in all with a
            // 250 ms RTO, within the 4 s minimum interval.
            let config = TransactionConfig {
                max_sends: 4,
                last_wait: 4,
                ..self.config.check_transaction
            };
            if let (Some(n), Some(k)) = (written, self.consent.get_mut(&component)) {
                k.check = ClientTransaction::new(now, to, buf[..n].to_vec(), config).ok();
            }
        }
        if disconnected && self.state == State::Connected {
            self.set_state(State::Disconnected);
        }
    }

    /// RFC 7675 §5.1: consent expired on a selected pair. Stop sending, and never use these
    /// credentials on the pair again: no new nomination (RFC 8445 §8.1.1 allows one per
    /// component) and no checks, sent or answered, until an ICE restart. The data stream needs
    /// every component, so the whole agent fails.
    fn lose_consent(&mut self) {
        self.selected.clear();
        self.previous.clear();
        self.consent.clear();
        self.consent_lost = true;
        self.triggered.clear();
        self.next_check = None;
        for p in &mut self.pairs {
            p.check = None;
            p.cancelled.clear();
            p.nominating = false;
            p.nominate_on_success = false;
            if p.state != PairState::Succeeded {
                p.state = PairState::Failed;
            }
        }
        self.set_state(State::Failed);
    }

    /// Reports the end of gathering once nothing is left to gather.
    fn check_gathering_done(&mut self) {
        if !self.gathering_done && self.gathering_finished() {
            self.gathering_done = true;
            self.push_event(Event::GatheringComplete);
            self.fail_if_hopeless();
        }
    }

    fn gathering_finished(&self) -> bool {
        self.pending_gathers.is_empty()
            && self.gathers.iter().all(|g| g.tx.is_finished())
            && self.relays.iter().all(|r| {
                matches!(
                    r.client.state(),
                    icebreaker_turn::State::Allocated | icebreaker_turn::State::Closed
                )
            })
    }

    /// The next datagram to send: its bytes replace the contents of `buf`.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        for r in self.relays.iter_mut().filter(|r| !r.stream()) {
            if let Some(t) = r.client.poll_transmit(buf) {
                return Some(t);
            }
        }
        loop {
            let t = self.poll_unwrapped(buf)?;
            if let Wrapped::Datagram(t) = self.wrap(t, buf) {
                return Some(t);
            }
        }
    }

    /// The next frame for a TURN server reached over TCP or TLS: write `buf` to the connection
    /// from local address `from` (the host address to connect from) to server `to`, opening it
    /// first if there is none. Call it after [`poll_transmit`](Self::poll_transmit), which
    /// queues what relayed candidates send through such a server, until it returns `None`.
    pub fn poll_stream_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        for r in self.relays.iter_mut().filter(|r| r.stream()) {
            if let Some(t) = r.client.poll_transmit(buf) {
                return Some(t);
            }
        }
        let (t, mut frame) = self.stream_out.pop_front()?;
        // Hand the frame over and keep the caller's buffer for the next one.
        std::mem::swap(buf, &mut frame);
        frame.clear();
        self.stream_spare.push(frame);
        Some(t)
    }

    /// Sends what leaves from a relayed candidate through its TURN client (ChannelData when a
    /// channel is bound, a Send indication otherwise); what leaves from any other candidate
    /// goes as it is.
    fn wrap(&mut self, t: Transmit, buf: &mut Vec<u8>) -> Wrapped {
        let Some(relay) = self
            .locals
            .iter()
            .find(|l| l.base == t.from && l.relay.is_some())
            .and_then(|l| l.relay)
        else {
            return Wrapped::Datagram(t);
        };
        std::mem::swap(buf, &mut self.scratch);
        buf.clear();
        buf.resize(self.scratch.len() + 64, 0);
        let r = self.relays[relay]
            .client
            .send_into(t.to, &self.scratch, buf);
        match r {
            Ok((t, n)) if self.relays[relay].stream() => {
                if self.stream_out.len() < MAX_STREAM_QUEUE {
                    let mut frame = self.stream_spare.pop().unwrap_or_default();
                    frame.extend_from_slice(buf.get(..n).unwrap_or_default());
                    self.stream_out.push_back((t, frame));
                }
                Wrapped::Stream
            }
            Ok((t, n)) => {
                buf.truncate(n);
                Wrapped::Datagram(t)
            }
            Err(_) => Wrapped::Refused,
        }
    }

    fn poll_unwrapped(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        if let Some(a) = self.answers.pop_front() {
            buf.clear();
            buf.extend_from_slice(&a.bytes[..a.len]);
            return Some(a.transmit);
        }
        for g in &mut self.gathers {
            let to = g.tx.destination();
            if let Some(bytes) = g.tx.poll_transmit() {
                buf.clear();
                buf.extend_from_slice(bytes);
                return Some(Transmit { from: g.base, to });
            }
        }
        let locals = &self.locals;
        for p in &mut self.pairs {
            if let Some(c) = &mut p.check {
                let to = c.tx.destination();
                if let Some(bytes) = c.tx.poll_transmit() {
                    buf.clear();
                    buf.extend_from_slice(bytes);
                    self.stats.checks_sent += 1;
                    if c.tx.sends() == 1 {
                        p.counters.requests_sent += 1;
                    } else {
                        p.counters.retransmissions_sent += 1;
                    }
                    return Some(Transmit {
                        from: locals[p.local].base,
                        to,
                    });
                }
            }
        }
        for (component, k) in &mut self.consent {
            let (Some(tx), Some(&pair)) = (&mut k.check, self.selected.get(component)) else {
                continue;
            };
            let to = tx.destination();
            if let Some(bytes) = tx.poll_transmit() {
                buf.clear();
                buf.extend_from_slice(bytes);
                let first = tx.sends() == 1;
                let from = self.locals[self.pairs[pair].local].base;
                let checked_by = self.pairs[pair].checked_by;
                let counters = &mut self.pairs[checked_by].counters;
                if first {
                    counters.requests_sent += 1;
                    counters.consent_requests_sent += 1;
                } else {
                    counters.retransmissions_sent += 1;
                }
                return Some(Transmit { from, to });
            }
        }
        None
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return self
                .relays
                .iter()
                .filter_map(|r| r.client.poll_timeout())
                .min();
        }
        if !self.started {
            return None;
        }
        let mut t = self.next_check.filter(|_| self.remote_key.is_some());
        let mut min = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        min(self.next_gather);
        for g in &self.gathers {
            min(g.tx.poll_timeout());
        }
        if !self.gathering_done && self.gathering_finished() {
            min(self.now);
        }
        for r in &self.relays {
            min(r.client.poll_timeout());
        }
        for p in &self.pairs {
            if let Some(c) = &p.check {
                min(c.tx.poll_timeout());
            }
        }
        if self.controlling && !self.config.lite {
            for component in 1..=self.config.components {
                if self.selected.contains_key(&component) {
                    continue;
                }
                let deadline = self
                    .best_valid(component)
                    .and_then(|b| self.nomination_wait(b));
                min(deadline.filter(|d| self.now.is_none_or(|now| *d > now)));
            }
        }
        for k in self.consent.values() {
            min(Some(k.next_check).filter(|_| k.check.is_none()));
            min(k.check.as_ref().and_then(ClientTransaction::poll_timeout));
            min(Some(k.last_ok + self.config.disconnected_timeout)
                .filter(|_| self.state == State::Connected));
            min(Some(k.last_ok + self.config.consent_timeout));
        }
        for &(_, _, until) in self.previous.values() {
            min(Some(until));
        }
        for p in &self.pairs {
            min(p.cancelled.first().map(|&(_, until)| until));
        }
        t
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Writes application data for `component` into `buf`, ready to send on the selected pair
    /// (or, during a restart, the previous pair): as it is on a direct pair, wrapped for the
    /// TURN server on a relayed one. Returns where to send `buf`; `None` when the pair is
    /// relayed through a TURN server reached over TCP or TLS: the frame then waits for
    /// [`poll_stream_transmit`](Self::poll_stream_transmit).
    ///
    /// # Errors
    /// [`Error::NotConnected`] without a selected pair, [`Error::Relay`] when the TURN client
    /// refuses the datagram (its allocation or permission is gone).
    pub fn send(
        &mut self,
        component: u16,
        data: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<Option<Transmit>, Error> {
        let path = self.send_path(component)?;
        buf.clear();
        buf.extend_from_slice(data);
        let t = match self.wrap(path, buf) {
            Wrapped::Datagram(t) => Some(t),
            Wrapped::Stream => None,
            Wrapped::Refused => return Err(Error::Relay),
        };
        if let Some(&s) = self.selected.get(&component) {
            let i = self.pairs[s].checked_by;
            let counters = &mut self.pairs[i].counters;
            counters.packets_sent += 1;
            counters.bytes_sent += data.len() as u64;
        }
        Ok(t)
    }

    /// The addresses of the selected pair of `component`: the local candidate's base (for a
    /// relayed candidate, its relayed address) and the remote candidate. Use
    /// [`send`](Self::send) to send; this is for display and tests.
    pub fn send_path(&self, component: u16) -> Result<Transmit, Error> {
        if let Some(&pair) = self.selected.get(&component) {
            let p = &self.pairs[pair];
            let check = &self.pairs[p.checked_by];
            return Ok(Transmit {
                from: self.locals[check.local].base,
                to: self.remotes[check.remote].address,
            });
        }
        match self.previous.get(&component) {
            Some(&(from, to, until)) if self.now.is_none_or(|now| now < until) => {
                Ok(Transmit { from, to })
            }
            _ => Err(Error::NotConnected),
        }
    }
}
