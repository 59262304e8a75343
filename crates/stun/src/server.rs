//! A sans-IO Binding server (RFC 8489 §6.3) with the server side of RFC 5780 NAT behaviour
//! discovery.
//!
//! [`BindingServer::respond`] answers one datagram into a caller buffer without allocating; the
//! endpoint-shaped methods ([`BindingServer::handle_receive`], [`BindingServer::poll_transmit`])
//! queue answers for drivers and simulators that want that loop.
//!
//! With an alternate address configured ([`ServerConfig::other`]) the server behaves as RFC 5780
//! §6 says: it listens on four addresses (primary and alternate IP × primary and alternate
//! port), honours CHANGE-REQUEST and RESPONSE-PORT, and adds RESPONSE-ORIGIN and OTHER-ADDRESS.

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::time::Instant;

use crate::Transmit;
use crate::attributes::{
    self, CHANGE_REQUEST, ChangeRequest, ErrorCode, MappedAddress, OtherAddress, PADDING, Padding,
    RESPONSE_PORT, ResponseOrigin, ResponsePort, Software, UnknownAttributes, XorMappedAddress,
    codes,
};
use crate::message::{
    AttributeType, Class, HEADER_LEN, MAGIC_COOKIE, Message, Method, TransactionId,
};
use crate::writer::MessageWriter;

/// How a [`BindingServer`] answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerConfig {
    /// The RFC 5780 alternate address (A2:P2): a different IP and a different port from the
    /// primary one. `None` disables RFC 5780 behaviour; CHANGE-REQUEST then gets a 420.
    pub other: Option<SocketAddr>,
    /// The primary address (A1:P1). Needed with `other` to tell the four addresses apart.
    pub primary: Option<SocketAddr>,
    /// SOFTWARE to include in every answer; none by default (it helps attackers fingerprint).
    pub software: Option<String>,
    /// Include RFC reason phrases in error responses; off by default.
    pub reason_phrases: bool,
    /// Also include MAPPED-ADDRESS for RFC 3489 clients; off by default.
    pub mapped_address: bool,
}

impl ServerConfig {
    /// An RFC 5780 server: `primary` is A1:P1, `other` is A2:P2 (a different IP and port).
    /// The server then answers on all four combinations of the two IPs and ports.
    pub fn rfc5780(primary: SocketAddr, other: SocketAddr) -> Self {
        Self {
            primary: Some(primary),
            other: Some(other),
            ..Self::default()
        }
    }
}

/// One answer written by [`BindingServer::respond`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The local address to send from (one of the server's listening addresses).
    pub from: SocketAddr,
    /// Where to send it.
    pub to: SocketAddr,
    /// Length of the answer at the start of the caller's buffer.
    pub len: usize,
}

/// Counters a server keeps about what it saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Binding success responses sent.
    pub answered: u64,
    /// Error responses sent (400, 420).
    pub errors: u64,
    /// Datagrams dropped without an answer (not STUN, not a request, unknown method ...).
    pub dropped: u64,
}

/// Largest answer the server writes; PADDING never makes an answer larger than this.
pub const MAX_REPLY: usize = 1280;
/// Answers queued by [`BindingServer::handle_receive`] beyond this are dropped (back pressure
/// for drivers that forget to drain).
pub const MAX_QUEUED: usize = 1024;

/// The binding server.
#[derive(Debug, Clone, Default)]
pub struct BindingServer {
    config: ServerConfig,
    queue: VecDeque<(Transmit, Vec<u8>)>,
    stats: ServerStats,
}

fn known_attribute(t: AttributeType) -> bool {
    attributes::is_known(t)
}

