//! Errors and warnings, each with a 1-based line and column.

use std::fmt;

#[cfg(feature = "serde")]
use serde::Serialize;

/// Why a description was refused. Returned with the position in [`Error`].
#[cfg_attr(feature = "serde", derive(Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is not UTF-8 (from [`parse_bytes`](crate::parse_bytes)).
    NotUtf8,
    /// The input is larger than [`Limits::max_size`](crate::Limits::max_size).
    TooLarge {
        /// Input size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// More lines than [`Limits::max_lines`](crate::Limits::max_lines).
    TooManyLines {
        /// The limit.
        limit: usize,
    },
    /// A line longer than [`Limits::max_line_length`](crate::Limits::max_line_length).
    LineTooLong {
        /// The limit.
        limit: usize,
    },
    /// More `m=` sections than [`Limits::max_media`](crate::Limits::max_media).
    TooManyMedia {
        /// The limit.
        limit: usize,
    },
    /// More attributes in one section than [`Limits::max_attributes`](crate::Limits::max_attributes).
    TooManyAttributes {
        /// The limit.
        limit: usize,
    },
    /// The input holds no line.
    Empty,
    /// The first line is not `v=`.
    MissingVersion,
    /// `v=` is not `v=0`.
    BadVersion,
    /// A required line is missing (`o=`, `s=` or `t=`; or `c=`, at the `m=` line of a media
    /// section with a port that has none when the session has none either, RFC 8866 §5.7).
    MissingLine(char),
    /// A line that may appear once appears twice.
    DuplicateLine(char),
    /// A line appears where the grammar's order does not allow it (strict mode).
    OutOfOrder(char),
    /// A `z=` line with no `r=` line before it in its time description (RFC 8866 §9:
    /// `repeat-description = 1*repeat-field [zone-field]`; strict mode).
    ZoneWithoutRepeat,
    /// A line type that RFC 8866 does not define (strict mode).
    UnknownLineType(char),
    /// A line does not start with a letter and `=`.
    NotATypeLine,
    /// A CR, LF or NUL inside a line (RFC 8866 §9: text is any byte but NUL, CR and LF).
    ControlCharacter,
    /// An `m=` line without a port.
    MissingPort,
    /// An RTP payload type outside 0..=127.
    PayloadTypeOutOfRange,
    /// A candidate foundation longer than 32 characters (RFC 8839 §5.1).
    FoundationTooLong,
    /// An `ice-ufrag` shorter than 4 or longer than 256 characters (RFC 8839 §5.4).
    BadUfragLength,
    /// An `ice-pwd` shorter than 22 or longer than 256 characters (RFC 8839 §5.4).
    BadPwdLength,
    /// A number does not fit its field.
    NumberOutOfRange,
    /// The text does not match the grammar; `expected` names what was expected there.
    Syntax {
        /// What the grammar expected at the column.
        expected: &'static str,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotUtf8 => f.write_str("input is not valid UTF-8"),
            Self::TooLarge { size, limit } => {
                write!(f, "input is {size} bytes, over the limit of {limit}")
            }
            Self::TooManyLines { limit } => write!(f, "more than {limit} lines"),
            Self::LineTooLong { limit } => write!(f, "line longer than {limit} bytes"),
            Self::TooManyMedia { limit } => write!(f, "more than {limit} media sections"),
            Self::TooManyAttributes { limit } => {
                write!(f, "more than {limit} attributes in one section")
            }
            Self::Empty => f.write_str("empty description"),
            Self::MissingVersion => f.write_str("the first line must be v=0"),
            Self::BadVersion => f.write_str("unsupported version, expected v=0"),
            Self::MissingLine(c) => write!(f, "missing required {c}= line"),
            Self::DuplicateLine(c) => write!(f, "duplicate {c}= line"),
            Self::OutOfOrder(c) => write!(f, "{c}= line out of order"),
            Self::ZoneWithoutRepeat => {
                f.write_str("z= line without an r= line before it in its time description")
            }
            Self::UnknownLineType(c) => write!(f, "unknown line type {c}="),
            Self::NotATypeLine => f.write_str("expected <type>=<value>"),
            Self::ControlCharacter => f.write_str("CR, LF or NUL inside a line"),
            Self::MissingPort => f.write_str("m= line without a port"),
            Self::PayloadTypeOutOfRange => f.write_str("payload type out of range 0-127"),
            Self::FoundationTooLong => {
                f.write_str("candidate foundation longer than 32 characters")
            }
            Self::BadUfragLength => f.write_str("ice-ufrag must be 4 to 256 ice-chars"),
            Self::BadPwdLength => f.write_str("ice-pwd must be 22 to 256 ice-chars"),
            Self::NumberOutOfRange => f.write_str("number out of range"),
            Self::Syntax { expected } => write!(f, "expected {expected}"),
        }
    }
}

