//! Typed attributes: every attribute of RFC 8489, of ICE (RFC 8445), of RFC 5780 and of TURN
//! (RFC 8656), decoded lazily from borrowed bytes and encoded into caller buffers.
//!
//! Implement [`Attribute`] and [`EncodeAttribute`] for your own type to add an attribute the
//! crate does not know; [`Message::get`](crate::Message::get) and
//! [`MessageWriter::push`](crate::MessageWriter::push) then work with it like any other.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::{EncodeError, ParseError};
use crate::message::{AttributeType, MAGIC_COOKIE, TransactionId};

/// An attribute that can be decoded from its value bytes.
pub trait Attribute<'a>: Sized {
    /// The attribute type.
    const TYPE: AttributeType;
    /// Decodes the value (without padding). `tid` is needed by the XOR-*-ADDRESS attributes.
    fn decode(value: &'a [u8], tid: &TransactionId) -> Result<Self, ParseError>;
}

/// An attribute that can be encoded into a message.
pub trait EncodeAttribute {
    /// The attribute type written in the header.
    fn attr_type(&self) -> AttributeType;
    /// Length of the value in bytes, without padding.
    fn encoded_len(&self) -> usize;
    /// Writes the value into `out`, which is exactly [`encoded_len`](Self::encoded_len) bytes.
    fn encode(&self, out: &mut [u8], tid: &TransactionId) -> Result<(), EncodeError>;
}

