//! `icebreaker` without a subcommand: the tour.
//!
//! 1. The simulated internet: A and B behind every pairing of six classic NAT types, without
//!    and with a TURN relay, as two tables (how they connected, over which candidate types, and
//!    how long it took in simulated milliseconds).
//! 2. One interesting attempt (A behind a port-restricted NAT, B behind a symmetric one) as a
//!    ladder, from gathering to the selected pair.
//! 3. For real, on loopback: a STUN server, a TURN server (`icebreaker turn-server`'s code) and a
//!    signalling server on real sockets, and two peers that find each other through them and
//!    exchange messages, once directly and once forced through the relay.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use icebreaker_ice::{AgentConfig, CandidateKind, TurnServer};
use rand_chacha::rand_core::Rng as _;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::cli::{EXIT_FAILURE, EXIT_OK, emit};
use crate::driver::{self, DriverOptions};
use crate::peer::{PeerConfig, Reports, Role, Signal};
use crate::scenario::{self, CLASSIC, Scenario, Side};
use crate::server::{ServerOptions, start};

type DemoResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Runs the tour, printing to stdout; returns the exit status.
pub async fn run() -> u8 {
    match tour().await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILURE
        }
    }
}

fn short(kind: CandidateKind) -> &'static str {
    match kind {
        CandidateKind::Host => "host",
        CandidateKind::ServerReflexive => "srflx",
        CandidateKind::PeerReflexive => "prflx",
        CandidateKind::Relayed => "relay",
    }
}

fn pair(sel: Option<&(Side, Side)>) -> String {
    sel.map_or_else(String::new, |(l, r)| {
        format!("{}>{}", short(l.kind), short(r.kind))
    })
}

/// The 6×6 table: one row per NAT of A, one column per NAT of B.
fn table(turn: bool) -> DemoResult<String> {
    let cells = scenario::matrix(1, turn, 0.0, Duration::from_millis(40))?;
    let mut s = String::new();
    let w = 25;
    let _ = write!(s, "  {:<16}", "A \\ B");
    for b in CLASSIC {
        let _ = write!(s, "{b:<w$}");
    }
    s.push('\n');
    for a in CLASSIC {
        let _ = write!(s, "  {a:<16}");
        for b in CLASSIC {
            let cell = cells
                .iter()
                .find(|c| c.a == a && c.b == b)
                .ok_or("missing cell")?;
            let o = &cell.outcome;
            let text = match o.time_to_connect {
                Some(t) if o.connected => format!(
                    "{} {} {}ms",
                    o.verdict(),
                    pair(o.selected.as_ref()),
                    t.as_millis()
                ),
                _ => "FAILED".to_owned(),
            };
            let _ = write!(s, "{text:<w$}");
        }
        s.push('\n');
    }
    let (direct, relay, failed) =
        cells
            .iter()
            .fold((0, 0, 0), |(d, r, f), c| match c.outcome.verdict() {
                "direct" => (d + 1, r, f),
                "relay" => (d, r + 1, f),
                _ => (d, r, f + 1),
            });
    let _ = writeln!(
        s,
        "  {direct} direct, {relay} through the relay, {failed} failed"
    );
    Ok(s)
}

