//! # icebreaker-stun
//!
//! STUN (RFC 8489) as a sans-IO library: a zero-copy [`Message`] view over a received datagram,
//! a [`MessageWriter`] that encodes into a buffer the caller owns and allocates nothing, every
//! attribute of STUN, ICE, RFC 5780 and TURN, short-term and long-term credentials, ChannelData,
//! RFC 7983 demultiplexing, client transactions with retransmission, a binding server (with
//! RFC 5780 behaviour discovery support) and the RFC 5780 NAT discovery client.
//!
//! Nothing here opens a socket, reads a clock, spawns a thread or draws from a global RNG: time
//! arrives as an `Instant` argument, randomness from an RNG the caller passes in, datagrams as
//! byte slices. The state machines ([`transaction::ClientTransaction`],
//! [`server::BindingServer`], [`discovery::NatDiscovery`]) share one loop:
//!
//! ```text
//! handle_receive(now, from, to, &datagram)   feed what arrived
//! handle_timeout(now)                        once poll_timeout() has passed
//! poll_transmit(&mut buf)                    drain what to send
//! poll_timeout()                             when to call handle_timeout next
//! ```
//!
//! ## Example: answer a Binding request
//!
//! ```
//! use icebreaker_stun::{Class, Message, MessageWriter, Method, TransactionId};
//! use icebreaker_stun::attributes::XorMappedAddress;
//! use icebreaker_stun::integrity::{Key, Preparation};
//! use icebreaker_stun::Integrity;
//!
//! // A client builds a request, authenticated with a short-term credential.
//! let key = Key::short_term("VOkJxbRl1RmTxUk/WvJxBt").unwrap();
//! let mut req = [0u8; 128];
//! let tid = TransactionId::new(*b"abcdefghijkl");
//! let w = MessageWriter::new(&mut req, Class::Request, Method::BINDING, tid).unwrap();
//! let n = w.finish_with_integrity(&key, Integrity::Sha1, true).unwrap();
//!
//! // The server parses it without copying, checks it, and answers into its own buffer.
//! let msg = Message::parse(&req[..n]).unwrap();
//! assert_eq!((msg.class(), msg.method()), (Class::Request, Method::BINDING));
//! msg.verify_fingerprint().unwrap();
//! msg.verify_integrity(&key).unwrap();
//!
//! let mut resp = [0u8; 128];
//! let mut w = MessageWriter::new(&mut resp, Class::Success, Method::BINDING, msg.transaction_id()).unwrap();
//! w.push(&XorMappedAddress("198.51.100.7:40000".parse().unwrap())).unwrap();
//! let n = w.finish_with_integrity(&key, Integrity::Sha1, true).unwrap();
//!
//! let answer = Message::parse(&resp[..n]).unwrap();
//! let mapped = answer.get::<XorMappedAddress>().unwrap().unwrap();
//! assert_eq!(mapped.0.to_string(), "198.51.100.7:40000");
//! ```
//!
//! ## Relevant standards
//!
//! - [x] RFC 8489 STUN: message format, all attributes, short-term and long-term credentials
//!   (MD5 and SHA-256 keys, PASSWORD-ALGORITHMS, USERHASH, nonce cookie), FINGERPRINT,
//!   retransmission timers
//! - [x] RFC 5389 compatibility: SASLprep, MESSAGE-INTEGRITY only, 512-byte usernames
//! - [x] RFC 5769 test vectors
//! - [x] RFC 5780 NAT behaviour discovery: server side and client
//! - [x] RFC 8445 / RFC 8656 attributes (ICE, TURN), RFC 8656 §12 ChannelData
//! - [x] RFC 7983 demultiplexing
//! - [x] RFC 8265 OpaqueString (RFC 8264 FreeformClass), RFC 4013 SASLprep (password preparation)

pub mod attributes;
mod channel_data;
pub mod demux;
pub mod discovery;
mod error;
pub mod framing;
#[doc(hidden)]
pub mod fuzz;
pub mod integrity;
mod message;
pub mod server;
pub mod transaction;
mod writer;

pub use channel_data::{CHANNEL_RANGE, ChannelData};
pub use error::{CredentialError, EncodeError, IntegrityError, ParseError};
pub use message::{
    AttributeType, Attributes, Class, FINGERPRINT_XOR, HEADER_LEN, MAGIC_COOKIE, Message, Method,
    RawAttribute, TransactionId, is_stun, message_type, split_message_type,
};
pub use writer::{Integrity, MessageWriter};

/// Where a datagram goes, and from which local address: what the `poll_transmit` methods of
/// the state machines return, the bytes being in the caller's buffer.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transmit {
    /// The local address to send from.
    pub from: core::net::SocketAddr,
    /// The destination.
    pub to: core::net::SocketAddr,
}
