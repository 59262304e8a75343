//! The message header types and the zero-copy [`Message`] view.

use core::fmt;

use crate::attributes::{Attribute, UnknownList};
use crate::error::{IntegrityError, ParseError};
use crate::integrity::Key;

/// The fixed magic cookie of RFC 8489 §5.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Size of the STUN header.
pub const HEADER_LEN: usize = 20;
/// XOR constant of the FINGERPRINT attribute (RFC 8489 §14.7).
pub const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// The class of a message: request, indication, success or error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// A request, answered by a response.
    Request,
    /// An indication, never answered.
    Indication,
    /// A success response.
    Success,
    /// An error response.
    Error,
}

impl Class {
    const fn bits(self) -> u16 {
        match self {
            Self::Request => 0b00,
            Self::Indication => 0b01,
            Self::Success => 0b10,
            Self::Error => 0b11,
        }
    }

    const fn from_bits(bits: u16) -> Self {
        match bits & 0b11 {
            0b00 => Self::Request,
            0b01 => Self::Indication,
            0b10 => Self::Success,
            _ => Self::Error,
        }
    }

    /// Whether this is a success or an error response.
    pub const fn is_response(self) -> bool {
        matches!(self, Self::Success | Self::Error)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Request => "request",
            Self::Indication => "indication",
            Self::Success => "success response",
            Self::Error => "error response",
        })
    }
}

/// A 12-bit STUN method. Known methods are associated constants; any other value is kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method(u16);

impl Method {
    /// Binding (RFC 8489).
    pub const BINDING: Self = Self(0x001);
    /// Allocate (RFC 8656).
    pub const ALLOCATE: Self = Self(0x003);
    /// Refresh (RFC 8656).
    pub const REFRESH: Self = Self(0x004);
    /// Send (RFC 8656).
    pub const SEND: Self = Self(0x006);
    /// Data (RFC 8656).
    pub const DATA: Self = Self(0x007);
    /// CreatePermission (RFC 8656).
    pub const CREATE_PERMISSION: Self = Self(0x008);
    /// ChannelBind (RFC 8656).
    pub const CHANNEL_BIND: Self = Self(0x009);
    /// Connect (RFC 6062).
    pub const CONNECT: Self = Self(0x00a);
    /// ConnectionBind (RFC 6062).
    pub const CONNECTION_BIND: Self = Self(0x00b);
    /// ConnectionAttempt (RFC 6062).
    pub const CONNECTION_ATTEMPT: Self = Self(0x00c);

    /// A method from its 12-bit number; `None` above 0xFFF.
    pub const fn new(value: u16) -> Option<Self> {
        if value <= 0xfff {
            Some(Self(value))
        } else {
            None
        }
    }

    /// The 12-bit number.
    pub const fn value(self) -> u16 {
        self.0
    }

    /// The RFC name of a known method.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x001 => "Binding",
            0x003 => "Allocate",
            0x004 => "Refresh",
            0x006 => "Send",
            0x007 => "Data",
            0x008 => "CreatePermission",
            0x009 => "ChannelBind",
            0x00a => "Connect",
            0x00b => "ConnectionBind",
            0x00c => "ConnectionAttempt",
            _ => return None,
        })
    }
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Method({:#05x})", self.0),
        }
    }
}

/// Packs a method and a class into the 14-bit message type (RFC 8489 §5, Figure 3).
pub const fn message_type(class: Class, method: Method) -> u16 {
    let m = method.0;
    let c = class.bits();
    (m & 0x000f) | ((m & 0x0070) << 1) | ((m & 0x0f80) << 2) | ((c & 0b01) << 4) | ((c & 0b10) << 7)
}

/// Splits a 14-bit message type into its class and method.
pub const fn split_message_type(ty: u16) -> (Class, Method) {
    let method = (ty & 0x000f) | ((ty >> 1) & 0x0070) | ((ty >> 2) & 0x0f80);
    let class = ((ty >> 4) & 0b01) | ((ty >> 7) & 0b10);
    (Class::from_bits(class), Method(method))
}

