//! A fingerprint of a whole tracepoint stream, for determinism checks: two runs of the same
//! input must produce the same hash.

use std::hash::{Hash, Hasher};

use crate::{Event, Sink};

/// A word-at-a-time multiplicative hash (FxHash's mixing step) over every event's structure
/// (`#[derive(Hash)]`: variant, fields, string contents) and its time. It is cheap enough to
/// run on every event of every run; it is no cryptographic hash, and its values are only
/// meant to be compared between runs of the same build.
#[derive(Clone, Debug)]
pub struct StreamHash {
    hash: u64,
    events: u64,
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;
const K: u64 = 0x517c_c1b7_2722_0a95;

impl Default for StreamHash {
    fn default() -> Self {
        StreamHash {
            hash: SEED,
            events: 0,
        }
    }
}

impl StreamHash {
    pub fn value(&self) -> u64 {
        self.hash
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    #[inline]
    fn mix(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for StreamHash {
    fn finish(&self) -> u64 {
        self.hash
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w) ^ (rest.len() as u64) << 56);
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.mix(i as u64);
    }

    fn write_u16(&mut self, i: u16) {
        self.mix(i as u64);
    }

    fn write_u32(&mut self, i: u32) {
        self.mix(i as u64);
    }

    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
}

impl Sink for StreamHash {
    fn record(&mut self, at_ns: u64, event: &Event) {
        self.mix(at_ns);
        event.hash(self);
        self.events += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TaskId;

    #[test]
    fn equal_streams_hash_equal_and_a_difference_shows() {
        let ev = |cpu| Event::RtThrottle { cpu };
        let (mut a, mut b, mut c) = (
            StreamHash::default(),
            StreamHash::default(),
            StreamHash::default(),
        );
        for s in [&mut a, &mut b] {
            s.record(1, &ev(0));
            s.record(
                2,
                &Event::SchedProcessExit {
                    task: TaskId(3),
                    prio: 120,
                },
            );
        }
        c.record(1, &ev(0));
        c.record(
            3,
            &Event::SchedProcessExit {
                task: TaskId(3),
                prio: 120,
            },
        );
        assert_eq!(a.value(), b.value());
        assert_ne!(a.value(), c.value());
        assert_eq!(a.events(), 2);
    }
}