macro_rules! attribute_types {
    ($($(#[$doc:meta])* $name:ident = $value:expr, $text:expr;)*) => {
        $($(#[$doc])* pub const $name: AttributeType = AttributeType($value);)*
        /// The RFC name of a known attribute type.
        pub const fn name(t: AttributeType) -> Option<&'static str> {
            match t.0 { $($value => Some($text),)* _ => None }
        }
        /// Whether the crate knows this attribute type.
        pub const fn is_known(t: AttributeType) -> bool {
            name(t).is_some()
        }
    };
}

attribute_types! {
    /// MAPPED-ADDRESS (RFC 8489 §14.1).
    MAPPED_ADDRESS = 0x0001, "MAPPED-ADDRESS";
    /// CHANGE-REQUEST (RFC 5780 §7.2).
    CHANGE_REQUEST = 0x0003, "CHANGE-REQUEST";
    /// USERNAME (RFC 8489 §14.3).
    USERNAME = 0x0006, "USERNAME";
    /// MESSAGE-INTEGRITY (RFC 8489 §14.5).
    MESSAGE_INTEGRITY = 0x0008, "MESSAGE-INTEGRITY";
    /// ERROR-CODE (RFC 8489 §14.8).
    ERROR_CODE = 0x0009, "ERROR-CODE";
    /// UNKNOWN-ATTRIBUTES (RFC 8489 §14.9).
    UNKNOWN_ATTRIBUTES = 0x000A, "UNKNOWN-ATTRIBUTES";
    /// CHANNEL-NUMBER (RFC 8656 §18.1).
    CHANNEL_NUMBER = 0x000C, "CHANNEL-NUMBER";
    /// LIFETIME (RFC 8656 §18.2).
    LIFETIME = 0x000D, "LIFETIME";
    /// XOR-PEER-ADDRESS (RFC 8656 §18.3).
    XOR_PEER_ADDRESS = 0x0012, "XOR-PEER-ADDRESS";
    /// DATA (RFC 8656 §18.4).
    DATA = 0x0013, "DATA";
    /// REALM (RFC 8489 §14.9).
    REALM = 0x0014, "REALM";
    /// NONCE (RFC 8489 §14.10).
    NONCE = 0x0015, "NONCE";
    /// XOR-RELAYED-ADDRESS (RFC 8656 §18.5).
    XOR_RELAYED_ADDRESS = 0x0016, "XOR-RELAYED-ADDRESS";
    /// REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.6).
    REQUESTED_ADDRESS_FAMILY = 0x0017, "REQUESTED-ADDRESS-FAMILY";
    /// EVEN-PORT (RFC 8656 §18.7).
    EVEN_PORT = 0x0018, "EVEN-PORT";
    /// REQUESTED-TRANSPORT (RFC 8656 §18.8).
    REQUESTED_TRANSPORT = 0x0019, "REQUESTED-TRANSPORT";
    /// DONT-FRAGMENT (RFC 8656 §18.9).
    DONT_FRAGMENT = 0x001A, "DONT-FRAGMENT";
    /// MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6).
    MESSAGE_INTEGRITY_SHA256 = 0x001C, "MESSAGE-INTEGRITY-SHA256";
    /// PASSWORD-ALGORITHM (RFC 8489 §14.12).
    PASSWORD_ALGORITHM = 0x001D, "PASSWORD-ALGORITHM";
    /// USERHASH (RFC 8489 §14.4).
    USERHASH = 0x001E, "USERHASH";
    /// XOR-MAPPED-ADDRESS (RFC 8489 §14.2).
    XOR_MAPPED_ADDRESS = 0x0020, "XOR-MAPPED-ADDRESS";
    /// RESERVATION-TOKEN (RFC 8656 §18.10).
    RESERVATION_TOKEN = 0x0022, "RESERVATION-TOKEN";
    /// PRIORITY (RFC 8445 §16.1).
    PRIORITY = 0x0024, "PRIORITY";
    /// USE-CANDIDATE (RFC 8445 §16.1).
    USE_CANDIDATE = 0x0025, "USE-CANDIDATE";
    /// PADDING (RFC 5780 §7.4).
    PADDING = 0x0026, "PADDING";
    /// RESPONSE-PORT (RFC 5780 §7.5).
    RESPONSE_PORT = 0x0027, "RESPONSE-PORT";
    /// ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.11).
    ADDITIONAL_ADDRESS_FAMILY = 0x8000, "ADDITIONAL-ADDRESS-FAMILY";
    /// ADDRESS-ERROR-CODE (RFC 8656 §18.12).
    ADDRESS_ERROR_CODE = 0x8001, "ADDRESS-ERROR-CODE";
    /// PASSWORD-ALGORITHMS (RFC 8489 §14.11).
    PASSWORD_ALGORITHMS = 0x8002, "PASSWORD-ALGORITHMS";
    /// ALTERNATE-DOMAIN (RFC 8489 §14.16).
    ALTERNATE_DOMAIN = 0x8003, "ALTERNATE-DOMAIN";
    /// ICMP (RFC 8656 §18.13).
    ICMP = 0x8004, "ICMP";
    /// SOFTWARE (RFC 8489 §14.14).
    SOFTWARE = 0x8022, "SOFTWARE";
    /// ALTERNATE-SERVER (RFC 8489 §14.15).
    ALTERNATE_SERVER = 0x8023, "ALTERNATE-SERVER";
    /// CACHE-TIMEOUT (RFC 5780 §7.7).
    CACHE_TIMEOUT = 0x8027, "CACHE-TIMEOUT";
    /// FINGERPRINT (RFC 8489 §14.7).
    FINGERPRINT = 0x8028, "FINGERPRINT";
    /// ICE-CONTROLLED (RFC 8445 §16.1).
    ICE_CONTROLLED = 0x8029, "ICE-CONTROLLED";
    /// ICE-CONTROLLING (RFC 8445 §16.1).
    ICE_CONTROLLING = 0x802A, "ICE-CONTROLLING";
    /// RESPONSE-ORIGIN (RFC 5780 §7.3).
    RESPONSE_ORIGIN = 0x802B, "RESPONSE-ORIGIN";
    /// OTHER-ADDRESS (RFC 5780 §7.4).
    OTHER_ADDRESS = 0x802C, "OTHER-ADDRESS";
}

/// Longest USERNAME accepted: RFC 8489 asks for fewer than 509 bytes, RFC 5389 allowed fewer
/// than 513, and we accept what RFC 5389 peers send.
pub const MAX_USERNAME_LEN: usize = 512;
/// Longest USERNAME this crate writes: RFC 8489 §14.3's "less than 509 bytes". An ICE agent's
/// `remote-ufrag:local-ufrag` must fit in it.
pub const MAX_WRITTEN_USERNAME_LEN: usize = 508;
/// Longest REALM, NONCE, SOFTWARE, reason phrase or ALTERNATE-DOMAIN: fewer than 128
/// characters, "as long as 763 bytes when decoding them" (RFC 8489 §14.9, §14.10, §14.14).
pub const MAX_TEXT_LEN: usize = 763;

/// What this crate writes is held to RFC 8489's limits for senders, stricter than what it
/// reads where it originates the text: a USERNAME of fewer than 509 bytes (§14.3); SOFTWARE
/// and reason phrases of fewer than 128 characters and at most 509 bytes (§14.8, §14.14); an
/// ALTERNATE-DOMAIN of 255 or fewer ASCII characters (§14.16). REALM and NONCE are what a
/// client echoes from the server's challenge, so whatever was read ([`MAX_TEXT_LEN`]) can be
/// written back. Anything else is [`EncodeError::ValueTooLong`].
#[derive(Debug, Clone, Copy)]
enum TextLimit {
    Username,
    Text,
    Echoed,
    Domain,
}

impl TextLimit {
    fn check(self, attr: AttributeType, s: &str) -> Result<(), EncodeError> {
        let fits = match self {
            Self::Username => s.len() <= MAX_WRITTEN_USERNAME_LEN,
            // A string of at most 127 bytes has at most 127 characters: count only longer ones.
            Self::Text => s.len() < 128 || (s.len() <= 509 && s.chars().count() < 128),
            Self::Echoed => s.len() <= MAX_TEXT_LEN,
            Self::Domain => s.len() <= 255 && s.is_ascii(),
        };
        if fits {
            Ok(())
        } else {
            Err(EncodeError::ValueTooLong { attr })
        }
    }
}

fn check_len(attr: AttributeType, value: &[u8], len: usize) -> Result<(), ParseError> {
    if value.len() == len {
        Ok(())
    } else {
        Err(ParseError::BadAttributeLength {
            attr,
            length: value.len(),
        })
    }
}

fn text(attr: AttributeType, value: &[u8], max: usize) -> Result<&str, ParseError> {
    if value.len() > max {
        return Err(ParseError::TooLong {
            attr,
            length: value.len(),
            max,
        });
    }
    core::str::from_utf8(value).map_err(|_| ParseError::InvalidUtf8 { attr })
}

fn arr<const N: usize>(attr: AttributeType, value: &[u8]) -> Result<[u8; N], ParseError> {
    value
        .try_into()
        .map_err(|_| ParseError::BadAttributeLength {
            attr,
            length: value.len(),
        })
}

fn put(out: &mut [u8], bytes: &[u8], attr: AttributeType) -> Result<(), EncodeError> {
    out.get_mut(..bytes.len())
        .ok_or(EncodeError::InvalidValue { attr })?
        .copy_from_slice(bytes);
    Ok(())
}

// ----- Addresses -------------------------------------------------------------------------

/// Address family numbers used by STUN address attributes and TURN family attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddressFamily {
    /// IPv4 (0x01).
    V4,
    /// IPv6 (0x02).
    V6,
}

impl AddressFamily {
    /// The wire value.
    pub const fn value(self) -> u8 {
        match self {
            Self::V4 => 0x01,
            Self::V6 => 0x02,
        }
    }

    fn from_value(attr: AttributeType, family: u8) -> Result<Self, ParseError> {
        match family {
            0x01 => Ok(Self::V4),
            0x02 => Ok(Self::V6),
            _ => Err(ParseError::BadAddressFamily { attr, family }),
        }
    }

    /// The family of an address.
    pub const fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }
}

fn xor_key(tid: &TransactionId) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    k[4..].copy_from_slice(tid.as_bytes());
    k
}

