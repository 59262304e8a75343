//! Real Chromium descriptions, captured with headless Chromium by `interop/chromium/capture.js`
//! (the command is at the top of that script): each parses in strict mode with no warning in
//! lenient mode, reads correctly through the typed attributes, and round-trips byte for byte.

use std::collections::BTreeSet;
use std::path::PathBuf;

use icebreaker_sdp::{
    AddrType, Attribute, CandidateType, Direction, Fingerprint, Media, MediaType, NetType,
    ParseOptions, RidDirection, SessionDescription, Setup, parse_with,
};

const FIXTURES: &[&str] = &[
    "audio_video_data_answer.sdp",
    "audio_video_data_offer.sdp",
    "datachannel_answer.sdp",
    "datachannel_gathered_offer.sdp",
    "datachannel_offer.sdp",
    "ice_restart_offer.sdp",
    "simulcast_offer.sdp",
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chromium")
}

/// The fixture's text, built into the test binary.
fn fixture(name: &str) -> &'static str {
    macro_rules! fixtures {
        ($($file:literal),* $(,)?) => {
            match name {
                $($file => include_str!(concat!("fixtures/chromium/", $file)),)*
                _ => panic!("unknown fixture {name}"),
            }
        };
    }
    fixtures!(
        "audio_video_data_answer.sdp",
        "audio_video_data_offer.sdp",
        "datachannel_answer.sdp",
        "datachannel_gathered_offer.sdp",
        "datachannel_offer.sdp",
        "ice_restart_offer.sdp",
        "simulcast_offer.sdp",
    )
}

/// Strict parse (and a lenient one with no warning, reading the same), then the byte-for-byte
/// round trip and the LF → CRLF one.
fn check<'a>(name: &str, text: &'a str) -> SessionDescription<'a> {
    let strict = parse_with(text, &ParseOptions::strict()).unwrap_or_else(|e| {
        panic!(
            "{name}: strict mode refused {e}: {:?}",
            e.offending_line(text)
        )
    });
    let lenient = parse_with(text, &ParseOptions::default()).expect("lenient accepts strict");
    assert!(
        lenient.warnings.is_empty(),
        "{name}: {:?}",
        lenient.warnings
    );
    assert_eq!(lenient.description, strict.description, "{name}");
    let d = strict.description;
    let mut out = String::new();
    d.write_to(&mut out);
    assert_eq!(out, text, "{name}: write(parse(x)) == x");
    let lf = text.replace("\r\n", "\n");
    let from_lf = parse_with(&lf, &ParseOptions::strict()).expect("LF form parses");
    assert_eq!(
        from_lf.description.to_string(),
        text,
        "{name}: LF comes back as CRLF"
    );
    d
}

fn load(name: &str) -> SessionDescription<'static> {
    check(name, fixture(name))
}

fn ufrag<'a>(m: &Media<'a>) -> &'a str {
    m.find(|a| match a {
        Attribute::IceUfrag(u) => Some(*u),
        _ => None,
    })
    .expect("ice-ufrag")
}

fn pwd<'a>(m: &Media<'a>) -> &'a str {
    m.find(|a| match a {
        Attribute::IcePwd(p) => Some(*p),
        _ => None,
    })
    .expect("ice-pwd")
}

fn fingerprint<'a>(m: &Media<'a>) -> Fingerprint<'a> {
    m.find(|a| match a {
        Attribute::Fingerprint(f) => Some(*f),
        _ => None,
    })
    .expect("fingerprint")
}

fn setup(m: &Media<'_>) -> Setup {
    m.find(|a| match a {
        Attribute::Setup(s) => Some(*s),
        _ => None,
    })
    .expect("setup")
}

fn bundle(d: &SessionDescription<'_>) -> Vec<String> {
    d.bundle()
        .expect("a BUNDLE group")
        .map(str::to_owned)
        .collect()
}

fn mids(d: &SessionDescription<'_>) -> Vec<String> {
    d.media
        .iter()
        .map(|m| m.mid().expect("every section has a mid").to_owned())
        .collect()
}

/// What every Chromium section carries for its transport: ICE credentials of RFC 8839's sizes,
/// trickle, a SHA-256 fingerprint of 32 bytes, and a setup role.
fn transport_checks(name: &str, m: &Media<'_>) {
    let (u, p) = (ufrag(m), pwd(m));
    assert!((4..=256).contains(&u.len()), "{name}: ufrag {u}");
    assert!((22..=256).contains(&p.len()), "{name}: pwd {p}");
    let options = m
        .find(|a| match a {
            Attribute::IceOptions(o) => Some(*o),
            _ => None,
        })
        .expect("ice-options");
    assert!(options.contains("trickle"), "{name}");
    let fp = fingerprint(m);
    assert_eq!(fp.hash_function, "sha-256", "{name}");
    let mut bytes = [0u8; 64];
    assert_eq!(fp.decode_into(&mut bytes), Some(32), "{name}: {fp:?}");
}

