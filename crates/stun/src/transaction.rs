//! Client transactions (RFC 8489 §6.2): retransmission over UDP, a single send over reliable
//! transports, and matching responses by transaction id. Sans-IO: the caller sends the bytes
//! [`ClientTransaction::poll_transmit`] returns and calls
//! [`ClientTransaction::handle_timeout`] when [`ClientTransaction::poll_timeout`] has passed.

use core::fmt;
use core::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::attributes::{self, ErrorCode};
use crate::error::ParseError;
use crate::message::{AttributeType, Class, Message, TransactionId};

/// Retransmission settings (RFC 8489 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionConfig {
    /// Initial retransmission timeout; RFC 8489 recommends 500 ms (or an RTT estimate).
    pub rto: Duration,
    /// Rc: the number of sends over UDP. Default 7.
    pub max_sends: u32,
    /// The RTO stops doubling at this value (RFC 8489 §6.2.1 lets a client cap it). `None`, the
    /// default, doubles without a cap. ICE's connectivity checks cap it so that a lossy path gets
    /// many evenly spread attempts instead of a few ever rarer ones.
    pub max_rto: Option<Duration>,
    /// Rm: after the last send, wait this many RTOs for a response. Default 16.
    pub last_wait: u32,
    /// Reliable transport (TCP, TLS): one send and a single timeout `reliable_timeout`.
    pub reliable: bool,
    /// Ti, the reliable-transport timeout: 39.5 s by default.
    pub reliable_timeout: Duration,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        Self {
            rto: Duration::from_millis(500),
            max_sends: 7,
            max_rto: None,
            last_wait: 16,
            reliable: false,
            reliable_timeout: Duration::from_millis(39_500),
        }
    }
}

impl TransactionConfig {
    /// The time from the first send until the transaction gives up: with the defaults over UDP,
    /// 500 ms × (1+2+4+8+16+32) + 16 × 500 ms = 39.5 s.
    pub fn total_timeout(&self) -> Duration {
        if self.reliable {
            return self.reliable_timeout;
        }
        let sends = self.max_sends.max(1);
        // Send i (0-based) happens at rto × (2^i − 1) while the RTO doubles after each send;
        // once it reaches the cap, every further send adds the cap.
        let mut last_send = Duration::ZERO;
        let mut rto = self.rto;
        for i in 1..sends {
            if let Some(cap) = self.max_rto.map(|c| c.max(self.rto))
                && rto >= cap
            {
                last_send = last_send.saturating_add(cap.saturating_mul(sends - i));
                break;
            }
            last_send = last_send.saturating_add(rto);
            rto = self.next_rto(rto);
        }
        last_send.saturating_add(self.rto.saturating_mul(self.last_wait))
    }

    /// The RTO after `rto`: doubled, but never above [`max_rto`](Self::max_rto).
    fn next_rto(&self, rto: Duration) -> Duration {
        let doubled = rto.saturating_mul(2);
        match self.max_rto {
            Some(cap) => doubled.min(cap.max(self.rto)),
            None => doubled,
        }
    }
}

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    /// Waiting for a response.
    Pending,
    /// A matching response arrived after `rtt` (measured from the first send; RFC 8489 §6.2.1
    /// warns that an RTT from a retransmitted request is ambiguous, see `retransmitted`).
    Done {
        /// The response class: success or error.
        class: Class,
        /// Time from the first send to the response.
        rtt: Duration,
        /// Whether the request had been sent more than once.
        retransmitted: bool,
    },
    /// A matching response arrived that RFC 8489 §6.3.3 and §6.3.4 say fails the transaction.
    Failed(ResponseFault),
    /// No response within the transaction timeout.
    TimedOut,
}

/// What makes a response fail its transaction instead of answering it (RFC 8489 §6.3.3,
/// §6.3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFault {
    /// The response carries a comprehension-required attribute this crate does not know (the
    /// first one).
    UnknownAttribute(AttributeType),
    /// An error response without a well-formed ERROR-CODE.
    NoErrorCode,
}

