//! The sans-IO `Peer`: an ICE [`Agent`] composed with SDP offer/answer and the JSON signalling
//! messages of DESIGN.md.
//!
//! A `Peer` does no I/O and reads no clock, exactly like the agent it wraps. The loop:
//!
//! ```text
//! handle_signal(now, msg)            a signalling message from the other side (or the user)
//! handle_receive(now, from, to, d)   a datagram that arrived on one of the peer's sockets
//! handle_timeout(now)                once poll_timeout() has passed
//! poll_transmit(&mut buf)            datagrams to send (from, to)
//! poll_stream_transmit(&mut buf)     frames for a TURN server over TCP/TLS (from, to), whose
//!                                    answers come back through handle_stream_receive
//! poll_signal()                      messages to signal (offer, answer, candidate) or report
//!                                    (state, selected, message, error, stats)
//! poll_timeout()                     when to call handle_timeout next
//! poll_event()                       typed events: state, selected pair, application data
//! ```
//!
//! [`PeerConfig::reports`] chooses where the state, the selected pair and received data are
//! reported: as signals (JSON lines, what the `peer` command prints) or as typed events.
//!
//! The session is data-only. An offer has one `m=application 9 UDP/DTLS/SCTP
//! webrtc-datachannel` section with `ice-ufrag`, `ice-pwd`, `ice-options:trickle ice2` (RFC 8838,
//! and RFC 8445 §10's mark of an RFC 8445 agent), `mid`, the
//! candidates known when the description is made, and `end-of-candidates` once gathering is
//! done; candidates found later are trickled as `{"type":"candidate",...}` messages, each with
//! the `usernameFragment` of its description. Without trickle ([`PeerConfig::trickle`] false,
//! or facing a peer whose description leaves `trickle` out, RFC 8838), a description waits for
//! gathering to finish and carries every candidate, and nothing is trickled. An answer
//! mirrors the offer's sections in order, each with its own media type: it takes the section
//! that tags the offer's BUNDLE group (an answerer cannot reject it, RFC 8843 §7.3.3) and the
//! bundled data section; an audio or video section it takes is `inactive`, with one codec (the
//! offer's first that is not rtx, red, FEC, DTMF or comfort noise); every other section is
//! rejected with port 0. The offerer is the controlling agent, unless one side is ICE-lite
//! (`a=ice-lite`): then the full one controls (RFC 8445 §6.1.1).
//!
//! Once the first exchange is done, either side may offer again. An offer with new credentials
//! restarts ICE (RFC 8445 §9; [`Peer::restart`] or [`Signal::Restart`] make one, and a
//! browser's `restartIce()` sends one): both sides take fresh credentials, the restart's offerer
//! controls, candidates of the replaced session are dropped, and the old pair carries data
//! until a new one is selected. An offer with the same credentials is answered without a
//! restart. Offers that cross are settled as in JSEP's perfect negotiation: the first offerer
//! refuses the other's, the first answerer withdraws its own and answers.
//!
//! **Application data are raw UDP datagrams over the selected pair.** DTLS and SCTP (what a
//! browser's data channel runs over ICE) are out of scope: a browser's offer is understood and its
//! ICE checks are answered, but its data channel will not open. Two icebreaker peers talk fine.
//!
//! The same `Peer` runs under the tokio driver ([`crate::driver`]) and, through its
//! [`Endpoint`] implementation, inside the simulator.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use icebreaker_ice::{
    Agent, AgentConfig, Candidate, Credentials, Event as IceEvent, Received, State, Transmit,
};
use icebreaker_sdp::{
    Attribute, Connection, Direction, Group, IceOptions, Media, MediaType, SessionBuilder,
    SessionDescription,
};
use icebreaker_sim::{Datagram, Endpoint};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};

/// The largest signalling message accepted (one JSON line or one WebSocket frame).
pub const MAX_SIGNAL_LEN: usize = 64 * 1024;
/// The most signals queued for the application before the oldest are dropped.
const MAX_QUEUED_SIGNALS: usize = 4096;
/// The most bytes of text (descriptions, candidates, received data) queued as signals, and the
/// most bytes of received data queued as events, before the oldest are dropped.
const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;
/// mDNS names waiting for the driver at most (the agent keeps at most as many candidates).
const MAX_MDNS_QUERIES: usize = 32;
/// The most events queued before the oldest are dropped.
const MAX_QUEUED_EVENTS: usize = 4096;
/// The component everything runs on (BUNDLE and rtcp-mux: one).
const COMPONENT: u16 = 1;

/// One signalling message, as a JSON object with a `type` (DESIGN.md, "Signalling messages").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Signal {
    /// A session description offer.
    Offer {
        /// The SDP text.
        sdp: String,
    },
    /// A session description answer.
    Answer {
        /// The SDP text.
        sdp: String,
    },
    /// A trickled candidate; an empty (or null) `candidate` means end-of-candidates.
    Candidate {
        /// `candidate:...`, or empty for end-of-candidates.
        #[serde(default, deserialize_with = "null_as_empty")]
        candidate: String,
        /// The media section's mid.
        #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        /// The media section's index.
        #[serde(
            rename = "sdpMLineIndex",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        sdp_mline_index: Option<u32>,
        /// The `ice-ufrag` of the description the candidate belongs to: a candidate of an
        /// earlier ICE session (before a restart) is dropped rather than checked.
        #[serde(
            rename = "usernameFragment",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        username_fragment: Option<String>,
    },
    /// Restart ICE (in): a new offer with fresh credentials goes to the other side, which
    /// answers with fresh credentials of its own (RFC 8445 §9, RFC 8839 §4.4.1.1.1). The
    /// connection keeps carrying data until a new pair is selected.
    Restart,
    /// The ICE connection state (out): new, checking, connected, completed, failed,
    /// disconnected, closed.
    State {
        /// The state's name.
        state: String,
    },
    /// The selected pair (out), as candidate lines.
    Selected {
        /// The local candidate.
        local: String,
        /// The remote candidate.
        remote: String,
    },
    /// Application data to send (in).
    Send {
        /// The text.
        data: String,
    },
    /// Application data received (out), UTF-8 (lossy).
    Message {
        /// The text.
        data: String,
    },
    /// Something went wrong (out); processing goes on.
    Error {
        /// What, for a person.
        message: String,
    },
    /// In, as `{"type":"stats"}`: a request for the candidate pairs' statistics. Out: the
    /// pairs of the check list and what went over each ([`icebreaker_ice::Agent::pairs`]),
    /// named as W3C's `RTCIceCandidatePairStats` names them.
    Stats {
        /// The pairs (empty in a request).
        #[serde(default)]
        pairs: Vec<PairReport>,
    },
}

/// One candidate pair in a [`Signal::Stats`] report: its candidates as `candidate:` lines, its
/// state, and the counters of [`icebreaker_ice::PairCounters`] (round-trip times in seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairReport {
    /// The local candidate checks leave from.
    pub local: String,
    /// The remote candidate.
    pub remote: String,
    /// The valid pair's local candidate, when a check that went out through a NAT made it
    /// another (server- or peer-reflexive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_local: Option<String>,
    /// `frozen`, `waiting`, `in-progress`, `succeeded` or `failed`.
    pub state: String,
    /// The pair priority (RFC 8445 §6.1.2.3).
    pub priority: u64,
    /// Nominated.
    pub nominated: bool,
    /// The selected pair.
    pub selected: bool,
    /// Check requests sent, consent checks included, retransmissions not.
    pub requests_sent: u64,
    /// Of those, consent checks (RFC 7675).
    pub consent_requests_sent: u64,
    /// Retransmitted requests.
    pub retransmissions_sent: u64,
    /// Responses to our checks.
    pub responses_received: u64,
    /// The other side's checks.
    pub requests_received: u64,
    /// Success responses to them.
    pub responses_sent: u64,
    /// The latest round-trip time, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "seconds_opt")]
    pub current_round_trip_time: Option<Duration>,
    /// All round-trip times added up, in seconds (over `responsesReceived` successes).
    #[serde(default, with = "seconds")]
    pub total_round_trip_time: Duration,
    /// Application datagrams sent.
    pub packets_sent: u64,
    /// Their payload bytes.
    pub bytes_sent: u64,
    /// Application datagrams received.
    pub packets_received: u64,
    /// Their payload bytes.
    pub bytes_received: u64,
}

impl PairReport {
    fn new(s: &icebreaker_ice::PairStats<'_>) -> Self {
        let c = &s.counters;
        Self {
            local: s.local.to_string(),
            remote: s.remote.to_string(),
            valid_local: s.valid_local.map(ToString::to_string),
            state: s.state.as_str().into(),
            priority: s.priority,
            nominated: s.nominated,
            selected: s.selected,
            requests_sent: c.requests_sent,
            consent_requests_sent: c.consent_requests_sent,
            retransmissions_sent: c.retransmissions_sent,
            responses_received: c.responses_received,
            requests_received: c.requests_received,
            responses_sent: c.responses_sent,
            current_round_trip_time: c.current_round_trip_time,
            total_round_trip_time: c.total_round_trip_time,
            packets_sent: c.packets_sent,
            bytes_sent: c.bytes_sent,
            packets_received: c.packets_received,
            bytes_received: c.bytes_received,
        }
    }
}

/// A [`Duration`] as a JSON number of seconds, as W3C's statistics give times. Within
/// [`MAX_SECONDS`](seconds::MAX_SECONDS) a report survives its own JSON round trip to the
/// nanosecond (the tests check it).
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// The longest time read: about 11.5 days, far below 2^53 nanoseconds, where seconds written
    /// from nanoseconds read back as the same nanoseconds.
    pub(super) const MAX_SECONDS: f64 = 1e6;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        if !(0.0..=MAX_SECONDS).contains(&secs) {
            return Err(D::Error::custom(format_args!(
                "{secs} is not a time of 0 to {MAX_SECONDS} seconds"
            )));
        }
        Duration::try_from_secs_f64(secs).map_err(D::Error::custom)
    }
}

/// An optional [`Duration`] as a JSON number of seconds.
mod seconds_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::ref_option)] // serde's `with` hands over a reference to the field
    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::seconds::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::seconds")] Duration);
        Ok(Option::<Wrap>::deserialize(d)?.map(|Wrap(d)| d))
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// Why a signalling message was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalError {
    /// Longer than [`MAX_SIGNAL_LEN`].
    TooLarge {
        /// Its length in bytes.
        len: usize,
    },
    /// Not a JSON object of a known shape.
    Json {
        /// serde_json's account (line, column and reason).
        reason: String,
    },
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len } => write!(
                f,
                "message of {len} bytes is over the limit of {MAX_SIGNAL_LEN} bytes"
            ),
            Self::Json { reason } => write!(f, "not a signalling message: {reason}"),
        }
    }
}

impl std::error::Error for SignalError {}

impl Signal {
    /// Parses one message. A browser's `RTCIceCandidate.toJSON()` (no `type`, a `candidate`
    /// field) is taken as a candidate message, so it can be fed in as it is.
    ///
    /// # Errors
    /// Over [`MAX_SIGNAL_LEN`], not JSON, or not a known message.
    pub fn parse(text: &str) -> Result<Self, SignalError> {
        if text.len() > MAX_SIGNAL_LEN {
            return Err(SignalError::TooLarge { len: text.len() });
        }
        let json = |e: serde_json::Error| SignalError::Json {
            reason: e.to_string(),
        };
        let mut value: serde_json::Value = serde_json::from_str(text.trim()).map_err(json)?;
        if let Some(obj) = value.as_object_mut()
            && !obj.contains_key("type")
            && obj.contains_key("candidate")
        {
            obj.insert("type".into(), "candidate".into());
        }
        serde_json::from_value(value).map_err(json)
    }

    /// The message as one JSON line (without the newline).
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether the message goes to the other peer (offer, answer, candidate), rather than being
    /// a report for the local user (state, selected, message, error, stats).
    pub fn is_for_remote(&self) -> bool {
        matches!(
            self,
            Self::Offer { .. } | Self::Answer { .. } | Self::Candidate { .. }
        )
    }

    fn error(message: impl fmt::Display) -> Self {
        Self::Error {
            message: message.to_string(),
        }
    }
}

/// Which side of the offer/answer exchange a peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Makes the offer; the controlling ICE agent.
    Offerer,
    /// Waits for an offer and answers; the controlled ICE agent.
    Answerer,
}