/// The session part Chromium writes (RFC 8829 §5.2.1): `o=- <id> <version> IN IP4 127.0.0.1`,
/// `s=-`, `t=0 0`, extmap-allow-mixed and the legacy msid-semantic.
fn session_checks(name: &str, d: &SessionDescription<'_>, version: &str) {
    assert_eq!(d.origin.username, "-", "{name}");
    assert!(
        d.origin.session_id.len() <= 19 && d.origin.session_id.parse::<u64>().is_ok(),
        "{name}: session id {}",
        d.origin.session_id
    );
    assert_eq!(d.origin.session_version, version, "{name}");
    assert_eq!(d.origin.net_type, NetType::In, "{name}");
    assert_eq!(d.origin.addr_type, AddrType::Ip4, "{name}");
    assert_eq!(d.origin.address, "127.0.0.1", "{name}");
    assert_eq!(d.session_name, "-", "{name}");
    assert_eq!(d.timings.len(), 1, "{name}");
    assert_eq!((d.timings[0].start, d.timings[0].stop), (0, 0), "{name}");
    assert!(
        d.attributes.contains(&Attribute::ExtmapAllowMixed),
        "{name}"
    );
    let semantic = d
        .find(|a| match a {
            Attribute::MsidSemantic(s) => Some(*s),
            _ => None,
        })
        .expect("msid-semantic");
    // Chromium writes `a=msid-semantic: WMS` with a space after the colon.
    assert!(semantic.leading_space, "{name}");
    assert_eq!(semantic.semantic, "WMS", "{name}");
    assert_eq!(bundle(d), mids(d), "{name}: everything is BUNDLEd");
}

fn data_section_checks(name: &str, m: &Media<'_>) {
    assert_eq!(m.kind, MediaType::Application, "{name}");
    assert_eq!(m.proto, "UDP/DTLS/SCTP", "{name}");
    assert_eq!(m.formats, "webrtc-datachannel", "{name}");
    assert!(m.attributes.contains(&Attribute::SctpPort(5000)), "{name}");
    assert!(
        m.attributes.contains(&Attribute::MaxMessageSize(262_144)),
        "{name}"
    );
    transport_checks(name, m);
}

#[test]
fn the_fixture_set_is_complete_and_canonical() {
    let mut found: Vec<String> = std::fs::read_dir(dir())
        .expect("fixtures/chromium")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sdp"))
        .collect();
    found.sort();
    assert_eq!(found, FIXTURES);
    for name in FIXTURES {
        let text = fixture(name);
        assert!(text.ends_with("\r\n"), "{name}");
        assert!(
            !text.replace("\r\n", "").contains('\n'),
            "{name}: CRLF only"
        );
        let d = check(name, text);
        // Nothing Chromium writes falls back to an untyped attribute, except the RTCP XR
        // report request (RFC 3611), which the crate keeps verbatim.
        for a in d
            .attributes
            .iter()
            .chain(d.media.iter().flat_map(|m| &m.attributes))
        {
            if let Attribute::Other { name: n, value } = a {
                assert_eq!(*n, "rtcp-xr", "{name}: untyped {n}:{value:?}");
                assert_eq!(*value, Some("rcvr-rtt=all"), "{name}");
            }
        }
    }
}

#[test]
fn datachannel_offer() {
    let name = "datachannel_offer.sdp";
    let d = load(name);
    session_checks(name, &d, "2");
    assert_eq!(d.media.len(), 1);
    let m = &d.media[0];
    data_section_checks(name, m);
    // Before gathering: the discard port and address, no candidates.
    assert_eq!(m.port, 9);
    assert_eq!(m.connections.len(), 1);
    assert_eq!(m.connections[0].address, "0.0.0.0");
    assert_eq!(m.candidates().count(), 0);
    assert_eq!(setup(m), Setup::Actpass);
    assert_eq!(m.mid(), Some("0"));
}

