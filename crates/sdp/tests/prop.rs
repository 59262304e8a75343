//! Property tests: generated descriptions survive write → parse unchanged; arbitrary text and
//! bytes never panic; parse → write → parse is stable on line soups, and on them every lenient
//! warning is a strict error.

use icebreaker_sdp::{
    AddrType, Attribute, Bandwidth, BandwidthType, Candidate, CandidateType, Connection, Decimal,
    Direction, ErrorKind, Extmap, Fingerprint, Fmtp, Group, IceOptions, Media, MediaType, Msid,
    MsidSemantic, NetType, Origin, ParseOptions, Repeat, Rid, RidDirection, Rtcp, RtcpFb, Rtpmap,
    Sctpmap, SessionDescription, Setup, Simulcast, Ssrc, SsrcGroup, TimeUnit, Timing, TypedTime,
    WarningKind, ZoneAdjustments, parse_bytes, parse_strict, parse_with,
};
use proptest::prelude::*;

/// Generated text lives as long as the test process (a few KB per case).
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn re(pattern: &'static str) -> impl Strategy<Value = &'static str> {
    proptest::string::string_regex(pattern)
        .expect("regex")
        .prop_map(leak)
}

fn token() -> impl Strategy<Value = &'static str> {
    re("[A-Za-z0-9][A-Za-z0-9._~+-]{0,12}")
}

fn ice_chars(min: usize, max: usize) -> impl Strategy<Value = &'static str> {
    proptest::collection::vec(
        prop::sample::select(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
                .as_bytes()
                .to_vec(),
        ),
        min..=max,
    )
    .prop_map(|v| leak(v.into_iter().map(char::from).collect()))
}

fn address() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| leak(format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3]))),
        any::<[u16; 8]>().prop_map(|w| leak(std::net::Ipv6Addr::from(w).to_string())),
        re("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\\.local"),
    ]
}

fn direction() -> impl Strategy<Value = Direction> {
    prop::sample::select(vec![
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ])
}

fn candidate() -> impl Strategy<Value = Candidate<'static>> {
    (
        ice_chars(1, 32),
        1u16..=256,
        prop::sample::select(vec!["udp", "UDP", "tcp", "TCP"]),
        1u32..=0x7fff_ffff,
        address(),
        any::<u16>(),
        prop::sample::select(vec![
            CandidateType::Host,
            CandidateType::Srflx,
            CandidateType::Prflx,
            CandidateType::Relay,
        ]),
        proptest::option::of((address(), any::<u16>())),
        prop::sample::select(vec![
            "",
            "generation 0",
            "tcptype active generation 0 network-id 1",
            "ufrag EsAw network-cost 999",
        ]),
    )
        .prop_map(
            |(foundation, component, transport, priority, address, port, typ, rel, ext)| {
                Candidate {
                    foundation,
                    component,
                    transport,
                    priority,
                    address,
                    port,
                    typ,
                    related_address: rel.map(|r| r.0),
                    related_port: rel.map(|r| r.1),
                    extensions: ext,
                }
            },
        )
}

