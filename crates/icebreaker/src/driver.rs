//! The tokio driver of a [`Peer`]: UDP sockets on the host's interfaces, timers from
//! `poll_timeout`, and two channels of [`Signal`]s (in from the other side or the user, out to
//! them).
//!
//! The loop (DESIGN.md B7): drain `poll_transmit` into `send_to`, drain `poll_signal` into the
//! output channel, then wait for the first of a datagram (stamped with `Instant::now()` when it
//! was read), an input signal, the peer's timer or the shutdown future. Nothing polls: with no
//! timer and no input the task sleeps.
//!
//! Each socket has a reader task feeding one channel; sends use `send_to` one datagram at a
//! time (no `sendmmsg`/`recvmmsg` batching: a peer sends a few checks per Ta, far from where
//! batching pays).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::peer::{Peer, PeerConfig, Role, Signal};

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_535;
/// How long an mDNS name may take to resolve before its candidate is dropped.
const MDNS_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The addresses to bind peer sockets on: `127.0.0.1` when `loopback_only`, else every IPv4
/// interface address that is up and neither loopback nor link-local (falling back to
/// `127.0.0.1` when there is none).
pub fn interface_addresses(loopback_only: bool) -> Vec<IpAddr> {
    let loopback = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    if loopback_only {
        return loopback;
    }
    let found: Vec<IpAddr> = match if_addrs::get_if_addrs() {
        Ok(list) => list
            .into_iter()
            .map(|i| i.ip())
            .filter(|ip| match ip {
                IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified(),
                IpAddr::V6(_) => false,
            })
            .collect(),
        Err(e) => {
            tracing::warn!("cannot list the network interfaces: {e}");
            Vec::new()
        }
    };
    if found.is_empty() { loopback } else { found }
}

/// Binds one UDP socket (ephemeral port) on each address.
///
/// # Errors
/// When no socket could be bound.
pub async fn bind_sockets(ips: &[IpAddr]) -> std::io::Result<Vec<Arc<UdpSocket>>> {
    let mut out = Vec::new();
    let mut last = None;
    for ip in ips {
        match UdpSocket::bind(SocketAddr::new(*ip, 0)).await {
            Ok(s) => out.push(Arc::new(s)),
            Err(e) => {
                tracing::warn!(%ip, "cannot bind: {e}");
                last = Some(e);
            }
        }
    }
    if out.is_empty() {
        return Err(last.unwrap_or_else(|| std::io::Error::other("no address to bind")));
    }
    Ok(out)
}

/// How the driver starts.
#[derive(Debug)]
pub struct DriverOptions {
    /// The peer's settings; `host_addresses` is filled in from the sockets.
    pub config: PeerConfig,
    /// When no role was asked for: an offerer that receives an offer before any answer becomes
    /// the answerer (two people pasting into each other's terminals).
    pub auto_role: bool,
}

/// Runs a peer on `sockets` until `shutdown` completes or the input channel closes and the peer
/// has nothing left to do. Signals from `input` go to the peer; everything the peer signals goes
/// to `output`.
pub async fn run(
    mut options: DriverOptions,
    sockets: Vec<Arc<UdpSocket>>,
    mut input: mpsc::Receiver<Signal>,
    output: mpsc::Sender<Signal>,
    shutdown: impl Future<Output = ()>,
) {
    options.config.host_addresses = sockets.iter().filter_map(|s| s.local_addr().ok()).collect();
    let (dgram_tx, mut dgrams) = mpsc::channel::<(SocketAddr, SocketAddr, Vec<u8>, Instant)>(1024);
    let mut readers = Vec::new();
    for s in &sockets {
        let (s, tx) = (s.clone(), dgram_tx.clone());
        readers.push(tokio::spawn(async move {
            let Ok(local) = s.local_addr() else { return };
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                match s.recv_from(&mut buf).await {
                    Ok((n, from)) => {
                        let data = buf.get(..n).unwrap_or_default().to_vec();
                        if tx.send((local, from, data, Instant::now())).await.is_err() {
                            return;
                        }
                    }
                    // ICMP errors surface here on some systems: not fatal.
                    Err(e) => tracing::trace!(%local, "receive error: {e}"),
                }
            }
        }));
    }
    drop(dgram_tx);
    // mDNS answers come back here from their resolving tasks (at most 32 wait at a time).
    let (mdns_tx, mut mdns_rx) = mpsc::channel::<(String, Option<std::net::IpAddr>)>(32);
    let mut peer = Peer::new(options.config.clone(), Instant::now());
    let mut auto_role = options.auto_role;
    let mut input_open = true;
    let mut buf = Vec::new();
    let mut shutdown = core::pin::pin!(shutdown);
    loop {
        while let Some(t) = peer.poll_transmit(&mut buf) {
            let socket = sockets
                .iter()
                .find(|s| s.local_addr().is_ok_and(|a| a == t.from));
            match socket {
                Some(s) => {
                    if let Err(e) = s.send_to(&buf, t.to).await {
                        tracing::debug!(from = %t.from, to = %t.to, "send failed: {e}");
                    }
                }
                None => tracing::debug!(from = %t.from, "no socket for this address"),
            }
        }
        while let Some(s) = peer.poll_signal() {
            if output.send(s).await.is_err() {
                tracing::debug!("output closed");
            }
        }
        while let Some(name) = peer.poll_mdns_query() {
            let tx = mdns_tx.clone();
            tokio::spawn(async move {
                let ip = crate::mdns::resolve(&name, crate::mdns::MDNS_V4, MDNS_LIMIT).await;
                if ip.is_none() {
                    tracing::debug!("mDNS name {name} not resolved; its candidate is dropped");
                }
                let _ = tx.send((name, ip)).await;
            });
        }
        let deadline = peer.poll_timeout();
        tokio::select! {
            () = &mut shutdown => break,
            d = dgrams.recv() => match d {
                Some((local, from, data, at)) => peer.handle_receive(at, from, local, &data),
                None => break,
            },
            msg = input.recv(), if input_open => match msg {
                Some(msg) => {
                    if auto_role
                        && matches!(msg, Signal::Offer { .. })
                        && peer.role() == Role::Offerer
                        && peer.state() != icebreaker_ice::State::Connected
                    {
                        tracing::info!("an offer arrived: answering it instead of offering");
                        options.config.role = Role::Answerer;
                        peer = Peer::new(options.config.clone(), Instant::now());
                    }
                    if matches!(msg, Signal::Answer { .. } | Signal::Offer { .. }) {
                        auto_role = false;
                    }
                    peer.handle_signal(Instant::now(), msg);
                }
                None => input_open = false,
            },
            Some((name, ip)) = mdns_rx.recv() => peer.resolve_mdns(&name, ip),
            () = sleep_until(deadline) => peer.handle_timeout(Instant::now()),
        }
    }
    for r in readers {
        r.abort();
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