impl BindingServer {
    /// A server with this configuration.
    pub fn new(config: ServerConfig) -> Self {
        Self {
            config,
            queue: VecDeque::new(),
            stats: ServerStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// What the server has done so far.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// The addresses a server with RFC 5780 enabled must listen on: A1:P1, A1:P2, A2:P1, A2:P2
    /// (fewer when the primary is unknown or RFC 5780 is off).
    pub fn listen_addresses(&self) -> Vec<SocketAddr> {
        match (self.config.primary, self.config.other) {
            (Some(p), Some(o)) => vec![
                p,
                SocketAddr::new(p.ip(), o.port()),
                SocketAddr::new(o.ip(), p.port()),
                o,
            ],
            (Some(p), None) => vec![p],
            (None, _) => Vec::new(),
        }
    }

    /// The address an answer to a request received on `to` goes out from, after CHANGE-REQUEST.
    fn source(&self, to: SocketAddr, change: ChangeRequest) -> Option<SocketAddr> {
        let (primary, other) = (self.config.primary?, self.config.other?);
        let ip = if change.change_ip {
            if to.ip() == primary.ip() {
                other.ip()
            } else {
                primary.ip()
            }
        } else {
            to.ip()
        };
        let port = if change.change_port {
            if to.port() == primary.port() {
                other.port()
            } else {
                primary.port()
            }
        } else {
            to.port()
        };
        Some(SocketAddr::new(ip, port))
    }

    /// The "other" address relative to the one a request arrived on: both IP and port flipped.
    fn other_of(&self, to: SocketAddr) -> Option<SocketAddr> {
        self.source(
            to,
            ChangeRequest {
                change_ip: true,
                change_port: true,
            },
        )
    }

    /// Answers one datagram that arrived from `from` on local address `to`, writing the answer
    /// into `out`. Returns `None` when the datagram gets no answer (it is not a STUN request
    /// this server handles). Never allocates, never panics.
    pub fn respond(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        data: &[u8],
        out: &mut [u8],
    ) -> Option<Reply> {
        let reply = self.answer(from, to, data, out);
        match &reply {
            None => self.stats.dropped += 1,
            Some((_, true)) => self.stats.answered += 1,
            Some((_, false)) => self.stats.errors += 1,
        }
        reply.map(|(r, _)| r)
    }

    fn answer(
        &self,
        from: SocketAddr,
        to: SocketAddr,
        data: &[u8],
        out: &mut [u8],
    ) -> Option<(Reply, bool)> {
        let Ok(msg) = Message::parse(data) else {
            return self
                .bad_request_from_header(from, to, data, out)
                .map(|r| (r, false));
        };
        // RFC 8489 §6.3: indications and responses are never answered; only Binding is served.
        if msg.class() != Class::Request || msg.method() != Method::BINDING {
            return None;
        }
        let tid = msg.transaction_id();
        let fingerprint = msg.has_fingerprint();
        if fingerprint && msg.verify_fingerprint().is_err() {
            // A wrong FINGERPRINT means this is not a STUN message meant for us: drop it.
            return None;
        }
        // RFC 8489 §6.3.1: unknown comprehension-required attributes get a 420 that lists them.
        let mut unknown = msg.unknown_attributes(known_attribute);
        let rfc5780 = self.config.other.is_some() && self.config.primary.is_some();
        let Ok(change) = msg.get::<ChangeRequest>() else {
            return self.error(from, to, tid, codes::BAD_REQUEST, &[], fingerprint, out);
        };
        if change.is_some() && !rfc5780 {
            // RFC 5780 §6.1: without an alternate address, CHANGE-REQUEST is an unknown attribute.
            unknown.push(CHANGE_REQUEST);
        }
        if !unknown.is_empty() {
            return self.error(
                from,
                to,
                tid,
                codes::UNKNOWN_ATTRIBUTE,
                unknown.as_slice(),
                fingerprint,
                out,
            );
        }
        let Ok(response_port) = msg.get::<ResponsePort>() else {
            return self.error(from, to, tid, codes::BAD_REQUEST, &[], fingerprint, out);
        };
        let padding = msg.get_raw(PADDING).map(|p| p.value.len());
        if padding.is_some() && response_port.is_some() {
            // RFC 5780 §6.1: PADDING together with RESPONSE-PORT is a bad request.
            return self.error(from, to, tid, codes::BAD_REQUEST, &[], fingerprint, out);
        }
        if response_port.is_some() && !rfc5780 {
            return self.error(
                from,
                to,
                tid,
                codes::UNKNOWN_ATTRIBUTE,
                &[RESPONSE_PORT],
                fingerprint,
                out,
            );
        }
        let source = if rfc5780 {
            self.source(to, change.unwrap_or_default())?
        } else {
            to
        };
        let dest = match response_port {
            Some(ResponsePort(p)) => SocketAddr::new(from.ip(), p),
            None => from,
        };
        let buf = out.get_mut(..MAX_REPLY.min(out.len()))?;
        let mut w = MessageWriter::new(buf, Class::Success, Method::BINDING, tid).ok()?;
        w.push(&XorMappedAddress(from)).ok()?;
        if self.config.mapped_address {
            w.push(&MappedAddress(from)).ok()?;
        }
        if rfc5780 {
            w.push(&ResponseOrigin(source)).ok()?;
            if let Some(other) = self.other_of(to) {
                w.push(&OtherAddress(other)).ok()?;
            }
        }
        if let Some(sw) = &self.config.software {
            w.push(&Software(sw)).ok()?;
        }
        if let Some(request_len) = padding.map(|_| data.len()) {
            // RFC 5780 §7.6: answer a padded request with a padded response. We pad to the size
            // of the request (never beyond MAX_REPLY), so padding cannot amplify.
            let tail = if fingerprint { 8 } else { 0 };
            let want = request_len
                .min(MAX_REPLY)
                .saturating_sub(w.len() + 4 + tail)
                & !3;
            const ZEROS: [u8; MAX_REPLY] = [0; MAX_REPLY];
            w.push(&Padding(&ZEROS[..want])).ok()?;
        }
        let len = w.finish(fingerprint).ok()?;
        Some((
            Reply {
                from: source,
                to: dest,
                len,
            },
            true,
        ))
    }

    /// A datagram that failed to parse still gets a 400 when its header is a well-formed Binding
    /// request header (the attributes are what is broken); anything else is dropped silently.
    fn bad_request_from_header(
        &self,
        from: SocketAddr,
        to: SocketAddr,
        data: &[u8],
        out: &mut [u8],
    ) -> Option<Reply> {
        let h: &[u8; HEADER_LEN] = data.first_chunk()?;
        let ty = u16::from_be_bytes([h[0], h[1]]);
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let cookie = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        let (class, method) = crate::message::split_message_type(ty);
        if h[0] & 0xc0 != 0
            || cookie != MAGIC_COOKIE
            || class != Class::Request
            || method != Method::BINDING
            || len + HEADER_LEN != data.len()
            || !len.is_multiple_of(4)
        {
            return None;
        }
        let mut tid = [0u8; 12];
        tid.copy_from_slice(&h[8..20]);
        self.error(
            from,
            to,
            TransactionId::new(tid),
            codes::BAD_REQUEST,
            &[],
            false,
            out,
        )
        .map(|(r, _)| r)
    }

    #[allow(clippy::too_many_arguments)]
    fn error(
        &self,
        from: SocketAddr,
        to: SocketAddr,
        tid: TransactionId,
        code: u16,
        unknown: &[AttributeType],
        fingerprint: bool,
        out: &mut [u8],
    ) -> Option<(Reply, bool)> {
        let buf = out.get_mut(..MAX_REPLY.min(out.len()))?;
        let mut w = MessageWriter::new(buf, Class::Error, Method::BINDING, tid).ok()?;
        let error = if self.config.reason_phrases {
            ErrorCode::with_reason(code)
        } else {
            ErrorCode::bare(code)
        };
        w.push(&error).ok()?;
        if !unknown.is_empty() {
            w.push(&UnknownAttributes::List(unknown)).ok()?;
        }
        if let Some(sw) = &self.config.software {
            w.push(&Software(sw)).ok()?;
        }
        let len = w.finish(fingerprint).ok()?;
        // Errors always go back where the request came from, from where it arrived.
        Some((
            Reply {
                from: to,
                to: from,
                len,
            },
            false,
        ))
    }

    /// Endpoint-shaped input: answers are queued for [`poll_transmit`](Self::poll_transmit).
    pub fn handle_receive(&mut self, _now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        let mut buf = [0u8; MAX_REPLY];
        if let Some(r) = self.respond(from, to, data, &mut buf) {
            if self.queue.len() < MAX_QUEUED {
                self.queue.push_back((
                    Transmit {
                        from: r.from,
                        to: r.to,
                    },
                    buf[..r.len].to_vec(),
                ));
            } else {
                self.stats.dropped += 1;
            }
        }
    }

    /// The server keeps no timers; this does nothing and exists for the endpoint shape.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    /// The next queued answer: its bytes replace the contents of `buf`.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (t, bytes) = self.queue.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&bytes);
        Some(t)
    }

    /// The server keeps no timers.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}