/// A peer's settings.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Offerer or answerer.
    pub role: Role,
    /// The agent's settings; `controlling` is set from the role.
    pub agent: AgentConfig,
    /// Local socket addresses: each becomes a host candidate.
    pub host_addresses: Vec<SocketAddr>,
    /// Where the state, the selected pair and received data are reported.
    pub reports: Reports,
    /// Trickle ICE (RFC 8838, what browsers do): a description goes out at once with the
    /// candidates known, and those found later follow as candidate messages. Without it, each
    /// description waits until gathering is done and carries every candidate and
    /// `end-of-candidates`, with `trickle` left out of its `a=ice-options`: one message each
    /// way is the whole exchange (a QR code, a pasted message). A trickling peer also answers
    /// a description that leaves `trickle` out that way, and trickles nothing to it.
    pub trickle: bool,
    /// Restart ICE by itself when the connection fails (what MDN advises an application to do
    /// on `iceconnectionstatechange` to `failed`): consent lost, or no pair working. At most
    /// [`MAX_AUTO_RESTARTS`] in a row without connecting in between, and never while an offer
    /// of ours waits for its answer; either side may do it, crossing offers are settled as
    /// any others.
    pub restart_on_failure: bool,
}

/// Automatic restarts ([`PeerConfig::restart_on_failure`]) in a row that do not connect, after
/// which the peer stays failed until told to restart.
pub const MAX_AUTO_RESTARTS: u32 = 3;

/// Where a [`Peer`] reports what happens to it: the ICE state, the selected pair and the
/// application data that arrive. Each report goes to one place only, so that a received
/// datagram is copied once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reports {
    /// As [`Signal::State`], [`Signal::Selected`] and [`Signal::Message`] from
    /// [`Peer::poll_signal`], in order with the other signals: the JSON lines of DESIGN.md,
    /// which the `peer` command prints. Received data become text (UTF-8, lossy).
    #[default]
    Signals,
    /// As typed [`Event`]s from [`Peer::poll_event`], with the data's bytes as they arrived;
    /// [`Peer::poll_signal`] then carries only signals for the other side and errors.
    Events,
}

/// What a peer reports to the program driving it, when its [`PeerConfig::reports`] is
/// [`Reports::Events`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The ICE state changed.
    State(State),
    /// A pair was selected: (local, remote).
    Selected(Box<(Candidate, Candidate)>),
    /// Application data arrived over the selected pair.
    Data(Vec<u8>),
}

/// What an entry of a [`Bounded`] queue holds in bytes, beyond its fixed size.
trait Weight {
    fn weight(&self) -> usize;
}

impl Weight for Signal {
    fn weight(&self) -> usize {
        match self {
            Self::Offer { sdp } | Self::Answer { sdp } => sdp.len(),
            Self::Candidate {
                candidate,
                sdp_mid,
                username_fragment,
                ..
            } => {
                candidate.len()
                    + sdp_mid.as_ref().map_or(0, String::len)
                    + username_fragment.as_ref().map_or(0, String::len)
            }
            Self::Restart => 0,
            Self::State { state } => state.len(),
            Self::Selected { local, remote } => local.len() + remote.len(),
            Self::Send { data } | Self::Message { data } => data.len(),
            Self::Error { message } => message.len(),
            Self::Stats { pairs } => pairs
                .iter()
                .map(|p| {
                    p.local.len()
                        + p.remote.len()
                        + p.valid_local.as_ref().map_or(0, String::len)
                        + size_of::<PairReport>()
                })
                .sum(),
        }
    }
}

impl Weight for Event {
    fn weight(&self) -> usize {
        match self {
            Self::Data(data) => data.len(),
            Self::State(_) | Self::Selected(_) => 0,
        }
    }
}

/// A queue for the application that never holds more than `max_items` entries nor
/// [`MAX_QUEUED_BYTES`] of their contents: an application that does not read it loses the
/// oldest entries, and the peer's memory stays bounded whatever the other side sends.
#[derive(Debug)]
struct Bounded<T> {
    items: VecDeque<T>,
    bytes: usize,
    max_items: usize,
}

impl<T: Weight> Bounded<T> {
    fn new(max_items: usize) -> Self {
        Self {
            items: VecDeque::new(),
            bytes: 0,
            max_items,
        }
    }

    fn push(&mut self, item: T) {
        self.make_room(&item);
        self.items.push_back(item);
    }

    /// Puts `item` first (the offer goes before the reports of the start).
    fn push_front(&mut self, item: T) {
        self.make_room(&item);
        self.items.push_front(item);
    }

    /// Drops the oldest entries until `item` fits, and counts its bytes.
    fn make_room(&mut self, item: &T) {
        let weight = item.weight();
        while self.items.len() >= self.max_items
            || (!self.items.is_empty() && self.bytes + weight > MAX_QUEUED_BYTES)
        {
            if self.pop().is_none() {
                break;
            }
        }
        self.bytes += weight;
    }

    fn pop(&mut self) -> Option<T> {
        let item = self.items.pop_front()?;
        self.bytes -= item.weight();
        Some(item)
    }
}

/// Why a remote description was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DescriptionError {
    /// Not valid SDP.
    Sdp(String),
    /// No media section to run ICE for.
    NoMedia,
    /// Neither the bundled section nor the session carries `ice-ufrag` and `ice-pwd`.
    NoCredentials,
    /// An offer to the offerer, an answer to the answerer, an answer with no offer of ours
    /// waiting for it, or an offer while ours waits (glare, refused by the first offerer).
    WrongState(&'static str),
    /// The agent refused the description's credentials.
    Credentials(icebreaker_ice::Error),
}

impl fmt::Display for DescriptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sdp(e) => write!(f, "invalid SDP: {e}"),
            Self::NoMedia => f.write_str("the description has no usable m= section"),
            Self::NoCredentials => f.write_str(
                "the description has no ICE credentials (a=ice-ufrag and a=ice-pwd) for its bundled transport",
            ),
            Self::WrongState(s) => f.write_str(s),
            Self::Credentials(e) => write!(f, "the description's ICE credentials: {e}"),
        }
    }
}

impl std::error::Error for DescriptionError {}

/// Which description a [`Peer`] holds back until gathering is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Offer,
    Answer,
}

/// The sans-IO peer; see the module documentation.
#[derive(Debug)]
pub struct Peer {
    agent: Agent,
    role: Role,
    session_id: u64,
    /// Our description has been sent: later candidates are trickled.
    described: bool,
    /// A remote description has been applied.
    remote_applied: bool,
    /// An offer of ours waits for its answer.
    awaiting_answer: bool,
    /// That offer restarts ICE: the agent already has fresh local credentials, and candidates
    /// trickled for the session being replaced are dropped.
    restarting: bool,
    /// The credentials of the remote description applied last (a change in an offer is an ICE
    /// restart, RFC 8839 §4.4.1.1.1), and whether it was ICE-lite.
    remote_creds: Option<Credentials>,
    remote_lite: bool,
    /// The remote offer answered last: a restart offer from this side mirrors its sections
    /// (a subsequent offer keeps every `m=` line, RFC 3264 §8).
    last_offer: Option<String>,
    /// Fresh credentials for restarts, drawn from the configured seed.
    rng: ChaCha20Rng,
    /// Whether we trickle ([`PeerConfig::trickle`]), and whether the remote's last
    /// description said it takes trickled candidates (assumed until one says otherwise).
    trickle: bool,
    remote_trickle: bool,
    /// A description that waits for gathering to finish (not trickling).
    held: Option<Held>,
    /// Local candidates (lines) not yet in a description nor trickled.
    pending_local: Vec<String>,
    gathering_done: bool,
    /// The mid and m-line index our candidates belong to.
    mid: String,
    mline: u32,
    /// Whether our description carries `a=mid` and `a=group:BUNDLE`: always in an offer; in
    /// an answer only as the offer did (RFC 8843 §7.3.1: no BUNDLE group the offer did not
    /// ask for; RFC 5888: no mid beside an offer without them).
    with_mid: bool,
    with_bundle: bool,
    reports: Reports,
    signals: Bounded<Signal>,
    events: Bounded<Event>,
    /// Application datagrams ready to go: where, and the bytes.
    outgoing: VecDeque<(Transmit, Vec<u8>)>,
    scratch: Vec<u8>,
    now: Option<Instant>,
    /// mDNS names of remote candidates for the driver to resolve.
    mdns_queries: VecDeque<String>,
    /// [`PeerConfig::restart_on_failure`], the automatic restart waiting for `handle_timeout`,
    /// and how many were made since the last connection.
    restart_on_failure: bool,
    restart_due: Option<Instant>,
    auto_restarts: u32,
}

impl Peer {
    /// A peer with fresh credentials drawn from `config.agent.rng_seed`. An offerer starts
    /// gathering at once and its offer is ready from [`poll_signal`](Self::poll_signal); an
    /// answerer waits for an offer.
    pub fn new(mut config: PeerConfig, now: Instant) -> Self {
        let mut rng = ChaCha20Rng::from_seed(config.agent.rng_seed);
        let creds = Credentials::random(&mut rng);
        // RFC 8829 §5.2.1: a session id of at most 63 bits.
        let session_id = rng.next_u64() >> 1;
        config.agent.controlling = config.role == Role::Offerer;
        let mut agent = Agent::new(config.agent, creds);
        let mut signals = Bounded::new(MAX_QUEUED_SIGNALS);
        for a in &config.host_addresses {
            if let Err(e) = agent.add_host_candidate(*a, COMPONENT) {
                signals.push(Signal::error(format_args!("host candidate {a}: {e}")));
            }
        }
        let mut peer = Self {
            agent,
            role: config.role,
            session_id,
            described: false,
            remote_applied: false,
            awaiting_answer: config.role == Role::Offerer,
            restarting: false,
            remote_creds: None,
            remote_lite: false,
            last_offer: None,
            rng,
            trickle: config.trickle,
            remote_trickle: true,
            held: None,
            pending_local: Vec::new(),
            gathering_done: false,
            mid: "0".into(),
            mline: 0,
            with_mid: true,
            with_bundle: true,
            reports: config.reports,
            signals,
            events: Bounded::new(MAX_QUEUED_EVENTS),
            outgoing: VecDeque::new(),
            scratch: Vec::new(),
            now: Some(now),
            mdns_queries: VecDeque::new(),
            restart_on_failure: config.restart_on_failure,
            restart_due: None,
            auto_restarts: 0,
        };
        if peer.role == Role::Offerer {
            peer.agent.start(now);
            peer.drain_agent();
            // A trickled offer goes first, before the state reports of the start.
            peer.describe(Held::Offer, true);
        }
        peer
    }

    /// Whether candidates go to the other side as they are found.
    fn trickling(&self) -> bool {
        self.trickle && self.remote_trickle
    }

    /// Sends our offer or answer now, or, when not trickling, once gathering is done (from
    /// [`drain_agent`](Self::drain_agent)). A description mirrors the sections of the last
    /// remote offer, when there was one.
    fn describe(&mut self, what: Held, first: bool) {
        if !self.trickling() && !self.gathering_done {
            self.held = Some(what);
            return;
        }
        self.held = None;
        // A first description, or one after a restart, carries the candidates signalled since
        // the agent (re)started; a later one every candidate of the session going on (RFC 8839
        // §4.4.2).
        let lines = if self.described {
            self.agent
                .local_candidates()
                .map(ToString::to_string)
                .collect()
        } else {
            std::mem::take(&mut self.pending_local)
        };
        let offer = self.last_offer.clone();
        let built = match offer.as_deref().map(icebreaker_sdp::parse).transpose() {
            Ok(offer) => self.description(offer.as_ref(), &lines),
            Err(e) => Err(e),
        };
        let (signal, what) = match (built, what) {
            (Ok(sdp), Held::Offer) => (Signal::Offer { sdp }, "offer"),
            (Ok(sdp), Held::Answer) => (Signal::Answer { sdp }, "answer"),
            (Err(e), Held::Offer) => (
                Signal::error(format_args!("cannot build the offer: {e}")),
                "",
            ),
            (Err(e), Held::Answer) => (
                Signal::error(format_args!("cannot build the answer: {e}")),
                "",
            ),
        };
        tracing::debug!("{what} described");
        if first {
            self.signals.push_front(signal);
        } else {
            self.push_signal(signal);
        }
        self.described = true;
    }

    /// The wrapped ICE agent (read-only).
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// Offerer or answerer of the first exchange (either side may offer later, to restart ICE).
    pub fn role(&self) -> Role {
        self.role
    }

    /// The ICE state.
    pub fn state(&self) -> State {
        self.agent.state()
    }

    /// Whether data can be sent (a pair is selected).
    pub fn is_connected(&self) -> bool {
        self.agent.send_path(COMPONENT).is_ok()
    }

