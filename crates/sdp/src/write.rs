//! The canonical writer: CRLF line endings, the grammar's line order, every field as parsed.
//!
//! For a canonical input (CRLF, grammar order, no leading zeros in numeric fields) the output is
//! the input byte for byte; anything else comes out in that canonical form.

use std::fmt;

use crate::model::{
    AddrType, Attribute, Bandwidth, BandwidthType, Candidate, Connection, Direction, Media,
    MediaType, NetType, RidDirection, SessionDescription, TimeUnit, TypedTime,
};

/// Appends the decimal digits of `v`.
#[inline]
pub(crate) fn push_u64(out: &mut String, v: u64) {
    // The digits from the last, two per division (ten-digit priorities and SSRCs fill browser
    // descriptions), then pushed from the first.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = v;
    let mut put = |start: usize, pair: u64| {
        // `pair` is below 100: its two digits are in the table.
        let pair = PAIRS.get(pair as usize).copied().unwrap_or_default();
        if let Some(slot) = digits.get_mut(start..start + 2) {
            slot.copy_from_slice(&pair);
        }
    };
    while rest >= 100 {
        // A u64 has at most 20 digits, so `start` stays above 0.
        start = start.saturating_sub(2);
        put(start, rest % 100);
        rest /= 100;
    }
    if rest >= 10 {
        start = start.saturating_sub(2);
        put(start, rest);
    } else {
        start = start.saturating_sub(1);
        if let Some(d) = digits.get_mut(start) {
            *d = rest as u8;
        }
    }
    for &d in digits.get(start..).unwrap_or(&[]) {
        // `d` is below 10; the mask shows the compiler that the char is ASCII, one byte long,
        // so the push skips UTF-8 encoding.
        out.push(char::from(b'0' | (d & 0x0f)));
    }
}

/// The two digits (values 0 to 9) of each number below 100.
static PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [(i / 10) as u8, (i % 10) as u8];
        i += 1;
    }
    t
};

fn net_type(out: &mut String, n: NetType<'_>) {
    out.push_str(match n {
        NetType::In => "IN",
        NetType::Other(s) => s,
    });
}

fn addr_type(out: &mut String, a: AddrType<'_>) {
    out.push_str(match a {
        AddrType::Ip4 => "IP4",
        AddrType::Ip6 => "IP6",
        AddrType::Other(s) => s,
    });
}

fn connection(out: &mut String, c: &Connection<'_>) {
    out.push_str("c=");
    net_type(out, c.net_type);
    out.push(' ');
    addr_type(out, c.addr_type);
    out.push(' ');
    out.push_str(c.address);
    if let Some(ttl) = c.ttl {
        out.push('/');
        push_u64(out, u64::from(ttl));
    }
    if let Some(n) = c.count {
        out.push('/');
        push_u64(out, u64::from(n));
    }
    out.push_str("\r\n");
}

fn bandwidth(out: &mut String, b: &Bandwidth<'_>) {
    out.push_str("b=");
    out.push_str(match b.kind {
        BandwidthType::Ct => "CT",
        BandwidthType::As => "AS",
        BandwidthType::Tias => "TIAS",
        BandwidthType::Rr => "RR",
        BandwidthType::Rs => "RS",
        BandwidthType::Other(s) => s,
    });
    out.push(':');
    push_u64(out, b.value);
    out.push_str("\r\n");
}

fn typed_time(out: &mut String, t: TypedTime) {
    if t.negative {
        out.push('-');
    }
    push_u64(out, t.value);
    if let Some(u) = t.unit {
        out.push(match u {
            TimeUnit::Days => 'd',
            TimeUnit::Hours => 'h',
            TimeUnit::Minutes => 'm',
            TimeUnit::Seconds => 's',
        });
    }
}

fn text_line(out: &mut String, prefix: &str, v: &str) {
    out.push_str(prefix);
    out.push_str(v);
    out.push_str("\r\n");
}