fn attribute() -> impl Strategy<Value = Attribute<'static>> {
    let simple = prop_oneof![
        ice_chars(4, 40).prop_map(Attribute::IceUfrag),
        ice_chars(22, 40).prop_map(Attribute::IcePwd),
        prop::sample::select(vec!["trickle", "ice2", "trickle ice2", "renomination"])
            .prop_map(|s| Attribute::IceOptions(IceOptions(s))),
        Just(Attribute::IceLite),
        Just(Attribute::IceMismatch),
        Just(Attribute::EndOfCandidates),
        Just(Attribute::ExtmapAllowMixed),
        Just(Attribute::RtcpMux),
        Just(Attribute::RtcpMuxOnly),
        Just(Attribute::RtcpRsize),
        Just(Attribute::BundleOnly),
        direction().prop_map(Attribute::Direction),
        prop::sample::select(vec![
            Setup::Active,
            Setup::Passive,
            Setup::Actpass,
            Setup::Holdconn
        ])
        .prop_map(Attribute::Setup),
        token().prop_map(Attribute::Mid),
        re("[A-Za-z0-9+/_-]{20,40}").prop_map(Attribute::TlsId),
        any::<u32>().prop_map(Attribute::IcePacing),
        any::<u16>().prop_map(Attribute::SctpPort),
        any::<u64>().prop_map(Attribute::MaxMessageSize),
        re("[1-9][0-9]{0,3}(\\.[0-9]{1,2})?").prop_map(|s| Attribute::Ptime(Decimal(s))),
        re("[1-9][0-9]{0,3}").prop_map(|s| Attribute::Maxptime(Decimal(s))),
        re("[1-9][0-9]{0,2}\\.[0-9]{1,2}").prop_map(|s| Attribute::Framerate(Decimal(s))),
    ];
    let structured = prop_oneof![
        candidate().prop_map(Attribute::Candidate),
        (any::<u16>(), address(), any::<u16>()).prop_map(|(c, a, p)| {
            Attribute::RemoteCandidates(leak(format!("{} {a} {p}", c % 1000)))
        }),
        (
            prop::sample::select(vec!["sha-256", "sha-1", "SHA-512"]),
            any::<[u8; 8]>()
        )
            .prop_map(|(h, b)| {
                let fp = b
                    .iter()
                    .map(|x| format!("{x:02X}"))
                    .collect::<Vec<_>>()
                    .join(":");
                Attribute::Fingerprint(Fingerprint {
                    hash_function: h,
                    fingerprint: leak(fp),
                })
            }),
        (
            prop::sample::select(vec!["BUNDLE", "LS", "FID"]),
            prop::sample::select(vec!["", "0", "0 1 2", "audio video"])
        )
            .prop_map(|(semantics, mids)| Attribute::Group(Group { semantics, mids })),
        (token(), proptest::option::of(token())).prop_map(|(stream_id, track_id)| Attribute::Msid(
            Msid {
                stream_id,
                track_id
            }
        )),
        (
            any::<bool>(),
            prop::sample::select(vec!["", "*", "stream-a stream-b"])
        )
            .prop_map(
                |(leading_space, ids)| Attribute::MsidSemantic(MsidSemantic {
                    leading_space,
                    semantic: "WMS",
                    ids
                })
            ),
        (
            1u16..=4095,
            proptest::option::of(direction()),
            prop::sample::select(vec![
                "urn:ietf:params:rtp-hdrext:sdes:mid",
                "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            ]),
            proptest::option::of(prop::sample::select(vec!["x", "a b c"]))
        )
            .prop_map(
                |(id, direction, uri, attributes)| Attribute::Extmap(Extmap {
                    id,
                    direction,
                    uri,
                    attributes
                })
            ),
        (
            0u8..=127,
            prop::sample::select(vec!["opus", "VP8", "H264", "telephone-event"]),
            any::<u32>(),
            proptest::option::of(prop::sample::select(vec!["1", "2"]))
        )
            .prop_map(
                |(payload_type, encoding_name, clock_rate, encoding_params)| Attribute::Rtpmap(
                    Rtpmap {
                        payload_type,
                        encoding_name,
                        clock_rate,
                        encoding_params
                    }
                )
            ),
        (
            token(),
            prop::sample::select(vec![
                "minptime=10;useinbandfec=1",
                "apt=96",
                "0-15",
                "a = b ; c"
            ])
        )
            .prop_map(|(format, params)| Attribute::Fmtp(Fmtp { format, params })),
        (any::<u16>(), proptest::option::of(address())).prop_map(|(port, a)| Attribute::Rtcp(
            Rtcp {
                port,
                address: a.map(|a| (
                    NetType::In,
                    if a.contains(':') {
                        AddrType::Ip6
                    } else {
                        AddrType::Ip4
                    },
                    a
                )),
            }
        )),
        (
            prop::sample::select(vec!["*", "96", "111"]),
            prop::sample::select(vec!["nack", "ccm", "goog-remb"]),
            proptest::option::of(prop::sample::select(vec!["pli", "fir", "a b"]))
        )
            .prop_map(|(payload_type, feedback, param)| Attribute::RtcpFb(RtcpFb {
                payload_type,
                feedback,
                param
            })),
        (
            any::<u32>(),
            prop::sample::select(vec!["cname", "msid", "label"]),
            proptest::option::of(prop::sample::select(vec!["", "x", "stream track", "{a-b}"]))
        )
            .prop_map(|(ssrc, attribute, value)| Attribute::Ssrc(Ssrc {
                ssrc,
                attribute,
                value
            })),
        (
            prop::sample::select(vec!["FID", "SIM"]),
            proptest::collection::vec(any::<u32>(), 0..4)
        )
            .prop_map(|(semantics, v)| {
                let s = v
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ");
                Attribute::SsrcGroup(SsrcGroup {
                    semantics,
                    ssrcs: leak(s),
                })
            }),
        (
            re("[a-z0-9_-]{1,8}"),
            any::<bool>(),
            proptest::option::of(prop::sample::select(vec![
                "pt=96",
                "max-width=1280;max-height=720"
            ]))
        )
            .prop_map(|(id, send, restrictions)| Attribute::Rid(Rid {
                id,
                direction: if send {
                    RidDirection::Send
                } else {
                    RidDirection::Recv
                },
                restrictions
            })),
        (
            any::<bool>(),
            prop::sample::select(vec!["q;h;f", "~1,2;3", "a"]),
            proptest::option::of(prop::sample::select(vec!["x", "y;~z"]))
        )
            .prop_map(|(send, l1, second)| {
                let (d1, d2) = if send {
                    (RidDirection::Send, RidDirection::Recv)
                } else {
                    (RidDirection::Recv, RidDirection::Send)
                };
                Attribute::Simulcast(Simulcast {
                    first: (d1, l1),
                    second: second.map(|l| (d2, l)),
                })
            }),
        (any::<u16>(), proptest::option::of(any::<u32>())).prop_map(|(number, streams)| {
            Attribute::Sctpmap(Sctpmap {
                number,
                app: "webrtc-datachannel",
                streams,
            })
        }),
        (re("x-[a-z]{1,8}"), proptest::option::of(re("[ -~]{1,20}")))
            .prop_map(|(name, value)| Attribute::Other { name, value }),
    ];
    prop_oneof![simple, structured]
}

fn connection() -> impl Strategy<Value = Connection<'static>> {
    prop_oneof![
        // A multicast address needs its TTL (IPv4), so it comes from the next branch.
        address()
            .prop_filter("unicast", |a| !a
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_multicast()))
            .prop_map(|a| if a.contains(':') {
                Connection::ip6(a)
            } else {
                Connection::ip4(a)
            }),
        (any::<u8>(), proptest::option::of(1u32..10)).prop_map(|(ttl, count)| Connection {
            ttl: Some(ttl),
            count,
            ..Connection::ip4("224.2.1.1")
        }),
    ]
}

