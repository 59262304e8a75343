//! The RFC 5780 NAT behaviour discovery client, sans-IO.
//!
//! From one local socket, against a server with an alternate address, it runs (RFC 5780 §4):
//!
//! 1. Test I: a plain Binding request to the primary address A1:P1. It yields the mapped address
//!    X1 and the server's OTHER-ADDRESS A2:P2.
//! 2. Filtering test II: CHANGE-REQUEST (IP and port) to A1:P1. An answer from A2:P2 means
//!    endpoint-independent filtering.
//! 3. Filtering test III: CHANGE-REQUEST (port) to A1:P1. An answer from A1:P2 means
//!    address-dependent filtering; none means address-and-port-dependent filtering.
//! 4. Mapping test II: a Binding request to A2:P1. The same mapped address as X1 means
//!    endpoint-independent mapping.
//! 5. Mapping test III: a Binding request to A2:P2. The same mapped address as test II means
//!    address-dependent mapping, another one address-and-port-dependent mapping.
//! 6. Hairpinning (§4.5): a Binding request sent to X1 itself; receiving it back means the NAT
//!    hairpins.
//!
//! The filtering tests run before the mapping tests II and III: once the client has sent to A2,
//! an address-dependent filter would let A2's answers in and hide the real behaviour.

use core::fmt;
use core::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::Transmit;
use crate::attributes::{ChangeRequest, MappedAddress, OtherAddress, XorMappedAddress};
use crate::message::{Class, Message, Method, TransactionId};
use crate::transaction::{ClientTransaction, ResponseFault, TransactionConfig, TransactionState};
use crate::writer::MessageWriter;

/// A mapping or filtering behaviour (RFC 4787 §4.1 and §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Behavior {
    /// Endpoint-independent.
    EndpointIndependent,
    /// Address-dependent.
    AddressDependent,
    /// Address- and port-dependent.
    AddressAndPortDependent,
}

impl Behavior {
    /// The RFC 4787 term in kebab case, e.g. `endpoint-independent`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EndpointIndependent => "endpoint-independent",
            Self::AddressDependent => "address-dependent",
            Self::AddressAndPortDependent => "address-and-port-dependent",
        }
    }
}

impl fmt::Display for Behavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What discovery found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatBehavior {
    /// The local address the tests ran from.
    pub local: SocketAddr,
    /// The mapped (server-reflexive) address from test I.
    pub mapped: SocketAddr,
    /// The server's alternate address (OTHER-ADDRESS).
    pub other: SocketAddr,
    /// Whether there is a NAT: the mapped address differs from the local one.
    pub nat: bool,
    /// Mapping behaviour.
    pub mapping: Behavior,
    /// Filtering behaviour.
    pub filtering: Behavior,
    /// Whether the NAT hairpins; `None` when not tested (no NAT, or turned off).
    pub hairpinning: Option<bool>,
}

/// Why discovery could not finish.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Test I got no answer.
    ServerUnreachable,
    /// The server answered with an error response to test I (the code).
    ServerError(u16),
    /// The server does not support RFC 5780: no OTHER-ADDRESS in its answer.
    NoOtherAddress,
    /// The answer lacked a mapped address.
    NoMappedAddress,
    /// A mapping test (II or III) got no answer though test I did.
    MappingTestUnanswered,
    /// The server answered a CHANGE-REQUEST from the address the request went to: it ignores
    /// CHANGE-REQUEST and the filtering result would be wrong.
    ChangeRequestIgnored,
    /// An answer that fails its test (RFC 8489 §6.3.3, §6.3.4): it carries an unknown
    /// comprehension-required attribute, or it is an error without ERROR-CODE.
    BadResponse(ResponseFault),
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ServerUnreachable => f.write_str("the STUN server did not answer"),
            Self::ServerError(code) => write!(f, "the STUN server answered with error {code}"),
            Self::NoOtherAddress => {
                f.write_str("the server does not support RFC 5780 (no OTHER-ADDRESS in its answer)")
            }
            Self::NoMappedAddress => f.write_str("the server's answer has no mapped address"),
            Self::MappingTestUnanswered => f.write_str("a mapping test got no answer"),
            Self::ChangeRequestIgnored => f.write_str("the server ignores CHANGE-REQUEST"),
            Self::BadResponse(fault) => write!(f, "the STUN server's answer is faulty: {fault}"),
        }
    }
}

impl std::error::Error for DiscoveryError {}