/// Writes `d` in canonical form.
pub(crate) fn description(out: &mut String, d: &SessionDescription<'_>) {
    let o = &d.origin;
    out.push_str("v=0\r\no=");
    out.push_str(o.username);
    out.push(' ');
    out.push_str(o.session_id);
    out.push(' ');
    out.push_str(o.session_version);
    out.push(' ');
    net_type(out, o.net_type);
    out.push(' ');
    addr_type(out, o.addr_type);
    out.push(' ');
    out.push_str(o.address);
    out.push_str("\r\n");
    text_line(out, "s=", d.session_name);
    if let Some(i) = d.information {
        text_line(out, "i=", i);
    }
    if let Some(u) = d.uri {
        text_line(out, "u=", u);
    }
    for e in &d.emails {
        text_line(out, "e=", e);
    }
    for p in &d.phones {
        text_line(out, "p=", p);
    }
    if let Some(c) = &d.connection {
        connection(out, c);
    }
    for b in &d.bandwidths {
        bandwidth(out, b);
    }
    for t in &d.timings {
        out.push_str("t=");
        push_u64(out, t.start);
        out.push(' ');
        push_u64(out, t.stop);
        out.push_str("\r\n");
        for r in &t.repeats {
            out.push_str("r=");
            typed_time(out, r.interval);
            out.push(' ');
            typed_time(out, r.duration);
            out.push(' ');
            out.push_str(r.offsets);
            out.push_str("\r\n");
        }
        if let Some(z) = t.zone_adjustments {
            text_line(out, "z=", z.0);
        }
    }
    if let Some(k) = d.key {
        text_line(out, "k=", k);
    }
    for a in &d.attributes {
        attribute::<true>(out, a);
    }
    for l in &d.other_lines {
        out.push_str(l);
        out.push_str("\r\n");
    }
    for m in &d.media {
        media(out, m);
    }
}

/// Writes one media section.
pub(crate) fn media(out: &mut String, m: &Media<'_>) {
    out.push_str("m=");
    out.push_str(match m.kind {
        MediaType::Audio => "audio",
        MediaType::Video => "video",
        MediaType::Text => "text",
        MediaType::Application => "application",
        MediaType::Message => "message",
        MediaType::Image => "image",
        MediaType::Other(s) => s,
    });
    out.push(' ');
    push_u64(out, u64::from(m.port));
    if let Some(n) = m.port_count {
        out.push('/');
        push_u64(out, u64::from(n));
    }
    out.push(' ');
    out.push_str(m.proto);
    // One space before each format, whatever separated them in a leniently parsed line (the
    // check is cheaper than writing the formats one by one, which few lines need).
    let f = m.formats;
    if !f.as_bytes().contains(&b'\t') && !f.contains("  ") {
        out.push(' ');
        out.push_str(f);
    } else {
        for format in m.formats() {
            out.push(' ');
            out.push_str(format);
        }
    }
    out.push_str("\r\n");
    if let Some(i) = m.title {
        text_line(out, "i=", i);
    }
    for c in &m.connections {
        connection(out, c);
    }
    for b in &m.bandwidths {
        bandwidth(out, b);
    }
    if let Some(k) = m.key {
        text_line(out, "k=", k);
    }
    for a in &m.attributes {
        attribute::<true>(out, a);
    }
    for l in &m.other_lines {
        out.push_str(l);
        out.push_str("\r\n");
    }
}

/// The literal `text` that starts an attribute, such as `a=mid:`: with its `a=` for a line of
/// a description (`LINE`), without it for an attribute alone. Each attribute name is one
/// literal with the `a=` before it and the `:` after it, written with one copy.
#[inline(always)]
fn name<const LINE: bool>(out: &mut String, text: &'static str) {
    out.push_str(if LINE {
        text
    } else {
        text.get(2..).unwrap_or("")
    });
}

/// `name` (see [`name`]), then `v`.
#[inline(always)]
fn kv<const LINE: bool>(out: &mut String, name: &'static str, v: &str) {
    self::name::<LINE>(out, name);
    out.push_str(v);
}

fn rid_dir(d: RidDirection) -> &'static str {
    match d {
        RidDirection::Send => "send",
        RidDirection::Recv => "recv",
    }
}