fn bandwidth() -> impl Strategy<Value = Bandwidth<'static>> {
    (
        prop::sample::select(vec![
            BandwidthType::Ct,
            BandwidthType::As,
            BandwidthType::Tias,
            BandwidthType::Rr,
            BandwidthType::Rs,
            BandwidthType::Other("X-YZ"),
        ]),
        any::<u64>(),
    )
        .prop_map(|(kind, value)| Bandwidth { kind, value })
}

/// `uri` (RFC 3986 `URI-reference`), the forms `u=` and `k=uri:` carry: URLs with a port, a
/// query or a fragment, IPv6 hosts and percent-encoded bytes, other schemes, and relative
/// references (the empty one among them).
fn uri() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        3 => re(
            "(https?|sip)://[a-z0-9]{1,10}\\.example(:[0-9]{1,5})?(/[a-z0-9._~-]{1,8}){0,3}(\\?[a-z0-9=&]{1,10})?(#[a-z0-9]{1,6})?"
        ),
        1 => re("https?://\\[2001:db8::[0-9a-f]{1,4}\\](/[a-z]{0,4}%[0-9A-Fa-f]{2}){0,2}"),
        1 => re("[A-Za-z][A-Za-z0-9+.-]{0,6}:[A-Za-z0-9._~!$&'()*+,;=:@/?-]{0,20}"),
        1 => re("([a-z0-9._~-]{1,8})?(/[a-z0-9._~:@-]{1,8}){0,3}(\\?[a-z0-9=&/?]{0,10})?(#[a-z0-9/?]{0,6})?"),
    ]
}