#[test]
fn datachannel_gathered_offer() {
    let name = "datachannel_gathered_offer.sdp";
    let (before, after) = (load("datachannel_offer.sdp"), load(name));
    session_checks(name, &after, "2");
    // The same session and transport as the offer before gathering ...
    assert_eq!(before.origin.session_id, after.origin.session_id);
    let (b, m) = (&before.media[0], &after.media[0]);
    data_section_checks(name, m);
    assert_eq!((ufrag(b), pwd(b)), (ufrag(m), pwd(m)));
    assert_eq!(fingerprint(b), fingerprint(m));
    // ... now with the candidates of the namespace's loopback interface: UDP and TCP (active).
    let candidates: Vec<_> = m.candidates().collect();
    assert_eq!(candidates.len(), 2, "{candidates:?}");
    let udp = candidates
        .iter()
        .find(|c| c.is_udp())
        .expect("a UDP candidate");
    assert_eq!(udp.component, 1);
    assert_eq!(udp.typ, CandidateType::Host);
    assert_eq!(udp.address, "127.0.0.1");
    // RFC 8445 §5.1.2.1: 2^24 * type preference (126, host) + 2^8 * local preference
    // (Chromium's, from the network) + (256 - component ID).
    assert_eq!(udp.priority, 2_122_260_223);
    assert_eq!(udp.priority >> 24, 126);
    assert_eq!(udp.priority & 0xff, 256 - 1);
    assert_eq!(udp.extension("generation"), Some("0"));
    assert_eq!(udp.extension("network-id"), Some("1"));
    assert_eq!(udp.extension("network-cost"), Some("50"));
    assert!(udp.foundation.parse::<u32>().is_ok());
    // The section's port and address become the default candidate's (RFC 8839 §4.2.1.2).
    assert_eq!(m.port, udp.port);
    assert_eq!(m.connections[0].address, "127.0.0.1");
    let tcp = candidates
        .iter()
        .find(|c| !c.is_udp())
        .expect("a TCP candidate");
    assert_eq!(tcp.transport, "tcp");
    assert_eq!(tcp.port, 9, "an active TCP candidate has the discard port");
    assert_eq!(tcp.extension("tcptype"), Some("active"));
    assert!(tcp.priority < udp.priority);
}

#[test]
fn datachannel_answer() {
    let name = "datachannel_answer.sdp";
    let (offer, answer) = (load("datachannel_offer.sdp"), load(name));
    session_checks(name, &answer, "2");
    assert_ne!(offer.origin.session_id, answer.origin.session_id);
    let m = &answer.media[0];
    data_section_checks(name, m);
    assert_eq!(m.mid(), offer.media[0].mid(), "the answer mirrors the mid");
    // RFC 8842 §5.3: the answerer to an actpass offer picks active (it is the DTLS client).
    assert_eq!(setup(m), Setup::Active);
    assert_ne!(ufrag(m), ufrag(&offer.media[0]));
    assert_eq!(m.candidates().count(), 0);
}

#[test]
fn ice_restart_offer() {
    let name = "ice_restart_offer.sdp";
    let (first, restart) = (load("datachannel_gathered_offer.sdp"), load(name));
    // RFC 8829 §5.2.2: a subsequent offer keeps the session id and increments the version.
    session_checks(name, &restart, "3");
    assert_eq!(first.origin.session_id, restart.origin.session_id);
    let (a, b) = (&first.media[0], &restart.media[0]);
    data_section_checks(name, b);
    // RFC 8839 §4.4.1.1.1: an ICE restart changes both the ufrag and the password ...
    assert_ne!(ufrag(a), ufrag(b));
    assert_ne!(pwd(a), pwd(b));
    // ... but not the DTLS certificate.
    assert_eq!(fingerprint(a), fingerprint(b));
    assert_eq!(
        b.candidates().count(),
        0,
        "candidates of the new generation trickle"
    );
    assert_eq!(b.port, 9);
}