/// Writes an attribute: as a line of a description (`a=...` and CRLF) when `LINE`, else alone.
#[inline(always)]
pub(crate) fn attribute<const LINE: bool>(out: &mut String, a: &Attribute<'_>) {
    match a {
        Attribute::IceUfrag(v) => kv::<LINE>(out, "a=ice-ufrag:", v),
        Attribute::IcePwd(v) => kv::<LINE>(out, "a=ice-pwd:", v),
        Attribute::IceOptions(v) => kv::<LINE>(out, "a=ice-options:", v.0),
        Attribute::IceLite => name::<LINE>(out, "a=ice-lite"),
        Attribute::IceMismatch => name::<LINE>(out, "a=ice-mismatch"),
        Attribute::Candidate(c) => candidate::<LINE>(out, c),
        Attribute::EndOfCandidates => name::<LINE>(out, "a=end-of-candidates"),
        Attribute::RemoteCandidates(v) => kv::<LINE>(out, "a=remote-candidates:", v),
        Attribute::Fingerprint(f) => {
            kv::<LINE>(out, "a=fingerprint:", f.hash_function);
            out.push(' ');
            out.push_str(f.fingerprint);
        }
        Attribute::Setup(s) => kv::<LINE>(out, "a=setup:", s.as_str()),
        Attribute::TlsId(v) => kv::<LINE>(out, "a=tls-id:", v),
        Attribute::Mid(v) => kv::<LINE>(out, "a=mid:", v),
        Attribute::Group(g) => {
            kv::<LINE>(out, "a=group:", g.semantics);
            if !g.mids.is_empty() {
                out.push(' ');
                out.push_str(g.mids);
            }
        }
        Attribute::Msid(m) => {
            kv::<LINE>(out, "a=msid:", m.stream_id);
            if let Some(t) = m.track_id {
                out.push(' ');
                out.push_str(t);
            }
        }
        Attribute::MsidSemantic(m) => {
            name::<LINE>(out, "a=msid-semantic:");
            if m.leading_space {
                out.push(' ');
            }
            out.push_str(m.semantic);
            if !m.ids.is_empty() {
                out.push(' ');
                out.push_str(m.ids);
            }
        }
        Attribute::Extmap(e) => {
            name::<LINE>(out, "a=extmap:");
            push_u64(out, u64::from(e.id));
            if let Some(d) = e.direction {
                out.push('/');
                out.push_str(d.as_str());
            }
            out.push(' ');
            out.push_str(e.uri);
            if let Some(x) = e.attributes {
                out.push(' ');
                out.push_str(x);
            }
        }
        Attribute::ExtmapAllowMixed => name::<LINE>(out, "a=extmap-allow-mixed"),
        Attribute::Rtpmap(r) => {
            name::<LINE>(out, "a=rtpmap:");
            push_u64(out, u64::from(r.payload_type));
            out.push(' ');
            out.push_str(r.encoding_name);
            out.push('/');
            push_u64(out, u64::from(r.clock_rate));
            if let Some(p) = r.encoding_params {
                out.push('/');
                out.push_str(p);
            }
        }
        Attribute::Fmtp(f) => {
            kv::<LINE>(out, "a=fmtp:", f.format);
            out.push(' ');
            out.push_str(f.params);
        }
        Attribute::Rtcp(r) => {
            name::<LINE>(out, "a=rtcp:");
            push_u64(out, u64::from(r.port));
            if let Some((n, a, addr)) = r.address {
                out.push(' ');
                net_type(out, n);
                out.push(' ');
                addr_type(out, a);
                out.push(' ');
                out.push_str(addr);
            }
        }
        Attribute::RtcpMux => name::<LINE>(out, "a=rtcp-mux"),
        Attribute::RtcpMuxOnly => name::<LINE>(out, "a=rtcp-mux-only"),
        Attribute::RtcpRsize => name::<LINE>(out, "a=rtcp-rsize"),
        Attribute::RtcpFb(f) => {
            kv::<LINE>(out, "a=rtcp-fb:", f.payload_type);
            out.push(' ');
            out.push_str(f.feedback);
            if let Some(p) = f.param {
                out.push(' ');
                out.push_str(p);
            }
        }
        Attribute::Ssrc(s) => {
            name::<LINE>(out, "a=ssrc:");
            push_u64(out, u64::from(s.ssrc));
            out.push(' ');
            out.push_str(s.attribute);
            if let Some(v) = s.value {
                out.push(':');
                out.push_str(v);
            }
        }
        Attribute::SsrcGroup(g) => {
            kv::<LINE>(out, "a=ssrc-group:", g.semantics);
            if !g.ssrcs.is_empty() {
                out.push(' ');
                out.push_str(g.ssrcs);
            }
        }
        Attribute::Rid(r) => {
            kv::<LINE>(out, "a=rid:", r.id);
            out.push(' ');
            out.push_str(rid_dir(r.direction));
            if let Some(x) = r.restrictions {
                out.push(' ');
                out.push_str(x);
            }
        }
        Attribute::Simulcast(s) => {
            kv::<LINE>(out, "a=simulcast:", rid_dir(s.first.0));
            out.push(' ');
            out.push_str(s.first.1);
            if let Some((d, l)) = s.second {
                out.push(' ');
                out.push_str(rid_dir(d));
                out.push(' ');
                out.push_str(l);
            }
        }
        Attribute::IcePacing(ms) => {
            name::<LINE>(out, "a=ice-pacing:");
            push_u64(out, u64::from(*ms));
        }
        Attribute::SctpPort(p) => {
            name::<LINE>(out, "a=sctp-port:");
            push_u64(out, u64::from(*p));
        }
        Attribute::MaxMessageSize(n) => {
            name::<LINE>(out, "a=max-message-size:");
            push_u64(out, *n);
        }
        Attribute::Sctpmap(s) => {
            name::<LINE>(out, "a=sctpmap:");
            push_u64(out, u64::from(s.number));
            out.push(' ');
            out.push_str(s.app);
            if let Some(n) = s.streams {
                out.push(' ');
                push_u64(out, u64::from(n));
            }
        }
        Attribute::Direction(d) => name::<LINE>(
            out,
            match d {
                Direction::SendRecv => "a=sendrecv",
                Direction::SendOnly => "a=sendonly",
                Direction::RecvOnly => "a=recvonly",
                Direction::Inactive => "a=inactive",
            },
        ),
        Attribute::BundleOnly => name::<LINE>(out, "a=bundle-only"),
        Attribute::Ptime(v) => kv::<LINE>(out, "a=ptime:", v.0),
        Attribute::Maxptime(v) => kv::<LINE>(out, "a=maxptime:", v.0),
        Attribute::Framerate(v) => kv::<LINE>(out, "a=framerate:", v.0),
        Attribute::Other { name, value } => {
            self::name::<LINE>(out, "a=");
            out.push_str(name);
            if let Some(v) = value {
                out.push(':');
                out.push_str(v);
            }
        }
    }
    if LINE {
        out.push_str("\r\n");
    }
}