/// `addr-spec` (RFC 5322): dot-atoms of any `atext`, quoted local parts with quoted pairs,
/// domain literals.
fn addr_spec() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => re("[a-z0-9]{1,6}(\\.[a-z0-9]{1,6})?@[a-z0-9]{1,10}\\.example"),
        1 => re(
            "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,8}(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,4})?@[a-z0-9-]{1,10}\\.example"
        ),
        1 => re("\"([ !#-\\[\\]-~]|\\\\[ -~]){0,10}\"@[a-z]{1,8}\\.example"),
        1 => re("[a-z]{1,6}@\\[(192\\.0\\.2\\.[0-9]{1,3}|IPv6:2001:db8::[0-9a-f]{1,4})\\]"),
    ]
}

/// `1*email-safe` (RFC 8866 §9): a comment or a name, any byte but CR, LF, NUL, "(", ")",
/// "<" and ">"; some names are not ASCII.
fn email_safe() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        re("[A-Z][a-z]{0,8}( [A-Z][a-z]{0,8})?"),
        re("[!-'*-;=?-~\u{e9}\u{20ac}][ -'*-;=?-~\u{e9}\u{20ac}]{0,12}"),
    ]
}

/// `email-address` (RFC 8866 §9): an address alone, with a comment, or after a display name.
fn email() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        addr_spec(),
        (addr_spec(), email_safe()).prop_map(|(a, c)| leak(format!("{a} ({c})"))),
        (email_safe(), addr_spec()).prop_map(|(n, a)| leak(format!("{n} <{a}>"))),
    ]
}

/// `phone-number` (RFC 8866 §9), such as `+1 617 555-6011 (Jane Doe)` or `Jane <+1 617
/// 555-6011>`.
fn phone() -> impl Strategy<Value = &'static str> {
    let number = || {
        prop_oneof![
            re("\\+[1-9][0-9]{0,2}( [0-9]{1,4}){1,3}(-[0-9]{4})?"),
            re("\\+?[0-9][0-9 -]{0,12}[0-9-]"),
        ]
    };
    prop_oneof![
        number(),
        (
            number(),
            prop::sample::select(vec!["", " ", "  "]),
            email_safe()
        )
            .prop_map(|(p, sp, c)| leak(format!("{p}{sp}({c})"))),
        (email_safe(), prop::sample::select(vec!["", " "]), number())
            .prop_map(|(n, sp, p)| leak(format!("{n}{sp}<{p}>"))),
    ]
}

/// `key-type` (RFC 8866 §9): `prompt`, `clear:` text, `base64:` (padded with `==`, `=` or
/// not at all, maybe empty) or `uri:`.
fn key() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("prompt"),
        re("clear:[ -~\u{e9}]{1,20}"),
        re("base64:([A-Za-z0-9+/]{4}){0,5}([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"),
        uri().prop_map(|u| leak(format!("uri:{u}"))),
    ]
}

/// Lines of a type RFC 8866 does not define, which lenient mode keeps in `other_lines`; none
/// most of the time, so that strict mode can read most descriptions.
fn other_lines() -> impl Strategy<Value = Vec<&'static str>> {
    prop_oneof![
        3 => Just(Vec::new()),
        1 => proptest::collection::vec(re("[dfghjlnqwxyA-Z]=[ -~]{0,20}"), 1..3),
    ]
}