fn decode_address(
    attr: AttributeType,
    value: &[u8],
    xor: Option<&TransactionId>,
) -> Result<SocketAddr, ParseError> {
    // Length errors report the whole value's length, as every other attribute does.
    let bad_len = ParseError::BadAttributeLength {
        attr,
        length: value.len(),
    };
    let (&[_, family, p0, p1], rest) = value.split_first_chunk::<4>().ok_or(bad_len)?;
    let family = AddressFamily::from_value(attr, family)?;
    let mut port = u16::from_be_bytes([p0, p1]);
    let key = xor.map(xor_key);
    if key.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match family {
        AddressFamily::V4 => {
            let mut b: [u8; 4] = rest.try_into().map_err(|_| bad_len)?;
            if let Some(k) = key {
                b.iter_mut().zip(k).for_each(|(x, k)| *x ^= k);
            }
            IpAddr::V4(Ipv4Addr::from(b))
        }
        AddressFamily::V6 => {
            let mut b: [u8; 16] = rest.try_into().map_err(|_| bad_len)?;
            if let Some(k) = key {
                b.iter_mut().zip(k).for_each(|(x, k)| *x ^= k);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
    };
    Ok(SocketAddr::new(ip, port))
}

fn address_len(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => 8,
        SocketAddr::V6(_) => 20,
    }
}

fn encode_address(addr: &SocketAddr, out: &mut [u8], xor: Option<&TransactionId>) {
    let key = xor.map(xor_key);
    let mut port = addr.port();
    if key.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    out[0] = 0;
    out[1] = AddressFamily::of(&addr.ip()).value();
    out[2..4].copy_from_slice(&port.to_be_bytes());
    match addr.ip() {
        IpAddr::V4(ip) => out[4..8].copy_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out[4..20].copy_from_slice(&ip.octets()),
    }
    if let Some(k) = key {
        out[4..].iter_mut().zip(k).for_each(|(x, k)| *x ^= k);
    }
}

macro_rules! address_attribute {
    ($(#[$doc:meta])* $name:ident, $ty:expr, $xor:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub SocketAddr);

        impl<'a> Attribute<'a> for $name {
            const TYPE: AttributeType = $ty;
            fn decode(value: &'a [u8], tid: &TransactionId) -> Result<Self, ParseError> {
                decode_address($ty, value, if $xor { Some(tid) } else { None }).map(Self)
            }
        }

        impl EncodeAttribute for $name {
            fn attr_type(&self) -> AttributeType {
                $ty
            }
            fn encoded_len(&self) -> usize {
                address_len(&self.0)
            }
            fn encode(&self, out: &mut [u8], tid: &TransactionId) -> Result<(), EncodeError> {
                if out.len() != address_len(&self.0) {
                    return Err(EncodeError::InvalidValue { attr: $ty });
                }
                encode_address(&self.0, out, if $xor { Some(tid) } else { None });
                Ok(())
            }
        }
    };
}

address_attribute!(
    /// MAPPED-ADDRESS: the reflexive address, in the clear (RFC 3489 compatibility).
    MappedAddress, MAPPED_ADDRESS, false);
address_attribute!(
    /// XOR-MAPPED-ADDRESS: the reflexive transport address of the client.
    XorMappedAddress, XOR_MAPPED_ADDRESS, true);
address_attribute!(
    /// XOR-PEER-ADDRESS: a peer's address as seen from the TURN server.
    XorPeerAddress, XOR_PEER_ADDRESS, true);
address_attribute!(
    /// XOR-RELAYED-ADDRESS: the relayed transport address of an allocation.
    XorRelayedAddress, XOR_RELAYED_ADDRESS, true);
address_attribute!(
    /// ALTERNATE-SERVER: where a 300 (Try Alternate) response sends the client.
    AlternateServer, ALTERNATE_SERVER, false);
address_attribute!(
    /// RESPONSE-ORIGIN: the address a response was sent from (RFC 5780).
    ResponseOrigin, RESPONSE_ORIGIN, false);
address_attribute!(
    /// OTHER-ADDRESS: the server's alternate address and port (RFC 5780).
    OtherAddress, OTHER_ADDRESS, false);

// ----- Text ------------------------------------------------------------------------------

macro_rules! text_attribute {
    ($(#[$doc:meta])* $name:ident, $ty:expr, $max:expr, $limit:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name<'a>(pub &'a str);

        impl<'a> Attribute<'a> for $name<'a> {
            const TYPE: AttributeType = $ty;
            fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, ParseError> {
                text($ty, value, $max).map(Self)
            }
        }

        impl EncodeAttribute for $name<'_> {
            fn attr_type(&self) -> AttributeType {
                $ty
            }
            fn encoded_len(&self) -> usize {
                self.0.len()
            }
            fn encode(&self, out: &mut [u8], _: &TransactionId) -> Result<(), EncodeError> {
                $limit.check($ty, self.0)?;
                put(out, self.0.as_bytes(), $ty)
            }
        }
    };
}

text_attribute!(
    /// USERNAME: the user and realm-independent name of a credential.
    Username, USERNAME, MAX_USERNAME_LEN, TextLimit::Username);
text_attribute!(
    /// REALM: the long-term credential realm.
    Realm, REALM, MAX_TEXT_LEN, TextLimit::Echoed);
text_attribute!(
    /// NONCE: the server's nonce, possibly starting with the RFC 8489 nonce cookie.
    Nonce, NONCE, MAX_TEXT_LEN, TextLimit::Echoed);
text_attribute!(
    /// SOFTWARE: a description of the sender's software.
    Software, SOFTWARE, MAX_TEXT_LEN, TextLimit::Text);
text_attribute!(
    /// ALTERNATE-DOMAIN: the TLS name of the alternate server.
    AlternateDomain, ALTERNATE_DOMAIN, MAX_TEXT_LEN, TextLimit::Domain);

// ----- Opaque bytes ----------------------------------------------------------------------

macro_rules! bytes_attribute {
    ($(#[$doc:meta])* $name:ident, $ty:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name<'a>(pub &'a [u8]);

        impl<'a> Attribute<'a> for $name<'a> {
            const TYPE: AttributeType = $ty;
            fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, ParseError> {
                Ok(Self(value))
            }
        }

        impl EncodeAttribute for $name<'_> {
            fn attr_type(&self) -> AttributeType {
                $ty
            }
            fn encoded_len(&self) -> usize {
                self.0.len()
            }
            fn encode(&self, out: &mut [u8], _: &TransactionId) -> Result<(), EncodeError> {
                put(out, self.0, $ty)
            }
        }
    };
}

