//! A sans-IO stream framer: splits a TCP or TLS byte stream into STUN messages and ChannelData
//! frames (RFC 8489 §6.2.2, RFC 8656 §12.5).
//!
//! Over a stream, a STUN message is delimited by the length in its header, and a ChannelData
//! frame by its length field, padded up to a multiple of 4 bytes. The first two bits of a frame
//! tell the two apart (RFC 7983): `0b00` is STUN, `0b01` is ChannelData; anything else means the
//! stream has lost framing and the caller must close the connection.
//!
//! [`StreamFramer`] keeps the bytes of at most one partial frame plus whatever the caller pushed
//! and has not drained, never more than [`FramerConfig::max_buffered`]. Frames are returned as
//! views into its buffer (no copy beyond the one `push` makes); [`split_frame`] does the same on a
//! buffer the caller owns, with no copy at all.
//!
//! ```
//! use icebreaker_stun::framing::{Frame, FramerConfig, StreamFramer};
//!
//! let mut framer = StreamFramer::new(FramerConfig::default());
//! // A ChannelData frame for channel 0x4000 carrying "hi", padded to 4 bytes, split in two reads.
//! framer.push(&[0x40, 0x00, 0x00]).unwrap();
//! assert!(framer.next_frame().unwrap().is_none());
//! framer.push(&[0x02, b'h', b'i', 0, 0]).unwrap();
//! match framer.next_frame().unwrap() {
//!     Some(Frame::ChannelData { channel, data, .. }) => assert_eq!((channel, data), (0x4000, &b"hi"[..])),
//!     other => panic!("{other:?}"),
//! }
//! ```

use core::fmt;

use crate::channel_data::CHANNEL_RANGE;
use crate::message::{HEADER_LEN, MAGIC_COOKIE};

/// The largest frame the wire format can express: a STUN message of 20 + 65 532 bytes (65 552,
/// the larger), or a ChannelData frame of 4 + 65 535 bytes padded to 65 540.
pub const MAX_WIRE_FRAME: usize = HEADER_LEN + 65_532;

/// Limits of a [`StreamFramer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramerConfig {
    /// Largest frame accepted (header and padding included); a longer frame is
    /// [`FramingError::FrameTooLarge`]. Default: [`MAX_WIRE_FRAME`].
    pub max_frame: usize,
    /// Most bytes held at once (undrained frames plus the partial one); pushing more is
    /// [`FramingError::BufferFull`]. Default: 2 × [`MAX_WIRE_FRAME`].
    pub max_buffered: usize,
}

impl Default for FramerConfig {
    fn default() -> Self {
        Self {
            max_frame: MAX_WIRE_FRAME,
            max_buffered: 2 * MAX_WIRE_FRAME,
        }
    }
}

/// Why a stream cannot be framed. Every variant is fatal for the connection: the caller closes it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingError {
    /// The first bits are neither STUN (`0b00`) nor ChannelData (`0b01`), or a STUN header has
    /// a bad magic cookie or an unaligned length: the stream lost framing.
    NotAFrame {
        /// The first byte of the would-be frame.
        first_byte: u8,
    },
    /// A ChannelData frame names a channel outside 0x4000..=0x4FFF (RFC 8656 §12).
    BadChannel {
        /// The channel number found.
        channel: u16,
    },
    /// A frame is longer than [`FramerConfig::max_frame`].
    FrameTooLarge {
        /// The frame length the header declares (with padding).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Pushing would hold more than [`FramerConfig::max_buffered`] bytes.
    BufferFull {
        /// Bytes that would be held.
        buffered: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotAFrame { first_byte } => {
                write!(
                    f,
                    "stream lost framing: byte {first_byte:#04x} starts neither STUN nor ChannelData"
                )
            }
            Self::BadChannel { channel } => {
                write!(f, "channel number {channel:#06x} is outside 0x4000-0x4fff")
            }
            Self::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the {max}-byte limit")
            }
            Self::BufferFull { buffered, max } => {
                write!(
                    f,
                    "{buffered} bytes buffered would exceed the {max}-byte limit"
                )
            }
        }
    }
}

impl std::error::Error for FramingError {}

