//! The builder creates descriptions this parser (and browsers) accept.

use icebreaker_sdp::{
    Attribute, Bandwidth, BandwidthType, Candidate, CandidateType, Connection, ErrorKind,
    Fingerprint, Group, IceOptions, Media, MediaType, MsidSemantic, Origin, SessionBuilder, Setup,
    parse_strict,
};

const FP: &str = "0F:74:31:25:CB:A2:13:EC:28:6F:6D:2C:61:FF:5D:C2:BC:B9:DB:3D:98:14:8D:1A:BB:EA:33:0C:A4:60:A8:8E";

fn datachannel_offer() -> String {
    let host = Candidate {
        foundation: "1",
        component: 1,
        transport: "udp",
        priority: 2_122_260_223,
        address: "192.0.2.1",
        port: 50_000,
        typ: CandidateType::Host,
        related_address: None,
        related_port: None,
        extensions: "generation 0",
    };
    let srflx = Candidate {
        foundation: "2",
        priority: 1_686_052_607,
        address: "203.0.113.7",
        port: 61_000,
        typ: CandidateType::Srflx,
        related_address: Some("192.0.2.1"),
        related_port: Some(50_000),
        extensions: "",
        ..host
    };
    let mut b = SessionBuilder::new(4_611_731_400_430_051_336, 2);
    b.attribute(&Attribute::Group(Group {
        semantics: "BUNDLE",
        mids: "0",
    }))
    .attribute(&Attribute::ExtmapAllowMixed)
    .attribute(&Attribute::MsidSemantic(MsidSemantic {
        leading_space: true,
        semantic: "WMS",
        ids: "",
    }))
    .media(
        &Media::new(
            MediaType::Application,
            50_000,
            "UDP/DTLS/SCTP",
            "webrtc-datachannel",
        )
        .with_connection(Connection::ip4("192.0.2.1"))
        .with(Attribute::Candidate(host))
        .with(Attribute::Candidate(srflx))
        .with(Attribute::EndOfCandidates)
        .with(Attribute::IceUfrag("EsAw"))
        .with(Attribute::IcePwd("bP+XJMM09aR8AiX1jdukzR6Y"))
        .with(Attribute::IceOptions(IceOptions("trickle")))
        .with(Attribute::Fingerprint(Fingerprint {
            hash_function: "sha-256",
            fingerprint: FP,
        }))
        .with(Attribute::Setup(Setup::Actpass))
        .with(Attribute::Mid("0"))
        .with(Attribute::SctpPort(5000))
        .with(Attribute::MaxMessageSize(262_144)),
    );
    b.build().expect("valid offer")
}

#[test]
fn build_datachannel_offer() {
    let text = datachannel_offer();
    let expected = format!(
        "v=0\r\n\
         o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
         s=-\r\n\
         t=0 0\r\n\
         a=group:BUNDLE 0\r\n\
         a=extmap-allow-mixed\r\n\
         a=msid-semantic: WMS\r\n\
         m=application 50000 UDP/DTLS/SCTP webrtc-datachannel\r\n\
         c=IN IP4 192.0.2.1\r\n\
         a=candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host generation 0\r\n\
         a=candidate:2 1 udp 1686052607 203.0.113.7 61000 typ srflx raddr 192.0.2.1 rport 50000\r\n\
         a=end-of-candidates\r\n\
         a=ice-ufrag:EsAw\r\n\
         a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n\
         a=ice-options:trickle\r\n\
         a=fingerprint:sha-256 {FP}\r\n\
         a=setup:actpass\r\n\
         a=mid:0\r\n\
         a=sctp-port:5000\r\n\
         a=max-message-size:262144\r\n"
    );
    assert_eq!(text, expected);
    let d = parse_strict(&text).expect("parses strictly");
    assert_eq!(d.to_string(), text);
    let m = &d.media[0];
    assert_eq!(m.candidates().count(), 2);
    assert_eq!(m.mid(), Some("0"));
}