/// The type letters of the unknown lines, in line order.
fn unknown_types(d: &SessionDescription<'_>) -> Vec<char> {
    d.other_lines
        .iter()
        .chain(d.media.iter().flat_map(|m| &m.other_lines))
        .filter_map(|l| l.chars().next())
        .collect()
}

fn media() -> impl Strategy<Value = Media<'static>> {
    (
        prop::sample::select(vec![
            (MediaType::Audio, "UDP/TLS/RTP/SAVPF", "111 0 8"),
            (MediaType::Video, "UDP/TLS/RTP/SAVPF", "96 97"),
            (
                MediaType::Application,
                "UDP/DTLS/SCTP",
                "webrtc-datachannel",
            ),
            (MediaType::Other("x-custom"), "TCP/MSRP", "*"),
            (MediaType::Text, "RTP/AVP", "98"),
        ]),
        any::<u16>(),
        proptest::option::of(1u16..8),
        proptest::option::of(re("[ -~]{1,20}")),
        proptest::collection::vec(connection(), 0..2),
        proptest::collection::vec(bandwidth(), 0..2),
        proptest::option::of(key()),
        proptest::collection::vec(attribute(), 0..24),
        other_lines(),
    )
        .prop_map(
            |(
                (kind, proto, formats),
                port,
                port_count,
                title,
                connections,
                bandwidths,
                key,
                attributes,
                other_lines,
            )| {
                let mut m = Media::new(kind, port, proto, formats);
                m.port_count = port_count;
                m.title = title;
                m.connections = connections;
                m.bandwidths = bandwidths;
                m.key = key;
                m.attributes = attributes;
                m.other_lines = other_lines;
                m
            },
        )
}

/// A `typed-time`: a number (non-zero where `nonzero`) and an optional unit.
fn typed_time(nonzero: bool) -> impl Strategy<Value = TypedTime> {
    (
        u64::from(nonzero)..=u64::from(u32::MAX),
        proptest::option::of(prop::sample::select(vec![
            TimeUnit::Days,
            TimeUnit::Hours,
            TimeUnit::Minutes,
            TimeUnit::Seconds,
        ])),
    )
        .prop_map(|(value, unit)| TypedTime {
            negative: false,
            value,
            unit,
        })
}

/// A time description: `t=`, up to two `r=` lines and, after at least one of them, maybe a
/// `z=` (RFC 8866 §9).
fn timing() -> impl Strategy<Value = Timing<'static>> {
    // `time = POS-DIGIT 9*DIGIT`: 0, or NTP seconds of ten digits or more.
    let time = || prop_oneof![Just(0u64), 1_000_000_000u64..100_000_000_000];
    (
        (time(), time()),
        proptest::collection::vec(
            (
                typed_time(true),
                typed_time(false),
                re("[0-9]{1,7}[dhms]?( [0-9]{1,7}[dhms]?){0,3}"),
            )
                .prop_map(|(interval, duration, offsets)| Repeat {
                    interval,
                    duration,
                    offsets,
                }),
            0..3,
        ),
        proptest::option::of(re(
            "[1-9][0-9]{0,10} -?[0-9]{1,6}[dhms]?( [1-9][0-9]{0,10} -?[0-9]{1,6}[dhms]?){0,2}",
        )),
    )
        .prop_map(|((start, stop), repeats, zone)| Timing {
            start,
            stop,
            zone_adjustments: zone.filter(|_| !repeats.is_empty()).map(ZoneAdjustments),
            repeats,
        })
}