/// Every payload type of an RTP section has an rtpmap (dynamic ones must, RFC 8866 §6.6; Chromium
/// writes one for the static ones too), each at most once, and fmtp and rtcp-fb lines name listed
/// formats only.
fn rtp_checks(name: &str, m: &Media<'_>) {
    assert_eq!(m.proto, "UDP/TLS/RTP/SAVPF", "{name}");
    let formats: Vec<&str> = m.formats().collect();
    let mut mapped = BTreeSet::new();
    for a in &m.attributes {
        match a {
            Attribute::Rtpmap(r) => {
                assert!(
                    formats.contains(&r.payload_type.to_string().as_str()),
                    "{name}: rtpmap {} not in the format list",
                    r.payload_type
                );
                assert!(mapped.insert(r.payload_type), "{name}: two rtpmaps");
            }
            Attribute::Fmtp(f) => assert!(formats.contains(&f.format), "{name}: fmtp {}", f.format),
            Attribute::RtcpFb(f) => assert!(
                formats.contains(&f.payload_type),
                "{name}: rtcp-fb {}",
                f.payload_type
            ),
            _ => {}
        }
    }
    assert_eq!(mapped.len(), formats.len(), "{name}: an rtpmap per format");
    for flag in [Attribute::RtcpMux, Attribute::RtcpRsize] {
        assert!(m.attributes.contains(&flag), "{name}: {flag:?}");
    }
    let rtcp = m
        .find(|a| match a {
            Attribute::Rtcp(r) => Some(*r),
            _ => None,
        })
        .expect("a=rtcp");
    assert_eq!(rtcp.port, 9);
    assert_eq!(rtcp.address, Some((NetType::In, AddrType::Ip4, "0.0.0.0")));
    // The mid travels in an RTP header extension (RFC 9143), with an id of its own.
    let extmaps: Vec<_> = m
        .attributes
        .iter()
        .filter_map(|a| match a {
            Attribute::Extmap(e) => Some(*e),
            _ => None,
        })
        .collect();
    assert!(
        extmaps
            .iter()
            .any(|e| e.uri == "urn:ietf:params:rtp-hdrext:sdes:mid" && e.direction.is_none()),
        "{name}"
    );
    let ids: BTreeSet<u16> = extmaps.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), extmaps.len(), "{name}: extmap ids are unique");
    assert!(
        ids.iter().all(|id| (1..=14).contains(id)),
        "{name}: {ids:?}"
    );
    transport_checks(name, m);
}

fn rtpmap<'a>(m: &Media<'a>, pt: u8) -> (&'a str, u32, Option<&'a str>) {
    m.find(|a| match a {
        Attribute::Rtpmap(r) if r.payload_type == pt => {
            Some((r.encoding_name, r.clock_rate, r.encoding_params))
        }
        _ => None,
    })
    .unwrap_or_else(|| panic!("no rtpmap for {pt}"))
}

fn fmtp<'a>(m: &Media<'a>, format: &str, key: &str) -> Option<&'a str> {
    m.find(|a| match a {
        Attribute::Fmtp(f) if f.format == format => Some(*f),
        _ => None,
    })
    .and_then(|f| f.param(key))
}

fn msid<'a>(m: &Media<'a>) -> (&'a str, Option<&'a str>) {
    m.find(|a| match a {
        Attribute::Msid(s) => Some((s.stream_id, s.track_id)),
        _ => None,
    })
    .expect("msid")
}

#[test]
fn audio_video_data_offer() {
    let name = "audio_video_data_offer.sdp";
    let d = load(name);
    session_checks(name, &d, "2");
    assert_eq!(bundle(&d), ["0", "1", "2"]);
    let kinds: Vec<_> = d.media.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [MediaType::Audio, MediaType::Video, MediaType::Application]
    );
    // One transport for the three sections: the same credentials and certificate in each.
    let first = &d.media[0];
    for m in &d.media {
        assert_eq!((ufrag(m), pwd(m)), (ufrag(first), pwd(first)));
        assert_eq!(fingerprint(m), fingerprint(first));
        assert_eq!(setup(m), Setup::Actpass);
        assert_eq!(m.port, 9);
    }
    let (audio, video, data) = (&d.media[0], &d.media[1], &d.media[2]);
    rtp_checks(name, audio);
    rtp_checks(name, video);
    data_section_checks(name, data);

    // Audio: Opus first, with in-band FEC; RED over Opus; the static payload types.
    assert_eq!(audio.formats().next(), Some("111"));
    assert_eq!(rtpmap(audio, 111), ("opus", 48_000, Some("2")));
    assert_eq!(fmtp(audio, "111", "useinbandfec"), Some("1"));
    assert_eq!(fmtp(audio, "111", "minptime"), Some("10"));
    assert_eq!(rtpmap(audio, 0), ("PCMU", 8000, None));
    assert_eq!(rtpmap(audio, 8), ("PCMA", 8000, None));
    assert_eq!(audio.direction(), Direction::SendRecv);
    // Video: VP8 first; every retransmission format points at a listed one.
    assert_eq!(rtpmap(video, 96), ("VP8", 90_000, None));
    assert_eq!(fmtp(video, "97", "apt"), Some("96"));
    assert!(
        video
            .attributes
            .iter()
            .any(|a| matches!(a, Attribute::RtcpFb(f) if f.payload_type == "96" && f.feedback == "nack" && f.param == Some("pli")))
    );
    let video_formats: Vec<&str> = video.formats().collect();
    for a in &video.attributes {
        if let Attribute::Rtpmap(r) = a
            && r.encoding_name == "rtx"
        {
            let pt = r.payload_type.to_string();
            let apt = fmtp(video, &pt, "apt").expect("rtx has an apt");
            assert!(video_formats.contains(&apt), "{pt} apt={apt}");
        }
    }

    // The fake camera and microphone: one stream of two tracks, announced by msid and by the
    // legacy ssrc lines, the video with its retransmission SSRC in an FID group.
    let stream = d
        .find(|a| match a {
            Attribute::MsidSemantic(s) => Some(s.ids),
            _ => None,
        })
        .expect("msid-semantic");
    let (audio_stream, audio_track) = msid(audio);
    let (video_stream, video_track) = msid(video);
    assert_eq!(audio_stream, stream);
    assert_eq!(video_stream, stream);
    assert_ne!(audio_track, video_track);
    let group = video
        .find(|a| match a {
            Attribute::SsrcGroup(g) => Some(*g),
            _ => None,
        })
        .expect("ssrc-group");
    assert_eq!(group.semantics, "FID");
    let group_ssrcs: Vec<u32> = group.ssrcs().collect();
    assert_eq!(group_ssrcs.len(), 2);
    for ssrc in &group_ssrcs {
        let cname = video.find(|a| match a {
            Attribute::Ssrc(s) if s.ssrc == *ssrc && s.attribute == "cname" => s.value,
            _ => None,
        });
        assert!(cname.is_some_and(|c| !c.is_empty()), "cname of {ssrc}");
    }
    let audio_ssrcs: BTreeSet<u32> = audio
        .attributes
        .iter()
        .filter_map(|a| match a {
            Attribute::Ssrc(s) => Some(s.ssrc),
            _ => None,
        })
        .collect();
    assert_eq!(audio_ssrcs.len(), 1);
}

