//! The server's allocation table: allocations in a slab, found by 5-tuple and by relayed
//! address through hashed indexes.
//!
//! The relay paths look an allocation up for every datagram, so the indexes are hash maps with
//! foldhash, a fast hasher, instead of `BTreeMap`s (whose lookups compare whole socket addresses
//! log n times). The keys are partly chosen by clients (their source address and port), so the
//! hasher is seeded from the server's secret RNG seed: without the seed nobody can compute which
//! keys collide, and the table never holds more than `total_quota` entries anyway.
//!
//! Decisions never depend on the hash maps' iteration order: they are only ever used for
//! lookups. Iteration goes over the slab, whose order depends only on the sequence of inserts
//! and removals, so a seeded run replays identically.

use core::hash::{Hash, Hasher};
use core::net::SocketAddr;
// HashMap: lookups only; every iteration goes over the slab (see the module docs).
use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::FiveTuple;

/// A 5-tuple as a hash key: hashed as two or three machine words instead of field by field
/// (the derived `Hash` of two `SocketAddr`s costs several times more). Equality is the 5-tuple's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TupleKey(FiveTuple);

impl Hash for TupleKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let ft = &self.0;
        let transport = ft.transport as u64;
        match (ft.client, ft.server) {
            (SocketAddr::V4(c), SocketAddr::V4(s)) => {
                state.write_u64(u64::from(c.ip().to_bits()) << 16 | u64::from(c.port()));
                state.write_u64(
                    (u64::from(s.ip().to_bits()) << 16 | u64::from(s.port())) << 2 | transport,
                );
            }
            (c, s) => {
                AddrKey(c).hash(state);
                AddrKey(s).hash(state);
                state.write_u64(transport);
            }
        }
    }
}

/// A socket address as a hash key, hashed as one or two machine words. Equality is the
/// address's (flow label and scope included; they are left out of the hash, which is allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AddrKey(SocketAddr);

impl Hash for AddrKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self.0 {
            SocketAddr::V4(a) => {
                state.write_u64(u64::from(a.ip().to_bits()) << 16 | u64::from(a.port()));
            }
            SocketAddr::V6(a) => {
                state.write_u128(a.ip().to_bits());
                state.write_u64(1 << 32 | u64::from(a.port()));
            }
        }
    }
}

/// A slot number in the slab.
pub(crate) type Slot = u32;

/// Allocations by 5-tuple (and their relayed addresses), stored in a slab.
#[derive(Debug, Clone)]
pub(crate) struct Table<V> {
    slots: Vec<Option<(FiveTuple, V)>>,
    free: Vec<Slot>,
    // HashMap: lookups only, never iterated (see the module docs).
    by_tuple: HashMap<TupleKey, Slot, FixedState>,
    // HashMap: lookups only, never iterated.
    by_relay: HashMap<AddrKey, Slot, FixedState>,
}