bytes_attribute!(
    /// DATA: application data in a Send or Data indication.
    Data, DATA);
bytes_attribute!(
    /// PADDING: bytes that make a request or response larger (RFC 5780 §7.6).
    Padding, PADDING);

/// USERHASH: SHA-256 of `username ":" realm` (RFC 8489 §14.4); see
/// [`userhash`](crate::integrity::userhash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Userhash(pub [u8; 32]);

/// MESSAGE-INTEGRITY, as read. Written only by
/// [`MessageWriter::finish_with_integrity`](crate::MessageWriter::finish_with_integrity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageIntegrity(pub [u8; 20]);

impl<'a> Attribute<'a> for MessageIntegrity {
    const TYPE: AttributeType = MESSAGE_INTEGRITY;
    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, ParseError> {
        arr(MESSAGE_INTEGRITY, value).map(Self)
    }
}

/// MESSAGE-INTEGRITY-SHA256 (16 to 32 bytes), as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageIntegritySha256<'a>(pub &'a [u8]);

impl<'a> Attribute<'a> for MessageIntegritySha256<'a> {
    const TYPE: AttributeType = MESSAGE_INTEGRITY_SHA256;
    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, ParseError> {
        if (16..=32).contains(&value.len()) && value.len().is_multiple_of(4) {
            Ok(Self(value))
        } else {
            Err(ParseError::BadAttributeLength {
                attr: MESSAGE_INTEGRITY_SHA256,
                length: value.len(),
            })
        }
    }
}

/// FINGERPRINT, as read. Written only by [`MessageWriter::finish`](crate::MessageWriter::finish).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u32);

impl<'a> Attribute<'a> for Fingerprint {
    const TYPE: AttributeType = FINGERPRINT;
    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, ParseError> {
        arr(FINGERPRINT, value).map(|b| Self(u32::from_be_bytes(b)))
    }
}

// ----- Fixed-size values -----------------------------------------------------------------

