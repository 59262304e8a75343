//! `icebreaker` without a subcommand: a short tour of what works today, entirely on loopback.
//!
//! It starts an RFC 5780 STUN server in-process on 127.0.0.1 and 127.0.0.2 (ephemeral ports),
//! asks it for the mapped address, runs NAT behaviour discovery against it, and decodes the RFC
//! 5769 sample request. Later the NAT-matrix demo replaces it.

use std::io::Write as _;
use std::time::Duration;

use icebreaker_stun::discovery::DiscoveryConfig;
use icebreaker_stun::transaction::TransactionConfig;

use crate::cli::{EXIT_FAILURE, EXIT_OK, render_binding, render_nat};
use crate::server::{ServerOptions, start};
use crate::{client, decode, entropy};

/// RFC 5769 §2.1, the sample request (short-term password `VOkJxbRl1RmTxUk/WvJxBt`).
pub const RFC5769_REQUEST: &str = "000100582112a442b7e7a701bc34d686fa87dfae\
    802200105354554e207465737420636c69656e74002400046e0001ff80290008932ff9b151263b36\
    000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2\
    80280004e57a3bcf";

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// Runs the tour, printing to stdout; returns the exit status.
pub async fn run() -> u8 {
    match tour().await {
        Ok(()) => EXIT_OK,
        // Stdout closed early (`| head`): not an error of the tour.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILURE
        }
    }
}

async fn tour() -> Result<(), Box<dyn std::error::Error>> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "icebreaker: connecting peers across NATs, one sans-IO crate at a time."
    )?;
    writeln!(
        out,
        "This tour runs on loopback only (127.0.0.1 and 127.0.0.2).\n"
    )?;

    let server = start(ServerOptions {
        listen: "127.0.0.1:0".parse()?,
        other: Some("127.0.0.2:0".parse()?),
        software: None,
    })
    .await?;
    let list: Vec<String> = server.addresses().iter().map(ToString::to_string).collect();
    writeln!(
        out,
        "1. An RFC 5780 STUN server (icebreaker stun-server --listen 127.0.0.1:0 --other 127.0.0.2:0)"
    )?;
    writeln!(out, "    listening on {}\n", list.join(", "))?;

    let primary = server.primary();
    let mut rng = entropy::os_seeded_rng()?;
    let config = TransactionConfig {
        rto: Duration::from_millis(100),
        max_sends: 5,
        ..Default::default()
    };
    let outcome = client::binding(primary, "0.0.0.0:0".parse()?, config, &mut rng).await?;
    writeln!(
        out,
        "2. My address as the server sees it (icebreaker stun-client {primary})"
    )?;
    write!(out, "{}", indent(&render_binding(&outcome)))?;
    writeln!(out)?;

    let (result, took) = client::nat_type(
        primary,
        "0.0.0.0:0".parse()?,
        DiscoveryConfig::default(),
        &mut rng,
    )
    .await?;
    writeln!(
        out,
        "3. NAT behaviour discovery, RFC 5780 (icebreaker nat-type {primary})"
    )?;
    write!(out, "{}", indent(&render_nat(&result?, took)))?;
    writeln!(out)?;

    let bytes = decode::parse_hex(RFC5769_REQUEST)?;
    let credential = decode::Credential::ShortTerm {
        password: "VOkJxbRl1RmTxUk/WvJxBt".to_owned(),
    };
    let report = decode::decode(&bytes, Some(&credential))?;
    writeln!(
        out,
        "4. The RFC 5769 sample request (icebreaker stun decode HEX --password ...)"
    )?;
    write!(out, "{}", indent(&decode::render_text(&report)))?;
    writeln!(out)?;

    let stats = server.shutdown().await;
    writeln!(
        out,
        "The server answered {} requests. Next: `icebreaker --help`; TURN, ICE and the NAT-matrix demo are on the way.",
        stats.answered
    )?;
    Ok(())
}