fn description() -> impl Strategy<Value = SessionDescription<'static>> {
    (
        (
            re("[a-z-]{1,8}"),
            re("[1-9][0-9]{0,19}"),
            re("[0-9]{1,5}"),
            address(),
        ),
        re("[ -~]{1,20}"),
        (
            proptest::option::of(re("[ -~]{0,20}")),
            proptest::option::of(uri()),
            proptest::collection::vec(email(), 0..3),
            proptest::collection::vec(phone(), 0..3),
        ),
        proptest::option::of(connection()),
        proptest::collection::vec(bandwidth(), 0..2),
        proptest::collection::vec(timing(), 1..4),
        proptest::option::of(key()),
        proptest::collection::vec(attribute(), 0..8),
        other_lines(),
        proptest::collection::vec(media(), 0..4),
    )
        .prop_map(
            |(
                (user, id, version, addr),
                name,
                (info, uri, emails, phones),
                connection,
                bandwidths,
                timings,
                key,
                attributes,
                other_lines,
                mut media,
            )| {
                // RFC 8866 §5.7: without a session-level c=, each section with a port has one.
                if connection.is_none() {
                    for m in media.iter_mut().filter(|m| m.port != 0) {
                        if m.connections.is_empty() {
                            m.connections.push(Connection::ip4("192.0.2.1"));
                        }
                    }
                }
                SessionDescription {
                    origin: Origin {
                        username: user,
                        session_id: id,
                        session_version: version,
                        net_type: NetType::In,
                        addr_type: if addr.contains(':') {
                            AddrType::Ip6
                        } else {
                            AddrType::Ip4
                        },
                        address: addr,
                    },
                    session_name: name,
                    information: info,
                    uri,
                    emails,
                    phones,
                    connection,
                    bandwidths,
                    timings,
                    key,
                    attributes,
                    other_lines,
                    media,
                }
            },
        )
}

/// Lines that are valid, invalid, or odd, for soups.
fn soup_line() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "v=0",
            "o=- 1 2 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            "c=IN IP4 0.0.0.0",
            "b=AS:30",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
            "a=mid:0",
            "a=ice-ufrag:abc",
            "a=ice-ufrag:abcd ",
            "a=sendrecv",
            "a=rtcp-mux:1",
            "a=candidate:1 1 udp 1 1.2.3.4 9 typ host",
            "x=1",
            "",
            "i=info",
            "k=clear:x",
            "r=7d 1h 0",
            "z=1 -1h",
            "a=msid-semantic: WMS",
            "a=group:BUNDLE 0 1",
            "s= ",
            "a=simulcast:send a;b recv c",
            "a=",
            "a=:",
            "e=x",
            "u=y",
            "p=1",
            "e=j@x.example (J)",
            "e=Jane <j@x",
            "p=+1 555",
            "p=Mark <+1",
            "u=a b",
            "k=base64:abc",
            "k=nope",
            "a=tls-id:0123456789abcdef-_+/",
            "a=tls-id:abc=",
            "X=upper",
        ])
        .prop_map(String::from),
        "[a-z]=[ -~]{0,30}",
        "[ -~]{0,30}",
    ]
}

/// Lines that may repeat in a soup: valid, odd, or tolerated with a warning in lenient mode.
const REPEATABLE: &[&str] = &[
    "t=0 0",
    "t=0  0",
    "t=0 0 ",
    "e=x",
    "p=1",
    "e=J <j@x.example>",
    "e=j@x.example ",
    "p=+1 555 (J)",
    "b=AS:30",
    "b=X-YZ:1 ",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "m=audio  9 RTP/AVP 0",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "a=mid:0",
    "a=mid:0 ",
    "a=ice-ufrag:abc",
    "a=sendrecv",
    "a=rtcp-mux:1",
    "a=candidate:1 1 udp 1 1.2.3.4 9 typ host",
    "a=tls-id:0123456789abcdef-_+/",
    "a=tls-id:abc=",
    "a=group:BUNDLE 0 1",
    "a=",
    "a=:",
    "x=1",
    "X=upper",
    "",
];

/// Soups that lenient mode often accepts, nearly always with warnings: one `o=`, each line that
/// may appear once at most once, and [`REPEATABLE`] lines, in any order.
fn shuffled_soup() -> impl Strategy<Value = Vec<String>> {
    (
        prop::sample::subsequence(
            vec!["s=-", "i=info", "u=y", "k=clear:x", "c=IN IP4 0.0.0.0"],
            0..=5,
        ),
        proptest::collection::vec(prop::sample::select(REPEATABLE), 0..16),
    )
        .prop_flat_map(|(once, many)| {
            let mut lines: Vec<String> = once.into_iter().chain(many).map(String::from).collect();
            lines.push("o=- 1 2 IN IP4 127.0.0.1".to_string());
            Just(lines).prop_shuffle()
        })
}