macro_rules! fixed_attribute {
    (
        $(#[$doc:meta])* $name:ident, $ty:expr, $len:expr,
        |$v:ident| $decode:expr,
        |$s:ident, $o:ident| $encode:expr
    ) => {
        impl<'a> Attribute<'a> for $name {
            const TYPE: AttributeType = $ty;
            fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, ParseError> {
                let $v: [u8; $len] = arr($ty, value)?;
                $decode
            }
        }

        impl EncodeAttribute for $name {
            fn attr_type(&self) -> AttributeType {
                $ty
            }
            fn encoded_len(&self) -> usize {
                $len
            }
            fn encode(&self, out: &mut [u8], _: &TransactionId) -> Result<(), EncodeError> {
                let $o: &mut [u8; $len] = out
                    .try_into()
                    .map_err(|_| EncodeError::InvalidValue { attr: $ty })?;
                let $s = self;
                $encode;
                Ok(())
            }
        }
    };
}

impl EncodeAttribute for Userhash {
    fn attr_type(&self) -> AttributeType {
        USERHASH
    }
    fn encoded_len(&self) -> usize {
        32
    }
    fn encode(&self, out: &mut [u8], _: &TransactionId) -> Result<(), EncodeError> {
        put(out, &self.0, USERHASH)
    }
}

impl<'a> Attribute<'a> for Userhash {
    const TYPE: AttributeType = USERHASH;
    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, ParseError> {
        arr(USERHASH, value).map(Self)
    }
}

/// PRIORITY: the priority a peer-reflexive candidate learned from this check would get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Priority(pub u32);
fixed_attribute!(
    Priority,
    PRIORITY,
    4,
    |v| Ok(Self(u32::from_be_bytes(v))),
    |s, o| *o = s.0.to_be_bytes()
);

/// ICE-CONTROLLED with the agent's tie-breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IceControlled(pub u64);
fixed_attribute!(
    IceControlled,
    ICE_CONTROLLED,
    8,
    |v| Ok(Self(u64::from_be_bytes(v))),
    |s, o| *o = s.0.to_be_bytes()
);

/// ICE-CONTROLLING with the agent's tie-breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IceControlling(pub u64);
fixed_attribute!(
    IceControlling,
    ICE_CONTROLLING,
    8,
    |v| Ok(Self(u64::from_be_bytes(v))),
    |s, o| *o = s.0.to_be_bytes()
);

/// LIFETIME of an allocation, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lifetime(pub u32);
fixed_attribute!(
    Lifetime,
    LIFETIME,
    4,
    |v| Ok(Self(u32::from_be_bytes(v))),
    |s, o| *o = s.0.to_be_bytes()
);

/// CACHE-TIMEOUT in seconds (RFC 5780 §7.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheTimeout(pub u32);
fixed_attribute!(
    CacheTimeout,
    CACHE_TIMEOUT,
    4,
    |v| Ok(Self(u32::from_be_bytes(v))),
    |s, o| *o = s.0.to_be_bytes()
);

/// RESERVATION-TOKEN: an 8-byte token naming a reserved relayed address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReservationToken(pub [u8; 8]);
fixed_attribute!(
    ReservationToken,
    RESERVATION_TOKEN,
    8,
    |v| Ok(Self(v)),
    |s, o| *o = s.0
);

/// CHANNEL-NUMBER: a TURN channel number followed by two reserved bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelNumber(pub u16);
fixed_attribute!(
    ChannelNumber,
    CHANNEL_NUMBER,
    4,
    |v| Ok(Self(u16::from_be_bytes([v[0], v[1]]))),
    |s, o| *o = {
        let [a, b] = s.0.to_be_bytes();
        [a, b, 0, 0]
    }
);

/// RESPONSE-PORT: the port a response should go to (RFC 5780 §7.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResponsePort(pub u16);
fixed_attribute!(
    ResponsePort,
    RESPONSE_PORT,
    4,
    |v| Ok(Self(u16::from_be_bytes([v[0], v[1]]))),
    |s, o| *o = {
        let [a, b] = s.0.to_be_bytes();
        [a, b, 0, 0]
    }
);

/// REQUESTED-TRANSPORT: the IP protocol number of the relayed transport (17 = UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestedTransport(pub u8);
impl RequestedTransport {
    /// UDP, the only transport RFC 8656 relays.
    pub const UDP: Self = Self(17);
    /// TCP (RFC 6062).
    pub const TCP: Self = Self(6);
}
fixed_attribute!(
    RequestedTransport,
    REQUESTED_TRANSPORT,
    4,
    |v| Ok(Self(v[0])),
    |s, o| *o = [s.0, 0, 0, 0]
);

/// REQUESTED-ADDRESS-FAMILY of the relayed address (RFC 8656 §18.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestedAddressFamily(pub AddressFamily);
fixed_attribute!(
    RequestedAddressFamily,
    REQUESTED_ADDRESS_FAMILY,
    4,
    |v| AddressFamily::from_value(REQUESTED_ADDRESS_FAMILY, v[0]).map(Self),
    |s, o| *o = [s.0.value(), 0, 0, 0]
);

/// ADDITIONAL-ADDRESS-FAMILY: ask for an IPv6 relayed address besides the IPv4 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AdditionalAddressFamily(pub AddressFamily);
fixed_attribute!(
    AdditionalAddressFamily,
    ADDITIONAL_ADDRESS_FAMILY,
    4,
    |v| AddressFamily::from_value(ADDITIONAL_ADDRESS_FAMILY, v[0]).map(Self),
    |s, o| *o = [s.0.value(), 0, 0, 0]
);

/// EVEN-PORT: ask for an even relayed port, and optionally reserve the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EvenPort {
    /// The R bit: reserve the next higher port too.
    pub reserve: bool,
}
fixed_attribute!(
    EvenPort,
    EVEN_PORT,
    1,
    |v| Ok(Self {
        reserve: v[0] & 0x80 != 0
    }),
    |s, o| *o = [if s.reserve { 0x80 } else { 0 }]
);

/// CHANGE-REQUEST: ask the server to answer from another IP and/or port (RFC 5780 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChangeRequest {
    /// The A flag: change the IP address.
    pub change_ip: bool,
    /// The B flag: change the port.
    pub change_port: bool,
}
fixed_attribute!(
    ChangeRequest,
    CHANGE_REQUEST,
    4,
    |v| Ok(Self {
        change_ip: v[3] & 0x04 != 0,
        change_port: v[3] & 0x02 != 0
    }),
    |s, o| *o = [
        0,
        0,
        0,
        (u8::from(s.change_ip) << 2) | (u8::from(s.change_port) << 1)
    ]
);

/// ICMP: an ICMP error a TURN server received for a relayed packet (RFC 8656 §18.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Icmp {
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// Error data (for example the MTU of a "fragmentation needed" message).
    pub error_data: u32,
}
fixed_attribute!(
    Icmp,
    ICMP,
    8,
    |v| Ok(Self {
        icmp_type: v[2],
        code: v[3],
        error_data: u32::from_be_bytes([v[4], v[5], v[6], v[7]])
    }),
    |s, o| *o = {
        let [a, b, c, d] = s.error_data.to_be_bytes();
        [0, 0, s.icmp_type, s.code, a, b, c, d]
    }
);

// ----- Flags -----------------------------------------------------------------------------

macro_rules! flag_attribute {
    ($(#[$doc:meta])* $name:ident, $ty:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name;

        impl<'a> Attribute<'a> for $name {
            const TYPE: AttributeType = $ty;
            fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, ParseError> {
                check_len($ty, value, 0).map(|()| Self)
            }
        }

        impl EncodeAttribute for $name {
            fn attr_type(&self) -> AttributeType {
                $ty
            }
            fn encoded_len(&self) -> usize {
                0
            }
            fn encode(&self, _: &mut [u8], _: &TransactionId) -> Result<(), EncodeError> {
                Ok(())
            }
        }
    };
}

flag_attribute!(
    /// USE-CANDIDATE: the controlling agent nominates this pair.
    UseCandidate, USE_CANDIDATE);
flag_attribute!(
    /// DONT-FRAGMENT: ask the TURN server to set DF on relayed packets.
    DontFragment, DONT_FRAGMENT);

// ----- Error codes -----------------------------------------------------------------------

/// ERROR-CODE: a number in 300..=699 and a reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode<'a> {
    /// The code, e.g. 401.
    pub code: u16,
    /// The reason phrase (may be empty).
    pub reason: &'a str,
}

