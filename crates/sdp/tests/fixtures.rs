//! Every fixture parses, reads correctly and round-trips byte for byte.

use std::path::PathBuf;

use icebreaker_sdp::{
    AddrType, Attribute, BandwidthType, CandidateType, Direction, MediaType, NetType, ParseOptions,
    RidDirection, SessionDescription, Setup, TimeUnit, parse, parse_strict, parse_with,
};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses, checks the byte-for-byte round trip and the LF → CRLF round trip.
fn roundtrip(text: &str) -> SessionDescription<'_> {
    let d = parse(text).unwrap_or_else(|e| panic!("{e}: {:?}", e.offending_line(text)));
    let mut out = String::new();
    d.write_to(&mut out);
    assert_eq!(out, text, "round trip");
    assert_eq!(d.to_string(), text, "Display");
    let lf = text.replace("\r\n", "\n");
    let d2 = parse(&lf).expect("LF form parses");
    assert_eq!(d2, d, "LF form parses to the same description");
    assert_eq!(d2.to_string(), text, "LF input comes back as CRLF");
    d
}

fn all_fixtures() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sdp"))
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, std::fs::read_to_string(&p).expect("read"))
        })
        .collect();
    v.sort();
    v
}

/// tests/serde.rs is built only with the `serde` feature: the crate's dev-dependency on itself
/// turns it on for its own tests, so that `cargo test -p icebreaker-sdp` runs them instead of
/// skipping them without a word.
#[test]
#[expect(
    clippy::assertions_on_constants,
    reason = "a test that fails, not a build that breaks"
)]
fn serde_tests_are_built() {
    assert!(
        cfg!(feature = "serde"),
        "the dev-dependency on icebreaker-sdp with `serde` is missing"
    );
}

#[test]
fn every_fixture_round_trips() {
    let all = all_fixtures();
    assert!(all.len() >= 16, "{} fixtures", all.len());
    for (name, text) in &all {
        assert!(
            text.ends_with("\r\n"),
            "{name} is stored in canonical CRLF form"
        );
        let d = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(d.to_string(), *text, "{name}");
        assert!(
            d.estimated_len() >= text.len(),
            "{name}: one allocation when writing"
        );
        // Typed attributes: nothing known fell back to `Other`.
        for a in d
            .attributes
            .iter()
            .chain(d.media.iter().flat_map(|m| &m.attributes))
        {
            if let Attribute::Other { name: n, .. } = a {
                assert!(
                    matches!(*n, "ice-pacing" | "tool" | "orient"),
                    "{name}: unexpected untyped attribute {n}"
                );
            }
        }
    }
}

#[test]
fn browser_and_jsep_fixtures_are_strict() {
    for (name, text) in all_fixtures() {
        // RFC 3264 and RFC 4317 examples predate the rule that s= is not empty.
        if name.starts_with("rfc3264") || name.starts_with("rfc4317") || name.starts_with("rfc8839")
        {
            let p = parse_with(&text, &ParseOptions::lenient()).expect("lenient");
            assert_eq!(p.warnings.len(), 1, "{name}: {:?}", p.warnings);
            assert!(parse_strict(&text).is_err(), "{name}");
            continue;
        }
        let p = parse_with(&text, &ParseOptions::strict())
            .unwrap_or_else(|e| panic!("{name}: {e}: {:?}", e.offending_line(&text)));
        assert!(p.warnings.is_empty());
    }
}

#[test]
fn rfc8866_example() {
    let text = fixture("rfc8866_example.sdp");
    let d = roundtrip(&text);
    assert_eq!(d.origin.username, "jdoe");
    assert_eq!(d.origin.session_id, "3724394400");
    assert_eq!(d.origin.session_version, "3724394405");
    assert_eq!(d.origin.net_type, NetType::In);
    assert_eq!(d.origin.addr_type, AddrType::Ip4);
    assert_eq!(d.origin.address, "198.51.100.1");
    assert_eq!(d.session_name, "Call to John Smith");
    assert_eq!(d.information, Some("SDP Offer #1"));
    assert_eq!(d.uri, Some("http://www.jdoe.example.com/home.html"));
    assert_eq!(d.emails, ["Jane Doe <jane@jdoe.example.com>"]);
    assert_eq!(d.phones, ["+1 617 555-6011"]);
    assert_eq!(d.connection.map(|c| c.address), Some("198.51.100.1"));
    assert_eq!((d.timings[0].start, d.timings[0].stop), (0, 0));
    assert_eq!(d.media.len(), 3);
    assert_eq!(d.media[1].port, 49180);
    let v = &d.media[2];
    assert_eq!(v.kind, MediaType::Video);
    assert_eq!(v.proto, "RTP/AVP");
    assert_eq!(v.formats().collect::<Vec<_>>(), ["99"]);
    assert_eq!(v.connections[0].addr_type, AddrType::Ip6);
    assert_eq!(v.connections[0].address, "2001:db8::2");
    let Attribute::Rtpmap(r) = &v.attributes[0] else {
        panic!("rtpmap")
    };
    assert_eq!(
        (r.payload_type, r.encoding_name, r.clock_rate),
        (99, "h263-1998", 90000)
    );
}