/// Discovery settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Retransmission of each test. Filtering tests wait the whole timeout when they get no
    /// answer, so the default is shorter than a plain STUN transaction: 250 ms RTO, 4 sends,
    /// 4 RTOs of final wait (2.75 s per test).
    pub transaction: TransactionConfig,
    /// Run the hairpinning test when a NAT is found.
    pub test_hairpinning: bool,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            transaction: TransactionConfig {
                rto: Duration::from_millis(250),
                max_sends: 4,
                last_wait: 4,
                ..TransactionConfig::default()
            },
            test_hairpinning: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Test1,
    Filter2,
    Filter3,
    Map2,
    Map3,
    Hairpin,
}

/// The discovery state machine. Feed it datagrams that arrive on its socket, drain
/// [`poll_transmit`](Self::poll_transmit), honour [`poll_timeout`](Self::poll_timeout), and read
/// [`result`](Self::result) once [`is_finished`](Self::is_finished).
#[derive(Debug, Clone)]
pub struct NatDiscovery {
    local: SocketAddr,
    server: SocketAddr,
    config: DiscoveryConfig,
    tids: [TransactionId; 6],
    step: Step,
    tx: Option<ClientTransaction>,
    mapped: Option<SocketAddr>,
    other: Option<SocketAddr>,
    map2: Option<SocketAddr>,
    mapping: Option<crate::discovery::Behavior>,
    filtering: Option<Behavior>,
    hairpin_seen: bool,
    hairpinning: Option<bool>,
    result: Option<Result<NatBehavior, DiscoveryError>>,
}

impl NatDiscovery {
    /// Starts discovery from `local` (the socket's real address, used to tell whether there is
    /// a NAT) against `server` (its primary address A1:P1). Transaction ids are drawn from
    /// `rng` now, so the state machine holds no RNG.
    pub fn new<R: rand_core::CryptoRng + ?Sized>(
        now: Instant,
        local: SocketAddr,
        server: SocketAddr,
        config: DiscoveryConfig,
        rng: &mut R,
    ) -> Self {
        let tids = core::array::from_fn(|_| TransactionId::random(rng));
        let mut d = Self {
            local,
            server,
            config,
            tids,
            step: Step::Test1,
            tx: None,
            mapped: None,
            other: None,
            map2: None,
            mapping: None,
            filtering: None,
            hairpin_seen: false,
            hairpinning: None,
            result: None,
        };
        d.start(now, Step::Test1);
        d
    }

    /// The outcome, once finished.
    pub fn result(&self) -> Option<Result<NatBehavior, DiscoveryError>> {
        self.result
    }

    /// Whether discovery has finished.
    pub fn is_finished(&self) -> bool {
        self.result.is_some()
    }

    fn tid(&self, step: Step) -> TransactionId {
        self.tids[step as usize]
    }

    fn start(&mut self, now: Instant, step: Step) {
        self.step = step;
        let (to, change) = match step {
            Step::Test1 => (self.server, None),
            Step::Filter2 => (
                self.server,
                Some(ChangeRequest {
                    change_ip: true,
                    change_port: true,
                }),
            ),
            Step::Filter3 => (
                self.server,
                Some(ChangeRequest {
                    change_ip: false,
                    change_port: true,
                }),
            ),
            Step::Map2 => match self.other {
                Some(o) => (SocketAddr::new(o.ip(), self.server.port()), None),
                None => return self.finish(Err(DiscoveryError::NoOtherAddress)),
            },
            Step::Map3 => match self.other {
                Some(o) => (o, None),
                None => return self.finish(Err(DiscoveryError::NoOtherAddress)),
            },
            Step::Hairpin => match self.mapped {
                Some(m) => (m, None),
                None => return self.finish(Err(DiscoveryError::NoMappedAddress)),
            },
        };
        let mut buf = [0u8; 64];
        let written = MessageWriter::new(&mut buf, Class::Request, Method::BINDING, self.tid(step))
            .and_then(|mut w| {
                if let Some(c) = change {
                    w.push(&c)?;
                }
                w.finish(true)
            });
        let tx = written.ok().and_then(|n| {
            ClientTransaction::new(now, to, buf[..n].to_vec(), self.config.transaction).ok()
        });
        self.tx = tx;
    }

    fn finish(&mut self, result: Result<NatBehavior, DiscoveryError>) {
        self.tx = None;
        self.result = Some(result);
    }

