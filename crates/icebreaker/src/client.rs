//! One STUN Binding transaction over a real UDP socket (`icebreaker stun-client`), and the RFC
//! 5780 NAT behaviour discovery (`icebreaker nat-type`). The sans-IO
//! [`ClientTransaction`] and [`NatDiscovery`] decide what to send and when; this module sends,
//! receives and sleeps until their `poll_timeout`.

use core::fmt;
use core::net::SocketAddr;
use std::io;
use std::time::{Duration, Instant};

use icebreaker_stun::attributes::{
    ErrorCode, MappedAddress, OtherAddress, ResponseOrigin, Software, XorMappedAddress,
};
use icebreaker_stun::discovery::{DiscoveryConfig, DiscoveryError, NatBehavior, NatDiscovery};
use icebreaker_stun::transaction::{
    ClientTransaction, ResponseFault, TransactionConfig, TransactionState,
};
use icebreaker_stun::{Class, Message, MessageWriter, Method, TransactionId};
use rand_chacha::rand_core::CryptoRng;
use tokio::net::UdpSocket;
use tracing::debug;

/// What a Binding transaction learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingOutcome {
    /// The server the request went to.
    pub server: SocketAddr,
    /// The local socket's address (the IP the OS routes to the server when bound to a wildcard).
    pub local: SocketAddr,
    /// The mapped address: XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from RFC 3489 servers.
    pub mapped: SocketAddr,
    /// Which attribute `mapped` came from.
    pub mapped_attribute: &'static str,
    /// Where the response came from (its source address).
    pub response_from: SocketAddr,
    /// RESPONSE-ORIGIN (RFC 5780), if present.
    pub response_origin: Option<SocketAddr>,
    /// OTHER-ADDRESS (RFC 5780), if present: the server supports NAT behaviour discovery.
    pub other_address: Option<SocketAddr>,
    /// SOFTWARE, if the server sent one.
    pub software: Option<String>,
    /// Time from the first send to the response.
    pub rtt: Duration,
    /// How many times the request was sent.
    pub transmissions: u32,
}

/// Why a Binding transaction failed.
#[derive(Debug)]
pub enum ClientError {
    /// A socket operation failed.
    Io(io::Error),
    /// No response within the transaction timeout.
    Timeout {
        /// Requests sent.
        transmissions: u32,
        /// Time spent.
        after: Duration,
    },
    /// The server answered with an error response.
    ErrorResponse {
        /// The error code.
        code: u16,
        /// The reason phrase (often empty).
        reason: String,
    },
    /// The success response carried no usable mapped address.
    NoMappedAddress,
    /// The response fails the transaction (RFC 8489 §6.3.3, §6.3.4): it carries an unknown
    /// comprehension-required attribute, or it is an error without ERROR-CODE.
    BadResponse(ResponseFault),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Timeout {
                transmissions,
                after,
            } => write!(
                f,
                "no response after {transmissions} transmissions in {:.1} s",
                after.as_secs_f64()
            ),
            Self::ErrorResponse { code, reason } if reason.is_empty() => {
                write!(f, "the server answered with error {code}")
            }
            Self::ErrorResponse { code, reason } => {
                write!(f, "the server answered with error {code} ({reason})")
            }
            Self::NoMappedAddress => f.write_str("the response has no (valid) mapped address"),
            Self::BadResponse(fault) => write!(f, "{fault}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// The local address to report for `socket`: when it is bound to a wildcard IP, the IP the OS
/// would use to reach `server` (learnt by connecting a throwaway socket; nothing is sent).
pub fn local_address(socket: &UdpSocket, server: SocketAddr) -> io::Result<SocketAddr> {
    let bound = socket.local_addr()?;
    if !bound.ip().is_unspecified() {
        return Ok(bound);
    }
    let probe = std::net::UdpSocket::bind(SocketAddr::new(bound.ip(), 0))?;
    match probe.connect(server).and_then(|()| probe.local_addr()) {
        Ok(routed) => Ok(SocketAddr::new(routed.ip(), bound.port())),
        Err(_) => Ok(bound),
    }
}

fn deadline(at: Instant) -> tokio::time::Instant {
    tokio::time::Instant::from_std(at)
}

/// Runs one Binding transaction from a socket bound to `bind` to `server`.
pub async fn binding<R: CryptoRng + ?Sized>(
    server: SocketAddr,
    bind: SocketAddr,
    config: TransactionConfig,
    rng: &mut R,
) -> Result<BindingOutcome, ClientError> {
    let socket = UdpSocket::bind(bind).await?;
    let local = local_address(&socket, server)?;
    let mut request = [0u8; 32];
    let tid = TransactionId::random(rng);
    let len = MessageWriter::new(&mut request, Class::Request, Method::BINDING, tid)
        .and_then(|w| w.finish(true))
        .map_err(|e| io::Error::other(e.to_string()))?;
    let started = Instant::now();
    let mut tx = ClientTransaction::new(started, server, request[..len].to_vec(), config)
        .map_err(|e| io::Error::other(e.to_string()))?;
    let mut buf = vec![0u8; 2048];
    loop {
        while let Some(bytes) = tx.poll_transmit() {
            debug!(%server, len = bytes.len(), "sending Binding request");
            socket.send_to(bytes, server).await?;
        }
        let Some(at) = tx.poll_timeout() else { break };
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let (n, from) = match r {
                    Ok(r) => r,
                    Err(e) => {
                        debug!(error = %e, "receive error");
                        continue;
                    }
                };
                let Ok(msg) = Message::parse(&buf[..n]) else {
                    debug!(%from, len = n, "ignoring a datagram that is not STUN");
                    continue;
                };
                if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
                    debug!(%from, "ignoring a response with a wrong FINGERPRINT");
                    continue;
                }
                if !tx.handle_response(Instant::now(), &msg) {
                    continue;
                }
                return outcome(&msg, &tx, server, local, from);
            }
            () = tokio::time::sleep_until(deadline(at)) => tx.handle_timeout(Instant::now()),
        }
    }
    Err(ClientError::Timeout {
        transmissions: tx.sends(),
        after: started.elapsed(),
    })
}

