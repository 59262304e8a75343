//! [`MessageWriter`]: encodes one message into a buffer the caller owns, allocating nothing.

use crate::attributes::{
    EncodeAttribute, FINGERPRINT, MESSAGE_INTEGRITY, MESSAGE_INTEGRITY_SHA256, Raw,
};
use crate::error::EncodeError;
use crate::integrity::Key;
use crate::message::{
    AttributeType, Class, FINGERPRINT_XOR, HEADER_LEN, MAGIC_COOKIE, Method, TransactionId,
    message_type,
};

/// Which integrity attribute(s) [`MessageWriter::finish_with_integrity`] appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// MESSAGE-INTEGRITY (HMAC-SHA1), what every RFC 5389 peer understands.
    Sha1,
    /// MESSAGE-INTEGRITY-SHA256 with the full 32-byte tag.
    Sha256,
    /// Both: MESSAGE-INTEGRITY then MESSAGE-INTEGRITY-SHA256 (RFC 8489 §9.2.4 allows it).
    Both,
}

/// Writes one STUN message into a caller buffer.
///
/// MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT can only be appended by the
/// `finish*` methods, which consume the writer: the ordering rule of RFC 8489 §14.5–§14.7 is
/// enforced by the type. Each one is computed over the header with the length field patched to
/// end at that attribute.
///
/// ```
/// use icebreaker_stun::{Class, Message, MessageWriter, Method, TransactionId};
/// use icebreaker_stun::attributes::XorMappedAddress;
///
/// let mut buf = [0u8; 64];
/// let tid = TransactionId::new([7; 12]);
/// let mut w = MessageWriter::new(&mut buf, Class::Success, Method::BINDING, tid)?;
/// w.push(&XorMappedAddress("192.0.2.1:32853".parse().unwrap()))?;
/// let n = w.finish(true)?;
/// let msg = Message::parse(&buf[..n]).unwrap();
/// assert!(msg.verify_fingerprint().is_ok());
/// # Ok::<(), icebreaker_stun::EncodeError>(())
/// ```
#[derive(Debug)]
pub struct MessageWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    tid: TransactionId,
}

impl<'b> MessageWriter<'b> {
    /// Starts a message: writes the 20-byte header.
    pub fn new(
        buf: &'b mut [u8],
        class: Class,
        method: Method,
        tid: TransactionId,
    ) -> Result<Self, EncodeError> {
        let header = buf
            .get_mut(..HEADER_LEN)
            .ok_or(EncodeError::BufferTooSmall { needed: HEADER_LEN })?;
        header[..2].copy_from_slice(&message_type(class, method).to_be_bytes());
        header[2..4].fill(0);
        header[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        header[8..20].copy_from_slice(tid.as_bytes());
        Ok(Self {
            buf,
            len: HEADER_LEN,
            tid,
        })
    }

    /// The transaction id of the message being written.
    pub fn transaction_id(&self) -> TransactionId {
        self.tid
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a message has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Appends an attribute. Integrity and fingerprint attributes are refused here; use the
    /// `finish*` methods.
    pub fn push<A: EncodeAttribute + ?Sized>(&mut self, attr: &A) -> Result<(), EncodeError> {
        let ty = attr.attr_type();
        if matches!(
            ty,
            MESSAGE_INTEGRITY | MESSAGE_INTEGRITY_SHA256 | FINGERPRINT
        ) {
            return Err(EncodeError::InvalidValue { attr: ty });
        }
        let value_len = attr.encoded_len();
        let tid = self.tid;
        let start = self.len;
        let value = self.reserve(ty, value_len)?;
        let encoded = attr.encode(value, &tid);
        if encoded.is_err() {
            // Take the attribute back out: a failed push leaves the message as it was.
            self.len = start;
            self.set_length(start);
        }
        encoded
    }

    /// Appends an attribute from its type and raw value.
    pub fn push_raw(&mut self, attr_type: AttributeType, value: &[u8]) -> Result<(), EncodeError> {
        self.push(&Raw { attr_type, value })
    }

    /// Writes an attribute header, zeroes the padding and returns the value slot.
    fn reserve(&mut self, ty: AttributeType, value_len: usize) -> Result<&mut [u8], EncodeError> {
        let len16 = u16::try_from(value_len).map_err(|_| EncodeError::ValueTooLong { attr: ty })?;
        let padded = (value_len + 3) & !3;
        let start = self.len;
        let end = start + 4 + padded;
        if end - HEADER_LEN > usize::from(u16::MAX) {
            return Err(EncodeError::MessageTooLong);
        }
        let slot = self
            .buf
            .get_mut(start..end)
            .ok_or(EncodeError::BufferTooSmall { needed: end })?;
        slot[..2].copy_from_slice(&ty.0.to_be_bytes());
        slot[2..4].copy_from_slice(&len16.to_be_bytes());
        if padded != value_len {
            // Zero the last word, which holds the padding; the value is written over the rest
            // of it afterwards. (A fixed 4-byte store instead of a variable-length fill.)
            slot[4 + padded - 4..4 + padded].copy_from_slice(&[0; 4]);
        }
        self.len = end;
        self.set_length(end);
        Ok(&mut self.buf[start + 4..start + 4 + value_len])
    }

    fn set_length(&mut self, end: usize) {
        // `end - HEADER_LEN` was checked to fit 16 bits by `reserve`.
        let body = (end - HEADER_LEN) as u16;
        self.buf[2..4].copy_from_slice(&body.to_be_bytes());
    }

    /// Finishes the message, with FINGERPRINT if asked. Returns its length.
    pub fn finish(mut self, fingerprint: bool) -> Result<usize, EncodeError> {
        if fingerprint {
            self.append_fingerprint()?;
        }
        Ok(self.len)
    }

    /// Finishes the message with MESSAGE-INTEGRITY and/or MESSAGE-INTEGRITY-SHA256 computed with
    /// `key`, then FINGERPRINT if asked. Returns its length.
    pub fn finish_with_integrity(
        mut self,
        key: &Key,
        integrity: Integrity,
        fingerprint: bool,
    ) -> Result<usize, EncodeError> {
        if matches!(integrity, Integrity::Sha1 | Integrity::Both) {
            let start = self.len;
            self.reserve(MESSAGE_INTEGRITY, 20)?;
            // The length field now ends at this attribute, as RFC 8489 §14.5 requires.
            let tag = key.sign_sha1(&self.buf[..start]);
            self.buf[start + 4..start + 24].copy_from_slice(&tag);
        }
        if matches!(integrity, Integrity::Sha256 | Integrity::Both) {
            let start = self.len;
            self.reserve(MESSAGE_INTEGRITY_SHA256, 32)?;
            let tag = key.sign_sha256(&self.buf[..start]);
            self.buf[start + 4..start + 36].copy_from_slice(&tag);
        }
        self.finish(fingerprint)
    }

    fn append_fingerprint(&mut self) -> Result<(), EncodeError> {
        let start = self.len;
        self.reserve(FINGERPRINT, 4)?;
        let crc = crc32fast::hash(&self.buf[..start]) ^ FINGERPRINT_XOR;
        self.buf[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
        Ok(())
    }
}