    /// Handles one signalling message from the other peer (offer, answer, candidate) or from
    /// the local user (send, restart). Problems become [`Signal::Error`] messages.
    pub fn handle_signal(&mut self, now: Instant, msg: Signal) {
        self.now = Some(now);
        match msg {
            Signal::Offer { sdp } => {
                if let Err(e) = self.apply_remote(now, &sdp, true) {
                    self.push_signal(Signal::error(format_args!("offer refused: {e}")));
                }
            }
            Signal::Answer { sdp } => {
                if let Err(e) = self.apply_remote(now, &sdp, false) {
                    self.push_signal(Signal::error(format_args!("answer refused: {e}")));
                }
            }
            Signal::Candidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
                username_fragment,
            } => self.remote_candidate(
                &candidate,
                sdp_mid.as_deref(),
                sdp_mline_index,
                username_fragment.as_deref(),
            ),
            Signal::Send { data } => self.send(data.as_bytes()),
            Signal::Restart => self.restart(now),
            Signal::Stats { .. } => {
                let pairs = self.agent.pairs().map(|p| PairReport::new(&p)).collect();
                self.push_signal(Signal::Stats { pairs });
            }
            Signal::Error { message } => {
                tracing::warn!("the other side reports an error: {message}");
            }
            Signal::State { .. } | Signal::Selected { .. } | Signal::Message { .. } => {
                // Reports of the other side: nothing to do.
            }
        }
        self.drain_agent();
    }

    /// Sends application data over the selected pair (a raw datagram); an error message when no
    /// pair is selected yet.
    pub fn send(&mut self, data: &[u8]) {
        let mut buf = Vec::with_capacity(data.len() + 36);
        match self.agent.send(COMPONENT, data, &mut buf) {
            Ok(Some(t)) => self.outgoing.push_back((t, buf)),
            // For a TURN server over TCP or TLS: poll_stream_transmit hands it over.
            Ok(None) => {}
            Err(e) => self.push_signal(Signal::error(format_args!("cannot send: {e}"))),
        }
    }

    /// Feeds a datagram that arrived on local socket `to` from `from`.
    pub fn handle_receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.now = Some(now);
        let r = self.agent.handle_receive(now, from, to, data);
        self.received(from, r);
    }

    /// Feeds a frame that arrived on the TCP or TLS connection from host address `base` to the
    /// TURN server `server` (see [`poll_stream_transmit`](Self::poll_stream_transmit)).
    pub fn handle_stream_receive(
        &mut self,
        now: Instant,
        server: SocketAddr,
        base: SocketAddr,
        frame: &[u8],
    ) {
        self.now = Some(now);
        let r = self.agent.handle_stream_receive(now, server, base, frame);
        self.received(server, r);
    }

    fn received(&mut self, from: SocketAddr, r: Result<Received<'_>, icebreaker_ice::RecvError>) {
        match r {
            Ok(Received::Data { data, .. }) => match self.reports {
                Reports::Signals => self.push_signal(Signal::Message {
                    data: String::from_utf8_lossy(data).into_owned(),
                }),
                Reports::Events => self.events.push(Event::Data(data.to_vec())),
            },
            Ok(Received::Stun) => {}
            Err(e) => tracing::trace!(%from, "datagram ignored: {e}"),
        }
        self.drain_agent();
    }

    /// Runs the timers; call when [`poll_timeout`](Self::poll_timeout) has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        self.agent.handle_timeout(now);
        self.drain_agent();
        if self.restart_due.is_some_and(|at| at <= now) {
            self.restart_due = None;
            // Still failed, and free to offer (a crossing offer may have restarted us already).
            if self.agent.state() == State::Failed && !self.awaiting_answer && self.remote_applied {
                self.auto_restarts += 1;
                tracing::info!(attempt = self.auto_restarts, "ICE failed: restarting it");
                self.restart(now);
            }
        }
    }

    /// The next datagram to send: its bytes replace the contents of `buf`.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        if let Some((t, data)) = self.outgoing.pop_front() {
            // The datagram was encoded into its own buffer by `send`: hand that over.
            *buf = data;
            return Some(t);
        }
        let t = self.agent.poll_transmit(buf);
        // Sending may have produced events (a relay allocated ...).
        self.drain_agent();
        t
    }

    /// The next frame for a TURN server reached over TCP or TLS: `buf` goes on the connection
    /// from host address `from` to the server `to` (opened on first use). Call after
    /// [`poll_transmit`](Self::poll_transmit), until `None`.
    pub fn poll_stream_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        let t = self.agent.poll_stream_transmit(buf);
        self.drain_agent();
        t
    }

    /// Closes the session: no more checks or data, and the TURN allocations are deleted
    /// ([`Agent::close`]). Keep sending, feeding datagrams and running the timers while
    /// [`releasing`](Self::releasing).
    pub fn close(&mut self, now: Instant) {
        self.now = Some(now);
        self.agent.close(now);
        self.drain_agent();
    }

    /// Whether a closed session is still deleting a TURN allocation ([`Agent::releasing`]).
    pub fn releasing(&self) -> bool {
        self.agent.releasing()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.agent.poll_timeout(), self.restart_due) {
            (Some(a), Some(r)) => Some(a.min(r)),
            (a, r) => a.or(r),
        }
    }

    /// The next mDNS host name (`<uuid>.local`) a remote candidate carries. Resolve it (the
    /// runtime's driver uses [`crate::mdns::resolve`]) and hand the result to
    /// [`resolve_mdns`](Self::resolve_mdns); names never answered leave their candidates out,
    /// and peer-reflexive discovery still finds such a peer when its checks arrive.
    pub fn poll_mdns_query(&mut self) -> Option<String> {
        self.mdns_queries.pop_front()
    }

    /// The address an mDNS name resolved to (`None`: it did not): the waiting candidates are
    /// added with it, or dropped.
    pub fn resolve_mdns(&mut self, name: &str, ip: Option<std::net::IpAddr>) {
        self.agent.resolve_mdns(name, ip);
        self.drain_agent();
    }

    /// The next typed event (none unless [`PeerConfig::reports`] is [`Reports::Events`]).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// The next signalling message, for the other peer ([`Signal::is_for_remote`]) or for the
    /// local user.
    pub fn poll_signal(&mut self) -> Option<Signal> {
        self.signals.pop()
    }

    fn push_signal(&mut self, s: Signal) {
        self.signals.push(s);
    }

    /// Moves the agent's events into signals and typed events.
    fn drain_agent(&mut self) {
        while let Some(e) = self.agent.poll_event() {
            match e {
                IceEvent::LocalCandidate(c) => {
                    let line = c.to_string();
                    if self.described {
                        if !self.trickling() {
                            continue;
                        }
                        self.push_signal(Signal::Candidate {
                            candidate: line,
                            sdp_mid: Some(self.mid.clone()),
                            sdp_mline_index: Some(self.mline),
                            username_fragment: Some(self.agent.local_credentials().ufrag.clone()),
                        });
                    } else if self.pending_local.len() < 64 {
                        self.pending_local.push(line);
                    }
                }
                IceEvent::GatheringComplete => {
                    self.gathering_done = true;
                    if let Some(what) = self.held {
                        self.describe(what, false);
                    } else if self.described && self.trickling() {
                        self.push_signal(Signal::Candidate {
                            candidate: String::new(),
                            sdp_mid: Some(self.mid.clone()),
                            sdp_mline_index: Some(self.mline),
                            username_fragment: Some(self.agent.local_credentials().ufrag.clone()),
                        });
                    }
                }
                IceEvent::StateChanged(s) => {
                    match s {
                        State::Connected | State::Completed => self.auto_restarts = 0,
                        State::Failed
                            if self.restart_on_failure
                                && self.auto_restarts < MAX_AUTO_RESTARTS =>
                        {
                            // Made by the next handle_timeout, once this drain is over.
                            self.restart_due = self.now;
                        }
                        _ => {}
                    }
                    match self.reports {
                        Reports::Signals => self.push_signal(Signal::State {
                            state: s.as_str().into(),
                        }),
                        Reports::Events => self.events.push(Event::State(s)),
                    }
                }
                IceEvent::SelectedPair { local, remote, .. } => match self.reports {
                    Reports::Signals => self.push_signal(Signal::Selected {
                        local: local.to_string(),
                        remote: remote.to_string(),
                    }),
                    Reports::Events => self.events.push(Event::Selected(Box::new((local, remote)))),
                },
                IceEvent::ResolveMdns(name) => {
                    // The driver resolves it (see `poll_mdns_query`); the agent bounds how many
                    // candidates wait, and this queue is bounded the same way.
                    if self.mdns_queries.len() < MAX_MDNS_QUERIES {
                        self.mdns_queries.push_back(name);
                    } else {
                        tracing::debug!("too many mDNS names waiting: {name} dropped");
                        self.agent.resolve_mdns(&name, None);
                    }
                }
                IceEvent::RoleChanged { controlling } => {
                    tracing::debug!(controlling, "ICE role changed after a conflict");
                }
                IceEvent::CandidateError {
                    server,
                    base,
                    relay,
                    code,
                } => {
                    let (what, candidate) = if relay {
                        ("TURN", "relayed")
                    } else {
                        ("STUN", "server-reflexive")
                    };
                    let why = match code {
                        Some(c) => match icebreaker_stun::attributes::codes::reason(c) {
                            Some(reason) => format!("{c} {reason}"),
                            None => format!("error {c}"),
                        },
                        None => "no usable answer".to_owned(),
                    };
                    self.push_signal(Signal::error(format_args!(
                        "{what} server {server}: no {candidate} candidate for {base}: {why}"
                    )));
                }
                _ => {}
            }
        }
    }

    /// Our description, with our candidate `lines`: the answer to `offer`, or an offer with one
    /// data section.
    ///
    /// The answer mirrors every offered section in order, with its media type and proto (RFC
    /// 3264 §6). It takes the section our transport belongs to (the offer's BUNDLE tag, which an
    /// answerer cannot reject, RFC 8843 §7.3.3) and, when that is audio or video, the offer's
    /// bundled data section too; it rejects the rest with port 0 and leaves them out of its
    /// BUNDLE group.
    fn description(
        &self,
        offer: Option<&SessionDescription<'_>>,
        lines: &[String],
    ) -> Result<String, icebreaker_sdp::Error> {
        let creds = self.agent.local_credentials().clone();
        let candidates: Vec<icebreaker_sdp::Candidate<'_>> = lines
            .iter()
            .filter_map(|l| {
                icebreaker_sdp::Candidate::parse(l.strip_prefix("candidate:").unwrap_or(l)).ok()
            })
            .collect();
        let ours = Some((&candidates[..], self.gathering_done));
        // RFC 8838 §4: `trickle` only when we do; `ice2` always (RFC 8445 §10).
        let options = if self.trickle { "trickle ice2" } else { "ice2" };
        let mut b = SessionBuilder::new(self.session_id, 1);
        if self.agent.is_lite() {
            // RFC 8839 §5.3: so that a full peer takes the controlling role.
            b.attribute(&Attribute::IceLite);
        } else {
            // RFC 8839 §5.5: the pacing this agent wants (a lite agent sends no checks); the
            // agent itself takes the larger of it and the peer's.
            let ms = self.agent.config().ta.as_millis();
            b.attribute(&Attribute::IcePacing(u32::try_from(ms).unwrap_or(u32::MAX)));
        }
        let Some(offer) = offer else {
            b.attribute(&Attribute::Group(Group {
                semantics: "BUNDLE",
                mids: &self.mid,
            }));
            let data = Media::new(
                MediaType::Application,
                9,
                "UDP/DTLS/SCTP",
                "webrtc-datachannel",
            )
            .with_connection(Connection::ip4("0.0.0.0"));
            b.media(&with_ice(data, options, &creds, Some(&self.mid), ours));
            return b.build();
        };
        let takes = takes(offer, self.mline as usize, self.with_bundle);
        // The formats with single spaces, as the strict grammar the builder checks against
        // wants them (a lenient parse keeps runs of spaces and tabs).
        let formats: Vec<String> = offer
            .media
            .iter()
            .map(|m| m.formats().collect::<Vec<_>>().join(" "))
            .collect();
        if self.with_bundle {
            // The transport's mid first: it tags the answer's group (RFC 8843 §7.3.1).
            let mut mids = self.mid.clone();
            for (m, _) in offer
                .media
                .iter()
                .zip(&takes)
                .filter(|(_, t)| **t == Take::Bundled)
            {
                mids.push(' ');
                mids.push_str(m.mid().unwrap_or_default());
            }
            b.attribute(&Attribute::Group(Group {
                semantics: "BUNDLE",
                mids: &mids,
            }));
        }
        for ((offered, take), formats) in offer.media.iter().zip(&takes).zip(&formats) {
            let mid = offered.mid().filter(|_| self.with_mid);
            let m = match take {
                // RFC 8829 §5.3.1: a section we do not take is rejected with port 0.
                Take::Rejected => {
                    let m = Media::new(offered.kind, 0, offered.proto, formats)
                        .with_connection(Connection::ip4("0.0.0.0"));
                    match mid {
                        Some(mid) => m.with(Attribute::Mid(mid)),
                        None => m,
                    }
                }
                Take::Transport | Take::Bundled => with_ice(
                    accepted(offered, formats),
                    options,
                    &creds,
                    mid,
                    ours.filter(|_| *take == Take::Transport),
                ),
            };
            b.media(&m);
        }
        b.build()
    }

    /// Restarts ICE (RFC 8445 §9): fresh local credentials, the remote candidates forgotten,
    /// and a new offer for the other side, which answers with fresh credentials of its own.
    /// The offerer of a restart is the controlling agent (unless it is ICE-lite); the selected
    /// pair keeps carrying data until a new one is selected. Refused (an error message) before
    /// a first exchange has finished, while an offer waits for its answer, or once closed.
    pub fn restart(&mut self, now: Instant) {
        self.now = Some(now);
        let refused = if self.agent.state() == State::Closed {
            Some("the session is closed")
        } else if self.awaiting_answer {
            Some("an offer is already waiting for its answer")
        } else if !self.remote_applied {
            Some("there is no session yet (no offer was answered)")
        } else {
            None
        };
        if let Some(why) = refused {
            self.push_signal(Signal::error(format_args!("cannot restart ICE: {why}")));
            return;
        }
        self.restart_agent(now, true);
        self.restarting = true;
        self.awaiting_answer = true;
        self.remote_creds = None;
        // From the first answerer, the new offer mirrors the sections of the offer it answered.
        self.describe(Held::Offer, false);
        self.drain_agent();
    }

    /// Restarts the agent with fresh credentials, in the role the restart's offer/answer gives
    /// it; its candidates, signalled again, wait in `pending_local` for the description.
    fn restart_agent(&mut self, now: Instant, offering: bool) {
        let creds = Credentials::random(&mut self.rng);
        self.described = false;
        self.pending_local.clear();
        self.gathering_done = false;
        self.agent.restart(now, creds);
        // RFC 8445 §6.1.1 as for the first exchange: the offerer controls, and facing an
        // ICE-lite peer the full agent does whichever side offered.
        self.agent.set_controlling(offering || self.remote_lite);
        self.drain_agent();
    }

    fn apply_remote(
        &mut self,
        now: Instant,
        sdp: &str,
        is_offer: bool,
    ) -> Result<(), DescriptionError> {
        if self.agent.state() == State::Closed {
            return Err(DescriptionError::WrongState("the session is closed"));
        }
        // Glare (both sides offered at once): the first offerer's offer wins and the first
        // answerer withdraws its own (the "polite" side of JSEP's perfect negotiation).
        let withdrawn = is_offer && self.awaiting_answer;
        match (is_offer, self.role) {
            (true, Role::Offerer) if self.awaiting_answer => {
                return Err(DescriptionError::WrongState(if self.remote_applied {
                    "an offer of ours is waiting for its answer (both sides offered: the first offerer's offer goes on)"
                } else {
                    "this peer is the offerer: it expects an answer"
                }));
            }
            (false, _) if self.held == Some(Held::Offer) => {
                return Err(DescriptionError::WrongState(
                    "our offer has not been sent yet (it waits for gathering to finish)",
                ));
            }
            (false, _) if !self.awaiting_answer => {
                return Err(DescriptionError::WrongState(if self.remote_applied {
                    "no offer of ours is waiting for an answer"
                } else {
                    "this peer is the answerer: it expects an offer"
                }));
            }
            _ => {}
        }
        let desc = icebreaker_sdp::parse(sdp).map_err(|e| DescriptionError::Sdp(e.to_string()))?;
        let (index, section) = bundled_section(&desc).ok_or(DescriptionError::NoMedia)?;
        let ice = |name: fn(&Attribute<'_>) -> Option<String>| {
            section.find(name).or_else(|| desc.find(name))
        };
        let ufrag = ice(|a| match a {
            Attribute::IceUfrag(u) => Some((*u).to_owned()),
            _ => None,
        });
        let pwd = ice(|a| match a {
            Attribute::IcePwd(p) => Some((*p).to_owned()),
            _ => None,
        });
        let (Some(ufrag), Some(pwd)) = (ufrag, pwd) else {
            return Err(DescriptionError::NoCredentials);
        };
        let creds = Credentials { ufrag, pwd };
        // RFC 8445 §6.1.1: facing an ICE-lite peer, the full agent controls, offer or answer.
        let lite = |a: &Attribute<'_>| matches!(a, Attribute::IceLite).then_some(());
        self.remote_lite = desc.find(lite).or_else(|| section.find(lite)).is_some();
        if withdrawn {
            self.awaiting_answer = false;
            self.restarting = false;
            self.held = None;
        }
        // RFC 8838 §5.1: a peer that does not say `trickle` gets a full description and no
        // trickled candidates.
        let options = |a: &Attribute<'_>| match a {
            Attribute::IceOptions(o) => Some(o.0.split_whitespace().any(|t| t == "trickle")),
            _ => None,
        };
        self.remote_trickle = section
            .find(options)
            .or_else(|| desc.find(options))
            .unwrap_or(false);
        // RFC 8839 §4.4.1.1.1: an offer with other credentials restarts ICE (a description
        // that only moves them between session and media level does not change them). So
        // does one that meets our own withdrawn restart: the agent's fresh credentials were
        // never answered.
        let restart = is_offer
            && self.remote_applied
            && (withdrawn || self.remote_creds.as_ref() != Some(&creds));
        if restart {
            self.restart_agent(now, false);
        }
        self.agent
            .set_remote_credentials(creds.clone())
            .map_err(DescriptionError::Credentials)?;
        self.remote_creds = Some(creds);
        // RFC 8839 §5.5: both agents pace their checks at the larger of the two values, the
        // peer's being 50 ms when it does not say.
        let pacing = |a: &Attribute<'_>| match a {
            Attribute::IcePacing(ms) => Some(*ms),
            _ => None,
        };
        let ms = desc.find(pacing).or_else(|| section.find(pacing));
        self.agent
            .set_remote_pacing(Duration::from_millis(ms.map_or(50, u64::from)));
        if self.remote_lite {
            self.agent.set_controlling(true);
        }
        self.remote_applied = true;
        if !is_offer {
            self.awaiting_answer = false;
            self.restarting = false;
        }
        if is_offer {
            self.mline = index as u32;
            self.mid = section.mid().unwrap_or("0").to_owned();
            self.with_mid = section.mid().is_some();
            self.with_bundle = self.with_mid
                && desc
                    .bundle()
                    .is_some_and(|mut mids| mids.any(|m| Some(m) == section.mid()));
            self.last_offer = Some(sdp.to_owned());
        }
        for c in section.candidates() {
            match Candidate::try_from(c) {
                Ok(c) => {
                    if let Err(e) = self.agent.add_remote_candidate(c) {
                        tracing::debug!("remote candidate ignored: {e}");
                    }
                }
                Err(e) => tracing::debug!("remote candidate ignored: {e}"),
            }
        }
        let end = |a: &Attribute<'_>| matches!(a, Attribute::EndOfCandidates).then_some(());
        if section.find(end).or_else(|| desc.find(end)).is_some() {
            self.agent.end_of_remote_candidates();
        }
        if is_offer {
            self.agent.start(now);
            self.drain_agent();
            self.describe(Held::Answer, false);
        }
        Ok(())
    }

    fn remote_candidate(
        &mut self,
        line: &str,
        mid: Option<&str>,
        mline: Option<u32>,
        ufrag: Option<&str>,
    ) {
        // While our restart waits for its answer, what arrives belongs to the session being
        // replaced (the answer comes before the candidates that go with it); so does a
        // candidate tagged with other credentials than the remote description's.
        if self.restarting
            || ufrag.is_some_and(|u| self.remote_creds.as_ref().is_some_and(|c| c.ufrag != u))
        {
            tracing::debug!("candidate of an earlier ICE session ignored: {line}");
            return;
        }
        // With BUNDLE, only the bundled transport's candidates matter (browsers trickle the
        // same candidates for every section before the answer arrives).
        if self.remote_applied
            && (mid.is_some_and(|m| m != self.mid)
                || (mid.is_none() && mline.is_some_and(|i| i != self.mline)))
        {
            return;
        }
        let line = line.trim();
        let line = line.strip_prefix("a=").unwrap_or(line);
        // The empty candidate (JSEP), or the attribute as an SDP fragment carries it (RFC 8840).
        if line.is_empty() || line == "end-of-candidates" {
            self.agent.end_of_remote_candidates();
            return;
        }
        match Candidate::parse(line) {
            Ok(c) => {
                match self.agent.add_remote_candidate(c) {
                    Ok(()) => {}
                    // Browsers trickle TCP candidates (RFC 6544) beside the UDP ones; carrying
                    // them unconnected is expected, not an error worth telling the user.
                    Err(e @ icebreaker_ice::Error::UnsupportedTransport) => {
                        tracing::debug!("remote candidate ignored: {e}");
                    }
                    Err(e) => {
                        self.push_signal(Signal::error(format_args!("candidate ignored: {e}")));
                    }
                }
            }
            Err(e) => self.push_signal(Signal::error(format_args!("bad candidate: {e}"))),
        }
    }
}

