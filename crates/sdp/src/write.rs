//! The canonical writer: CRLF line endings, the grammar's line order, every field as parsed.
//!
//! For a canonical input (CRLF, grammar order, no leading zeros in numeric fields) the output is
//! the input byte for byte; anything else comes out in that canonical form.

use std::fmt;

use crate::model::{
    AddrType, Attribute, Bandwidth, BandwidthType, Candidate, Connection, Media, MediaType,
    NetType, RidDirection, SessionDescription, TimeUnit, TypedTime,
};

/// Appends the decimal digits of `v`.
pub(crate) fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        // `v % 10` is below 10, so the cast and the addition cannot overflow.
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    for &b in buf.get(i..).unwrap_or(&[]) {
        out.push(char::from(b));
    }
}

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
    }
    if let Some(z) = d.zone_adjustments {
        text_line(out, "z=", z.0);
    }
    if let Some(k) = d.key {
        text_line(out, "k=", k);
    }
    for a in &d.attributes {
        attribute_line(out, a);
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
    out.push(' ');
    out.push_str(m.formats);
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
        attribute_line(out, a);
    }
    for l in &m.other_lines {
        out.push_str(l);
        out.push_str("\r\n");
    }
}

fn attribute_line(out: &mut String, a: &Attribute<'_>) {
    out.push_str("a=");
    attribute(out, a);
    out.push_str("\r\n");
}

fn kv(out: &mut String, name: &str, v: &str) {
    out.push_str(name);
    out.push(':');
    out.push_str(v);
}

fn rid_dir(d: RidDirection) -> &'static str {
    match d {
        RidDirection::Send => "send",
        RidDirection::Recv => "recv",
    }
}

/// Writes an attribute without `a=` and line ending.
#[allow(clippy::too_many_lines)]
pub(crate) fn attribute(out: &mut String, a: &Attribute<'_>) {
    match a {
        Attribute::IceUfrag(v) => kv(out, "ice-ufrag", v),
        Attribute::IcePwd(v) => kv(out, "ice-pwd", v),
        Attribute::IceOptions(v) => kv(out, "ice-options", v.0),
        Attribute::IceLite => out.push_str("ice-lite"),
        Attribute::IceMismatch => out.push_str("ice-mismatch"),
        Attribute::Candidate(c) => candidate(out, c),
        Attribute::EndOfCandidates => out.push_str("end-of-candidates"),
        Attribute::RemoteCandidates(v) => kv(out, "remote-candidates", v),
        Attribute::Fingerprint(f) => {
            kv(out, "fingerprint", f.hash_function);
            out.push(' ');
            out.push_str(f.fingerprint);
        }
        Attribute::Setup(s) => kv(out, "setup", s.as_str()),
        Attribute::TlsId(v) => kv(out, "tls-id", v),
        Attribute::Mid(v) => kv(out, "mid", v),
        Attribute::Group(g) => {
            kv(out, "group", g.semantics);
            if !g.mids.is_empty() {
                out.push(' ');
                out.push_str(g.mids);
            }
        }
        Attribute::Msid(m) => {
            kv(out, "msid", m.stream_id);
            if let Some(t) = m.track_id {
                out.push(' ');
                out.push_str(t);
            }
        }
        Attribute::MsidSemantic(m) => {
            out.push_str("msid-semantic:");
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
            out.push_str("extmap:");
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
        Attribute::ExtmapAllowMixed => out.push_str("extmap-allow-mixed"),
        Attribute::Rtpmap(r) => {
            out.push_str("rtpmap:");
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
            kv(out, "fmtp", f.format);
            out.push(' ');
            out.push_str(f.params);
        }
        Attribute::Rtcp(r) => {
            out.push_str("rtcp:");
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
        Attribute::RtcpMux => out.push_str("rtcp-mux"),
        Attribute::RtcpMuxOnly => out.push_str("rtcp-mux-only"),
        Attribute::RtcpRsize => out.push_str("rtcp-rsize"),
        Attribute::RtcpFb(f) => {
            kv(out, "rtcp-fb", f.payload_type);
            out.push(' ');
            out.push_str(f.feedback);
            if let Some(p) = f.param {
                out.push(' ');
                out.push_str(p);
            }
        }
        Attribute::Ssrc(s) => {
            out.push_str("ssrc:");
            push_u64(out, u64::from(s.ssrc));
            out.push(' ');
            out.push_str(s.attribute);
            if let Some(v) = s.value {
                out.push(':');
                out.push_str(v);
            }
        }
        Attribute::SsrcGroup(g) => {
            kv(out, "ssrc-group", g.semantics);
            if !g.ssrcs.is_empty() {
                out.push(' ');
                out.push_str(g.ssrcs);
            }
        }
        Attribute::Rid(r) => {
            kv(out, "rid", r.id);
            out.push(' ');
            out.push_str(rid_dir(r.direction));
            if let Some(x) = r.restrictions {
                out.push(' ');
                out.push_str(x);
            }
        }
        Attribute::Simulcast(s) => {
            kv(out, "simulcast", rid_dir(s.first.0));
            out.push(' ');
            out.push_str(s.first.1);
            if let Some((d, l)) = s.second {
                out.push(' ');
                out.push_str(rid_dir(d));
                out.push(' ');
                out.push_str(l);
            }
        }
        Attribute::SctpPort(p) => {
            out.push_str("sctp-port:");
            push_u64(out, u64::from(*p));
        }
        Attribute::MaxMessageSize(n) => {
            out.push_str("max-message-size:");
            push_u64(out, *n);
        }
        Attribute::Sctpmap(s) => {
            out.push_str("sctpmap:");
            push_u64(out, u64::from(s.number));
            out.push(' ');
            out.push_str(s.app);
            if let Some(n) = s.streams {
                out.push(' ');
                push_u64(out, u64::from(n));
            }
        }
        Attribute::Direction(d) => out.push_str(d.as_str()),
        Attribute::BundleOnly => out.push_str("bundle-only"),
        Attribute::Ptime(v) => kv(out, "ptime", v.0),
        Attribute::Maxptime(v) => kv(out, "maxptime", v.0),
        Attribute::Framerate(v) => kv(out, "framerate", v.0),
        Attribute::Other { name, value } => {
            out.push_str(name);
            if let Some(v) = value {
                out.push(':');
                out.push_str(v);
            }
        }
    }
}

/// Writes `candidate:...`.
pub(crate) fn candidate(out: &mut String, c: &Candidate<'_>) {
    kv(out, "candidate", c.foundation);
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
        attribute(&mut s, self);
        f.write_str(&s)
    }
}

impl fmt::Display for Candidate<'_> {
    /// `candidate:<foundation> ...`, the form trickle ICE signalling carries.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        candidate(&mut s, self);
        f.write_str(&s)
    }
}
