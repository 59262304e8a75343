//! Simulator and NAT model benches: packet deliveries per second through a NAT and a lossy link,
//! NAT translations per second, and the whole 6×6 hole-punching table over 10 seeds.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use icebreaker_nat::{Nat, NatConfig};
use icebreaker_sim::punch::{self, CLASSIC, EXPECTED, PlainCodec, PunchConfig};
use icebreaker_sim::{Datagram, Endpoint, LinkConfig, RealmId, Sim, SimConfig};

/// Sends `per_tick` datagrams every `tick` until `total` are sent.
struct Blaster {
    from: SocketAddr,
    to: SocketAddr,
    data: Bytes,
    left: u64,
    per_tick: u64,
    burst: u64,
    tick: Duration,
    next: Option<Instant>,
}

impl Endpoint for Blaster {
    fn handle_receive(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
    fn handle_timeout(&mut self, now: Instant) {
        self.burst = self.per_tick.min(self.left);
        self.left -= self.burst;
        self.next = (self.left > 0).then(|| now + self.tick);
    }
    fn poll_transmit(&mut self) -> Option<Datagram> {
        if self.burst == 0 {
            return None;
        }
        self.burst -= 1;
        Some(Datagram {
            from: self.from,
            to: self.to,
            data: self.data.clone(),
        })
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
}

/// Counts what arrives.
struct Sink(u64);

impl Endpoint for Sink {
    fn handle_receive(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, data: &[u8]) {
        self.0 += data.len() as u64;
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<Datagram> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

const PACKETS: u64 = 100_000;

fn setup(seed: u64) -> Sim {
    let epoch = Instant::now();
    let config = SimConfig {
        record_trace: false,
        ..SimConfig::default()
    };
    let mut sim = Sim::with_config(seed, epoch, config);
    sim.set_link(RealmId::PUBLIC, LinkConfig::internet().with_loss(0.01));
    let sink_ip = sim.alloc_ip(RealmId::PUBLIC).unwrap();
    let to = SocketAddr::new(sink_ip, 9);
    sim.add_host(RealmId::PUBLIC, &[sink_ip], Box::new(Sink(0)))
        .unwrap();
    let (_, home) = sim
        .add_nat(
            RealmId::PUBLIC,
            NatConfig::port_restricted_cone(),
            LinkConfig::lan(),
        )
        .unwrap();
    let ip = sim.alloc_ip(home).unwrap();
    let blaster = Blaster {
        from: SocketAddr::new(ip, 5000),
        to,
        data: Bytes::from_static(&[0u8; 100]),
        left: PACKETS,
        per_tick: 10,
        burst: 0,
        tick: Duration::from_micros(100),
        next: Some(epoch),
    };
    sim.add_host(home, &[ip], Box::new(blaster)).unwrap();
    sim
}

fn deliveries(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim");
    g.throughput(Throughput::Elements(PACKETS));
    g.sample_size(20);
    g.bench_function("deliveries_through_nat_and_lossy_link", |b| {
        b.iter_batched(
            || setup(1),
            |mut sim| {
                sim.run_for(Duration::from_secs(60)).unwrap();
                black_box(sim.stats())
            },
            criterion::BatchSize::LargeInput,
        );
    });
    // The same work timed in CPU time of this thread (Linux), so a busy shared machine does not
    // understate single-core throughput; falls back to wall-clock time elsewhere.
    g.bench_function("deliveries_through_nat_and_lossy_link_cpu_time", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let mut sim = setup(i);
                let (cpu, wall) = (thread_cpu(), Instant::now());
                sim.run_for(Duration::from_secs(60)).unwrap();
                black_box(sim.stats());
                total += match (cpu, thread_cpu()) {
                    (Some(a), Some(b)) => b.saturating_sub(a),
                    _ => wall.elapsed(),
                };
            }
            total
        });
    });
    g.finish();
}

/// CPU time of the current thread, from /proc (Linux only).
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn nat_translations(c: &mut Criterion) {
    let mut g = c.benchmark_group("nat");
    g.throughput(Throughput::Elements(2));
    let mut nat = Nat::new(
        NatConfig::port_restricted_cone(),
        &["203.0.113.1".parse().unwrap()],
        1,
    );
    let t = Instant::now();
    let from: SocketAddr = "10.0.0.2:5000".parse().unwrap();
    let to: SocketAddr = "198.51.100.1:3478".parse().unwrap();
    let mut i = 0u64;
    g.bench_function("outbound_then_inbound", |b| {
        b.iter(|| {
            i += 1;
            let now = t + Duration::from_nanos(i);
            let ext = nat.outbound(now, black_box(from), to).unwrap();
            black_box(nat.inbound(now, to, ext).unwrap())
        });
    });
    g.finish();
}

fn punch_table(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim");
    g.throughput(Throughput::Elements(36 * 10));
    g.sample_size(10);
    let specs: Vec<_> = CLASSIC.iter().map(|s| s.parse().unwrap()).collect();
    g.bench_function("punch_table_6x6_10_seeds", |b| {
        b.iter(|| {
            let epoch = Instant::now();
            let mut direct = 0;
            for seed in 0..10 {
                for a in &specs {
                    for bb in &specs {
                        let config =
                            PunchConfig::new(Clone::clone(a), Clone::clone(bb), seed, epoch);
                        direct += usize::from(punch::run(&config, PlainCodec).unwrap().direct);
                    }
                }
            }
            let expected: usize = EXPECTED.iter().flatten().filter(|d| **d).count() * 10;
            assert_eq!(direct, expected);
            direct
        });
    });
    g.finish();
}

criterion_group!(benches, deliveries, nat_translations, punch_table);
criterion_main!(benches);