/// Writes `candidate:...`.
pub(crate) fn candidate<const LINE: bool>(out: &mut String, c: &Candidate<'_>) {
    kv::<LINE>(out, "a=candidate:", c.foundation);
    out.push(' ');
    push_u64(out, u64::from(c.component));
    out.push(' ');
    out.push_str(c.transport);
    out.push(' ');
    push_u64(out, u64::from(c.priority));
    out.push(' ');
    out.push_str(c.address);
    out.push(' ');
    push_u64(out, u64::from(c.port));
    out.push_str(" typ ");
    out.push_str(c.typ.as_str());
    if let Some(a) = c.related_address {
        out.push_str(" raddr ");
        out.push_str(a);
    }
    if let Some(p) = c.related_port {
        out.push_str(" rport ");
        push_u64(out, u64::from(p));
    }
    if !c.extensions.is_empty() {
        out.push(' ');
        out.push_str(c.extensions);
    }
}

impl SessionDescription<'_> {
    /// Appends the canonical text (CRLF line endings) to `out`. Allocates only if `out` must
    /// grow.
    pub fn write_to(&self, out: &mut String) {
        description(out, self);
    }

    /// An estimate of the written size that covers browser descriptions, for reserving a
    /// buffer in one allocation.
    #[must_use]
    pub fn estimated_len(&self) -> usize {
        // Browser attribute lines average about 35 bytes; candidate lines about 120.
        let weight = |a: &Attribute<'_>| match a {
            Attribute::Candidate(_) => 140,
            _ => 44,
        };
        let attrs: usize = self.attributes.iter().map(weight).sum::<usize>()
            + self
                .media
                .iter()
                .map(|m| 96 + m.attributes.iter().map(weight).sum::<usize>())
                .sum::<usize>();
        128 + attrs
    }
}

impl fmt::Display for SessionDescription<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(self.estimated_len());
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

impl fmt::Display for Media<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        media(&mut s, self);
        f.write_str(&s)
    }
}

impl fmt::Display for Attribute<'_> {
    /// The attribute without `a=` and line ending, such as `mid:0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        attribute::<false>(&mut s, self);
        f.write_str(&s)
    }
}

impl fmt::Display for Candidate<'_> {
    /// `candidate:<foundation> ...`, the form trickle ICE signalling carries.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        candidate::<false>(&mut s, self);
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_numbers_of_every_length() {
        let mut values = vec![0, 9, 10, 99, 100, 101, 999, 1000, u64::MAX];
        let mut p = 1u64;
        while let Some(next) = p.checked_mul(10) {
            values.extend([p - 1, p, p + 7, next - 1]);
            p = next;
        }
        for v in values {
            let mut out = String::from("x");
            push_u64(&mut out, v);
            assert_eq!(out, format!("x{v}"));
        }
    }
}