#[test]
fn rfc8866_multicast_and_timing() {
    let text = fixture("rfc8866_multicast_timing.sdp");
    let d = roundtrip(&text);
    let c = d.connection.expect("c=");
    assert_eq!(
        (c.address, c.ttl, c.count),
        ("224.2.17.12", Some(127), Some(3))
    );
    assert_eq!(d.bandwidths[0].kind, BandwidthType::Ct);
    assert_eq!(d.bandwidths[0].value, 1000);
    let t = &d.timings[0];
    assert_eq!((t.start, t.stop), (3_034_423_619, 3_042_462_419));
    assert_eq!(t.repeats.len(), 2);
    assert_eq!(t.repeats[0].interval.unit, Some(TimeUnit::Days));
    assert_eq!(t.repeats[0].interval.seconds(), 604_800);
    assert_eq!(t.repeats[0].duration.seconds(), 3600);
    let offs: Vec<i128> = t.repeats[0].offsets().map(|o| o.seconds()).collect();
    assert_eq!(offs, [0, 90_000]);
    assert_eq!(t.repeats[1].interval.unit, None);
    let z: Vec<(u64, i128)> = t
        .zone_adjustments
        .expect("z=")
        .iter()
        .map(|(t, o)| (t, o.seconds()))
        .collect();
    assert_eq!(z, [(2_882_844_526, -3600), (2_898_848_070, 0)]);
    assert_eq!(d.key, Some("prompt"));
    assert_eq!(d.attributes[0], Attribute::Direction(Direction::RecvOnly));
    assert_eq!(
        d.attributes[1],
        Attribute::Other {
            name: "tool",
            value: Some("sdpwriter 1.0")
        }
    );
    let a = &d.media[0];
    assert_eq!((a.port, a.port_count), (49170, Some(2)));
    assert_eq!(a.title, Some("Audio stream"));
    assert_eq!(
        (a.connections[0].ttl, a.connections[0].count),
        (None, Some(3))
    );
    assert_eq!(a.bandwidths[0].kind, BandwidthType::As);
    let Attribute::Ptime(p) = a.attributes[0] else {
        panic!("ptime")
    };
    assert!((p.value() - 20.0).abs() < f64::EPSILON);
    let v = &d.media[1];
    assert_eq!(v.bandwidths[0].kind, BandwidthType::Tias);
    assert_eq!(v.bandwidths[0].value, 128_000);
    let Attribute::Framerate(f) = v.attributes[1] else {
        panic!("framerate")
    };
    assert_eq!(f.0, "29.97");
}

#[test]
fn rfc3264_offer_answer() {
    let offer = fixture("rfc3264_offer.sdp");
    let o = roundtrip(&offer);
    assert_eq!(o.session_name, "");
    assert_eq!(o.connection.map(|c| c.address), Some("host.anywhere.com"));
    assert_eq!(o.media[0].formats().collect::<Vec<_>>(), ["0", "8", "97"]);
    let answer = fixture("rfc3264_answer.sdp");
    let a = roundtrip(&answer);
    assert_eq!(a.media[1].port, 0, "rejected stream");
    assert_eq!(a.media[0].port, 49174);
}

#[test]
fn rfc4317_offer_answer() {
    let o = fixture("rfc4317_offer.sdp");
    let o = roundtrip(&o);
    let audio = &o.media[0];
    let fmtp = audio
        .find(|a| match a {
            Attribute::Fmtp(f) => Some(*f),
            _ => None,
        })
        .expect("fmtp");
    assert_eq!((fmtp.format, fmtp.params), ("97", "0-15"));
    assert_eq!(o.media[1].direction(), Direction::SendOnly);
    let a = fixture("rfc4317_answer.sdp");
    let a = roundtrip(&a);
    assert_eq!(a.media[1].direction(), Direction::RecvOnly);
    assert_eq!(a.media[0].direction(), Direction::SendRecv);
}