async fn tour() -> DemoResult<()> {
    emit(
        "icebreaker: A and B want to talk, each behind a NAT they did not choose.\n\
         Each gathers candidate addresses (host: its own; srflx: as a STUN server sees it;\n\
         relay: borrowed on a TURN server), they swap them through a signalling channel\n\
         (offer, answer, trickled candidates), and ICE checks every pair until one works.\n\n",
    );

    let t = Instant::now();
    emit(
        "1. The simulated internet: every pairing of six NATs (A, the offerer, down the side;\n   \
         B across). Each cell: how they connected, A's selected pair (local>remote),\n   \
         simulated ms until both were connected. 40 ms round trip between the NATs.\n\n",
    );
    emit("   Without a TURN server:\n");
    emit(&table(false)?);
    emit("\n   With a TURN server (relay candidates too):\n");
    emit(&table(true)?);
    emit(&format!(
        "   (72 attempts simulated in {} ms of real time.)\n\n",
        t.elapsed().as_millis()
    ));

    emit(
        "2. One attempt up close: A behind a port-restricted NAT, B behind a symmetric one\n   \
         (a new public port for every destination, so B's srflx candidate is useless to A).\n\n",
    );
    let mut sc = Scenario::new("port-restricted".parse()?, "symmetric".parse()?, 1);
    sc.trace = true;
    let o = scenario::run(&sc)?;
    let ladder = &o.ladder;
    let last_selected = ladder
        .iter()
        .rposition(|l| l.contains(" selected "))
        .unwrap_or(ladder.len().saturating_sub(1));
    const HEAD: usize = 40;
    for line in ladder.iter().take(HEAD.min(last_selected + 1)) {
        emit(&format!("   {line}\n"));
    }
    if last_selected + 1 > HEAD {
        let skipped = ladder.get(HEAD..last_selected).map_or(0, |s| {
            s.iter().filter(|l| !l.contains(" selected ")).count()
        });
        emit(&format!("   ... {skipped} more packets ...\n"));
        for line in ladder.iter().take(last_selected + 1).skip(HEAD) {
            if line.contains(" selected ") || line.contains(" is ") {
                emit(&format!("   {line}\n"));
            }
        }
    }
    emit(&format!(
        "   => {} after {} ms: {}\n\n",
        o.verdict(),
        o.time_to_connect.map_or(0, |t| t.as_millis()),
        pair(o.selected.as_ref())
    ));

    real().await
}

/// Part 3: real sockets on loopback.
async fn real() -> DemoResult<()> {
    emit("3. For real, on loopback, every server in this process, A and B on 127.0.0.3:\n");
    let stun = start(ServerOptions::new("127.0.0.1:0".parse()?)).await?;
    let stun_addr = stun.primary();
    emit(&format!("   STUN server       {stun_addr}\n"));

    // The TURN server of `icebreaker turn-server`, on a port picked here.
    let turn_addr = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0")?;
        probe.local_addr()?
    };
    let args = crate::turn_server::TurnServerArgs {
        listen: turn_addr,
        realm: "icebreaker".into(),
        users: vec!["demo:demo-secret".into()],
        auth_secrets: Vec::new(),
        // Relayed addresses on 127.0.0.2: a TURN server never relays to its own addresses, so
        // the peers live on 127.0.0.3.
        relay_ip: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))),
        external_ip: None,
        ports: None,
        // Loopback is refused by default, as it should be on a real server.
        allow_peer: vec!["127.0.0.0/8".parse()?],
        user_quota: None,
        total_quota: None,
        software: None,
        nonce_lifetime: None,
        max_connections: None,
        max_connections_per_ip: None,
        stream_idle: None,
        stream_queue_total: None,
        tls_listen: None,
        cert: None,
        key: None,
        json: false,
    };
    emit("   TURN server       ");
    let turn_task = tokio::spawn(crate::turn_server::run(args));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let signal = crate::signal::start("127.0.0.1:0".parse()?, Default::default()).await?;
    emit(&format!(
        "   signalling server ws://{}/ROOM\n\n",
        signal.local_addr()
    ));

    let mut result = Ok(());
    for (room, relay_only, title) in [
        ("direct", false, "a) Directly"),
        (
            "relayed",
            true,
            "b) A forced through the TURN relay (relay_only: A signals its relayed candidate only)",
        ),
    ] {
        emit(&format!("   {title}:\n"));
        let url = format!("ws://{}/{room}", signal.local_addr());
        if let Err(e) = attempt(&url, stun_addr, turn_addr, relay_only).await {
            result = Err(e);
            break;
        }
        emit("\n");
    }
    signal.shutdown();
    turn_task.abort();
    let stats = stun.shutdown().await;
    if result.is_ok() {
        emit(&format!(
            "   The STUN server answered {} requests. Try it across machines:\n   \
             icebreaker signal-server --listen 0.0.0.0:8080, then on each side\n   \
             icebreaker peer --signal ws://HOST:8080/myroom --stun stun:HOST:3478, and type.\n",
            stats.answered
        ));
    }
    result
}

