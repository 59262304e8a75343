//! Time descriptions (RFC 8866 §9): `t=`, its `r=` lines, and the `z=` line that may end them,
//! several per description.

use icebreaker_sdp::{ErrorKind, ParseOptions, WarningKind, parse, parse_strict, parse_with};

const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n";
const TAIL: &str = "a=recvonly\r\n";

fn text(times: &str) -> String {
    format!("{HEAD}{times}{TAIL}")
}

/// The `(line, kind)` of each lenient-mode warning.
fn warnings(text: &str) -> Vec<(usize, WarningKind)> {
    let parsed = parse_with(text, &ParseOptions::lenient()).expect("lenient parse");
    parsed.warnings.iter().map(|w| (w.line, w.kind)).collect()
}

#[test]
fn each_time_description_has_its_own_zone_adjustments() {
    let t = text(concat!(
        "t=3034423619 3042462419\r\n",
        "r=7d 1h 0 25h\r\n",
        "z=2882844526 -1h 2898848070 0\r\n",
        "t=3042462419 3050501219\r\n",
        "r=1d 1h 0\r\n",
        "r=2d 1h 0\r\n",
        "z=2898848070 1h\r\n",
        "t=0 0\r\n",
    ));
    let d = parse_strict(&t).expect("three time descriptions, two with z=");
    let zones: Vec<Vec<(u64, i128)>> = d
        .timings
        .iter()
        .map(|tm| {
            tm.zone_adjustments
                .iter()
                .flat_map(|z| z.iter().map(|(at, o)| (at, o.seconds())))
                .collect()
        })
        .collect();
    assert_eq!(
        zones,
        [
            vec![(2_882_844_526, -3600), (2_898_848_070, 0)],
            vec![(2_898_848_070, 3600)],
            vec![],
        ]
    );
    let repeats: Vec<usize> = d.timings.iter().map(|tm| tm.repeats.len()).collect();
    assert_eq!(repeats, [1, 2, 0]);
    // Each z= is written back after the r= lines of its own t=.
    assert_eq!(d.to_string(), t);
}

#[test]
fn a_zone_needs_a_repeat_before_it() {
    // RFC 8866 §9: `repeat-description = 1*repeat-field [zone-field]`.
    let t = text("t=0 0\r\nz=2882844526 -1h\r\n");
    let e = parse_strict(&t).expect_err("z= without r=");
    assert_eq!(
        (e.line, e.column, e.kind),
        (5, 1, ErrorKind::ZoneWithoutRepeat)
    );
    assert_eq!(
        e.to_string(),
        "5:1: z= line without an r= line before it in its time description"
    );
    // Lenient mode takes the RFC 4566 form, a z= after the last t=, and keeps it there.
    assert_eq!(warnings(&t), [(5, WarningKind::ZoneWithoutRepeat)]);
    let d = parse(&t).expect("lenient");
    assert!(d.timings[0].repeats.is_empty());
    assert_eq!(
        d.timings[0].zone_adjustments.map(|z| z.0),
        Some("2882844526 -1h")
    );
    assert_eq!(d.to_string(), t);
}

#[test]
fn a_zone_ends_the_repeats_of_its_time_description() {
    let t = text("t=0 0\r\nr=7d 1h 0\r\nz=2882844526 -1h\r\nr=1d 1h 0\r\n");
    let e = parse_strict(&t).expect_err("r= after z=");
    assert_eq!((e.line, e.kind), (7, ErrorKind::OutOfOrder('r')));
    // Lenient: the r= joins its time description, and is written before the z=.
    assert_eq!(warnings(&t), [(7, WarningKind::OutOfOrder('r'))]);
    let d = parse(&t).expect("lenient");
    assert_eq!(d.timings[0].repeats.len(), 2);
    assert_eq!(
        d.to_string(),
        text("t=0 0\r\nr=7d 1h 0\r\nr=1d 1h 0\r\nz=2882844526 -1h\r\n")
    );
}

#[test]
fn one_zone_per_time_description() {
    let t = text("t=0 0\r\nr=7d 1h 0\r\nz=2882844526 -1h\r\nz=2898848070 0\r\n");
    for e in [parse_strict(&t), parse(&t)].map(|r| r.expect_err("two z=")) {
        assert_eq!((e.line, e.kind), (7, ErrorKind::DuplicateLine('z')));
    }
}

#[test]
fn a_zone_before_any_time_description_is_refused() {
    let t = format!("{HEAD}z=2882844526 -1h\r\nt=0 0\r\n");
    for e in [parse_strict(&t), parse(&t)].map(|r| r.expect_err("z= before t=")) {
        assert_eq!((e.line, e.kind), (4, ErrorKind::OutOfOrder('z')));
    }
}

#[test]
fn time_descriptions_come_before_the_key_and_the_attributes() {
    let t = format!("{HEAD}t=0 0\r\nr=7d 1h 0\r\nk=prompt\r\nz=2882844526 -1h\r\n");
    let e = parse_strict(&t).expect_err("z= after k=");
    assert_eq!((e.line, e.kind), (7, ErrorKind::OutOfOrder('z')));
}