#[test]
fn rfc8839_candidates() {
    let text = fixture("rfc8839_candidates.sdp");
    let d = roundtrip(&text);
    assert_eq!(d.attributes[0].to_string(), "ice-options:ice2");
    assert_eq!(d.attributes[2], Attribute::IcePwd("asd88fgpdd777uzjYhagZg"));
    assert_eq!(d.attributes[3], Attribute::IceUfrag("8hhY"));
    let m = &d.media[0];
    assert_eq!(m.bandwidths[0].kind, BandwidthType::Rs);
    assert_eq!(m.bandwidths[1].kind, BandwidthType::Rr);
    let c: Vec<_> = m.candidates().collect();
    assert_eq!(c.len(), 3);
    assert_eq!(c[0].foundation, "1");
    assert_eq!(c[0].component, 1);
    assert_eq!(c[0].transport, "UDP");
    assert!(c[0].is_udp());
    assert_eq!(c[0].priority, 2_130_706_431);
    assert_eq!(
        (c[0].address, c[0].port, c[0].typ),
        ("203.0.113.141", 8998, CandidateType::Host)
    );
    assert_eq!(c[1].typ, CandidateType::Srflx);
    assert_eq!(c[1].related_address, Some("203.0.113.141"));
    assert_eq!(c[1].related_port, Some(8998));
    assert_eq!(c[2].address, "2001:db8::3");
    assert_eq!(c[2].typ, CandidateType::Relay);
    assert_eq!(
        m.attributes.last(),
        Some(&Attribute::RemoteCandidates("1 192.0.2.3 45664"))
    );
}