/// The error codes of STUN and TURN, with their RFC reason phrases.
pub mod codes {
    /// 300 Try Alternate.
    pub const TRY_ALTERNATE: u16 = 300;
    /// 400 Bad Request.
    pub const BAD_REQUEST: u16 = 400;
    /// 401 Unauthenticated.
    pub const UNAUTHENTICATED: u16 = 401;
    /// 403 Forbidden.
    pub const FORBIDDEN: u16 = 403;
    /// 405 Mobility Forbidden.
    pub const MOBILITY_FORBIDDEN: u16 = 405;
    /// 420 Unknown Attribute.
    pub const UNKNOWN_ATTRIBUTE: u16 = 420;
    /// 437 Allocation Mismatch.
    pub const ALLOCATION_MISMATCH: u16 = 437;
    /// 438 Stale Nonce.
    pub const STALE_NONCE: u16 = 438;
    /// 440 Address Family not Supported.
    pub const ADDRESS_FAMILY_NOT_SUPPORTED: u16 = 440;
    /// 441 Wrong Credentials.
    pub const WRONG_CREDENTIALS: u16 = 441;
    /// 442 Unsupported Transport Protocol.
    pub const UNSUPPORTED_TRANSPORT: u16 = 442;
    /// 443 Peer Address Family Mismatch.
    pub const PEER_ADDRESS_FAMILY_MISMATCH: u16 = 443;
    /// 486 Allocation Quota Reached.
    pub const ALLOCATION_QUOTA_REACHED: u16 = 486;
    /// 487 Role Conflict.
    pub const ROLE_CONFLICT: u16 = 487;
    /// 500 Server Error.
    pub const SERVER_ERROR: u16 = 500;
    /// 508 Insufficient Capacity.
    pub const INSUFFICIENT_CAPACITY: u16 = 508;

    /// The RFC reason phrase of a known code.
    pub const fn reason(code: u16) -> Option<&'static str> {
        Some(match code {
            300 => "Try Alternate",
            400 => "Bad Request",
            401 => "Unauthenticated",
            403 => "Forbidden",
            405 => "Mobility Forbidden",
            420 => "Unknown Attribute",
            437 => "Allocation Mismatch",
            438 => "Stale Nonce",
            440 => "Address Family not Supported",
            441 => "Wrong Credentials",
            442 => "Unsupported Transport Protocol",
            443 => "Peer Address Family Mismatch",
            486 => "Allocation Quota Reached",
            487 => "Role Conflict",
            500 => "Server Error",
            508 => "Insufficient Capacity",
            _ => return None,
        })
    }
}

fn decode_error_code(class: u8, number: u8) -> Result<u16, ParseError> {
    // RFC 8489 §14.8: class 3..=6, number 0..=99.
    if (3..=6).contains(&class) && number <= 99 {
        Ok(u16::from(class) * 100 + u16::from(number))
    } else {
        Err(ParseError::BadErrorCode { class, number })
    }
}

fn encode_error_code(code: u16, attr: AttributeType) -> Result<[u8; 2], EncodeError> {
    if (300..=699).contains(&code) {
        Ok([(code / 100) as u8, (code % 100) as u8])
    } else {
        Err(EncodeError::InvalidValue { attr })
    }
}

impl<'a> ErrorCode<'a> {
    /// An error code with the RFC reason phrase (or an empty one for unknown codes).
    pub const fn with_reason(code: u16) -> ErrorCode<'static> {
        ErrorCode {
            code,
            reason: match codes::reason(code) {
                Some(r) => r,
                None => "",
            },
        }
    }

    /// An error code without a reason phrase: smaller, and reveals nothing.
    pub const fn bare(code: u16) -> ErrorCode<'static> {
        ErrorCode { code, reason: "" }
    }
}

impl<'a> Attribute<'a> for ErrorCode<'a> {
    const TYPE: AttributeType = ERROR_CODE;
    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, ParseError> {
        let (&[_, _, class, number], reason) =
            value
                .split_first_chunk::<4>()
                .ok_or(ParseError::BadAttributeLength {
                    attr: ERROR_CODE,
                    length: value.len(),
                })?;
        let code = decode_error_code(class & 0x07, number)?;
        Ok(Self {
            code,
            reason: text(ERROR_CODE, reason, MAX_TEXT_LEN)?,
        })
    }
}

impl EncodeAttribute for ErrorCode<'_> {
    fn attr_type(&self) -> AttributeType {
        ERROR_CODE
    }
    fn encoded_len(&self) -> usize {
        4 + self.reason.len()
    }
    fn encode(&self, out: &mut [u8], _: &TransactionId) -> Result<(), EncodeError> {
        TextLimit::Text.check(ERROR_CODE, self.reason)?;
        let [class, number] = encode_error_code(self.code, ERROR_CODE)?;
        put(out, &[0, 0, class, number], ERROR_CODE)?;
        put(
            out.get_mut(4..).unwrap_or_default(),
            self.reason.as_bytes(),
            ERROR_CODE,
        )
    }
}

/// ADDRESS-ERROR-CODE: why one address family of a dual allocation failed (RFC 8656 §18.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressErrorCode<'a> {
    /// The family that failed.
    pub family: AddressFamily,
    /// The code, e.g. 440.
    pub code: u16,
    /// The reason phrase.
    pub reason: &'a str,
}