impl ResponseFault {
    /// The fault in a response, if it has one: its first unknown comprehension-required
    /// attribute, or, for an error response, a missing or malformed ERROR-CODE. Requests and
    /// indications have no fault.
    ///
    /// Known are the attributes [`attributes::is_known`] names and the five RFC 3489 defined
    /// that RFC 8489 retired (RESPONSE-ADDRESS, SOURCE-ADDRESS, CHANGED-ADDRESS, PASSWORD,
    /// REFLECTED-FROM): servers written to RFC 3489 still put SOURCE-ADDRESS and CHANGED-ADDRESS
    /// in every Binding response, and a client loses nothing by ignoring them.
    pub fn of(msg: &Message<'_>) -> Option<Self> {
        if !msg.class().is_response() {
            return None;
        }
        let known = |t: AttributeType| {
            attributes::is_known(t) || matches!(t.0, 0x0002 | 0x0004 | 0x0005 | 0x0007 | 0x000B)
        };
        if let Some(t) = msg.unknown_comprehension_required(known).next() {
            return Some(Self::UnknownAttribute(t));
        }
        (msg.class() == Class::Error && !matches!(msg.get::<ErrorCode<'_>>(), Ok(Some(_))))
            .then_some(Self::NoErrorCode)
    }
}

impl fmt::Display for ResponseFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownAttribute(t) => write!(
                f,
                "the response carries an unknown comprehension-required attribute {:#06x}",
                t.0
            ),
            Self::NoErrorCode => f.write_str("the error response has no valid ERROR-CODE"),
        }
    }
}

/// One outstanding request: it owns the request bytes and decides when to send them again.
#[derive(Debug, Clone)]
pub struct ClientTransaction {
    tid: TransactionId,
    request: Vec<u8>,
    to: SocketAddr,
    config: TransactionConfig,
    started: Instant,
    sends: u32,
    rto: Duration,
    /// When the next send, or the final timeout, is due.
    next: Instant,
    send_due: bool,
    state: TransactionState,
}

impl ClientTransaction {
    /// Starts a transaction for an encoded request. The first send is due immediately.
    pub fn new(
        now: Instant,
        to: SocketAddr,
        request: Vec<u8>,
        config: TransactionConfig,
    ) -> Result<Self, ParseError> {
        let tid = Message::parse(&request)?.transaction_id();
        Ok(Self {
            tid,
            request,
            to,
            config,
            started: now,
            sends: 0,
            rto: config.rto,
            next: now,
            send_due: true,
            state: TransactionState::Pending,
        })
    }

    /// The transaction id of the request.
    pub fn transaction_id(&self) -> TransactionId {
        self.tid
    }

    /// Where the request goes.
    pub fn destination(&self) -> SocketAddr {
        self.to
    }

    /// The request bytes.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// The current state.
    pub fn state(&self) -> TransactionState {
        self.state
    }

    /// Whether the transaction is finished (answered or timed out).
    pub fn is_finished(&self) -> bool {
        self.state != TransactionState::Pending
    }

    /// How many times the request has been sent.
    pub fn sends(&self) -> u32 {
        self.sends
    }