fn outcome(
    msg: &Message<'_>,
    tx: &ClientTransaction,
    server: SocketAddr,
    local: SocketAddr,
    from: SocketAddr,
) -> Result<BindingOutcome, ClientError> {
    let rtt = match tx.state() {
        TransactionState::Done { rtt, .. } => rtt,
        TransactionState::Failed(fault) => return Err(ClientError::BadResponse(fault)),
        TransactionState::Pending | TransactionState::TimedOut => {
            return Err(ClientError::NoMappedAddress);
        }
    };
    if msg.class() == Class::Error {
        let (code, reason) = match msg.get::<ErrorCode<'_>>() {
            Ok(Some(e)) => (e.code, e.reason.to_owned()),
            _ => (0, String::new()),
        };
        return Err(ClientError::ErrorResponse { code, reason });
    }
    let (mapped, mapped_attribute) =
        match (msg.get::<XorMappedAddress>(), msg.get::<MappedAddress>()) {
            (Ok(Some(a)), _) => (a.0, "XOR-MAPPED-ADDRESS"),
            (_, Ok(Some(a))) => (a.0, "MAPPED-ADDRESS"),
            _ => return Err(ClientError::NoMappedAddress),
        };
    Ok(BindingOutcome {
        server,
        local,
        mapped,
        mapped_attribute,
        response_from: from,
        response_origin: msg.get::<ResponseOrigin>().ok().flatten().map(|a| a.0),
        other_address: msg.get::<OtherAddress>().ok().flatten().map(|a| a.0),
        software: msg
            .get::<Software<'_>>()
            .ok()
            .flatten()
            .map(|s| s.0.to_owned()),
        rtt,
        transmissions: tx.sends(),
    })
}

/// Runs RFC 5780 NAT behaviour discovery from one socket bound to `bind` against `server`
/// (its primary address). I/O errors are the `Err`; the discovery's own verdict, success or
/// not, is the `Ok`, with the time it took.
pub async fn nat_type<R: CryptoRng + ?Sized>(
    server: SocketAddr,
    bind: SocketAddr,
    config: DiscoveryConfig,
    rng: &mut R,
) -> io::Result<(Result<NatBehavior, DiscoveryError>, Duration)> {
    let socket = UdpSocket::bind(bind).await?;
    let local = local_address(&socket, server)?;
    let started = Instant::now();
    let mut discovery = NatDiscovery::new(started, local, server, config, rng);
    let mut out = Vec::with_capacity(64);
    let mut buf = vec![0u8; 2048];
    loop {
        while let Some(t) = discovery.poll_transmit(&mut out) {
            debug!(to = %t.to, len = out.len(), "sending discovery request");
            if let Err(e) = socket.send_to(&out, t.to).await {
                // An unreachable test address is the discovery's to judge (by timeout).
                debug!(to = %t.to, error = %e, "send failed");
            }
        }
        if let Some(result) = discovery.result() {
            return Ok((result, started.elapsed()));
        }
        let Some(at) = discovery.poll_timeout() else {
            return Err(io::Error::other("NAT discovery stalled without a timer"));
        };
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => discovery.handle_receive(Instant::now(), from, local, &buf[..n]),
                Err(e) => debug!(error = %e, "receive error"),
            },
            () = tokio::time::sleep_until(deadline(at)) => discovery.handle_timeout(Instant::now()),
        }
    }
}