impl<'a> Attribute<'a> for AddressErrorCode<'a> {
    const TYPE: AttributeType = ADDRESS_ERROR_CODE;
    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, ParseError> {
        let attr = ADDRESS_ERROR_CODE;
        let (&[family, _, class, number], reason) =
            value
                .split_first_chunk::<4>()
                .ok_or(ParseError::BadAttributeLength {
                    attr,
                    length: value.len(),
                })?;
        Ok(Self {
            family: AddressFamily::from_value(attr, family)?,
            code: decode_error_code(class & 0x07, number)?,
            reason: text(attr, reason, MAX_TEXT_LEN)?,
        })
    }
}

impl EncodeAttribute for AddressErrorCode<'_> {
    fn attr_type(&self) -> AttributeType {
        ADDRESS_ERROR_CODE
    }
    fn encoded_len(&self) -> usize {
        4 + self.reason.len()
    }
    fn encode(&self, out: &mut [u8], _: &TransactionId) -> Result<(), EncodeError> {
        TextLimit::Text.check(ADDRESS_ERROR_CODE, self.reason)?;
        let [class, number] = encode_error_code(self.code, ADDRESS_ERROR_CODE)?;
        put(
            out,
            &[self.family.value(), 0, class, number],
            ADDRESS_ERROR_CODE,
        )?;
        put(
            out.get_mut(4..).unwrap_or_default(),
            self.reason.as_bytes(),
            ADDRESS_ERROR_CODE,
        )
    }
}

// ----- Lists -----------------------------------------------------------------------------

/// UNKNOWN-ATTRIBUTES: the comprehension-required types a 420 response did not understand.
/// Decoding borrows; [`UnknownAttributes::iter`] yields the types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownAttributes<'a> {
    /// As read from the wire: a list of 16-bit types.
    Raw(&'a [u8]),
    /// A list to encode.
    List(&'a [AttributeType]),
}

impl<'a> UnknownAttributes<'a> {
    /// The listed types.
    pub fn iter(&self) -> impl Iterator<Item = AttributeType> + 'a {
        let (raw, list): (&'a [u8], &'a [AttributeType]) = match *self {
            Self::Raw(r) => (r, &[]),
            Self::List(l) => (&[], l),
        };
        raw.chunks_exact(2)
            .map(|c| AttributeType(u16::from_be_bytes([c[0], c[1]])))
            .chain(list.iter().copied())
    }
}

impl<'a> Attribute<'a> for UnknownAttributes<'a> {
    const TYPE: AttributeType = UNKNOWN_ATTRIBUTES;
    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, ParseError> {
        if value.len().is_multiple_of(2) {
            Ok(Self::Raw(value))
        } else {
            Err(ParseError::BadAttributeLength {
                attr: UNKNOWN_ATTRIBUTES,
                length: value.len(),
            })
        }
    }
}

impl EncodeAttribute for UnknownAttributes<'_> {
    fn attr_type(&self) -> AttributeType {
        UNKNOWN_ATTRIBUTES
    }
    fn encoded_len(&self) -> usize {
        match self {
            Self::Raw(r) => r.len(),
            Self::List(l) => 2 * l.len(),
        }
    }
    fn encode(&self, out: &mut [u8], _: &TransactionId) -> Result<(), EncodeError> {
        for (chunk, t) in out.chunks_exact_mut(2).zip(self.iter()) {
            chunk.copy_from_slice(&t.0.to_be_bytes());
        }
        Ok(())
    }
}

/// The comprehension-required attribute types a request carried that its receiver does not
/// know: what the 420 (Unknown Attribute) response lists in UNKNOWN-ATTRIBUTES (RFC 8489
/// §6.3.1.1). Each type appears once, in the order first seen, and at most
/// [`UnknownList::CAPACITY`] of them, so that a request stuffed with unknown attributes cannot
/// make its answer grow; the list is kept inline and never allocates.
///
/// [`Message::unknown_attributes`](crate::Message::unknown_attributes) collects one.
///
/// ```
/// use icebreaker_stun::attributes::{UnknownList, CHANGE_REQUEST};
///
/// let mut unknown = UnknownList::new();
/// assert!(unknown.is_empty());
/// unknown.push(CHANGE_REQUEST);
/// unknown.push(CHANGE_REQUEST);
/// assert_eq!(unknown.as_slice(), &[CHANGE_REQUEST]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnknownList {
    types: [AttributeType; Self::CAPACITY],
    len: usize,
}

impl UnknownList {
    /// The most types a list holds: a 420 lists the first 16 unknown types (36 bytes of
    /// attribute), and the request fails either way.
    pub const CAPACITY: usize = 16;

    /// An empty list.
    pub const fn new() -> Self {
        Self {
            types: [AttributeType(0); Self::CAPACITY],
            len: 0,
        }
    }

    /// Adds `t` unless it is listed already or the list is full.
    pub fn push(&mut self, t: AttributeType) {
        if self.contains(t) {
            return;
        }
        if let Some(slot) = self.types.get_mut(self.len) {
            *slot = t;
            self.len += 1;
        }
    }

    /// Whether `t` is listed.
    pub fn contains(&self, t: AttributeType) -> bool {
        self.as_slice().contains(&t)
    }

    /// The listed types, in the order first seen.
    pub fn as_slice(&self) -> &[AttributeType] {
        self.types.get(..self.len).unwrap_or_default()
    }

    /// How many types are listed.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is listed: the request may go on.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The UNKNOWN-ATTRIBUTES attribute listing these types, for
    /// [`MessageWriter::push`](crate::MessageWriter::push).
    pub fn attribute(&self) -> UnknownAttributes<'_> {
        UnknownAttributes::List(self.as_slice())
    }
}