/// `m` with our ICE `options`, credentials, its `mid`, and with `transport` our candidates and
/// whether gathering is done.
fn with_ice<'a>(
    mut m: Media<'a>,
    options: &'a str,
    creds: &'a Credentials,
    mid: Option<&'a str>,
    transport: Option<(&[icebreaker_sdp::Candidate<'a>], bool)>,
) -> Media<'a> {
    m = m
        .with(Attribute::IceUfrag(&creds.ufrag))
        .with(Attribute::IcePwd(&creds.pwd))
        .with(Attribute::IceOptions(IceOptions(options)));
    if let Some(mid) = mid {
        m = m.with(Attribute::Mid(mid));
    }
    if let Some((candidates, end)) = transport {
        for c in candidates {
            m = m.with(Attribute::Candidate(*c));
        }
        if end {
            m = m.with(Attribute::EndOfCandidates);
        }
    }
    m
}

/// What the answer does with an offered section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    /// Rejected: port 0.
    Rejected,
    /// Accepted, carrying our transport: ICE credentials and candidates.
    Transport,
    /// Accepted, bundled on the transport of the [`Take::Transport`] section.
    Bundled,
}

/// How the answer takes each section of `offer`, our transport being the section at
/// `transport`: that one, and with BUNDLE the first bundled data section (what this peer is
/// for) when the transport section is not one. A section the offer rejected (port 0 without
/// `a=bundle-only`) stays rejected.
fn takes(offer: &SessionDescription<'_>, transport: usize, bundled: bool) -> Vec<Take> {
    let mut takes = vec![Take::Rejected; offer.media.len()];
    if let Some(t) = takes.get_mut(transport) {
        *t = Take::Transport;
    }
    if bundled && offer.media.get(transport).is_some_and(|m| !is_data(m)) {
        let group: Vec<&str> = offer.bundle().map(Iterator::collect).unwrap_or_default();
        if let Some(i) = offer.media.iter().position(|m| {
            is_data(m) && m.mid().is_some_and(|mid| group.contains(&mid)) && is_live(m)
        }) {
            takes[i] = Take::Bundled;
        }
    }
    takes
}

/// Whether `m` is a data-channel section (SCTP over DTLS, RFC 8841).
fn is_data(m: &Media<'_>) -> bool {
    m.kind == MediaType::Application && m.proto.contains("SCTP")
}

/// Whether `m` is offered at all: a port, or port 0 with `a=bundle-only` (RFC 8843 §6).
fn is_live(m: &Media<'_>) -> bool {
    m.port != 0
        || m.find(|a| matches!(a, Attribute::BundleOnly).then_some(()))
            .is_some()
}

/// Codecs that only make sense beside another one (retransmission, redundancy, forward error
/// correction, DTMF, comfort noise): never the one an RTP section is answered with.
const COMPANION_CODECS: &[&str] = &[
    "rtx",
    "red",
    "ulpfec",
    "flexfec-03",
    "telephone-event",
    "CN",
];