/// The 96-bit transaction id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TransactionId([u8; 12]);

impl TransactionId {
    /// A transaction id from its bytes.
    pub const fn new(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }

    /// A fresh id drawn from the caller's cryptographic RNG (RFC 8489 §5 requires
    /// cryptographically random ids; the RNG is passed in so runs stay reproducible).
    pub fn random<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut b = [0u8; 12];
        rng.fill_bytes(&mut b);
        Self(b)
    }

    /// The bytes.
    pub const fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransactionId({self})")
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A 16-bit attribute type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributeType(pub u16);

impl AttributeType {
    /// Types below 0x8000 are comprehension-required: an agent that does not know one must
    /// reject the request with 420 (RFC 8489 §14).
    pub const fn is_comprehension_required(self) -> bool {
        self.0 < 0x8000
    }
}

impl fmt::Debug for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match crate::attributes::name(*self) {
            Some(n) => f.write_str(n),
            None => write!(f, "{:#06x}", self.0),
        }
    }
}

/// One attribute as it is on the wire: its type and its value without padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    /// The attribute type.
    pub attr_type: AttributeType,
    /// The value, without the padding.
    pub value: &'a [u8],
    /// Offset of the attribute's 4-byte header from the start of the message.
    pub offset: usize,
}

/// A validated, zero-copy view of one STUN message (RFC 8489 §5).
///
/// [`Message::parse`] checks the header, the length, the magic cookie, every attribute TLV and
/// its padding, the position of FINGERPRINT and the length of the integrity attributes once.
/// After that no accessor can panic. Attributes decode lazily, borrowing from the datagram.
///
/// As RFC 8489 §14.5 and §14.6 require, attributes that follow MESSAGE-INTEGRITY (other than
/// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT) and those that follow MESSAGE-INTEGRITY-SHA256
/// (other than FINGERPRINT) are invisible: [`Message::attributes`] and [`Message::get`] skip them.
#[derive(Clone, Copy)]
pub struct Message<'a> {
    buf: &'a [u8],
    /// End of the region of ordinary attributes: the offset of the first integrity attribute,
    /// or of FINGERPRINT, or the message length.
    plain_end: u32,
    /// Offsets of MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT when visible.
    integrity: Option<u32>,
    integrity_sha256: Option<u32>,
    fingerprint: Option<u32>,
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Message");
        d.field("class", &self.class())
            .field("method", &self.method())
            .field("transaction_id", &self.transaction_id());
        d.field(
            "attributes",
            &self.attributes().map(|a| a.attr_type).collect::<Vec<_>>(),
        );
        d.finish()
    }
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    // Callers only pass offsets that `Message::parse` has checked; `get` keeps a slip harmless.
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