/// One frame, borrowed from the buffer it was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete STUN message (header and attributes, as sent); parse it with
    /// [`Message::parse`](crate::Message::parse).
    Stun(&'a [u8]),
    /// A ChannelData frame.
    ChannelData {
        /// The channel number.
        channel: u16,
        /// The application data, without the padding.
        data: &'a [u8],
        /// The whole frame as sent: header, data and padding. Feed this to a TURN
        /// `handle_receive`, which accepts ChannelData with stream padding.
        raw: &'a [u8],
    },
}

impl<'a> Frame<'a> {
    /// The whole frame as it was on the stream (with padding for ChannelData).
    pub fn as_bytes(&self) -> &'a [u8] {
        match *self {
            Self::Stun(b) => b,
            Self::ChannelData { raw, .. } => raw,
        }
    }
}

/// The length of the frame at the start of `buf` (padding included), from its header alone:
/// `Ok(None)` when fewer than the bytes needed to know (4 for ChannelData, 8 for STUN) are there.
pub fn frame_len(buf: &[u8], max_frame: usize) -> Result<Option<usize>, FramingError> {
    let Some(&[b0, b1, l0, l1]) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    let total = match b0 >> 6 {
        0b00 => {
            let Some(&[_, _, _, _, c0, c1, c2, c3]) = buf.first_chunk::<8>() else {
                return Ok(None);
            };
            if u32::from_be_bytes([c0, c1, c2, c3]) != MAGIC_COOKIE || !len.is_multiple_of(4) {
                return Err(FramingError::NotAFrame { first_byte: b0 });
            }
            HEADER_LEN + len
        }
        0b01 => {
            let channel = u16::from_be_bytes([b0, b1]);
            if !CHANNEL_RANGE.contains(&channel) {
                return Err(FramingError::BadChannel { channel });
            }
            // RFC 8656 §12.5: over TCP and TLS, ChannelData is padded to a multiple of 4 bytes.
            4 + ((len + 3) & !3)
        }
        _ => return Err(FramingError::NotAFrame { first_byte: b0 }),
    };
    if total > max_frame {
        return Err(FramingError::FrameTooLarge {
            len: total,
            max: max_frame,
        });
    }
    Ok(Some(total))
}

/// Splits the first frame off a buffer the caller owns, without copying: the frame and the
/// number of bytes it took, or `Ok(None)` when the buffer holds only part of a frame.
pub fn split_frame(
    buf: &[u8],
    max_frame: usize,
) -> Result<Option<(Frame<'_>, usize)>, FramingError> {
    let Some(total) = frame_len(buf, max_frame)? else {
        return Ok(None);
    };
    let Some(raw) = buf.get(..total) else {
        return Ok(None);
    };
    Ok(Some((view(raw), total)))
}

/// The frame view of `raw`, which `frame_len` has measured.
fn view(raw: &[u8]) -> Frame<'_> {
    match raw {
        [b0, b1, l0, l1, rest @ ..] if b0 >> 6 == 0b01 => {
            let len = usize::from(u16::from_be_bytes([*l0, *l1]));
            Frame::ChannelData {
                channel: u16::from_be_bytes([*b0, *b1]),
                data: rest.get(..len).unwrap_or_default(),
                raw,
            }
        }
        _ => Frame::Stun(raw),
    }
}

/// Splits a byte stream into frames, holding a bounded amount of it.
///
/// Call [`push`](Self::push) with what the socket produced, then [`next_frame`](Self::next_frame)
/// until it returns `Ok(None)`. After any error the stream is unusable: close the connection.
#[derive(Debug, Clone)]
pub struct StreamFramer {
    config: FramerConfig,
    buf: Vec<u8>,
    /// Start of the bytes not yet returned as frames.
    start: usize,
    failed: Option<FramingError>,
}

impl StreamFramer {
    /// An empty framer.
    pub fn new(config: FramerConfig) -> Self {
        Self {
            config,
            buf: Vec::new(),
            start: 0,
            failed: None,
        }
    }