#[test]
fn session_level_lines_in_grammar_order() {
    let mut b = SessionBuilder::new(1, 1);
    b.attribute(&Attribute::IceLite)
        .bandwidth(Bandwidth {
            kind: BandwidthType::As,
            value: 512,
        })
        .connection(Connection::ip6("2001:db8::1"))
        .email("ops@example.com")
        .uri("https://example.com")
        .information("test call")
        .session_name("call")
        .origin(&Origin {
            username: "alice",
            session_id: "42",
            session_version: "7",
            net_type: icebreaker_sdp::NetType::In,
            addr_type: icebreaker_sdp::AddrType::Ip6,
            address: "2001:db8::1",
        });
    let text = b.build().expect("valid");
    assert_eq!(
        text,
        "v=0\r\no=alice 42 7 IN IP6 2001:db8::1\r\ns=call\r\ni=test call\r\nu=https://example.com\r\n\
         e=ops@example.com\r\nc=IN IP6 2001:db8::1\r\nb=AS:512\r\nt=0 0\r\na=ice-lite\r\n"
    );
}

#[test]
fn build_refuses_invalid_values() {
    let mut b = SessionBuilder::new(1, 1);
    b.media(
        &Media::new(MediaType::Audio, 9, "UDP/TLS/RTP/SAVPF", "111")
            .with(Attribute::IceUfrag("ab")),
    );
    let e = b.build().expect_err("ufrag too short");
    assert_eq!((e.line, e.kind), (6, ErrorKind::BadUfragLength));
    assert_eq!(e.offending_line(&b.to_text()), Some("a=ice-ufrag:ab"));
}

/// A value with a CR, LF or NUL cannot smuggle lines into a description, even valid ones:
/// `build` refuses it, pointing at the break or at the first line too many.
#[test]
fn build_refuses_values_that_break_lines() {
    let offer = |mid: &str| {
        let mut b = SessionBuilder::new(1, 1);
        b.media(
            &Media::new(
                MediaType::Application,
                9,
                "UDP/DTLS/SCTP",
                "webrtc-datachannel",
            )
            .with_connection(Connection::ip4("0.0.0.0"))
            .with(Attribute::Mid(mid)),
        );
        b
    };
    assert!(offer("0").build().is_ok());
    // An injected attribute that is valid on its own: the section has one line too many.
    let b = offer("0\r\na=fingerprint:sha-256 AB:CD");
    let e = b.build().expect_err("an extra line");
    assert_eq!(e.kind, ErrorKind::ControlCharacter);
    assert_eq!(
        e.offending_line(&b.to_text()),
        Some("a=fingerprint:sha-256 AB:CD")
    );
    // A bare LF, a lone CR and a NUL are refused where they are.
    for (value, column) in [("0\na=x", 8), ("0\rx", 8), ("0\0", 8)] {
        let e = offer(value).build().expect_err(value);
        assert_eq!(
            (e.line, e.column, e.kind),
            (7, column, ErrorKind::ControlCharacter),
            "{value:?}"
        );
    }
    // Session-level values too, each at its own line.
    let mut b = SessionBuilder::new(1, 1);
    b.session_name("call\r\nb=AS:1");
    let e = b.build().expect_err("s=");
    assert_eq!((e.line, e.kind), (4, ErrorKind::ControlCharacter));
    let mut b = SessionBuilder::new(1, 1);
    b.email("a@example.com").email("b@example.com\r\nu=x");
    assert_eq!(b.build().expect_err("e=").line, 6);
    let mut b = SessionBuilder::new(1, 1);
    b.origin(&Origin {
        username: "alice\r\ni=x",
        session_id: "1",
        session_version: "1",
        net_type: icebreaker_sdp::NetType::In,
        addr_type: icebreaker_sdp::AddrType::Ip4,
        address: "192.0.2.1",
    });
    assert_eq!(b.build().expect_err("o=").line, 3);
    let mut b = SessionBuilder::new(1, 1);
    b.attribute(&Attribute::IceLite)
        .attribute(&Attribute::Mid("x\r\na=ice-lite"));
    assert_eq!(b.build().expect_err("a=").line, 7);
    let mut b = SessionBuilder::new(1, 1);
    b.connection(Connection::ip4("0.0.0.0\r\nb=AS:1"));
    assert_eq!(b.build().expect_err("c=").line, 5);
}