impl<'a> Message<'a> {
    /// Validates `buf` as one complete STUN message.
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        let header = buf.get(..HEADER_LEN).ok_or(ParseError::Truncated {
            expected: HEADER_LEN,
            actual: buf.len(),
        })?;
        if header[0] & 0xc0 != 0 {
            return Err(ParseError::NotStun);
        }
        let cookie = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if cookie != MAGIC_COOKIE {
            return Err(ParseError::BadMagicCookie { found: cookie });
        }
        let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if !length.is_multiple_of(4) {
            return Err(ParseError::UnalignedLength { length });
        }
        let actual = buf.len() - HEADER_LEN;
        if length != actual {
            return Err(ParseError::LengthMismatch {
                declared: length,
                actual,
            });
        }
        let mut msg = Self {
            buf,
            plain_end: buf.len() as u32,
            integrity: None,
            integrity_sha256: None,
            fingerprint: None,
        };
        // Walk every TLV once. `pos` always stays <= buf.len() (<= 65555), so u32 cannot wrap.
        let mut pos = HEADER_LEN;
        let mut plain_closed = false;
        while pos < buf.len() {
            let Some(&[t0, t1, l0, l1]) = buf.get(pos..pos + 4) else {
                return Err(ParseError::AttributeOverrun {
                    at: pos,
                    attr: AttributeType(be16(buf, pos)),
                });
            };
            let attr = AttributeType(u16::from_be_bytes([t0, t1]));
            let len = usize::from(u16::from_be_bytes([l0, l1]));
            let padded = (len + 3) & !3;
            let next = pos + 4 + padded;
            if next > buf.len() {
                return Err(ParseError::AttributeOverrun { at: pos, attr });
            }
            match attr {
                crate::attributes::FINGERPRINT => {
                    if next != buf.len() {
                        return Err(ParseError::FingerprintNotLast { at: pos });
                    }
                    if len != 4 {
                        return Err(ParseError::BadAttributeLength { attr, length: len });
                    }
                    msg.fingerprint = Some(pos as u32);
                    if !plain_closed {
                        msg.plain_end = pos as u32;
                    }
                }
                crate::attributes::MESSAGE_INTEGRITY => {
                    if len != 20 {
                        return Err(ParseError::BadAttributeLength { attr, length: len });
                    }
                    // Only the first integrity attribute is visible, and MESSAGE-INTEGRITY is
                    // ignored after MESSAGE-INTEGRITY-SHA256.
                    if !plain_closed {
                        msg.integrity = Some(pos as u32);
                        msg.plain_end = pos as u32;
                        plain_closed = true;
                    }
                }
                crate::attributes::MESSAGE_INTEGRITY_SHA256 => {
                    // RFC 8489 §14.6: 16 to 32 bytes, a multiple of 4.
                    if !(16..=32).contains(&len) || !len.is_multiple_of(4) {
                        return Err(ParseError::BadAttributeLength { attr, length: len });
                    }
                    if msg.integrity_sha256.is_none() {
                        let after_sha256 = msg.integrity.is_none() && plain_closed;
                        if !after_sha256 {
                            msg.integrity_sha256 = Some(pos as u32);
                        }
                        if !plain_closed {
                            msg.plain_end = pos as u32;
                            plain_closed = true;
                        }
                    }
                }
                _ => {}
            }
            pos = next;
        }
        Ok(msg)
    }

    /// The message class.
    pub fn class(&self) -> Class {
        split_message_type(be16(self.buf, 0)).0
    }

    /// The message method.
    pub fn method(&self) -> Method {
        split_message_type(be16(self.buf, 0)).1
    }

    /// The transaction id.
    pub fn transaction_id(&self) -> TransactionId {
        let mut id = [0u8; 12];
        if let Some(b) = self.buf.get(8..20) {
            id.copy_from_slice(b);
        }
        TransactionId(id)
    }

    /// The whole message.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The visible attributes in wire order (see the type docs for what is invisible).
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            msg: *self,
            pos: HEADER_LEN,
            tail: 0,
        }
    }

    /// The first visible attribute of type `attr_type`, raw.
    pub fn get_raw(&self, attr_type: AttributeType) -> Option<RawAttribute<'a>> {
        let buf = self.buf;
        // The integrity attributes and FINGERPRINT never occur in the ordinary region (parse
        // closes it at the first of them); the visible ones sit at the offsets parse recorded.
        let tail = match attr_type {
            crate::attributes::MESSAGE_INTEGRITY => Some(self.integrity),
            crate::attributes::MESSAGE_INTEGRITY_SHA256 => Some(self.integrity_sha256),
            crate::attributes::FINGERPRINT => Some(self.fingerprint),
            _ => None,
        };
        if let Some(at) = tail {
            let at = at? as usize;
            let len = usize::from(be16(buf, at + 2));
            let value = buf.get(at + 4..at + 4 + len)?;
            return Some(RawAttribute {
                attr_type,
                value,
                offset: at,
            });
        }
        // One tight walk over the ordinary region, which parse has already validated.
        let end = self.plain_end as usize;
        let mut pos = HEADER_LEN;
        while pos < end {
            let &[t0, t1, l0, l1] = buf.get(pos..pos + 4)? else {
                return None;
            };
            let len = usize::from(u16::from_be_bytes([l0, l1]));
            if u16::from_be_bytes([t0, t1]) == attr_type.0 {
                let value = buf.get(pos + 4..pos + 4 + len)?;
                return Some(RawAttribute {
                    attr_type,
                    value,
                    offset: pos,
                });
            }
            pos += 4 + ((len + 3) & !3);
        }
        None
    }

    /// The first visible attribute of type `A`, decoded. `Ok(None)` when absent.
    pub fn get<A: Attribute<'a>>(&self) -> Result<Option<A>, ParseError> {
        match self.get_raw(A::TYPE) {
            Some(raw) => A::decode(raw.value, &self.transaction_id()).map(Some),
            None => Ok(None),
        }
    }

    /// Whether a visible attribute of this type is present.
    pub fn has(&self, attr_type: AttributeType) -> bool {
        self.get_raw(attr_type).is_some()
    }

    /// Visible comprehension-required attributes that `known` does not recognise, in order:
    /// the list a 420 (Unknown Attribute) response carries in UNKNOWN-ATTRIBUTES.
    pub fn unknown_comprehension_required(
        &self,
        known: impl Fn(AttributeType) -> bool + 'a,
    ) -> impl Iterator<Item = AttributeType> + 'a {
        self.attributes()
            .map(|a| a.attr_type)
            .filter(move |t| t.is_comprehension_required() && !known(*t))
    }

    /// The comprehension-required attributes that `known` does not recognise, each once and at
    /// most [`UnknownList::CAPACITY`]: what a 420 (Unknown Attribute) response lists (RFC 8489
    /// §6.3.1.1). Empty when the request may go on.
    pub fn unknown_attributes(&self, known: impl Fn(AttributeType) -> bool + 'a) -> UnknownList {
        let mut list = UnknownList::new();
        for t in self.unknown_comprehension_required(known) {
            list.push(t);
            if list.len() == UnknownList::CAPACITY {
                break;
            }
        }
        list
    }

    /// Whether the message carries MESSAGE-INTEGRITY.
    pub fn has_integrity(&self) -> bool {
        self.integrity.is_some()
    }

    /// Whether the message carries a visible MESSAGE-INTEGRITY-SHA256.
    pub fn has_integrity_sha256(&self) -> bool {
        self.integrity_sha256.is_some()
    }

    /// Whether the message carries FINGERPRINT.
    pub fn has_fingerprint(&self) -> bool {
        self.fingerprint.is_some()
    }

    /// Checks FINGERPRINT (RFC 8489 §14.7): CRC-32 of everything before it, XOR 0x5354554e.
    pub fn verify_fingerprint(&self) -> Result<(), IntegrityError> {
        let at = self.fingerprint.ok_or(IntegrityError::Absent)? as usize;
        let (Some(covered), Some(&[a, b, c, d])) =
            (self.buf.get(..at), self.buf.get(at + 4..at + 8))
        else {
            return Err(IntegrityError::Absent);
        };
        // FINGERPRINT is last, so the header length already covers it as §14.7 requires.
        let expected = crc32fast::hash(covered) ^ FINGERPRINT_XOR;
        if expected == u32::from_be_bytes([a, b, c, d]) {
            Ok(())
        } else {
            Err(IntegrityError::Mismatch)
        }
    }

    /// Checks MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) in constant time.
    pub fn verify_integrity(&self, key: &Key) -> Result<(), IntegrityError> {
        let at = self.integrity.ok_or(IntegrityError::Absent)? as usize;
        let tag = self
            .buf
            .get(at + 4..at + 24)
            .ok_or(IntegrityError::Absent)?;
        key.verify_sha1(self.covered(at, 20).ok_or(IntegrityError::Absent)?, tag)
    }

    /// Checks MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6, tag possibly truncated) in constant time.
    pub fn verify_integrity_sha256(&self, key: &Key) -> Result<(), IntegrityError> {
        let at = self.integrity_sha256.ok_or(IntegrityError::Absent)? as usize;
        let len = usize::from(be16(self.buf, at + 2));
        let tag = self
            .buf
            .get(at + 4..at + 4 + len)
            .ok_or(IntegrityError::Absent)?;
        key.verify_sha256(self.covered(at, len).ok_or(IntegrityError::Absent)?, tag)
    }

    /// Checks whichever integrity attribute the message carries, preferring
    /// MESSAGE-INTEGRITY-SHA256 when both are present (RFC 8489 §9.1.3 and §9.2.4).
    ///
    /// This accepts a message protected by MESSAGE-INTEGRITY alone. An agent that negotiated
    /// SHA-256 (PASSWORD-ALGORITHMS, or a peer known to send it) must call
    /// [`verify_integrity_sha256`](Self::verify_integrity_sha256) instead: an on-path attacker
    /// can turn MESSAGE-INTEGRITY-SHA256 into an ignored attribute and leave the SHA-1 tag, a
    /// downgrade this method cannot see.
    pub fn verify(&self, key: &Key) -> Result<(), IntegrityError> {
        if self.integrity_sha256.is_some() {
            self.verify_integrity_sha256(key)
        } else {
            self.verify_integrity(key)
        }
    }

    /// The three pieces an integrity attribute at `at` with a `tag_len`-byte value covers: the
    /// first two header bytes, the length field adjusted to end at that attribute, and the
    /// rest of the message up to the attribute.
    fn covered(&self, at: usize, tag_len: usize) -> Option<Covered<'a>> {
        let adjusted = u16::try_from(at + 4 + tag_len - HEADER_LEN).ok()?;
        Some(Covered {
            head: self.buf.get(..2)?,
            length: adjusted.to_be_bytes(),
            rest: self.buf.get(4..at)?,
        })
    }
}