#[test]
fn jsep_offer_and_answer() {
    let text = fixture("rfc8829_jsep_offer.sdp");
    let d = roundtrip(&text);
    let Attribute::IceOptions(o) = d.attributes[0] else {
        panic!("ice-options")
    };
    assert!(o.contains("trickle") && o.contains("ice2"));
    assert_eq!(
        d.bundle().map(Iterator::collect::<Vec<_>>),
        Some(vec!["a1", "v1", "d1"])
    );
    let Attribute::Group(ls) = d.attributes[2] else {
        panic!("group")
    };
    assert_eq!(ls.semantics, "LS");
    let a = &d.media[0];
    assert_eq!(a.mid(), Some("a1"));
    let tls = a.find(|x| match x {
        Attribute::TlsId(t) => Some(*t),
        _ => None,
    });
    assert_eq!(tls, Some("91bbf309c0990a6bec11e38ba2933cee"));
    let rtcp = a.find(|x| match x {
        Attribute::Rtcp(r) => Some(*r),
        _ => None,
    });
    let rtcp = rtcp.expect("rtcp");
    assert_eq!(rtcp.port, 10000);
    assert_eq!(
        rtcp.address,
        Some((NetType::In, AddrType::Ip4, "203.0.113.100"))
    );
    assert!(a.attributes.contains(&Attribute::EndOfCandidates));
    assert_eq!(
        a.candidates().map(|c| c.component).collect::<Vec<_>>(),
        [1, 2]
    );
    let fp = a
        .find(|x| match x {
            Attribute::Fingerprint(f) => Some(*f),
            _ => None,
        })
        .expect("fingerprint");
    let mut bytes = [0u8; 64];
    assert_eq!(fp.hash_function, "sha-256");
    assert_eq!(fp.decode_into(&mut bytes), Some(32));
    assert_eq!(bytes[0], 0x19);
    let m = a.find(|x| match x {
        Attribute::Maxptime(m) => Some(*m),
        _ => None,
    });
    assert_eq!(m.map(|m| m.0), Some("120"));
    let v = &d.media[1];
    assert!(v.attributes.contains(&Attribute::BundleOnly));
    let sim = v
        .find(|x| match x {
            Attribute::Simulcast(s) => Some(*s),
            _ => None,
        })
        .expect("simulcast");
    assert_eq!(
        sim.rids(RidDirection::Send).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    let d1 = &d.media[2];
    assert_eq!(d1.port, 0);
    assert!(d1.attributes.contains(&Attribute::SctpPort(5000)));

    let text = fixture("rfc8829_jsep_answer.sdp");
    let d = roundtrip(&text);
    assert!(
        d.media[0]
            .attributes
            .contains(&Attribute::Setup(Setup::Active))
    );
    let sim = d.media[1]
        .find(|x| match x {
            Attribute::Simulcast(s) => Some(*s),
            _ => None,
        })
        .expect("simulcast");
    assert_eq!(sim.streams(RidDirection::Recv), Some("1;2;3"));
    assert_eq!(sim.streams(RidDirection::Send), None);
}

#[test]
fn chrome_datachannel_offer() {
    let text = fixture("chrome_datachannel_offer.sdp");
    let d = roundtrip(&text);
    assert_eq!(d.origin.session_id, "4611731400430051336");
    assert_eq!(d.session_name, "-");
    assert_eq!(d.attributes[1], Attribute::ExtmapAllowMixed);
    let Attribute::MsidSemantic(ms) = d.attributes[2] else {
        panic!("msid-semantic")
    };
    assert!(ms.leading_space);
    assert_eq!((ms.semantic, ms.ids), ("WMS", ""));
    let m = &d.media[0];
    assert_eq!(m.kind, MediaType::Application);
    assert_eq!(
        (m.port, m.proto, m.formats),
        (9, "UDP/DTLS/SCTP", "webrtc-datachannel")
    );
    assert_eq!(
        m.attributes[..3],
        [
            Attribute::IceUfrag("EsAw"),
            Attribute::IcePwd("bP+XJMM09aR8AiX1jdukzR6Y"),
            Attribute::IceOptions(icebreaker_sdp::IceOptions("trickle")),
        ]
    );
    assert!(m.attributes.contains(&Attribute::Setup(Setup::Actpass)));
    assert!(m.attributes.contains(&Attribute::MaxMessageSize(262_144)));
    assert_eq!(m.mid(), Some("0"));
}

#[test]
fn chrome_gathered_candidates() {
    let text = fixture("chrome_datachannel_gathered.sdp");
    let d = roundtrip(&text);
    let c: Vec<_> = d.media[0].candidates().collect();
    assert_eq!(c.len(), 4);
    assert_eq!(
        c[0].address, "c8b3f2e1-6b49-4d0d-a1f5-2a4c5e0a7d1b.local",
        "mDNS host"
    );
    assert_eq!(
        c[0].extensions().collect::<Vec<_>>(),
        [("generation", "0"), ("network-cost", "999")]
    );
    assert_eq!(c[1].transport, "tcp");
    assert_eq!(c[1].extension("tcptype"), Some("active"));
    assert_eq!(c[1].port, 9);
    assert_eq!(c[2].typ, CandidateType::Srflx);
    assert_eq!(
        (c[2].related_address, c[2].related_port),
        (Some("0.0.0.0"), Some(0))
    );
    assert_eq!(c[3].typ, CandidateType::Relay);
    assert_eq!(c[3].priority, 33_562_367);
    // The trickle form of the same candidate.
    let line = c[2].to_string();
    assert_eq!(
        icebreaker_sdp::Candidate::parse(&line).expect("trickle"),
        *c[2]
    );
}

#[test]
fn chrome_ice_restart() {
    let before = fixture("chrome_datachannel_gathered.sdp");
    let after = fixture("chrome_ice_restart.sdp");
    let b = roundtrip(&before);
    let a = roundtrip(&after);
    assert_eq!(a.origin.session_id, b.origin.session_id);
    assert_eq!(a.origin.session_version, "3");
    fn ufrag<'a>(d: &SessionDescription<'a>) -> Option<&'a str> {
        d.media[0].find(|x| match x {
            Attribute::IceUfrag(u) => Some(*u),
            _ => None,
        })
    }
    assert_eq!(ufrag(&b), Some("EsAw"));
    assert_eq!(ufrag(&a), Some("Q8dX"));
}