    /// Bytes held and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends bytes read from the stream. Fails when the framer would hold more than
    /// [`FramerConfig::max_buffered`] bytes, or after an earlier error.
    pub fn push(&mut self, data: &[u8]) -> Result<(), FramingError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        // Drop the frames already returned before growing the buffer.
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let buffered = self.buf.len().saturating_add(data.len());
        if buffered > self.config.max_buffered {
            let e = FramingError::BufferFull {
                buffered,
                max: self.config.max_buffered,
            };
            self.failed = Some(e);
            return Err(e);
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The next complete frame, borrowed from the framer until the next call; `Ok(None)` when
    /// more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, FramingError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let rest = self.buf.get(self.start..).unwrap_or_default();
        let total = match frame_len(rest, self.config.max_frame) {
            Ok(Some(total)) if total <= rest.len() => total,
            Ok(_) => return Ok(None),
            Err(e) => {
                self.failed = Some(e);
                return Err(e);
            }
        };
        let begin = self.start;
        self.start += total;
        Ok(self.buf.get(begin..begin + total).map(view))
    }
}

/// Fuzz entry point: frames `data` in one push and again in chunks whose sizes are drawn from
/// `data` itself; both must give the same frames and the same error. Panics on a mismatch.
#[doc(hidden)]
pub fn fuzz_framer(data: &[u8]) {
    let config = FramerConfig {
        max_frame: MAX_WIRE_FRAME,
        max_buffered: 1 << 20,
    };
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let whole = collect(config, stream, &[stream.len().max(1)]);
    let sizes: Vec<usize> = stream
        .iter()
        .map(|b| usize::from(b.wrapping_add(seed) % 17) + 1)
        .collect();
    let chunked = collect(config, stream, &sizes);
    assert_eq!(whole, chunked, "chunking changed the frames");
    // The caller-owned splitter agrees too.
    let mut at = 0;
    let mut frames = Vec::new();
    let mut err = None;
    loop {
        match split_frame(stream.get(at..).unwrap_or_default(), config.max_frame) {
            Ok(Some((f, n))) => {
                frames.push(f.as_bytes().to_vec());
                at += n;
            }
            Ok(None) => break,
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert_eq!(
        whole,
        (frames, err),
        "split_frame disagrees with StreamFramer"
    );
}

type Collected = (Vec<Vec<u8>>, Option<FramingError>);

fn collect(config: FramerConfig, stream: &[u8], sizes: &[usize]) -> Collected {
    let mut framer = StreamFramer::new(config);
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes
            .get(i % sizes.len().max(1))
            .copied()
            .unwrap_or(1)
            .clamp(1, rest.len());
        i += 1;
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        if let Err(e) = framer.push(chunk) {
            return (frames, Some(e));
        }
        loop {
            match framer.next_frame() {
                Ok(Some(f)) => frames.push(f.as_bytes().to_vec()),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChannelData, Class, MessageWriter, Method, TransactionId};
    use proptest::prelude::*;

    fn stun(tid: u8, attrs: usize) -> Vec<u8> {
        let mut buf = vec![0u8; 512];
        let mut w = MessageWriter::new(
            &mut buf,
            Class::Request,
            Method::BINDING,
            TransactionId::new([tid; 12]),
        )
        .unwrap();
        for _ in 0..attrs {
            w.push(&crate::attributes::Software("x")).unwrap();
        }
        let n = w.finish(true).unwrap();
        buf.truncate(n);
        buf
    }

    fn channel(ch: u16, data: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; data.len() + 8];
        let n = ChannelData::encode(ch, data, true, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn parse_mixed_stream_byte_by_byte() {
        let frames = [
            stun(1, 0),
            channel(0x4000, b"hello"),
            stun(2, 3),
            channel(0x4fff, b""),
            channel(0x4001, b"abcd"),
        ];
        let stream: Vec<u8> = frames.concat();
        let mut framer = StreamFramer::new(FramerConfig::default());
        let mut got = Vec::new();
        for b in &stream {
            framer.push(&[*b]).unwrap();
            while let Some(f) = framer.next_frame().unwrap() {
                got.push(f.as_bytes().to_vec());
            }
        }
        assert_eq!(got, frames);
        assert_eq!(framer.buffered(), 0);
    }

    /// The largest STUN message (a body of 65 532 bytes) and the largest padded ChannelData
    /// frame both fit the default limit.
    #[test]
    fn the_largest_frames_fit_the_default_limit() {
        let mut stun = vec![0u8; HEADER_LEN + 65_532];
        stun[2..4].copy_from_slice(&65_532u16.to_be_bytes());
        stun[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        stun[20..24].copy_from_slice(&[0x80, 0x22, 0xff, 0xf8]);
        let (f, n) = split_frame(&stun, MAX_WIRE_FRAME).unwrap().unwrap();
        assert_eq!((n, f.as_bytes().len()), (65_552, 65_552));
        let data = vec![7u8; 65_535];
        let raw = channel(0x4000, &data);
        assert_eq!(raw.len(), 65_540);
        let (_, n) = split_frame(&raw, MAX_WIRE_FRAME).unwrap().unwrap();
        assert_eq!(n, 65_540);
        let mut framer = StreamFramer::new(FramerConfig::default());
        framer.push(&stun).unwrap();
        assert_eq!(
            framer.next_frame().unwrap().map(|f| f.as_bytes().len()),
            Some(65_552)
        );
    }

    #[test]
    fn parse_channel_data_strips_padding() {
        let raw = channel(0x4abc, b"xyz");
        assert_eq!(raw.len(), 8);
        let (f, n) = split_frame(&raw, MAX_WIRE_FRAME).unwrap().unwrap();
        assert_eq!(n, 8);
        assert_eq!(
            f,
            Frame::ChannelData {
                channel: 0x4abc,
                data: b"xyz",
                raw: &raw
            }
        );
        // The TURN datagram parser accepts the padded frame.
        assert_eq!(ChannelData::parse(f.as_bytes()).unwrap().data(), b"xyz");
    }

    #[test]
    fn lost_framing_is_an_error() {
        let mut framer = StreamFramer::new(FramerConfig::default());
        framer.push(&[0x80, 0, 0, 0]).unwrap();
        assert_eq!(
            framer.next_frame(),
            Err(FramingError::NotAFrame { first_byte: 0x80 })
        );
        // And it stays failed.
        assert!(framer.push(&[0]).is_err());
        assert_eq!(
            split_frame(&[0x50, 0, 0, 0], 100),
            Err(FramingError::BadChannel { channel: 0x5000 })
        );
        let mut bad_cookie = stun(1, 0);
        bad_cookie[4] = 0;
        assert!(matches!(
            split_frame(&bad_cookie, 100),
            Err(FramingError::NotAFrame { .. })
        ));
    }

    #[test]
    fn limits_are_enforced() {
        let config = FramerConfig {
            max_frame: 64,
            max_buffered: 100,
        };
        let mut framer = StreamFramer::new(config);
        framer.push(&[0x40, 0x00, 0x00, 0x80]).unwrap();
        assert_eq!(
            framer.next_frame(),
            Err(FramingError::FrameTooLarge { len: 132, max: 64 })
        );
        let mut framer = StreamFramer::new(config);
        framer.push(&[0x40; 60]).unwrap();
        assert_eq!(
            framer.push(&[0; 41]),
            Err(FramingError::BufferFull {
                buffered: 101,
                max: 100
            })
        );
    }

    #[test]
    fn drained_frames_free_their_space() {
        let config = FramerConfig {
            max_frame: 64,
            max_buffered: 16,
        };
        let mut framer = StreamFramer::new(config);
        for _ in 0..100 {
            framer.push(&channel(0x4000, b"12345678")).unwrap();
            assert!(framer.next_frame().unwrap().is_some());
        }
    }

    fn arb_frame() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (any::<u8>(), 0usize..5).prop_map(|(t, n)| stun(t, n)),
            (
                0x4000u16..=0x4fff,
                proptest::collection::vec(any::<u8>(), 0..40)
            )
                .prop_map(|(c, d)| channel(c, &d)),
        ]
    }

    proptest! {
        #[test]
        fn any_chunking_yields_the_same_frames(
            frames in proptest::collection::vec(arb_frame(), 0..12),
            cuts in proptest::collection::vec(1usize..50, 1..20),
        ) {
            let stream: Vec<u8> = frames.concat();
            let (got, err) = collect(FramerConfig::default(), &stream, &cuts);
            prop_assert_eq!(err, None);
            prop_assert_eq!(got, frames);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            fuzz_framer(&data);
        }
    }
}