/// Soups in the grammar's order, from valid lines, into which at most one [`REPEATABLE`] line
/// is put anywhere: lenient mode accepts most, with no warning or with one.
fn ordered_soup() -> impl Strategy<Value = Vec<String>> {
    let attribute = || {
        proptest::collection::vec(
            prop::sample::select(vec![
                "a=mid:0",
                "a=sendrecv",
                "a=rtcp-mux",
                "a=tls-id:0123456789abcdef-_+/",
                "a=group:BUNDLE 0 1",
                "a=x-unknown:1",
            ]),
            0..4,
        )
    };
    let section = (
        prop::sample::select(vec![
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        ]),
        prop::sample::subsequence(
            vec!["i=title", "c=IN IP4 0.0.0.0", "b=AS:30", "k=prompt"],
            0..=4,
        ),
        attribute(),
    );
    (
        prop::sample::subsequence(
            vec![
                "i=info",
                "u=y",
                "e=j@x.example",
                "p=+1 555 0100",
                "c=IN IP4 0.0.0.0",
                "b=AS:30",
            ],
            0..=6,
        ),
        1usize..3,
        prop::sample::subsequence(vec!["k=clear:x"], 0..=1),
        attribute(),
        proptest::collection::vec(section, 0..3),
        proptest::option::of((
            any::<prop::sample::Index>(),
            prop::sample::select(REPEATABLE),
        )),
    )
        .prop_map(|(head, timings, key, attributes, media, extra)| {
            let mut lines = vec!["o=- 1 2 IN IP4 127.0.0.1", "s=-"];
            lines.extend(head);
            lines.extend(std::iter::repeat_n("t=0 0", timings));
            lines.extend(key);
            lines.extend(attributes);
            for (m, fields, attributes) in media {
                lines.push(m);
                lines.extend(fields);
                lines.extend(attributes);
            }
            if let Some((at, line)) = extra {
                lines.insert(at.index(lines.len() + 1), line);
            }
            lines.into_iter().map(String::from).collect()
        })
}

/// Line soups: any lines at all, shuffled ones, or ordered ones.
fn soup() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        proptest::collection::vec(soup_line(), 0..24),
        shuffled_soup(),
        ordered_soup(),
    ]
}

/// `v=0` and the soup's lines, each ended with CRLF or LF.
fn soup_text(lines: &[String], crlf: bool) -> String {
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut text = String::from("v=0");
    for l in lines {
        text.push_str(eol);
        text.push_str(l);
    }
    text.push_str(eol);
    text
}