#[test]
fn chrome_audio_video_data_offer() {
    let text = fixture("chrome_audio_video_data_offer.sdp");
    assert!((4000..5000).contains(&text.len()));
    let d = roundtrip(&text);
    assert_eq!(
        d.bundle().map(Iterator::collect::<Vec<_>>),
        Some(vec!["0", "1", "2"])
    );
    let Attribute::MsidSemantic(ms) = d.attributes[2] else {
        panic!("msid-semantic")
    };
    assert_eq!(ms.ids, "3b5d6c2e-9a4f-4c1b-8e7d-2f6a1b0c9d8e");
    assert_eq!(d.media.len(), 3);
    let audio = &d.media[0];
    assert_eq!(audio.kind, MediaType::Audio);
    assert_eq!(audio.formats().count(), 8);
    assert!(audio.attributes.contains(&Attribute::RtcpMux));
    assert!(audio.attributes.contains(&Attribute::RtcpRsize));
    let opus = audio
        .find(|a| match a {
            Attribute::Rtpmap(r) if r.payload_type == 111 => Some(*r),
            _ => None,
        })
        .expect("opus");
    assert_eq!(
        (opus.encoding_name, opus.clock_rate, opus.encoding_params),
        ("opus", 48000, Some("2"))
    );
    let fmtp = audio
        .find(|a| match a {
            Attribute::Fmtp(f) if f.format == "111" => Some(*f),
            _ => None,
        })
        .expect("fmtp");
    assert_eq!(fmtp.param("useinbandfec"), Some("1"));
    assert_eq!(fmtp.param("minptime"), Some("10"));
    let ext = audio
        .find(|a| match a {
            Attribute::Extmap(e) if e.id == 3 => Some(*e),
            _ => None,
        })
        .expect("extmap");
    assert_eq!(
        ext.uri,
        "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
    );
    assert_eq!(ext.direction, None);
    let Some(Attribute::Ssrc(s)) = audio.attributes.last() else {
        panic!("ssrc")
    };
    assert_eq!((s.ssrc, s.attribute), (3_735_928_559, "msid"));
    assert_eq!(
        s.value,
        Some("3b5d6c2e-9a4f-4c1b-8e7d-2f6a1b0c9d8e 0c9c8e5a-2a4f-4d8e-8b1e-3d2b1f4c5a6b")
    );
    let msid = audio
        .find(|a| match a {
            Attribute::Msid(m) => Some(*m),
            _ => None,
        })
        .expect("msid");
    assert_eq!(msid.track_id, Some("0c9c8e5a-2a4f-4d8e-8b1e-3d2b1f4c5a6b"));

    let video = &d.media[1];
    assert_eq!(video.mid(), Some("1"));
    let fbs: Vec<_> = video
        .attributes
        .iter()
        .filter_map(|a| match a {
            Attribute::RtcpFb(f) if f.payload_type == "96" => Some((f.feedback, f.param)),
            _ => None,
        })
        .collect();
    assert_eq!(
        fbs,
        [
            ("goog-remb", None),
            ("transport-cc", None),
            ("ccm", Some("fir")),
            ("nack", None),
            ("nack", Some("pli"))
        ]
    );
    let group = video
        .find(|a| match a {
            Attribute::SsrcGroup(g) => Some(*g),
            _ => None,
        })
        .expect("ssrc-group");
    assert_eq!(group.semantics, "FID");
    assert_eq!(
        group.ssrcs().collect::<Vec<_>>(),
        [2_882_400_001, 2_882_400_002]
    );
    let h264 = video
        .find(|a| match a {
            Attribute::Fmtp(f) if f.format == "100" => Some(*f),
            _ => None,
        })
        .expect("h264 fmtp");
    assert_eq!(h264.param("profile-level-id"), Some("42e01f"));
    let data = &d.media[2];
    assert!(data.attributes.contains(&Attribute::SctpPort(5000)));
}

#[test]
fn chrome_simulcast() {
    let text = fixture("chrome_simulcast_offer.sdp");
    let d = roundtrip(&text);
    let v = &d.media[0];
    assert_eq!(v.direction(), Direction::SendOnly);
    let rids: Vec<_> = v
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
    let sim = v
        .find(|a| match a {
            Attribute::Simulcast(s) => Some(*s),
            _ => None,
        })
        .expect("simulcast");
    assert_eq!(sim.first, (RidDirection::Send, "q;h;f"));
    assert_eq!(sim.second, None);
}