/// The answer's side of an offered section it takes (ICE lines aside): the same media type,
/// proto and `formats` (the offer's, single-spaced); for RTP one codec alone (the offer's first
/// that stands on its own: mapped by `rtpmap`, or a static payload type other than comfort
/// noise), with its `rtpmap` and `fmtp`, `rtcp-mux` if offered, and `inactive`: this peer
/// carries no media, but a browser answered this way keeps the section and runs ICE on it.
fn accepted<'a>(offered: &Media<'a>, formats: &'a str) -> Media<'a> {
    let connection = Connection::ip4("0.0.0.0");
    let rtpmap = |pt: u8| {
        offered.find(|a| match a {
            Attribute::Rtpmap(r) if r.payload_type == pt => Some(r.encoding_name),
            _ => None,
        })
    };
    let standalone = |format: &&str| match format.parse::<u8>() {
        Ok(pt) => match rtpmap(pt) {
            Some(name) => !COMPANION_CODECS
                .iter()
                .any(|c| c.eq_ignore_ascii_case(name)),
            None => pt < 96 && pt != 13,
        },
        Err(_) => false,
    };
    let codec = offered
        .formats()
        .find(standalone)
        .or_else(|| offered.formats().next());
    let (true, Some(format)) = (offered.proto.contains("RTP"), codec) else {
        return Media::new(offered.kind, 9, offered.proto, formats).with_connection(connection);
    };
    let mut m = Media::new(offered.kind, 9, offered.proto, format).with_connection(connection);
    let payload_type = format.parse::<u8>().ok();
    for a in &offered.attributes {
        let keep = match a {
            Attribute::Rtpmap(r) => Some(r.payload_type) == payload_type,
            Attribute::Fmtp(f) => f.format == format,
            Attribute::RtcpMux => true,
            _ => false,
        };
        if keep {
            m = m.with(a.clone());
        }
    }
    m.with(Attribute::Direction(Direction::Inactive))
}

/// The section whose transport carries everything: the BUNDLE group's first mid (RFC 8843
/// §7.2.1, the offerer-tagged section) whose section the offer did not reject, else the first
/// live data section, else the first live section; `None` when every section is rejected.
fn bundled_section<'d, 'a>(desc: &'d SessionDescription<'a>) -> Option<(usize, &'d Media<'a>)> {
    let by_mid = |mid: &str| {
        desc.media
            .iter()
            .enumerate()
            .find(|(_, m)| m.mid() == Some(mid))
    };
    if let Some(found) = desc
        .bundle()
        .and_then(|mut mids| mids.find_map(|mid| by_mid(mid).filter(|(_, m)| is_live(m))))
    {
        return Some(found);
    }
    let mut live = desc.media.iter().enumerate().filter(|(_, m)| is_live(m));
    live.clone()
        .find(|(_, m)| is_data(m))
        .or_else(|| live.next())
}