#[test]
fn audio_video_data_answer() {
    let name = "audio_video_data_answer.sdp";
    let d = load(name);
    session_checks(name, &d, "2");
    assert_eq!(mids(&d), ["0", "1", "2"]);
    for m in &d.media {
        assert_eq!(setup(m), Setup::Active, "the answerer is the DTLS client");
    }
    rtp_checks(name, &d.media[0]);
    rtp_checks(name, &d.media[1]);
    data_section_checks(name, &d.media[2]);
    assert_eq!(rtpmap(&d.media[0], 111), ("opus", 48_000, Some("2")));
    // The answer's tracks are its own.
    let offer = load("audio_video_data_offer.sdp");
    assert_ne!(msid(&d.media[1]), msid(&offer.media[1]));
    assert_eq!(d.media[1].direction(), Direction::SendRecv);
}

#[test]
fn simulcast_offer() {
    let name = "simulcast_offer.sdp";
    let d = load(name);
    session_checks(name, &d, "2");
    assert_eq!(d.media.len(), 1);
    let m = &d.media[0];
    assert_eq!(m.kind, MediaType::Video);
    rtp_checks(name, m);
    assert_eq!(m.direction(), Direction::SendOnly);
    // RFC 8851: one rid per encoding, in the order of sendEncodings, no restrictions.
    let rids: Vec<_> = m
        .attributes
        .iter()
        .filter_map(|a| match a {
            Attribute::Rid(r) => Some((r.id, r.direction, r.restrictions)),
            _ => None,
        })
        .collect();
    assert_eq!(
        rids,
        [
            ("q", RidDirection::Send, None),
            ("h", RidDirection::Send, None),
            ("f", RidDirection::Send, None)
        ]
    );
    // RFC 8853: a=simulcast:send q;h;f — three streams, no receive part.
    let sim = m
        .find(|a| match a {
            Attribute::Simulcast(s) => Some(*s),
            _ => None,
        })
        .expect("simulcast");
    assert_eq!(sim.streams(RidDirection::Send), Some("q;h;f"));
    assert_eq!(sim.streams(RidDirection::Recv), None);
    assert_eq!(
        sim.rids(RidDirection::Send).collect::<Vec<_>>(),
        ["q", "h", "f"]
    );
    // The rid travels in RTP header extensions; simulcast has no ssrc lines.
    for uri in [
        "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    ] {
        assert!(
            m.attributes
                .iter()
                .any(|a| matches!(a, Attribute::Extmap(e) if e.uri == uri)),
            "{uri}"
        );
    }
    assert!(!m.attributes.iter().any(|a| matches!(a, Attribute::Ssrc(_))));
}