    /// The request bytes when a send is due, once per due send.
    pub fn poll_transmit(&mut self) -> Option<&[u8]> {
        if !self.send_due || self.is_finished() {
            return None;
        }
        self.send_due = false;
        self.sends += 1;
        let last = self.config.reliable || self.sends >= self.config.max_sends.max(1);
        self.next = if self.config.reliable {
            self.started + self.config.reliable_timeout
        } else if last {
            // After the last send, wait Rm × RTO (the RTO as it was for the first send).
            self.next + self.config.rto.saturating_mul(self.config.last_wait)
        } else {
            let at = self.next + self.rto;
            self.rto = self.config.next_rto(self.rto);
            at
        };
        Some(&self.request)
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            TransactionState::Pending => Some(self.next),
            _ => None,
        }
    }

    /// Advances the timers: a retransmission becomes due, or the transaction times out.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_finished() || self.send_due || now < self.next {
            return;
        }
        let last = self.config.reliable || self.sends >= self.config.max_sends.max(1);
        if last {
            self.state = TransactionState::TimedOut;
        } else {
            self.send_due = true;
        }
    }

    /// Whether `msg` is a response to this transaction.
    pub fn matches(&self, msg: &Message<'_>) -> bool {
        msg.class().is_response() && msg.transaction_id() == self.tid
    }

    /// Completes the transaction if `msg` answers it; returns whether it did. A response whose
    /// FINGERPRINT is wrong is not an answer (RFC 8489 §7.3: it is not a STUN message for us).
    /// A response with a [`ResponseFault`] ends the transaction as
    /// [`TransactionState::Failed`], any other as [`TransactionState::Done`]. Integrity, if the
    /// request used any, is the caller's to check before calling this.
    pub fn handle_response(&mut self, now: Instant, msg: &Message<'_>) -> bool {
        if self.is_finished() || !self.matches(msg) {
            return false;
        }
        if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
            return false;
        }
        self.state = match ResponseFault::of(msg) {
            Some(fault) => TransactionState::Failed(fault),
            None => TransactionState::Done {
                class: msg.class(),
                rtt: now.saturating_duration_since(self.started),
                retransmitted: self.sends > 1,
            },
        };
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MessageWriter, Method};

    fn request(tid: [u8; 12]) -> Vec<u8> {
        let mut buf = vec![0u8; 20];
        let w = MessageWriter::new(
            &mut buf,
            Class::Request,
            Method::BINDING,
            TransactionId::new(tid),
        )
        .unwrap();
        let n = w.finish(false).unwrap();
        buf.truncate(n);
        buf
    }

    /// Drives a transaction with no answer and records when each send happens.
    fn send_times(config: TransactionConfig) -> (Vec<Duration>, Duration) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut tx = ClientTransaction::new(
            now,
            "192.0.2.1:3478".parse().unwrap(),
            request([1; 12]),
            config,
        )
        .unwrap();
        let mut sends = Vec::new();
        for _ in 0..100 {
            while tx.poll_transmit().is_some() {
                sends.push(now - t0);
            }
            match tx.poll_timeout() {
                Some(at) => {
                    now = at;
                    tx.handle_timeout(now);
                }
                None => break,
            }
        }
        assert_eq!(tx.state(), TransactionState::TimedOut);
        (sends, now - t0)
    }

    #[test]
    fn udp_schedule_matches_rfc8489() {
        // RFC 8489 §6.2.1: with RTO 500 ms, sends at 0, 500, 1500, 3500, 7500, 15500, 31500 ms
        // and failure at 39500 ms.
        let (sends, end) = send_times(TransactionConfig::default());
        let ms: Vec<u128> = sends.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(end, Duration::from_millis(39_500));
        assert_eq!(TransactionConfig::default().total_timeout(), end);
    }

    #[test]
    fn a_capped_rto_spreads_the_sends_evenly() {
        let config = TransactionConfig {
            rto: Duration::from_millis(250),
            max_sends: 8,
            max_rto: Some(Duration::from_secs(1)),
            last_wait: 4,
            ..Default::default()
        };
        let (sends, end) = send_times(config);
        let ms: Vec<u128> = sends.iter().map(Duration::as_millis).collect();
        // 250, 500, then 1000 ms apart (capped), where uncapped would go on to 2000 and 4000.
        assert_eq!(ms, [0, 250, 750, 1750, 2750, 3750, 4750, 5750]);
        assert_eq!(end, Duration::from_millis(5750 + 1000));
        assert_eq!(config.total_timeout(), end);
        // A cap below the initial RTO keeps the initial RTO.
        let flat = TransactionConfig {
            max_rto: Some(Duration::from_millis(10)),
            ..config
        };
        let (sends, end) = send_times(flat);
        assert_eq!(sends.len(), 8);
        assert_eq!(sends[7], Duration::from_millis(7 * 250));
        assert_eq!(flat.total_timeout(), end);
    }

    #[test]
    fn reliable_sends_once_then_times_out_after_ti() {
        let config = TransactionConfig {
            reliable: true,
            ..Default::default()
        };
        let (sends, end) = send_times(config);
        assert_eq!(sends, [Duration::ZERO]);
        assert_eq!(end, Duration::from_millis(39_500));
    }

    #[test]
    fn response_matches_by_transaction_id_only() {
        let now = Instant::now();
        let mut tx = ClientTransaction::new(
            now,
            "192.0.2.1:3478".parse().unwrap(),
            request([9; 12]),
            Default::default(),
        )
        .unwrap();
        assert!(tx.poll_transmit().is_some());
        let mut buf = [0u8; 20];
        let other = MessageWriter::new(
            &mut buf,
            Class::Success,
            Method::BINDING,
            TransactionId::new([8; 12]),
        )
        .unwrap()
        .finish(false)
        .unwrap();
        assert!(!tx.handle_response(now, &Message::parse(&buf[..other]).unwrap()));
        // A request with the right id is not a response.
        let req = request([9; 12]);
        assert!(!tx.handle_response(now, &Message::parse(&req).unwrap()));
        let mut big = [0u8; 64];
        let mut w = MessageWriter::new(
            &mut big,
            Class::Error,
            Method::BINDING,
            TransactionId::new([9; 12]),
        )
        .unwrap();
        w.push(&ErrorCode {
            code: 400,
            reason: "Bad Request",
        })
        .unwrap();
        let mine = w.finish(false).unwrap();
        let later = now + Duration::from_millis(30);
        assert!(tx.handle_response(later, &Message::parse(&big[..mine]).unwrap()));
        assert_eq!(
            tx.state(),
            TransactionState::Done {
                class: Class::Error,
                rtt: Duration::from_millis(30),
                retransmitted: false
            }
        );
        assert_eq!(tx.poll_timeout(), None);
        assert!(tx.poll_transmit().is_none());
    }

    #[test]
    fn response_with_a_wrong_fingerprint_is_not_an_answer() {
        let now = Instant::now();
        let mut tx = ClientTransaction::new(
            now,
            "192.0.2.1:3478".parse().unwrap(),
            request([5; 12]),
            Default::default(),
        )
        .unwrap();
        assert!(tx.poll_transmit().is_some());
        let mut buf = [0u8; 28];
        let n = MessageWriter::new(
            &mut buf,
            Class::Success,
            Method::BINDING,
            TransactionId::new([5; 12]),
        )
        .unwrap()
        .finish(true)
        .unwrap();
        buf[n - 1] ^= 1;
        assert!(!tx.handle_response(now, &Message::parse(&buf[..n]).unwrap()));
        buf[n - 1] ^= 1;
        assert!(tx.handle_response(now, &Message::parse(&buf[..n]).unwrap()));
    }

    /// A transaction answered by the response `write` builds; its state afterwards.
    fn answered(class: Class, write: impl FnOnce(&mut MessageWriter<'_>)) -> TransactionState {
        let now = Instant::now();
        let mut tx = ClientTransaction::new(
            now,
            "192.0.2.1:3478".parse().unwrap(),
            request([7; 12]),
            Default::default(),
        )
        .unwrap();
        assert!(tx.poll_transmit().is_some());
        let mut buf = [0u8; 128];
        let mut w = MessageWriter::new(
            &mut buf,
            class,
            Method::BINDING,
            TransactionId::new([7; 12]),
        )
        .unwrap();
        write(&mut w);
        let n = w.finish(true).unwrap();
        assert!(tx.handle_response(now, &Message::parse(&buf[..n]).unwrap()));
        assert!(tx.is_finished());
        assert!(tx.poll_transmit().is_none() && tx.poll_timeout().is_none());
        tx.state()
    }

    #[test]
    fn faulty_responses_fail_the_transaction() {
        // RFC 8489 §6.3.3: an unknown comprehension-required attribute fails a success.
        let state = answered(Class::Success, |w| {
            w.push_raw(AttributeType(0x7ffe), b"x").unwrap();
        });
        assert_eq!(
            state,
            TransactionState::Failed(ResponseFault::UnknownAttribute(AttributeType(0x7ffe)))
        );
        // ... and an error response (§6.3.4), where a missing ERROR-CODE fails it too.
        let state = answered(Class::Error, |w| {
            w.push(&ErrorCode {
                code: 420,
                reason: "",
            })
            .unwrap();
            w.push_raw(AttributeType(0x0030), b"").unwrap();
        });
        assert_eq!(
            state,
            TransactionState::Failed(ResponseFault::UnknownAttribute(AttributeType(0x0030)))
        );
        let state = answered(Class::Error, |_| {});
        assert_eq!(state, TransactionState::Failed(ResponseFault::NoErrorCode));
        let state = answered(Class::Error, |w| {
            w.push_raw(attributes::ERROR_CODE, &[0, 0]).unwrap();
        });
        assert_eq!(state, TransactionState::Failed(ResponseFault::NoErrorCode));
        // Unknown comprehension-optional attributes are fine, and so are known ones and the
        // RFC 3489 ones (here SOURCE-ADDRESS and CHANGED-ADDRESS).
        let state = answered(Class::Success, |w| {
            w.push_raw(AttributeType(0xc0de), b"x").unwrap();
            w.push_raw(attributes::CHANNEL_NUMBER, &[0x40, 0, 0, 0])
                .unwrap();
            for legacy in [0x0004, 0x0005] {
                w.push_raw(AttributeType(legacy), &[0, 1, 0x0d, 0x96, 192, 0, 2, 1])
                    .unwrap();
            }
        });
        assert!(matches!(
            state,
            TransactionState::Done {
                class: Class::Success,
                ..
            }
        ));
    }
}
