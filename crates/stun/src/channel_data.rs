//! TURN ChannelData messages (RFC 8656 §12.4): a 4-byte header, then application data.

use crate::error::{EncodeError, ParseError};

/// The range of valid channel numbers (RFC 8656 §12).
pub const CHANNEL_RANGE: core::ops::RangeInclusive<u16> = 0x4000..=0x4fff;

/// A zero-copy view of one ChannelData message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelData<'a> {
    channel: u16,
    data: &'a [u8],
}

impl<'a> ChannelData<'a> {
    /// Parses a ChannelData message from a datagram. Over UDP the datagram may carry up to three
    /// bytes of padding after the data; anything else after the data is an error.
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        let (&[c0, c1, l0, l1], rest) =
            buf.split_first_chunk::<4>().ok_or(ParseError::Truncated {
                expected: 4,
                actual: buf.len(),
            })?;
        let channel = u16::from_be_bytes([c0, c1]);
        // RFC 7983: ChannelData starts with 0b01; numbers outside 0x4000..=0x4FFF are not
        // channels this side can have bound.
        if !CHANNEL_RANGE.contains(&channel) {
            return Err(ParseError::NotStun);
        }
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let data = rest.get(..len).ok_or(ParseError::Truncated {
            expected: 4 + len,
            actual: buf.len(),
        })?;
        let padded = (len + 3) & !3;
        if rest.len() > padded {
            return Err(ParseError::LengthMismatch {
                declared: len,
                actual: rest.len(),
            });
        }
        Ok(Self { channel, data })
    }

    /// Reads one ChannelData frame from the start of a byte stream (where frames are always
    /// padded to 4 bytes): returns the frame and the number of bytes it took, or `Ok(None)`
    /// when more bytes are needed.
    pub fn parse_stream(buf: &'a [u8]) -> Result<Option<(Self, usize)>, ParseError> {
        let Some(&[c0, c1, l0, l1]) = buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let channel = u16::from_be_bytes([c0, c1]);
        if !CHANNEL_RANGE.contains(&channel) {
            return Err(ParseError::NotStun);
        }
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let total = 4 + ((len + 3) & !3);
        match (buf.get(4..4 + len), buf.len() >= total) {
            (Some(data), true) => Ok(Some((Self { channel, data }, total))),
            _ => Ok(None),
        }
    }

    /// The channel number.
    pub fn channel(&self) -> u16 {
        self.channel
    }

    /// The application data, borrowed from the datagram.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Writes a ChannelData message into `out`; `pad` adds the zero padding that stream
    /// transports require. Returns the number of bytes written.
    pub fn encode(
        channel: u16,
        data: &[u8],
        pad: bool,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let len = u16::try_from(data.len()).map_err(|_| EncodeError::MessageTooLong)?;
        let total = if pad {
            4 + ((data.len() + 3) & !3)
        } else {
            4 + data.len()
        };
        let slot = out
            .get_mut(..total)
            .ok_or(EncodeError::BufferTooSmall { needed: total })?;
        slot[..2].copy_from_slice(&channel.to_be_bytes());
        slot[2..4].copy_from_slice(&len.to_be_bytes());
        slot[4..4 + data.len()].copy_from_slice(data);
        slot[4 + data.len()..].fill(0);
        Ok(total)
    }

    /// Writes the 4-byte header for `len` bytes of data that the caller places right after it
    /// (for relays that receive straight into `out[4..]`).
    pub fn encode_header(channel: u16, len: usize, out: &mut [u8; 4]) -> Result<(), EncodeError> {
        let len = u16::try_from(len).map_err(|_| EncodeError::MessageTooLong)?;
        out[..2].copy_from_slice(&channel.to_be_bytes());
        out[2..].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }
}