impl Endpoint for Peer {
    fn handle_receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        Self::handle_receive(self, now, from, to, data);
    }

    fn handle_timeout(&mut self, now: Instant) {
        Self::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self) -> Option<Datagram> {
        let mut buf = std::mem::take(&mut self.scratch);
        let t = Self::poll_transmit(self, &mut buf);
        let out = t.map(|t| Datagram {
            from: t.from,
            to: t.to,
            data: Bytes::copy_from_slice(&buf),
        });
        self.scratch = buf;
        out
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Self::poll_timeout(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(role: Role, seed: u8) -> PeerConfig {
        PeerConfig {
            role,
            agent: AgentConfig {
                rng_seed: [seed; 32],
                ..AgentConfig::default()
            },
            host_addresses: vec![SocketAddr::from(([192, 0, 2, seed], 5000))],
            reports: Reports::Signals,
            trickle: true,
            restart_on_failure: false,
        }
    }

    #[test]
    fn queues_for_the_application_drop_their_oldest_entries_past_a_count_or_a_size() {
        let mut q = Bounded::new(3);
        for i in 0..5u8 {
            q.push(Event::Data(vec![i]));
        }
        let left: Vec<_> = core::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            left,
            [
                Event::Data(vec![2]),
                Event::Data(vec![3]),
                Event::Data(vec![4])
            ]
        );
        assert_eq!(q.bytes, 0);
        // 100 datagrams of 64 KiB: only what fits in MAX_QUEUED_BYTES stays, the newest.
        let mut q = Bounded::new(MAX_QUEUED_EVENTS);
        for i in 0..100u8 {
            q.push(Event::Data(vec![i; 64 * 1024]));
        }
        let kept = MAX_QUEUED_BYTES / (64 * 1024);
        assert_eq!(q.items.len(), kept);
        assert_eq!(q.bytes, kept * 64 * 1024);
        assert_eq!(
            q.pop(),
            Some(Event::Data(vec![100 - kept as u8; 64 * 1024]))
        );
        // One entry larger than the budget is still kept, alone.
        q.push(Event::Data(vec![0; MAX_QUEUED_BYTES + 1]));
        assert_eq!(q.items.len(), 1);
        // The offer goes first.
        let mut s = Bounded::new(2);
        s.push(Signal::error("a"));
        s.push_front(Signal::Offer { sdp: "v=0".into() });
        assert_eq!(s.pop(), Some(Signal::Offer { sdp: "v=0".into() }));
        assert_eq!(s.bytes, 1);
    }

    #[test]
    fn parse_signals() {
        let c = Signal::parse(
            r#"{"type":"candidate","candidate":"candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0}"#,
        );
        assert!(matches!(
            c,
            Ok(Signal::Candidate {
                sdp_mline_index: Some(0),
                ..
            })
        ));
        // A browser's RTCIceCandidate.toJSON(), without a type.
        let b = Signal::parse(
            r#"{"candidate":"","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"x"}"#,
        );
        assert!(matches!(b, Ok(Signal::Candidate { ref candidate, .. }) if candidate.is_empty()));
        assert!(matches!(
            Signal::parse(r#"{"type":"candidate","candidate":null}"#),
            Ok(Signal::Candidate { .. })
        ));
        assert!(matches!(
            Signal::parse("hello"),
            Err(SignalError::Json { .. })
        ));
        assert!(matches!(
            Signal::parse(r#"{"type":"nope"}"#),
            Err(SignalError::Json { .. })
        ));
        let huge = format!(
            r#"{{"type":"send","data":"{}"}}"#,
            "x".repeat(MAX_SIGNAL_LEN)
        );
        assert!(matches!(
            Signal::parse(&huge),
            Err(SignalError::TooLarge { .. })
        ));
        assert_eq!(
            Signal::Send { data: "hi".into() }.to_json(),
            r#"{"type":"send","data":"hi"}"#
        );
        assert_eq!(Signal::parse(r#"{"type":"restart"}"#), Ok(Signal::Restart));
        assert_eq!(Signal::Restart.to_json(), r#"{"type":"restart"}"#);
        assert!(!Signal::Restart.is_for_remote());
        let request = Signal::Stats { pairs: Vec::new() };
        assert_eq!(Signal::parse(r#"{"type":"stats"}"#), Ok(request.clone()));
        assert!(!request.is_for_remote());
        // A report: W3C's names, times in seconds, no valid local candidate or RTT when none.
        let report = PairReport {
            local: "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host".into(),
            remote: "candidate:2 1 udp 2122260223 192.0.2.2 50000 typ host".into(),
            valid_local: None,
            state: "succeeded".into(),
            priority: 7,
            nominated: true,
            selected: true,
            requests_sent: 3,
            consent_requests_sent: 1,
            retransmissions_sent: 0,
            responses_received: 2,
            requests_received: 4,
            responses_sent: 4,
            current_round_trip_time: Some(Duration::from_millis(250)),
            total_round_trip_time: Duration::from_millis(1500),
            packets_sent: 5,
            bytes_sent: 6,
            packets_received: 7,
            bytes_received: 8,
        };
        let json = Signal::Stats {
            pairs: vec![report.clone()],
        }
        .to_json();
        for field in [
            r#""type":"stats","pairs":[{"#,
            r#""state":"succeeded","priority":7,"nominated":true,"selected":true"#,
            r#""requestsSent":3,"consentRequestsSent":1,"retransmissionsSent":0"#,
            r#""responsesReceived":2,"requestsReceived":4,"responsesSent":4"#,
            r#""currentRoundTripTime":0.25,"totalRoundTripTime":1.5"#,
            r#""packetsSent":5,"bytesSent":6,"packetsReceived":7,"bytesReceived":8}]}"#,
        ] {
            assert!(json.contains(field), "{field} in {json}");
        }
        assert!(!json.contains("validLocal"), "{json}");
        assert_eq!(
            Signal::parse(&json),
            Ok(Signal::Stats {
                pairs: vec![report.clone()]
            })
        );
        let quiet = PairReport {
            current_round_trip_time: None,
            ..report
        };
        let json = Signal::Stats { pairs: vec![quiet] }.to_json();
        assert!(!json.contains("currentRoundTripTime"), "{json}");
        for bad in ["-1", "1e7", "NaN"] {
            assert!(matches!(
                Signal::parse(&json.replace("1.5", bad)),
                Err(SignalError::Json { .. })
            ));
        }
        // Times come back to the nanosecond, over the whole range read.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = Duration::from_nanos(x % 1_000_000_000_000_001);
            let json = format!(r#"{{"t":{}}}"#, t.as_secs_f64());
            #[derive(Deserialize)]
            struct T(#[serde(with = "seconds")] Duration);
            #[derive(Deserialize)]
            struct W {
                t: T,
            }
            let back: W = serde_json::from_str(&json).unwrap();
            assert_eq!(back.t.0, t, "{json}");
        }
        assert!(matches!(
            b,
            Ok(Signal::Candidate { username_fragment: Some(ref u), .. }) if u == "x"
        ));
    }

    #[test]
    fn offer_is_a_data_section_with_ice() {
        let mut a = Peer::new(config(Role::Offerer, 1), Instant::now());
        let Some(Signal::Offer { sdp }) = a.poll_signal() else {
            panic!("no offer");
        };
        for needle in [
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",
            "c=IN IP4 0.0.0.0\r\n",
            "a=ice-options:trickle ice2\r\n",
            "a=mid:0\r\n",
            "a=group:BUNDLE 0\r\n",
            "a=candidate:",
            "a=ice-ufrag:",
            "a=ice-pwd:",
        ] {
            assert!(sdp.contains(needle), "{needle:?} missing from\n{sdp}");
        }
        icebreaker_sdp::parse_strict(&sdp).unwrap();
    }

    #[test]
    fn no_credentials_is_an_error_message() {
        let mut b = Peer::new(config(Role::Answerer, 2), Instant::now());
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n";
        b.handle_signal(Instant::now(), Signal::Offer { sdp: sdp.into() });
        let Some(Signal::Error { message }) = b.poll_signal() else {
            panic!("no error");
        };
        assert!(message.contains("no ICE credentials"), "{message}");
        b.handle_signal(
            Instant::now(),
            Signal::Offer {
                sdp: "garbage".into(),
            },
        );
        assert!(matches!(b.poll_signal(), Some(Signal::Error { .. })));
    }

    /// The answer `answerer` signalled, the signals before it dropped.
    fn answer_of(answerer: &mut Peer) -> String {
        std::iter::from_fn(|| answerer.poll_signal())
            .find_map(|s| match s {
                Signal::Answer { sdp } => Some(sdp),
                _ => None,
            })
            .expect("an answer")
    }

    /// Two peers wired back to back in virtual time: signalling and datagrams delivered at
    /// once, timers run as they fall due. Returns whether both connected within `limit`.
    fn connect(a: &mut Peer, b: &mut Peer, start: Instant, limit: Duration) -> bool {
        run_until(a, b, start, limit, |a, b| {
            a.is_connected() && b.is_connected()
        })
        .is_some()
    }

    /// Runs two peers as [`connect`] does until `done` holds; returns when, or `None` after
    /// `limit`.
    fn run_until(
        a: &mut Peer,
        b: &mut Peer,
        start: Instant,
        limit: Duration,
        done: impl Fn(&Peer, &Peer) -> bool,
    ) -> Option<Instant> {
        let mut now = start;
        let mut buf = Vec::new();
        while now < start + limit {
            for _ in 0..1000 {
                let moved = pump(a, b, now, &mut buf) | pump(b, a, now, &mut buf);
                if !moved {
                    break;
                }
            }
            if done(a, b) {
                return Some(now);
            }
            let next = [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            now = next.map_or(now + Duration::from_millis(10), |t| {
                t.max(now + Duration::from_micros(1))
            });
            a.handle_timeout(now);
            b.handle_timeout(now);
        }
        None
    }

    /// Delivers what `from` has for `to`; returns whether anything moved.
    fn pump(from: &mut Peer, to: &mut Peer, now: Instant, buf: &mut Vec<u8>) -> bool {
        let mut moved = false;
        while let Some(s) = from.poll_signal() {
            if s.is_for_remote() {
                to.handle_signal(now, s);
            }
            moved = true;
        }
        while let Some(t) = from.poll_transmit(buf) {
            to.handle_receive(now, t.from, t.to, buf);
            moved = true;
        }
        moved
    }

    /// RFC 8839 §5.3 and RFC 8445 §6.1.1: a lite peer announces itself with `a=ice-lite`, and
    /// the full peer then takes the controlling role even as the answerer, so that someone
    /// nominates. Without either, a lite offerer and a full answerer were both controlled.
    #[test]
    fn a_lite_offerer_is_announced_and_the_full_answerer_controls() {
        let now = Instant::now();
        let mut lite = config(Role::Offerer, 1);
        lite.agent.lite = true;
        let mut a = Peer::new(lite, now);
        let Some(Signal::Offer { sdp }) = a.poll_signal() else {
            panic!("no offer");
        };
        assert!(sdp.contains("\r\na=ice-lite\r\n"), "{sdp}");
        icebreaker_sdp::parse_strict(&sdp).unwrap();
        let mut b = Peer::new(config(Role::Answerer, 2), now);
        assert!(!b.agent().is_controlling());
        b.handle_signal(now, Signal::Offer { sdp });
        assert!(b.agent().is_controlling());
        assert!(!a.agent().is_controlling());
        let answer = answer_of(&mut b);
        assert!(!answer.contains("ice-lite"), "{answer}");
        a.handle_signal(now, Signal::Answer { sdp: answer });
        assert!(connect(&mut a, &mut b, now, Duration::from_secs(5)));

        // Between two full peers the offerer still controls.
        let mut c = Peer::new(config(Role::Offerer, 3), now);
        let mut d = Peer::new(config(Role::Answerer, 4), now);
        assert!(connect(&mut c, &mut d, now, Duration::from_secs(5)));
        assert!(c.agent().is_controlling() && !d.agent().is_controlling());
    }

    /// RFC 8839 §5.5: each side announces its pacing, and both check at the larger value.
    #[test]
    fn both_peers_pace_their_checks_at_the_larger_announced_value() {
        let now = Instant::now();
        let mut slow = config(Role::Offerer, 1);
        slow.agent.ta = Duration::from_millis(200);
        let mut a = Peer::new(slow, now);
        let Some(Signal::Offer { sdp }) = a.poll_signal() else {
            panic!("no offer");
        };
        assert!(sdp.contains("\r\na=ice-pacing:200\r\n"), "{sdp}");
        let mut b = Peer::new(config(Role::Answerer, 2), now);
        assert_eq!(b.agent().pacing(), Duration::from_millis(50));
        b.handle_signal(now, Signal::Offer { sdp });
        assert_eq!(b.agent().pacing(), Duration::from_millis(200));
        let answer = answer_of(&mut b);
        // The answerer announces its own pacing, and still paces at the larger one.
        assert!(answer.contains("\r\na=ice-pacing:50\r\n"), "{answer}");
        a.handle_signal(now, Signal::Answer { sdp: answer });
        assert_eq!(a.agent().pacing(), Duration::from_millis(200));
        assert!(connect(&mut a, &mut b, now, Duration::from_secs(5)));

        // A description without the attribute means 50 ms: the faster side keeps its own.
        let mut c = Peer::new(config(Role::Answerer, 3), now);
        let offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
                     m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n\
                     a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\na=mid:0\r\n";
        c.handle_signal(now, Signal::Offer { sdp: offer.into() });
        assert_eq!(c.agent().pacing(), Duration::from_millis(50));
    }

    /// Each report goes once, where `PeerConfig::reports` says: as typed events with the bytes
    /// as they arrived, or as signals with the text.
    #[test]
    fn reports_go_to_signals_or_to_events() {
        let now = Instant::now();
        let mut a = Peer::new(config(Role::Offerer, 1), now);
        let mut events = config(Role::Answerer, 2);
        events.reports = Reports::Events;
        let mut b = Peer::new(events, now);
        assert!(connect(&mut a, &mut b, now, Duration::from_secs(5)));
        let b_events: Vec<Event> = std::iter::from_fn(|| b.poll_event()).collect();
        assert!(
            b_events.contains(&Event::State(State::Connected)),
            "{b_events:?}"
        );
        assert!(b_events.iter().any(|e| matches!(e, Event::Selected(_))));

        // Bytes that are not UTF-8: the event has them as sent, the signal has lossy text.
        let data = b"\xffhi";
        let mut buf = Vec::new();
        a.send(data);
        b.send(data);
        while let Some(t) = a.poll_transmit(&mut buf) {
            b.handle_receive(now, t.from, t.to, &buf);
        }
        while let Some(t) = b.poll_transmit(&mut buf) {
            a.handle_receive(now, t.from, t.to, &buf);
        }
        assert_eq!(b.poll_event(), Some(Event::Data(data.to_vec())));
        assert_eq!(
            std::iter::from_fn(|| b.poll_signal()).find(|s| !s.is_for_remote()),
            None
        );
        let a_reports: Vec<Signal> = std::iter::from_fn(|| a.poll_signal())
            .filter(|s| !s.is_for_remote())
            .collect();
        assert_eq!(
            a_reports,
            [Signal::Message {
                data: "\u{fffd}hi".into()
            }]
        );
        assert_eq!(a.poll_event(), None);
    }

    /// A Chrome offer with audio, video and data, BUNDLEd on the audio section.
    const BROWSER_OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0 1 2\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
a=candidate:1 1 udp 2122260223 192.0.2.7 50000 typ host generation 0\r\n\
a=ice-ufrag:EsAw\r\na=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\na=ice-options:trickle\r\n\
a=fingerprint:sha-256 19:E2:1C:3B:4B:9F:81:E6:B8:5C:F4:A5:A8:D8:73:04:BB:05:2F:70:9F:04:A9:0E:05:E9:26:33:E8:70:88:A2\r\n\
a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:EsAw\r\na=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n\
a=mid:1\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:EsAw\r\n\
a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\na=mid:2\r\na=sctp-port:5000\r\n";

    #[test]
    fn mdns_candidates_wait_for_the_driver_to_resolve_them() {
        let mut b = Peer::new(config(Role::Answerer, 2), Instant::now());
        b.handle_signal(
            Instant::now(),
            Signal::Offer {
                sdp: BROWSER_OFFER.into(),
            },
        );
        let before = b.agent().remote_candidates().len();
        let name = "1f4712db-ea17-4bcf-a596-105139dfd8bf.local";
        for port in [50001, 50002] {
            b.handle_signal(
                Instant::now(),
                Signal::parse(&format!(r#"{{"candidate":"candidate:9 1 udp 2122260223 {name} {port} typ host","sdpMid":"0","sdpMLineIndex":0}}"#)).unwrap(),
            );
        }
        assert_eq!(b.poll_mdns_query().as_deref(), Some(name));
        assert_eq!(
            b.agent().remote_candidates().len(),
            before,
            "not before it resolves"
        );
        b.resolve_mdns(name, Some("192.0.2.44".parse().unwrap()));
        let added: Vec<_> = b
            .agent()
            .remote_candidates()
            .iter()
            .filter(|c| c.address.ip() == "192.0.2.44".parse::<std::net::IpAddr>().unwrap())
            .map(|c| c.address.port())
            .collect();
        assert_eq!(added, [50001, 50002]);
        // An unresolved name drops its candidate and nothing else.
        let other = "0a0b0c0d-ea17-4bcf-a596-105139dfd8bf.local";
        b.handle_signal(
            Instant::now(),
            Signal::parse(&format!(r#"{{"candidate":"candidate:9 1 udp 2122260223 {other} 50003 typ host","sdpMid":"0","sdpMLineIndex":0}}"#)).unwrap(),
        );
        while let Some(n) = b.poll_mdns_query() {
            b.resolve_mdns(&n, None);
        }
        assert_eq!(b.agent().remote_candidates().len(), before + 2);
    }

    /// The answer to `offer` from a fresh answerer, and every error it signalled.
    fn answer_to(offer: &str) -> (String, Vec<String>) {
        let mut b = Peer::new(config(Role::Answerer, 2), Instant::now());
        b.handle_signal(Instant::now(), Signal::Offer { sdp: offer.into() });
        let (mut answer, mut errors) = (None, Vec::new());
        while let Some(s) = b.poll_signal() {
            match s {
                Signal::Answer { sdp } => answer = Some(sdp),
                Signal::Error { message } => errors.push(message),
                _ => {}
            }
        }
        (answer.expect("an answer"), errors)
    }

    #[test]
    fn an_offer_without_bundle_or_mid_gets_an_answer_without_them() {
        let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nt=0 0\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:EsAw\r\na=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n";
        let (answer, errors) = answer_to(offer);
        assert!(errors.is_empty(), "{errors:?}");
        icebreaker_sdp::parse_strict(&answer).unwrap();
        assert!(!answer.contains("a=group:"), "{answer}");
        assert!(!answer.contains("a=mid:"), "{answer}");
        // With a mid but no group: the mid, and still no group.
        let with_mid = offer.replace("a=ice-ufrag", "a=mid:data\r\na=ice-ufrag");
        let (answer, _) = answer_to(&with_mid);
        assert!(
            answer.contains("a=mid:data\r\n") && !answer.contains("a=group:"),
            "{answer}"
        );
        // The browser's BUNDLE offer keeps both.
        let (answer, _) = answer_to(BROWSER_OFFER);
        assert!(answer.contains("a=group:BUNDLE 0 2\r\n") && answer.contains("a=mid:0\r\n"));
    }

    /// The kind, port and formats of each section, in order.
    fn sections(sdp: &str) -> Vec<(MediaType<'_>, u16, &str)> {
        icebreaker_sdp::parse_strict(sdp)
            .unwrap()
            .media
            .iter()
            .map(|m| (m.kind, m.port, m.formats))
            .collect()
    }

    #[test]
    fn the_answer_mirrors_each_offered_media_type_and_keeps_the_bundle_tag() {
        let (answer, errors) = answer_to(BROWSER_OFFER);
        assert!(errors.is_empty(), "{errors:?}");
        // The audio section tags the offer's group: it carries the transport, and an answerer
        // cannot reject it (RFC 8843 §7.3.3). It is taken as audio, inactive, one codec; video
        // is rejected; the data section is taken, bundled.
        assert_eq!(
            sections(&answer),
            [
                (MediaType::Audio, 9, "111"),
                (MediaType::Video, 0, "96"),
                (MediaType::Application, 9, "webrtc-datachannel"),
            ]
        );
        let parsed = icebreaker_sdp::parse_strict(&answer).unwrap();
        let audio = &parsed.media[0];
        assert_eq!(audio.direction(), Direction::Inactive);
        assert!(
            audio
                .find(|a| matches!(a, Attribute::RtcpMux).then_some(()))
                .is_some()
        );
        assert_eq!(
            audio.find(|a| match a {
                Attribute::Rtpmap(r) => Some((r.payload_type, r.encoding_name)),
                _ => None,
            }),
            Some((111, "opus"))
        );
        assert!(
            audio
                .find(|a| matches!(a, Attribute::IceUfrag(_)).then_some(()))
                .is_some()
        );
        // Candidates go with the transport only.
        assert_eq!(audio.candidates().count(), 1);
        assert_eq!(parsed.media[2].candidates().count(), 0);
        assert_eq!(parsed.media[2].mid(), Some("2"));
        assert_eq!(parsed.bundle().unwrap().collect::<Vec<_>>(), ["0", "2"]);

        // Without BUNDLE, the data section carries the transport and audio is rejected.
        let plain = BROWSER_OFFER.replace("a=group:BUNDLE 0 1 2\r\n", "");
        let (answer, _) = answer_to(&plain);
        assert_eq!(
            sections(&answer),
            [
                (MediaType::Audio, 0, "111"),
                (MediaType::Video, 0, "96"),
                (MediaType::Application, 9, "webrtc-datachannel"),
            ]
        );
        assert!(!answer.contains("a=group:"), "{answer}");

        // Audio and video only: the tagged audio section alone is taken.
        let av = &BROWSER_OFFER[..BROWSER_OFFER.find("m=application").unwrap()];
        let (answer, errors) = answer_to(av);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            sections(&answer),
            [(MediaType::Audio, 9, "111"), (MediaType::Video, 0, "96")]
        );
        assert!(answer.contains("a=group:BUNDLE 0\r\n"), "{answer}");

        // A data section the offer itself rejected (port 0, not bundle-only) stays rejected;
        // a bundle-only one (port 0 by design) is taken.
        let rejected = BROWSER_OFFER.replace("m=application 9", "m=application 0");
        let (answer, _) = answer_to(&rejected);
        assert_eq!(
            sections(&answer)[2],
            (MediaType::Application, 0, "webrtc-datachannel")
        );
        assert!(answer.contains("a=group:BUNDLE 0\r\n"), "{answer}");
        let bundle_only = rejected.replace("a=mid:2\r\n", "a=mid:2\r\na=bundle-only\r\n");
        let (answer, _) = answer_to(&bundle_only);
        assert_eq!(
            sections(&answer)[2],
            (MediaType::Application, 9, "webrtc-datachannel")
        );
    }

    #[test]
    fn the_answer_copes_with_odd_offers() {
        // The offer rejected its own tagged section: the next live section of the group
        // carries the transport, and the rejected one stays rejected.
        let dead_tag = BROWSER_OFFER.replace("m=audio 9 ", "m=audio 0 ");
        let (answer, errors) = answer_to(&dead_tag);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            sections(&answer),
            [
                (MediaType::Audio, 0, "111"),
                (MediaType::Video, 9, "96"),
                (MediaType::Application, 9, "webrtc-datachannel"),
            ]
        );
        assert!(answer.contains("a=group:BUNDLE 1 2\r\n"), "{answer}");
        // Every section rejected: no answer, an error.
        let all_dead = dead_tag
            .replace("m=video 9 ", "m=video 0 ")
            .replace("m=application 9 ", "m=application 0 ");
        let mut b = Peer::new(config(Role::Answerer, 2), Instant::now());
        b.handle_signal(Instant::now(), Signal::Offer { sdp: all_dead });
        let signals: Vec<_> = std::iter::from_fn(|| b.poll_signal()).collect();
        assert!(
            !signals.iter().any(|s| matches!(s, Signal::Answer { .. }))
                && signals.iter().any(|s| matches!(s, Signal::Error { .. })),
            "{signals:?}"
        );
        // Formats a lenient parse kept loosely spaced, in sections taken and rejected.
        let loose = BROWSER_OFFER
            .replace("SAVPF 96\r\n", "SAVPF 96  97\r\n")
            .replace("webrtc-datachannel\r\n", "webrtc-datachannel \r\n");
        let (answer, errors) = answer_to(&loose);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(sections(&answer)[1], (MediaType::Video, 0, "96 97"));
        // An application section that is not a data channel is not taken for one.
        let bfcp = BROWSER_OFFER
            .replace("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 1 3 2")
            .replace(
                "m=application 9 UDP/DTLS/SCTP",
                "m=application 9 UDP/BFCP *\r\nc=IN IP4 0.0.0.0\r\na=mid:3\r\n\
m=application 9 UDP/DTLS/SCTP",
            );
        let (answer, _) = answer_to(&bfcp);
        assert_eq!(
            sections(&answer)[2..],
            [
                (MediaType::Application, 0, "*"),
                (MediaType::Application, 9, "webrtc-datachannel"),
            ]
        );
        // A tagged video section whose first format is a retransmission codec is answered
        // with the codec it repairs.
        let rtx_first = BROWSER_OFFER
            .replace("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 1 0 2")
            .replace(
                "m=video 9 UDP/TLS/RTP/SAVPF 96",
                "m=video 9 UDP/TLS/RTP/SAVPF 97 96",
            )
            .replace(
                "a=rtpmap:96 VP8/90000\r\n",
                "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=rtpmap:96 VP8/90000\r\n",
            );
        let (answer, errors) = answer_to(&rtx_first);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(sections(&answer)[1], (MediaType::Video, 9, "96"));
        assert!(answer.contains("a=rtpmap:96 VP8/90000\r\n"), "{answer}");
        assert!(!answer.contains("rtx"), "{answer}");
    }

    /// The `a=ice-ufrag` of a description.
    fn ufrag(sdp: &str) -> &str {
        sdp.lines()
            .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
            .expect("an ice-ufrag")
    }

    /// The offer `offerer` signalled, the signals before it dropped.
    fn offer_of(offerer: &mut Peer) -> String {
        std::iter::from_fn(|| offerer.poll_signal())
            .find_map(|s| match s {
                Signal::Offer { sdp } => Some(sdp),
                _ => None,
            })
            .expect("an offer")
    }

    /// The error messages among what `peer` signalled.
    fn errors(peer: &mut Peer) -> Vec<String> {
        std::iter::from_fn(|| peer.poll_signal())
            .filter_map(|s| match s {
                Signal::Error { message } => Some(message),
                _ => None,
            })
            .collect()
    }

    fn settled(p: &Peer) -> bool {
        p.is_connected() && matches!(p.state(), State::Connected | State::Completed)
    }

    /// Sends `text` from `from` and runs both peers until `to` reports it.
    fn delivers(from: &mut Peer, to: &mut Peer, now: Instant, text: &str) -> bool {
        from.send(text.as_bytes());
        let mut buf = Vec::new();
        while let Some(t) = from.poll_transmit(&mut buf) {
            to.handle_receive(now, t.from, t.to, &buf);
        }
        std::iter::from_fn(|| to.poll_signal())
            .any(|s| matches!(s, Signal::Message { data } if data == text))
    }

    /// RFC 8445 §9 through signalling, started by either side: the restart's offer and its
    /// answer carry fresh credentials, the agents check again (the new session's checks are
    /// signed with the new passwords: nothing else can bring them back to connected), the
    /// offerer of the restart controls, and data flows again.
    #[test]
    fn either_side_restarts_ice_through_an_offer_with_fresh_credentials() {
        for restarter in [Role::Offerer, Role::Answerer] {
            let start = Instant::now();
            let mut a = Peer::new(config(Role::Offerer, 1), start);
            let mut b = Peer::new(config(Role::Answerer, 2), start);
            assert!(connect(&mut a, &mut b, start, Duration::from_secs(5)));
            let (r, o) = match restarter {
                Role::Offerer => (&mut a, &mut b),
                Role::Answerer => (&mut b, &mut a),
            };
            let before = (
                r.agent().local_credentials().clone(),
                o.agent().local_credentials().clone(),
            );
            while r.poll_signal().is_some() {}
            while o.poll_signal().is_some() {}
            let now = start + Duration::from_secs(6);
            r.handle_signal(now, Signal::Restart);
            let offer = offer_of(r);
            assert_eq!(ufrag(&offer), r.agent().local_credentials().ufrag);
            assert_ne!(r.agent().local_credentials(), &before.0, "{restarter:?}");
            assert!(offer.contains("a=candidate:"), "{offer}");
            assert_eq!(r.state(), State::Checking);
            // The old pair carries data until a new one is selected.
            assert!(r.is_connected());
            o.handle_signal(now, Signal::Offer { sdp: offer });
            let answer = answer_of(o);
            assert_eq!(ufrag(&answer), o.agent().local_credentials().ufrag);
            assert_ne!(o.agent().local_credentials(), &before.1, "{restarter:?}");
            assert_eq!(o.state(), State::Checking);
            r.handle_signal(now, Signal::Answer { sdp: answer });
            assert!(errors(r).is_empty());
            assert!(
                run_until(r, o, now, Duration::from_secs(5), |r, o| settled(r)
                    && settled(o))
                .is_some(),
                "{restarter:?}: {:?} {:?}",
                r.state(),
                o.state()
            );
            assert!(r.agent().is_controlling() && !o.agent().is_controlling());
            let later = now + Duration::from_secs(5);
            assert!(delivers(r, o, later, "after the restart"));
            assert!(delivers(o, r, later, "both ways"));
        }
    }

    /// What a restart is for: the path broke (nothing gets through until consent is lost and
    /// the agents fail), then one side restarts and both connect again.
    #[test]
    fn a_failed_session_connects_again_after_a_restart() {
        let start = Instant::now();
        let mut a = Peer::new(config(Role::Offerer, 1), start);
        let mut b = Peer::new(config(Role::Answerer, 2), start);
        assert!(connect(&mut a, &mut b, start, Duration::from_secs(5)));
        // The network drops everything for a minute.
        let mut now = start + Duration::from_secs(5);
        let mut buf = Vec::new();
        while now < start + Duration::from_secs(65) {
            for p in [&mut a, &mut b] {
                while p.poll_transmit(&mut buf).is_some() {}
                while p.poll_signal().is_some() {}
                p.handle_timeout(now);
            }
            now += Duration::from_millis(100);
        }
        assert_eq!((a.state(), b.state()), (State::Failed, State::Failed));
        b.handle_signal(now, Signal::Restart);
        assert!(
            run_until(&mut a, &mut b, now, Duration::from_secs(5), |a, b| settled(
                a
            )
                && settled(b))
            .is_some(),
            "{:?} {:?}",
            a.state(),
            b.state()
        );
        assert!(delivers(
            &mut a,
            &mut b,
            now + Duration::from_secs(5),
            "back"
        ));
    }

    /// Runs both peers for `span` in 100 ms steps with every datagram lost and signalling
    /// working; returns how many offers each sent.
    fn path_down(a: &mut Peer, b: &mut Peer, from: Instant, span: Duration) -> [usize; 2] {
        let mut offers = [0; 2];
        let mut buf = Vec::new();
        let mut now = from;
        let mut step = |p: &mut Peer, q: &mut Peer, now: Instant, offers: &mut usize| {
            p.handle_timeout(now);
            while p.poll_transmit(&mut buf).is_some() {}
            while let Some(s) = p.poll_signal() {
                *offers += usize::from(matches!(s, Signal::Offer { .. }));
                if s.is_for_remote() {
                    q.handle_signal(now, s);
                }
            }
        };
        while now < from + span {
            let [to_b, to_a] = &mut offers;
            step(a, b, now, to_b);
            step(b, a, now, to_a);
            now += Duration::from_millis(100);
        }
        offers
    }

    /// `restart_on_failure`: the path breaks while signalling keeps working; both peers fail,
    /// restart ICE by themselves (offers that cross are settled as any others), and connect
    /// again once the path is back, with nobody telling them to. Without the option they stay
    /// failed; with it and no path, they give up after MAX_AUTO_RESTARTS each.
    #[test]
    fn a_peer_told_to_restart_on_failure_reconnects_by_itself() {
        let start = Instant::now();
        let peers = |auto: bool| {
            let config = |role, seed| PeerConfig {
                restart_on_failure: auto,
                ..config(role, seed)
            };
            let mut a = Peer::new(config(Role::Offerer, 1), start);
            let mut b = Peer::new(config(Role::Answerer, 2), start);
            assert!(connect(&mut a, &mut b, start, Duration::from_secs(5)));
            (a, b)
        };
        let down_at = start + Duration::from_secs(5);
        let (mut a, mut b) = peers(true);
        let offers = path_down(&mut a, &mut b, down_at, Duration::from_secs(60));
        assert!(offers.iter().sum::<usize>() >= 1, "no restart: {offers:?}");
        let back_at = down_at + Duration::from_secs(60);
        let settled_at = run_until(&mut a, &mut b, back_at, Duration::from_secs(60), |a, b| {
            settled(a) && settled(b)
        });
        assert!(settled_at.is_some(), "{:?} {:?}", a.state(), b.state());
        assert!(delivers(
            &mut a,
            &mut b,
            settled_at.unwrap_or(back_at),
            "back by itself"
        ));

        let (mut a, mut b) = peers(false);
        let offers = path_down(&mut a, &mut b, down_at, Duration::from_secs(120));
        assert_eq!(offers, [0, 0]);
        assert_eq!((a.state(), b.state()), (State::Failed, State::Failed));

        let (mut a, mut b) = peers(true);
        let offers = path_down(&mut a, &mut b, down_at, Duration::from_secs(900));
        let most = MAX_AUTO_RESTARTS as usize;
        assert!(
            offers.iter().all(|&n| n <= most) && offers.iter().sum::<usize>() >= most,
            "{offers:?}"
        );
        assert_eq!((a.state(), b.state()), (State::Failed, State::Failed));
        // Told to restart, they connect, which gives them their automatic restarts back.
        let now = down_at + Duration::from_secs(900);
        b.restart(now);
        let up = run_until(&mut a, &mut b, now, Duration::from_secs(30), |a, b| {
            settled(a) && settled(b)
        });
        let offers = path_down(&mut a, &mut b, up.unwrap_or(now), Duration::from_secs(120));
        assert!(offers.iter().sum::<usize>() >= 1, "{offers:?}");
    }

    /// RFC 8838: an answer (or offer) without `trickle`, or without `a=ice-options` at all,
    /// comes from a peer that takes no trickled candidates: our later candidates and our
    /// end-of-candidates are not sent to it. And a peer configured not to trickle says so.
    #[test]
    fn nothing_is_trickled_to_a_peer_that_does_not_trickle() {
        for answer_options in ["a=ice-options:ice2\r\n", ""] {
            let start = Instant::now();
            let mut config_a = config(Role::Offerer, 1);
            // A STUN server that never answers: gathering ends at its transaction timeout.
            config_a.agent.stun_servers = vec![SocketAddr::from(([192, 0, 2, 200], 3478))];
            let mut a = Peer::new(config_a, start);
            let offer = offer_of(&mut a);
            assert!(offer.contains("a=ice-options:trickle ice2"), "{offer}");
            let mut b = Peer::new(
                PeerConfig {
                    trickle: false,
                    ..config(Role::Answerer, 2)
                },
                start,
            );
            b.handle_signal(start, Signal::Offer { sdp: offer });
            let answer = answer_of(&mut b);
            assert!(answer.contains("a=ice-options:ice2\r\n"), "{answer}");
            let answer = answer.replace("a=ice-options:ice2\r\n", answer_options);
            a.handle_signal(start, Signal::Answer { sdp: answer });
            let mut now = start;
            while now < start + Duration::from_secs(60) {
                now += Duration::from_millis(500);
                a.handle_timeout(now);
                while a.poll_transmit(&mut Vec::new()).is_some() {}
            }
            let signals: Vec<Signal> = std::iter::from_fn(|| a.poll_signal()).collect();
            assert!(
                signals
                    .iter()
                    .any(|s| matches!(s, Signal::Error { message } if message.contains("STUN"))),
                "gathering ended: {signals:?}"
            );
            assert!(
                !signals
                    .iter()
                    .any(|s| matches!(s, Signal::Candidate { .. })),
                "{answer_options:?}: {signals:?}"
            );
        }
    }

    /// A subsequent offer with the same credentials (a browser adding a track) is answered
    /// with the same credentials and every candidate, and restarts nothing.
    #[test]
    fn a_subsequent_offer_without_new_credentials_restarts_nothing() {
        let start = Instant::now();
        let mut a = Peer::new(config(Role::Offerer, 1), start);
        let offer = offer_of(&mut a);
        let mut b = Peer::new(config(Role::Answerer, 2), start);
        b.handle_signal(start, Signal::Offer { sdp: offer.clone() });
        let first = answer_of(&mut b);
        a.handle_signal(start, Signal::Answer { sdp: first.clone() });
        assert!(connect(&mut a, &mut b, start, Duration::from_secs(5)));
        while b.poll_signal().is_some() {}
        let now = start + Duration::from_secs(6);
        let state = b.state();
        b.handle_signal(now, Signal::Offer { sdp: offer });
        let signals: Vec<Signal> = std::iter::from_fn(|| b.poll_signal()).collect();
        let [Signal::Answer { sdp }] = &signals[..] else {
            panic!("{signals:?}");
        };
        assert_eq!(ufrag(sdp), ufrag(&first));
        assert!(
            sdp.contains("a=candidate:") && sdp.contains("a=end-of-candidates"),
            "{sdp}"
        );
        assert_eq!(b.state(), state);
        assert!(b.is_connected());
    }

    /// Both sides restart at once: the first offerer's offer goes on, the first answerer
    /// withdraws its own and answers, and the session connects with the credentials of that
    /// exchange.
    #[test]
    fn restarts_that_cross_are_settled_by_the_first_offerer() {
        let start = Instant::now();
        let mut a = Peer::new(config(Role::Offerer, 1), start);
        let mut b = Peer::new(config(Role::Answerer, 2), start);
        assert!(connect(&mut a, &mut b, start, Duration::from_secs(5)));
        while a.poll_signal().is_some() {}
        while b.poll_signal().is_some() {}
        let now = start + Duration::from_secs(6);
        a.handle_signal(now, Signal::Restart);
        b.handle_signal(now, Signal::Restart);
        let (a_offer, b_offer) = (offer_of(&mut a), offer_of(&mut b));
        a.handle_signal(now, Signal::Offer { sdp: b_offer });
        let refused = errors(&mut a);
        assert!(
            refused.len() == 1 && refused[0].contains("waiting for its answer"),
            "{refused:?}"
        );
        b.handle_signal(
            now,
            Signal::Offer {
                sdp: a_offer.clone(),
            },
        );
        let answer = answer_of(&mut b);
        assert_eq!(ufrag(&answer), b.agent().local_credentials().ufrag);
        a.handle_signal(now, Signal::Answer { sdp: answer });
        assert!(errors(&mut a).is_empty());
        assert!(
            run_until(&mut a, &mut b, now, Duration::from_secs(5), |a, b| settled(
                a
            )
                && settled(b))
            .is_some()
        );
        assert!(a.agent().is_controlling() && !b.agent().is_controlling());
        assert!(delivers(
            &mut a,
            &mut b,
            now + Duration::from_secs(5),
            "settled"
        ));
        // The withdrawn offer waits for nothing: the first answerer can restart again.
        b.handle_signal(now + Duration::from_secs(5), Signal::Restart);
        let _ = offer_of(&mut b);
    }

    /// Candidates of the session a restart replaces are dropped: those trickled while the
    /// restart waits for its answer, and those tagged with the old credentials.
    #[test]
    fn candidates_of_the_replaced_session_are_dropped() {
        let start = Instant::now();
        let mut a = Peer::new(config(Role::Offerer, 1), start);
        let mut b = Peer::new(config(Role::Answerer, 2), start);
        assert!(connect(&mut a, &mut b, start, Duration::from_secs(5)));
        let old_a = a.agent().local_credentials().ufrag.clone();
        let candidate = |ufrag: Option<&str>, port: u16| Signal::Candidate {
            candidate: format!("candidate:9 1 udp 2122260223 192.0.2.99 {port} typ host"),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: ufrag.map(str::to_owned),
        };
        let now = start + Duration::from_secs(6);
        b.handle_signal(now, Signal::Restart);
        let offer = offer_of(&mut b);
        let known = |p: &Peer, port: u16| {
            p.agent()
                .remote_candidates()
                .iter()
                .any(|c| c.address.port() == port)
        };
        // Waiting for the answer: whatever arrives belongs to the old session.
        b.handle_signal(now, candidate(None, 7001));
        assert!(!known(&b, 7001));
        a.handle_signal(now, Signal::Offer { sdp: offer });
        let answer = answer_of(&mut a);
        let new_a = ufrag(&answer).to_owned();
        b.handle_signal(now, Signal::Answer { sdp: answer });
        b.handle_signal(now, candidate(Some(&old_a), 7002));
        assert!(!known(&b, 7002));
        b.handle_signal(now, candidate(Some(&new_a), 7003));
        b.handle_signal(now, candidate(None, 7004));
        assert!(known(&b, 7003) && known(&b, 7004));
        // Our own trickled candidates carry our credentials.
        let mut c = Peer::new(config(Role::Offerer, 3), start);
        let ufrag = c.agent().local_credentials().ufrag.clone();
        c.handle_timeout(start + Duration::from_secs(1));
        let _ = offer_of(&mut c);
        c.agent
            .add_host_candidate(SocketAddr::from(([192, 0, 2, 3], 5001)), 1)
            .unwrap();
        c.drain_agent();
        let trickled: Vec<Signal> = std::iter::from_fn(|| c.poll_signal()).collect();
        assert!(
            trickled.iter().any(|s| matches!(
                s,
                Signal::Candidate { username_fragment: Some(u), candidate, .. }
                    if *u == ufrag && candidate.contains("5001")
            )),
            "{trickled:?}"
        );
    }

    #[test]
    fn a_restart_or_an_answer_out_of_turn_is_refused() {
        let start = Instant::now();
        let mut b = Peer::new(config(Role::Answerer, 2), start);
        b.handle_signal(start, Signal::Restart);
        let e = errors(&mut b);
        assert!(e.len() == 1 && e[0].contains("no session yet"), "{e:?}");
        let mut a = Peer::new(config(Role::Offerer, 1), start);
        a.handle_signal(start, Signal::Restart);
        let e = errors(&mut a);
        assert!(e.len() == 1 && e[0].contains("already waiting"), "{e:?}");
        let mut a = Peer::new(config(Role::Offerer, 1), start);
        let mut b = Peer::new(config(Role::Answerer, 2), start);
        assert!(connect(&mut a, &mut b, start, Duration::from_secs(5)));
        // An answer when no offer of ours waits for one.
        let offer = {
            let mut x = Peer::new(config(Role::Offerer, 4), start);
            offer_of(&mut x)
        };
        let mut y = Peer::new(config(Role::Answerer, 5), start);
        y.handle_signal(start, Signal::Offer { sdp: offer });
        let stray = answer_of(&mut y);
        while a.poll_signal().is_some() {}
        a.handle_signal(start, Signal::Answer { sdp: stray });
        let e = errors(&mut a);
        assert!(e.len() == 1 && e[0].contains("no offer of ours"), "{e:?}");
        a.close(start);
        a.handle_signal(start, Signal::Restart);
        let e = errors(&mut a);
        assert!(e.len() == 1 && e[0].contains("closed"), "{e:?}");
        assert_eq!(a.state(), State::Closed);
    }

    #[test]
    fn a_trickled_end_of_candidates_attribute_ends_the_remote_candidates() {
        let mut b = Peer::new(config(Role::Answerer, 2), Instant::now());
        b.handle_signal(
            Instant::now(),
            Signal::Offer {
                sdp: BROWSER_OFFER.into(),
            },
        );
        while b.poll_signal().is_some() {}
        b.handle_signal(
            Instant::now(),
            Signal::parse(r#"{"candidate":"a=end-of-candidates","sdpMid":"0","sdpMLineIndex":0}"#)
                .unwrap(),
        );
        let errors: Vec<_> = std::iter::from_fn(|| b.poll_signal())
            .filter(|s| matches!(s, Signal::Error { .. }))
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn answers_a_browser_offer() {
        let mut b = Peer::new(config(Role::Answerer, 2), Instant::now());
        b.handle_signal(
            Instant::now(),
            Signal::Offer {
                sdp: BROWSER_OFFER.into(),
            },
        );
        let mut answer = None;
        while let Some(s) = b.poll_signal() {
            if let Signal::Answer { sdp } = s {
                answer = Some(sdp);
            }
        }
        let answer = answer.expect("an answer");
        let parsed = icebreaker_sdp::parse_strict(&answer).unwrap();
        assert_eq!(parsed.media.len(), 3);
        assert_eq!(parsed.media[0].port, 9);
        assert_eq!(parsed.media[0].mid(), Some("0"));
        assert_eq!(parsed.media[1].port, 0);
        assert_eq!(b.agent().remote_candidates().len(), 1);
        // The rejected sections mirror the offer's formats, written canonically even when the
        // offer separated them loosely.
        let loose = BROWSER_OFFER.replace(
            "m=video 9 UDP/TLS/RTP/SAVPF 96",
            "m=video 9 UDP/TLS/RTP/SAVPF 96\t97 ",
        );
        let mut c = Peer::new(config(Role::Answerer, 3), Instant::now());
        c.handle_signal(Instant::now(), Signal::Offer { sdp: loose });
        let answer = std::iter::from_fn(|| c.poll_signal())
            .find_map(|s| match s {
                Signal::Answer { sdp } => Some(sdp),
                _ => None,
            })
            .expect("an answer to a loosely spaced offer");
        assert!(
            answer.contains("m=video 0 UDP/TLS/RTP/SAVPF 96 97\r\n"),
            "{answer}"
        );
        // A trickled candidate for another section of the bundle is ignored; one for ours is not.
        b.handle_signal(
            Instant::now(),
            Signal::parse(r#"{"candidate":"candidate:2 1 udp 2122260223 192.0.2.8 50000 typ host","sdpMid":"2","sdpMLineIndex":2}"#).unwrap(),
        );
        b.handle_signal(
            Instant::now(),
            Signal::parse(r#"{"candidate":"candidate:2 1 udp 2122260223 192.0.2.9 50000 typ host","sdpMid":"0","sdpMLineIndex":0}"#).unwrap(),
        );
        assert_eq!(b.agent().remote_candidates().len(), 2);
        // A trickled TCP candidate (browsers send them) is carried quietly, not reported as an
        // error; a malformed one is.
        while b.poll_signal().is_some() {}
        b.handle_signal(
            Instant::now(),
            Signal::parse(r#"{"candidate":"candidate:3 1 tcp 1518280447 192.0.2.9 9 typ host tcptype active","sdpMid":"0","sdpMLineIndex":0}"#).unwrap(),
        );
        assert!(
            std::iter::from_fn(|| b.poll_signal()).all(|s| !matches!(s, Signal::Error { .. })),
            "a TCP candidate is no error"
        );
        b.handle_signal(
            Instant::now(),
            Signal::parse(r#"{"candidate":"candidate:4 1 udp x 192.0.2.9 9 typ host","sdpMid":"0","sdpMLineIndex":0}"#).unwrap(),
        );
        assert!(
            std::iter::from_fn(|| b.poll_signal()).any(|s| matches!(s, Signal::Error { .. })),
            "a malformed candidate is"
        );
    }
}