    /// The next request to send: its bytes replace the contents of `buf`.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        let tx = self.tx.as_mut()?;
        let to = tx.destination();
        let bytes = tx.poll_transmit()?;
        buf.clear();
        buf.extend_from_slice(bytes);
        Some(Transmit {
            from: self.local,
            to,
        })
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tx.as_ref().and_then(ClientTransaction::poll_timeout)
    }

    /// Advances the timers; a test without an answer concludes.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(tx) = self.tx.as_mut() else { return };
        tx.handle_timeout(now);
        if tx.state() != TransactionState::TimedOut {
            return;
        }
        match self.step {
            Step::Test1 => self.finish(Err(DiscoveryError::ServerUnreachable)),
            Step::Filter2 => self.start(now, Step::Filter3),
            Step::Filter3 => {
                self.filtering = Some(Behavior::AddressAndPortDependent);
                self.after_filtering(now);
            }
            Step::Map2 | Step::Map3 => self.finish(Err(DiscoveryError::MappingTestUnanswered)),
            Step::Hairpin => {
                self.hairpinning = Some(self.hairpin_seen);
                self.conclude();
            }
        }
    }

    /// Feeds a datagram that arrived on the discovery socket. Anything that is not an answer to
    /// the current test (or the hairpinned request) is ignored.
    pub fn handle_receive(&mut self, now: Instant, from: SocketAddr, _to: SocketAddr, data: &[u8]) {
        let Ok(msg) = Message::parse(data) else {
            return;
        };
        if self.step == Step::Hairpin
            && msg.class() == Class::Request
            && msg.transaction_id() == self.tid(Step::Hairpin)
        {
            self.hairpin_seen = true;
            self.hairpinning = Some(true);
            self.conclude();
            return;
        }
        let Some(tx) = self.tx.as_mut() else { return };
        let sent_to = tx.destination();
        if !tx.handle_response(now, &msg) {
            return;
        }
        if let TransactionState::Failed(fault) = tx.state() {
            return self.finish(Err(DiscoveryError::BadResponse(fault)));
        }
        if msg.class() == Class::Error {
            let code = msg
                .get::<crate::attributes::ErrorCode<'_>>()
                .ok()
                .flatten()
                .map_or(0, |e| e.code);
            return self.finish(Err(DiscoveryError::ServerError(code)));
        }
        let mapped = msg
            .get::<XorMappedAddress>()
            .ok()
            .flatten()
            .map(|a| a.0)
            .or_else(|| msg.get::<MappedAddress>().ok().flatten().map(|a| a.0));
        match self.step {
            Step::Test1 => {
                let Some(mapped) = mapped else {
                    return self.finish(Err(DiscoveryError::NoMappedAddress));
                };
                self.mapped = Some(mapped);
                match msg.get::<OtherAddress>() {
                    Ok(Some(o)) => self.other = Some(o.0),
                    _ => return self.finish(Err(DiscoveryError::NoOtherAddress)),
                }
                self.start(now, Step::Filter2);
            }
            Step::Filter2 | Step::Filter3 => {
                if from == sent_to {
                    return self.finish(Err(DiscoveryError::ChangeRequestIgnored));
                }
                self.filtering = Some(if self.step == Step::Filter2 {
                    Behavior::EndpointIndependent
                } else {
                    Behavior::AddressDependent
                });
                self.after_filtering(now);
            }
            Step::Map2 => {
                let Some(m2) = mapped else {
                    return self.finish(Err(DiscoveryError::NoMappedAddress));
                };
                if Some(m2) == self.mapped {
                    self.mapping = Some(Behavior::EndpointIndependent);
                    self.after_mapping(now);
                } else {
                    self.map2 = Some(m2);
                    self.start(now, Step::Map3);
                }
            }
            Step::Map3 => {
                let Some(m3) = mapped else {
                    return self.finish(Err(DiscoveryError::NoMappedAddress));
                };
                self.mapping = Some(if Some(m3) == self.map2 {
                    Behavior::AddressDependent
                } else {
                    Behavior::AddressAndPortDependent
                });
                self.after_mapping(now);
            }
            // A response to the hairpin request means the NAT forwarded it to the server side
            // of the mapping and something answered it; the request itself did not come back.
            Step::Hairpin => {}
        }
    }

    fn nat(&self) -> bool {
        self.mapped != Some(self.local)
    }

    fn after_filtering(&mut self, now: Instant) {
        if self.nat() {
            self.start(now, Step::Map2);
        } else {
            // No NAT: nothing translates, so the mapping is endpoint-independent by definition.
            self.mapping = Some(Behavior::EndpointIndependent);
            self.conclude();
        }
    }

    fn after_mapping(&mut self, now: Instant) {
        if self.config.test_hairpinning && self.nat() {
            self.start(now, Step::Hairpin);
        } else {
            self.conclude();
        }
    }

    fn conclude(&mut self) {
        let (Some(mapped), Some(other), Some(mapping), Some(filtering)) =
            (self.mapped, self.other, self.mapping, self.filtering)
        else {
            return self.finish(Err(DiscoveryError::NoMappedAddress));
        };
        let nat = self.nat();
        self.finish(Ok(NatBehavior {
            local: self.local,
            mapped,
            other,
            nat,
            mapping,
            filtering,
            hairpinning: self.hairpinning,
        }));
    }
}