impl Default for UnknownList {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for UnknownList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// A password algorithm number (RFC 8489 §18.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PasswordAlgorithmId(pub u16);

impl PasswordAlgorithmId {
    /// MD5 (0x0001), the RFC 5389 key derivation.
    pub const MD5: Self = Self(0x0001);
    /// SHA-256 (0x0002).
    pub const SHA256: Self = Self(0x0002);
}

/// PASSWORD-ALGORITHM: the algorithm the client chose, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PasswordAlgorithm<'a> {
    /// The algorithm.
    pub algorithm: PasswordAlgorithmId,
    /// Its parameters (empty for MD5 and SHA-256).
    pub params: &'a [u8],
}

impl<'a> PasswordAlgorithm<'a> {
    /// An algorithm without parameters.
    pub const fn new(algorithm: PasswordAlgorithmId) -> Self {
        Self {
            algorithm,
            params: &[],
        }
    }

    fn read(buf: &'a [u8]) -> Result<(Self, &'a [u8]), ParseError> {
        let attr = PASSWORD_ALGORITHMS;
        let (&[a0, a1, l0, l1], rest) =
            buf.split_first_chunk::<4>()
                .ok_or(ParseError::BadAttributeLength {
                    attr,
                    length: buf.len(),
                })?;
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let padded = (len + 3) & !3;
        let (params, rest) = (rest.get(..len), rest.get(padded..));
        match (params, rest) {
            (Some(params), Some(rest)) => Ok((
                Self {
                    algorithm: PasswordAlgorithmId(u16::from_be_bytes([a0, a1])),
                    params,
                },
                rest,
            )),
            _ => Err(ParseError::BadAttributeLength {
                attr,
                length: buf.len(),
            }),
        }
    }

    fn wire_len(&self) -> usize {
        4 + ((self.params.len() + 3) & !3)
    }

    fn write(&self, out: &mut [u8], attr: AttributeType) -> Result<(), EncodeError> {
        let len =
            u16::try_from(self.params.len()).map_err(|_| EncodeError::ValueTooLong { attr })?;
        let [a, b] = self.algorithm.0.to_be_bytes();
        let [c, d] = len.to_be_bytes();
        put(out, &[a, b, c, d], attr)?;
        let rest = out
            .get_mut(4..self.wire_len())
            .ok_or(EncodeError::InvalidValue { attr })?;
        rest.fill(0);
        put(rest, self.params, attr)
    }
}

impl<'a> Attribute<'a> for PasswordAlgorithm<'a> {
    const TYPE: AttributeType = PASSWORD_ALGORITHM;
    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, ParseError> {
        let (alg, rest) = Self::read(value).map_err(|_| ParseError::BadAttributeLength {
            attr: PASSWORD_ALGORITHM,
            length: value.len(),
        })?;
        if rest.is_empty() {
            Ok(alg)
        } else {
            Err(ParseError::BadAttributeLength {
                attr: PASSWORD_ALGORITHM,
                length: value.len(),
            })
        }
    }
}

impl EncodeAttribute for PasswordAlgorithm<'_> {
    fn attr_type(&self) -> AttributeType {
        PASSWORD_ALGORITHM
    }
    fn encoded_len(&self) -> usize {
        self.wire_len()
    }
    fn encode(&self, out: &mut [u8], _: &TransactionId) -> Result<(), EncodeError> {
        self.write(out, PASSWORD_ALGORITHM)
    }
}

/// PASSWORD-ALGORITHMS: the algorithms a server offers, in its order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordAlgorithms<'a> {
    /// As read from the wire (already checked to be well formed).
    Raw(&'a [u8]),
    /// A list to encode.
    List(&'a [PasswordAlgorithm<'a>]),
}

impl<'a> PasswordAlgorithms<'a> {
    /// The algorithms, in order.
    pub fn iter(&self) -> impl Iterator<Item = PasswordAlgorithm<'a>> + 'a {
        let (mut raw, list): (&'a [u8], &'a [PasswordAlgorithm<'a>]) = match *self {
            Self::Raw(r) => (r, &[]),
            Self::List(l) => (&[], l),
        };
        core::iter::from_fn(move || {
            let (alg, rest) = PasswordAlgorithm::read(raw).ok()?;
            raw = rest;
            Some(alg)
        })
        .chain(list.iter().copied())
    }
}

impl<'a> Attribute<'a> for PasswordAlgorithms<'a> {
    const TYPE: AttributeType = PASSWORD_ALGORITHMS;
    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, ParseError> {
        let mut rest = value;
        while !rest.is_empty() {
            rest = PasswordAlgorithm::read(rest)?.1;
        }
        Ok(Self::Raw(value))
    }
}

impl EncodeAttribute for PasswordAlgorithms<'_> {
    fn attr_type(&self) -> AttributeType {
        PASSWORD_ALGORITHMS
    }
    fn encoded_len(&self) -> usize {
        match self {
            Self::Raw(r) => r.len(),
            Self::List(l) => l.iter().map(PasswordAlgorithm::wire_len).sum(),
        }
    }
    fn encode(&self, out: &mut [u8], _: &TransactionId) -> Result<(), EncodeError> {
        let mut at = 0;
        for alg in self.iter() {
            let n = alg.wire_len();
            let slot = out.get_mut(at..at + n).ok_or(EncodeError::InvalidValue {
                attr: PASSWORD_ALGORITHMS,
            })?;
            alg.write(slot, PASSWORD_ALGORITHMS)?;
            at += n;
        }
        Ok(())
    }
}

/// Any attribute, raw: for types this crate does not know, or to copy an attribute verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a> {
    /// The attribute type.
    pub attr_type: AttributeType,
    /// The value without padding.
    pub value: &'a [u8],
}

impl EncodeAttribute for Raw<'_> {
    fn attr_type(&self) -> AttributeType {
        self.attr_type
    }
    fn encoded_len(&self) -> usize {
        self.value.len()
    }
    fn encode(&self, out: &mut [u8], _: &TransactionId) -> Result<(), EncodeError> {
        put(out, self.value, self.attr_type)
    }
}