proptest! {
    #[test]
    fn generated_descriptions_round_trip(d in description()) {
        let text = d.to_string();
        // Lenient mode reads every description back, warning about the unknown lines only.
        let p = parse_with(&text, &ParseOptions::lenient()).map_err(|e| TestCaseError::fail(format!("{e}: {:?}\n{text}", e.offending_line(&text))))?;
        prop_assert_eq!(&p.description, &d);
        prop_assert_eq!(&p.description.to_string(), &text);
        let unknown = unknown_types(&d);
        let warned: Vec<_> = p.warnings.iter().map(|w| w.kind).collect();
        let expected: Vec<_> = unknown.iter().map(|&c| WarningKind::UnknownLineType(c)).collect();
        prop_assert_eq!(warned, expected);
        // Strict mode reads it the same, or refuses the first unknown line.
        match unknown.first() {
            None => {
                let parsed = parse_strict(&text).map_err(|e| TestCaseError::fail(format!("{e}: {:?}\n{text}", e.offending_line(&text))))?;
                prop_assert_eq!(&parsed, &d);
            }
            Some(&c) => {
                let e = parse_strict(&text).expect_err("an unknown line type");
                prop_assert_eq!((e.line, e.kind), (p.warnings[0].line, ErrorKind::UnknownLineType(c)));
            }
        }
    }

    #[test]
    fn text_field_values_are_kept(
        t in prop::sample::select(vec!['u', 'e', 'p', 'k']),
        value in prop_oneof![
            uri(),
            email(),
            phone(),
            key(),
            re("[ -~]{0,24}"),
            re("[ -~\u{e9}\u{20ac}]{0,12}"),
        ],
        in_media in any::<bool>(),
    ) {
        // Valid or not, a u=, e=, p= or k= value is kept as written; lenient mode warns about
        // one that breaks its grammar exactly where strict mode refuses it.
        let head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n";
        let text = match (t, in_media) {
            ('k', true) => format!("{head}t=0 0\r\nm=audio 0 RTP/AVP 0\r\nk={value}\r\n"),
            ('k', false) => format!("{head}t=0 0\r\nk={value}\r\n"),
            _ => format!("{head}{t}={value}\r\nt=0 0\r\n"),
        };
        let p = parse_with(&text, &ParseOptions::lenient()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let d = &p.description;
        let kept = match t {
            'u' => d.uri,
            'e' => d.emails.first().copied(),
            'p' => d.phones.first().copied(),
            _ if in_media => d.media.first().and_then(|m| m.key),
            _ => d.key,
        };
        prop_assert_eq!(kept, Some(value));
        prop_assert_eq!(&d.to_string(), &text);
        match (p.warnings.as_slice(), parse_strict(&text)) {
            ([], Ok(strict)) => prop_assert_eq!(&strict, d),
            ([w], Err(e)) => {
                prop_assert_eq!(w.kind, WarningKind::InvalidField(t, e.kind));
                prop_assert_eq!((w.line, w.column), (e.line, e.column));
            }
            (w, strict) => {
                return Err(TestCaseError::fail(format!("{w:?} / {strict:?}\n{text}")));
            }
        }
    }

    #[test]
    fn candidates_round_trip_alone(c in candidate()) {
        let text = c.to_string();
        prop_assert_eq!(Candidate::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?, c);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        icebreaker_sdp::fuzz_parse(&data);
        icebreaker_sdp::fuzz_roundtrip(&data);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,256}") {
        icebreaker_sdp::fuzz_parse(s.as_bytes());
        icebreaker_sdp::fuzz_roundtrip(s.as_bytes());
    }

    #[test]
    fn line_soups_are_stable(lines in soup(), crlf in any::<bool>()) {
        let text = soup_text(&lines, crlf);
        icebreaker_sdp::fuzz_parse(text.as_bytes());
        icebreaker_sdp::fuzz_roundtrip(text.as_bytes());
        // Whatever parses in lenient mode has warnings only for lines that strict mode refuses.
        if let Ok(p) = parse_bytes(text.as_bytes(), &ParseOptions::lenient())
            && p.warnings.is_empty()
        {
            prop_assert!(parse_strict(&text).is_ok());
        }
    }

    #[test]
    fn lenient_warnings_are_strict_errors(lines in soup(), crlf in any::<bool>()) {
        let text = soup_text(&lines, crlf);
        let Ok(lenient) = parse_with(&text, &ParseOptions::lenient()) else {
            return Ok(());
        };
        let strict = parse_with(&text, &ParseOptions::strict());
        match lenient.warnings.first() {
            // Nothing tolerated: strict mode reads the same description.
            None => {
                let strict = strict.map_err(|e| TestCaseError::fail(format!("strict refused {e}: {:?}\n{text:?}", e.offending_line(&text))))?;
                prop_assert!(strict.warnings.is_empty());
                prop_assert_eq!(strict.description, lenient.description);
            }
            // Something tolerated: strict mode refuses it, where the first warning is.
            Some(w) => {
                let Err(e) = strict else {
                    return Err(TestCaseError::fail(format!("strict accepted what lenient warned about: {w}\n{text:?}")));
                };
                prop_assert_eq!((e.line, e.column), (w.line, w.column), "{} / {}\n{:?}", e, w, text);
            }
        }
    }
}
