//! The `serde` feature: the parsed description serialises to JSON (what `sdp parse --json`
//! prints). Built only with the feature (`required-features` in Cargo.toml), which the crate's
//! dev-dependency on itself turns on for `cargo test -p icebreaker-sdp`.

use icebreaker_sdp::{ParseOptions, parse_with};

#[test]
fn chrome_offer_as_json() {
    let text = include_str!("fixtures/chrome_datachannel_gathered.sdp");
    let parsed = parse_with(text, &ParseOptions::lenient()).expect("parses");
    let json = serde_json::to_value(&parsed).expect("serialises");
    let d = &json["description"];
    assert_eq!(d["origin"]["session_id"], "4611731400430051336");
    assert_eq!(d["origin"]["net_type"], "In");
    assert_eq!(d["media"][0]["kind"], "Application");
    assert_eq!(d["media"][0]["port"], 54321);
    let cand = &d["media"][0]["attributes"][0]["Candidate"];
    assert_eq!(
        cand["address"],
        "c8b3f2e1-6b49-4d0d-a1f5-2a4c5e0a7d1b.local"
    );
    assert_eq!(cand["typ"], "Host");
    assert_eq!(cand["priority"], 2_113_937_151_u32);
    assert_eq!(json["warnings"], serde_json::json!([]));
}

#[test]
fn errors_and_warnings_as_json() {
    let text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nx=1\r\n";
    let parsed = parse_with(text, &ParseOptions::lenient()).expect("lenient");
    let w = serde_json::to_value(&parsed.warnings).expect("warnings");
    assert_eq!(w[0]["line"], 5);
    assert_eq!(w[0]["kind"]["UnknownLineType"], "x");
    let e = parse_with(text, &ParseOptions::strict()).expect_err("strict");
    let e = serde_json::to_value(e).expect("error");
    assert_eq!(e["line"], 5);
}
