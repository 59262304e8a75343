//! Error types. All are small `Copy` values with context; none allocates.

use core::fmt;

use crate::AttributeType;

/// Why a datagram is not a valid STUN message, or why an attribute value is malformed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer bytes than the structure needs.
    Truncated {
        /// Bytes needed.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// The two most significant bits of the first byte are not zero (RFC 8489 §5).
    NotStun,
    /// The magic cookie is not 0x2112A442.
    BadMagicCookie {
        /// The value found.
        found: u32,
    },
    /// The message length field is not a multiple of 4.
    UnalignedLength {
        /// The length field.
        length: usize,
    },
    /// The message length field does not match the datagram.
    LengthMismatch {
        /// Body length the header declares.
        declared: usize,
        /// Body bytes present after the 20-byte header.
        actual: usize,
    },
    /// An attribute (value or padding) runs past the end of the message.
    AttributeOverrun {
        /// Offset of the attribute header in the message.
        at: usize,
        /// Its type.
        attr: AttributeType,
    },
    /// FINGERPRINT is not the last attribute.
    FingerprintNotLast {
        /// Offset of the FINGERPRINT attribute.
        at: usize,
    },
    /// An attribute has a length its type does not allow.
    BadAttributeLength {
        /// The attribute type.
        attr: AttributeType,
        /// The length found.
        length: usize,
    },
    /// An address attribute has an unknown address family.
    BadAddressFamily {
        /// The attribute type.
        attr: AttributeType,
        /// The family byte found.
        family: u8,
    },
    /// A text attribute is longer than its RFC allows.
    TooLong {
        /// The attribute type.
        attr: AttributeType,
        /// Its length in bytes.
        length: usize,
        /// The largest length accepted.
        max: usize,
    },
    /// A text attribute is not valid UTF-8.
    InvalidUtf8 {
        /// The attribute type.
        attr: AttributeType,
    },
    /// ERROR-CODE (or ADDRESS-ERROR-CODE) has a class outside 3..=6 or a number above 99.
    BadErrorCode {
        /// The class found.
        class: u8,
        /// The number found.
        number: u8,
    },
    /// A field holds a value its attribute does not allow.
    BadValue {
        /// The attribute type.
        attr: AttributeType,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { expected, actual } => {
                write!(f, "truncated: need {expected} bytes, have {actual}")
            }
            Self::NotStun => f.write_str("not STUN: the first two bits are not zero"),
            Self::BadMagicCookie { found } => write!(f, "bad magic cookie {found:#010x}"),
            Self::UnalignedLength { length } => {
                write!(f, "message length {length} is not a multiple of 4")
            }
            Self::LengthMismatch { declared, actual } => write!(
                f,
                "message length field says {declared} bytes but {actual} follow the header"
            ),
            Self::AttributeOverrun { at, attr } => {
                write!(
                    f,
                    "attribute {attr} at byte {at} runs past the end of the message"
                )
            }
            Self::FingerprintNotLast { at } => {
                write!(f, "FINGERPRINT at byte {at} is not the last attribute")
            }
            Self::BadAttributeLength { attr, length } => {
                write!(f, "attribute {attr} cannot be {length} bytes long")
            }
            Self::BadAddressFamily { attr, family } => {
                write!(
                    f,
                    "attribute {attr} has unknown address family {family:#04x}"
                )
            }
            Self::TooLong { attr, length, max } => {
                write!(
                    f,
                    "attribute {attr} is {length} bytes, more than the {max} allowed"
                )
            }
            Self::InvalidUtf8 { attr } => write!(f, "attribute {attr} is not valid UTF-8"),
            Self::BadErrorCode { class, number } => {
                write!(
                    f,
                    "error code class {class} number {number} is out of range"
                )
            }
            Self::BadValue { attr } => {
                write!(f, "attribute {attr} holds a value it does not allow")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Why a message could not be written.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The caller's buffer is too small.
    BufferTooSmall {
        /// Bytes the message needs so far.
        needed: usize,
    },
    /// An attribute value does not fit in 16 bits of length, or breaks its type's limit.
    ValueTooLong {
        /// The attribute type.
        attr: AttributeType,
    },
    /// The whole message would exceed the 16-bit length field.
    MessageTooLong,
    /// An attribute value cannot be encoded (for example an error code outside 300..=699).
    InvalidValue {
        /// The attribute type.
        attr: AttributeType,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BufferTooSmall { needed } => write!(f, "buffer too small: {needed} bytes needed"),
            Self::ValueTooLong { attr } => write!(f, "value of attribute {attr} is too long"),
            Self::MessageTooLong => f.write_str("message longer than 65535 bytes"),
            Self::InvalidValue { attr } => write!(f, "value of attribute {attr} cannot be encoded"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why an integrity or fingerprint check failed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrityError {
    /// The message carries no attribute of the kind checked.
    Absent,
    /// The attribute is present but its value is wrong.
    Mismatch,
}

impl fmt::Display for IntegrityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Absent => f.write_str("integrity attribute absent"),
            Self::Mismatch => f.write_str("integrity check failed"),
        }
    }
}

impl std::error::Error for IntegrityError {}

/// Why a credential could not be prepared (RFC 8265 OpaqueString or RFC 4013 SASLprep).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialError {
    /// The string is empty after preparation.
    Empty,
    /// The string holds a character the profile prohibits.
    Prohibited {
        /// Character index (in `char`s) of the first offending character.
        at: usize,
    },
    /// SASLprep rejected the string (prohibited character or bidirectional rule).
    SaslPrep,
    /// A long-term key was asked for with a password algorithm other than MD5 and SHA-256
    /// (the number is the algorithm's).
    UnsupportedAlgorithm(u16),
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("credential is empty"),
            Self::Prohibited { at } => write!(f, "credential has a prohibited character at {at}"),
            Self::SaslPrep => f.write_str("credential rejected by SASLprep"),
            Self::UnsupportedAlgorithm(n) => write!(f, "unsupported password algorithm {n:#06x}"),
        }
    }
}

impl std::error::Error for CredentialError {}