/// A peer on loopback sockets, signalling through the WebSocket server: its input channel and
/// its task. Reports (state, selected, message, error) go to `reports`.
async fn ws_peer(
    url: &str,
    name: char,
    role: Role,
    agent: AgentConfig,
    reports: mpsc::Sender<(char, Signal, Instant)>,
) -> DemoResult<(mpsc::Sender<Signal>, tokio::task::JoinHandle<()>)> {
    let (ws, _) = tokio_tungstenite::connect_async(url).await?;
    let (mut sink, mut frames) = ws.split();
    // The server's `joined` notice first.
    let _ = tokio::time::timeout(Duration::from_secs(5), frames.next()).await?;
    let (in_tx, in_rx) = mpsc::channel::<Signal>(64);
    let (out_tx, mut out_rx) = mpsc::channel::<Signal>(64);
    tokio::spawn(async move {
        while let Some(s) = out_rx.recv().await {
            if s.is_for_remote() {
                let _ = sink.send(Message::text(s.to_json())).await;
            } else {
                let _ = reports.send((name, s, Instant::now())).await;
            }
        }
    });
    let tx = in_tx.clone();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = frames.next().await {
            if let Message::Text(t) = frame
                && let Ok(s) = Signal::parse(t.as_str())
            {
                let _ = tx.send(s).await;
            }
        }
    });
    let sockets = driver::bind_sockets(&[IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))]).await?;
    let options = DriverOptions {
        config: PeerConfig {
            role,
            agent,
            host_addresses: Vec::new(),
            reports: Reports::Signals,
            trickle: true,
            restart_on_failure: false,
        },
        auto_role: false,
        stream_turns: Vec::new(),
    };
    let task = tokio::spawn(driver::run(
        options,
        sockets,
        in_rx,
        out_tx,
        std::future::pending(),
    ));
    Ok((in_tx, task))
}

async fn attempt(
    url: &str,
    stun: SocketAddr,
    turn: SocketAddr,
    relay_only: bool,
) -> DemoResult<()> {
    let mut rng = crate::entropy::os_seeded_rng()?;
    let agent = |rng: &mut rand_chacha::ChaCha20Rng, relay_only: bool| {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        AgentConfig {
            stun_servers: vec![stun],
            turn_servers: vec![TurnServer {
                server: turn,
                transport: icebreaker_ice::TurnTransport::Udp,
                username: "demo".into(),
                password: "demo-secret".into(),
            }],
            relay_only,
            rng_seed: seed,
            ..AgentConfig::default()
        }
    };
    let (reports_tx, mut reports) = mpsc::channel(256);
    let t0 = Instant::now();
    let (a_in, a_task) = ws_peer(
        url,
        'A',
        Role::Offerer,
        agent(&mut rng, relay_only),
        reports_tx.clone(),
    )
    .await?;
    let (b_in, b_task) =
        ws_peer(url, 'B', Role::Answerer, agent(&mut rng, false), reports_tx).await?;
    let outcome = async {
        let mut selected = [None, None];
        let mut connected_at = None;
        let deadline = t0 + Duration::from_secs(10);
        let mut sent = false;
        let mut got = 0;
        while got < 2 {
            let (name, s, at) = tokio::time::timeout_at(deadline.into(), reports.recv())
                .await
                .map_err(|_| "no connection within 10 s")?
                .ok_or("peers stopped")?;
            match s {
                Signal::Selected { local, remote } => {
                    let i = usize::from(name == 'B');
                    selected[i] = Some((local, remote));
                }
                Signal::Message { data } => {
                    got += 1;
                    emit(&format!(
                        "      {name} received {data:?} ({} ms after sending)\n",
                        at.duration_since(connected_at.unwrap_or(t0)).as_millis()
                    ));
                }
                Signal::Error { message } if !message.starts_with("cannot send") => {
                    emit(&format!("      {name}: error: {message}\n"));
                }
                _ => {}
            }
            if !sent && selected.iter().all(Option::is_some) {
                let took = at.duration_since(t0);
                connected_at = Some(at);
                for (n, sel) in ['A', 'B'].iter().zip(&selected) {
                    if let Some((l, r)) = sel {
                        emit(&format!("      {n} selected {l}\n                -> {r}\n"));
                    }
                }
                emit(&format!(
                    "      connected in {:.1} ms (real time, from the first signalling message)\n",
                    took.as_secs_f64() * 1000.0
                ));
                let _ = a_in
                    .send(Signal::Send {
                        data: "Hi B, it's A.".into(),
                    })
                    .await;
                let _ = b_in
                    .send(Signal::Send {
                        data: "Hello A! B here.".into(),
                    })
                    .await;
                sent = true;
            }
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    a_task.abort();
    b_task.abort();
    outcome
}