/// The bytes an integrity attribute covers, in three pieces (the length field is rewritten).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Covered<'a> {
    pub(crate) head: &'a [u8],
    pub(crate) length: [u8; 2],
    pub(crate) rest: &'a [u8],
}

/// Iterator over the visible attributes of a [`Message`].
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    msg: Message<'a>,
    pos: usize,
    /// 0: ordinary region; 1: MESSAGE-INTEGRITY; 2: MESSAGE-INTEGRITY-SHA256; 3: FINGERPRINT.
    tail: u8,
}

impl<'a> Attributes<'a> {
    fn raw_at(&self, at: usize) -> Option<RawAttribute<'a>> {
        let buf = self.msg.buf;
        let attr_type = AttributeType(be16(buf, at));
        let len = usize::from(be16(buf, at + 2));
        let value = buf.get(at + 4..at + 4 + len)?;
        Some(RawAttribute {
            attr_type,
            value,
            offset: at,
        })
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = RawAttribute<'a>;

    fn next(&mut self) -> Option<RawAttribute<'a>> {
        if self.tail == 0 {
            if self.pos < self.msg.plain_end as usize {
                let raw = self.raw_at(self.pos)?;
                self.pos += 4 + ((raw.value.len() + 3) & !3);
                return Some(raw);
            }
            self.tail = 1;
        }
        while self.tail <= 3 {
            let at = match self.tail {
                1 => self.msg.integrity,
                2 => self.msg.integrity_sha256,
                _ => self.msg.fingerprint,
            };
            self.tail += 1;
            if let Some(at) = at {
                return self.raw_at(at as usize);
            }
        }
        None
    }
}

/// Whether a datagram looks like STUN, cheaply: at least 20 bytes, the first two bits zero, the
/// magic cookie in place and a length that matches (RFC 7983 demultiplexing plus RFC 8489 §5).
pub fn is_stun(datagram: &[u8]) -> bool {
    match datagram.get(..HEADER_LEN) {
        Some(h) => {
            h[0] & 0xc0 == 0
                && u32::from_be_bytes([h[4], h[5], h[6], h[7]]) == MAGIC_COOKIE
                && usize::from(u16::from_be_bytes([h[2], h[3]])) + HEADER_LEN == datagram.len()
        }
        None => false,
    }
}