impl<V> Table<V> {
    /// An empty table whose hashes are keyed with `seed` (secret in production).
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            // HashMap: keyed with the secret seed; lookups only.
            by_tuple: HashMap::with_hasher(FixedState::with_seed(seed)),
            // HashMap: keyed with the secret seed; lookups only.
            by_relay: HashMap::with_hasher(FixedState::with_seed(seed.rotate_left(32) ^ 0x5a5a)),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_tuple.len()
    }

    pub(crate) fn slot(&self, ft: &FiveTuple) -> Option<Slot> {
        self.by_tuple.get(&TupleKey(*ft)).copied()
    }

    pub(crate) fn get(&self, ft: &FiveTuple) -> Option<&V> {
        let slot = self.slot(ft)?;
        self.at(slot).map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, ft: &FiveTuple) -> Option<&mut V> {
        let slot = self.slot(ft)?;
        self.at_mut(slot).map(|(_, v)| v)
    }

    pub(crate) fn at(&self, slot: Slot) -> Option<(&FiveTuple, &V)> {
        let (ft, v) = self.slots.get(slot as usize)?.as_ref()?;
        Some((ft, v))
    }

    pub(crate) fn at_mut(&mut self, slot: Slot) -> Option<(&FiveTuple, &mut V)> {
        let (ft, v) = self.slots.get_mut(slot as usize)?.as_mut()?;
        Some((&*ft, v))
    }

    /// The allocation whose relayed address is `relay`.
    pub(crate) fn by_relay(&self, relay: &SocketAddr) -> Option<Slot> {
        self.by_relay.get(&AddrKey(*relay)).copied()
    }

    /// Whether `relay` is a relayed address of a live entry.
    pub(crate) fn is_relay(&self, relay: &SocketAddr) -> bool {
        self.by_relay.contains_key(&AddrKey(*relay))
    }

    /// Inserts (or replaces) the entry of `ft`, reachable also through `relays`.
    pub(crate) fn insert(&mut self, ft: FiveTuple, relays: &[SocketAddr], v: V) {
        self.remove(&ft);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                Slot::try_from(self.slots.len() - 1).unwrap_or(Slot::MAX)
            }
        };
        if let Some(cell) = self.slots.get_mut(slot as usize) {
            *cell = Some((ft, v));
            self.by_tuple.insert(TupleKey(ft), slot);
            for r in relays {
                self.by_relay.insert(AddrKey(*r), slot);
            }
        }
    }

    /// Forgets relayed address `relay` (its entry stays, reachable by 5-tuple).
    pub(crate) fn unlink_relay(&mut self, relay: &SocketAddr) {
        self.by_relay.remove(&AddrKey(*relay));
    }

    /// Removes the entry of `ft` and the relayed addresses `relays_of` names for it.
    pub(crate) fn remove_with(
        &mut self,
        ft: &FiveTuple,
        relays_of: impl Fn(&V) -> [Option<SocketAddr>; 2],
    ) -> Option<V> {
        let slot = self.by_tuple.remove(&TupleKey(*ft))?;
        let (_, v) = self.slots.get_mut(slot as usize)?.take()?;
        for r in relays_of(&v).into_iter().flatten() {
            if self.by_relay.get(&AddrKey(r)) == Some(&slot) {
                self.by_relay.remove(&AddrKey(r));
            }
        }
        self.free.push(slot);
        Some(v)
    }

    fn remove(&mut self, ft: &FiveTuple) {
        if let Some(slot) = self.by_tuple.remove(&TupleKey(*ft)) {
            if let Some(cell) = self.slots.get_mut(slot as usize) {
                *cell = None;
            }
            self.by_relay.retain(|_, s| *s != slot);
            self.free.push(slot);
        }
    }

    /// Every entry, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&FiveTuple, &V)> {
        self.slots.iter().flatten().map(|(ft, v)| (ft, v))
    }

    /// Every value, in slot order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().flatten().map(|(_, v)| v)
    }

    /// Every value, mutably, in slot order.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots.iter_mut().flatten().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Transport;

    fn ft(client: &str, transport: Transport) -> FiveTuple {
        FiveTuple {
            client: client.parse().unwrap(),
            server: "203.0.113.1:3478".parse().unwrap(),
            transport,
        }
    }

    #[test]
    fn lookups_by_tuple_and_relay_and_slot_reuse() {
        let mut t = Table::new(7);
        let r1: SocketAddr = "203.0.113.1:50000".parse().unwrap();
        let r2: SocketAddr = "[2001:db8::1]:50000".parse().unwrap();
        let a = ft("192.0.2.1:1000", Transport::Udp);
        let b = ft("[2001:db8::9]:1000", Transport::Tcp);
        t.insert(a, &[r1], 1);
        t.insert(b, &[r2], 2);
        assert_eq!((t.get(&a), t.get(&b), t.len()), (Some(&1), Some(&2), 2));
        // The same addresses on another transport are another 5-tuple.
        assert_eq!(t.get(&ft("192.0.2.1:1000", Transport::Tcp)), None);
        assert_eq!(
            t.by_relay(&r1).and_then(|s| t.at(s)).map(|(k, _)| *k),
            Some(a)
        );
        assert!(t.is_relay(&r2));
        assert_eq!(t.remove_with(&a, |_| [Some(r1), None]), Some(1));
        assert!(!t.is_relay(&r1) && t.get(&a).is_none());
        // The freed slot is reused; iteration is in slot order.
        let c = ft("192.0.2.3:1000", Transport::Udp);
        t.insert(c, &[r1], 3);
        assert_eq!(t.values().copied().collect::<Vec<_>>(), vec![3, 2]);
        assert_eq!(
            t.by_relay(&r1).and_then(|s| t.at(s)).map(|(_, v)| *v),
            Some(3)
        );
    }
}