#[test]
fn firefox_offer() {
    let text = fixture("firefox_offer.sdp");
    let d = roundtrip(&text);
    assert_eq!(d.origin.username, "mozilla...THIS_IS_SDPARTA-99.0");
    assert_eq!(d.origin.session_version, "0");
    let Attribute::Fingerprint(fp) = d.attributes[0] else {
        panic!("fingerprint")
    };
    assert_eq!(fp.hash_function, "sha-256");
    let Attribute::MsidSemantic(ms) = d.attributes[3] else {
        panic!("msid-semantic")
    };
    assert!(!ms.leading_space);
    assert_eq!(ms.ids, "*");
    let audio = &d.media[0];
    assert_eq!(audio.port, 49812);
    let c: Vec<_> = audio.candidates().collect();
    assert_eq!(c[0].address, "1f4712db-ea17-4bcf-a596-105139dfd8bf.local");
    assert_eq!(c[1].transport, "TCP");
    assert!(!c[1].is_udp());
    assert_eq!(c[1].extension("tcptype"), Some("active"));
    assert!(audio.attributes.contains(&Attribute::EndOfCandidates));
    let e2 = audio
        .find(|a| match a {
            Attribute::Extmap(e) if e.id == 2 => Some(*e),
            _ => None,
        })
        .expect("extmap 2");
    assert_eq!(e2.direction, Some(Direction::RecvOnly));
    let Some(Attribute::Ssrc(s)) = audio.attributes.last() else {
        panic!("ssrc")
    };
    assert_eq!(s.value, Some("{d2a6bb86-2a0c-4f8b-9e6d-3c1b5a7e9f20}"));
    let g722 = audio
        .find(|a| match a {
            Attribute::Rtpmap(r) if r.payload_type == 9 => Some(*r),
            _ => None,
        })
        .expect("g722");
    assert_eq!(g722.encoding_params, Some("1"));
    let video = &d.media[1];
    assert_eq!(video.port, 0);
    assert!(video.attributes.contains(&Attribute::BundleOnly));
    let data = &d.media[2];
    assert!(
        data.attributes
            .contains(&Attribute::MaxMessageSize(1_073_741_823))
    );
}

#[test]
fn safari_offer() {
    let text = fixture("safari_offer.sdp");
    let d = roundtrip(&text);
    assert_eq!(d.media.len(), 2);
    assert_eq!(d.media[0].direction(), Direction::RecvOnly);
    let first = d.media[1]
        .find(|a| match a {
            Attribute::Rtpmap(r) => Some(*r),
            _ => None,
        })
        .expect("rtpmap");
    assert_eq!((first.payload_type, first.encoding_name), (96, "H264"));
}

/// A hand-written answer from an ICE-lite gateway with a legacy (draft-05) data channel: the
/// lines and attributes no browser fixture carries, each typed and written back unchanged.
#[test]
fn ice_lite_legacy_answer() {
    let text = fixture("ice_lite_legacy_answer.sdp");
    let d = roundtrip(&text);
    assert_eq!(d.attributes[0], Attribute::IceLite);
    let audio = &d.media[0];
    // An unknown bandwidth type is kept, with its value.
    assert_eq!(audio.bandwidths[1].kind, BandwidthType::Other("X-YZ"));
    assert_eq!(audio.bandwidths[1].value, 256);
    // A media-level k= is the section's key, not the session's.
    assert_eq!(audio.key, Some("base64:c2VjcmV0LWtleS1mb3ItYXVkaW8="));
    assert_eq!(d.key, None);
    assert_eq!(audio.direction(), Direction::Inactive);
    assert!(audio.attributes.contains(&Attribute::IceMismatch));
    assert!(audio.attributes.contains(&Attribute::RtcpMuxOnly));
    let data = &d.media[1];
    assert_eq!(data.proto, "DTLS/SCTP");
    let sctpmap = data
        .find(|a| match a {
            Attribute::Sctpmap(s) => Some(*s),
            _ => None,
        })
        .expect("sctpmap");
    assert_eq!(
        (sctpmap.number, sctpmap.app, sctpmap.streams),
        (5000, "webrtc-datachannel", Some(1024))
    );
    // Each typed line is written back as it was read.
    let written: Vec<String> = d
        .attributes
        .iter()
        .chain(d.media.iter().flat_map(|m| &m.attributes))
        .map(ToString::to_string)
        .collect();
    for line in [
        "ice-lite",
        "inactive",
        "ice-mismatch",
        "rtcp-mux-only",
        "sctpmap:5000 webrtc-datachannel 1024",
    ] {
        assert!(written.iter().any(|w| w == line), "{line}: {written:?}");
        assert!(text.contains(&format!("\r\na={line}\r\n")), "{line}");
    }
    assert!(text.contains("\r\nb=X-YZ:256\r\nk=base64:"));
}