/// A refused description: where and why.
///
/// `Display` prints `LINE:COLUMN: reason`; [`Error::offending_line`] returns the line itself from
/// the input, for showing under the message.
#[cfg_attr(feature = "serde", derive(Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    /// 1-based line number (0 for whole-input errors such as [`ErrorKind::TooLarge`]).
    pub line: usize,
    /// 1-based byte column within the line (0 for whole-input errors).
    pub column: usize,
    /// The reason.
    pub kind: ErrorKind,
    /// Byte range of the offending line in the input (without its line ending).
    pub span: (usize, usize),
}

impl Error {
    pub(crate) const fn whole(kind: ErrorKind) -> Self {
        Self {
            line: 0,
            column: 0,
            kind,
            span: (0, 0),
        }
    }

    /// The offending line, taken from the input that was parsed.
    #[must_use]
    pub fn offending_line<'a>(&self, input: &'a str) -> Option<&'a str> {
        input.get(self.span.0..self.span.1)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.kind)
    }
}

impl std::error::Error for Error {}

/// A deviation that lenient mode accepted (strict mode refuses it with the same kind).
#[cfg_attr(feature = "serde", derive(Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line number.
    pub line: usize,
    /// 1-based byte column.
    pub column: usize,
    /// What was wrong.
    pub kind: WarningKind,
}

/// What lenient mode tolerated.
#[cfg_attr(feature = "serde", derive(Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// A line of unknown type, kept in `other_lines`.
    UnknownLineType(char),
    /// A line out of the grammar's order.
    OutOfOrder(char),
    /// A `z=` line with no `r=` line before it (the RFC 4566 form), kept with the last `t=`.
    ZoneWithoutRepeat,
    /// An empty line, skipped.
    EmptyLine,
    /// Trailing whitespace on a line, removed.
    TrailingWhitespace,
    /// More than one space (or a tab) between two fields of an `o=`, `m=`, `c=` or `t=` line;
    /// the column is where the extra whitespace starts.
    ExtraWhitespace,
    /// A required line is missing: `s=` or `t=` (a default was used), or `c=` (at the `m=`
    /// line of a section without one, in a session without one).
    MissingLine(char),
    /// A known attribute whose value does not match its grammar, kept verbatim as
    /// `Attribute::Other`.
    InvalidAttribute(ErrorKind),
    /// A `u=`, `e=`, `p=` or `k=` value that does not match its grammar (RFC 8866 §9), or an
    /// empty `s=`: the line type and why. The value is kept verbatim in its field; the column
    /// is where the grammar broke.
    InvalidField(char, ErrorKind),
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownLineType(c) => write!(f, "unknown line type {c}= kept verbatim"),
            Self::OutOfOrder(c) => write!(f, "{c}= line out of order"),
            Self::ZoneWithoutRepeat => {
                f.write_str("z= line without an r= line before it, kept with the last t=")
            }
            Self::EmptyLine => f.write_str("empty line skipped"),
            Self::TrailingWhitespace => f.write_str("trailing whitespace removed"),
            Self::ExtraWhitespace => f.write_str("extra whitespace between fields"),
            Self::MissingLine('c') => {
                f.write_str("media section without a c= line, and none for the session")
            }
            Self::MissingLine(c) => write!(f, "missing {c}= line, default used"),
            Self::InvalidAttribute(k) => write!(f, "attribute kept verbatim: {k}"),
            Self::InvalidField(c, k) => write!(f, "{c}= value kept verbatim: {k}"),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.kind)
    }
}
