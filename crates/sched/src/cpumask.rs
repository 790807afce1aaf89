//! `cpumask`: a fixed-size CPU bitmap. Iteration is in CPU order, so every walk over a mask is
//! deterministic.

/// The most CPUs a simulation may have.
pub const NR_CPUS: usize = 1024;
const WORDS: usize = NR_CPUS / 64;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CpuMask {
    bits: [u64; WORDS],
}

impl Default for CpuMask {
    fn default() -> Self {
        CpuMask::empty()
    }
}

impl std::fmt::Debug for CpuMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl CpuMask {
    pub const fn empty() -> Self {
        CpuMask { bits: [0; WORDS] }
    }

    /// CPUs `0..nr_cpus`.
    pub fn first_n(nr_cpus: usize) -> Self {
        assert!(nr_cpus <= NR_CPUS);
        let mut m = CpuMask::empty();
        for w in 0..nr_cpus / 64 {
            m.bits[w] = u64::MAX;
        }
        if !nr_cpus.is_multiple_of(64) {
            m.bits[nr_cpus / 64] = (1u64 << (nr_cpus % 64)) - 1;
        }
        m
    }

    pub fn from_cpus(cpus: impl IntoIterator<Item = usize>) -> Self {
        let mut m = CpuMask::empty();
        for c in cpus {
            m.set(c);
        }
        m
    }

    #[inline]
    pub fn set(&mut self, cpu: usize) {
        self.bits[cpu / 64] |= 1 << (cpu % 64);
    }

    #[inline]
    pub fn clear(&mut self, cpu: usize) {
        self.bits[cpu / 64] &= !(1 << (cpu % 64));
    }

    #[inline]
    pub fn test(&self, cpu: usize) -> bool {
        cpu < NR_CPUS && self.bits[cpu / 64] & (1 << (cpu % 64)) != 0
    }

    pub fn weight(&self) -> u32 {
        self.bits.iter().map(|w| w.count_ones()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }

    pub fn and(&self, other: &CpuMask) -> CpuMask {
        let mut m = CpuMask::empty();
        for (i, w) in m.bits.iter_mut().enumerate() {
            *w = self.bits[i] & other.bits[i];
        }
        m
    }

    pub fn is_subset_of(&self, other: &CpuMask) -> bool {
        self.bits
            .iter()
            .zip(other.bits.iter())
            .all(|(a, b)| a & !b == 0)
    }

    pub fn first(&self) -> Option<usize> {
        self.iter().next()
    }

    /// CPUs in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.bits.iter().enumerate().flat_map(|(wi, &word)| {
            let mut w = word;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }

    /// CPUs starting at `start` and wrapping around, as `for_each_cpu_wrap()` walks them, so
    /// that searches spread from the caller's CPU instead of always favouring CPU 0.
    pub fn iter_wrap(&self, start: usize) -> impl Iterator<Item = usize> + '_ {
        self.iter()
            .skip_while(move |&c| c < start)
            .chain(self.iter().take_while(move |&c| c < start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_iterate_in_cpu_order_and_wrap() {
        let m = CpuMask::from_cpus([3, 70, 1, 1023]);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![1, 3, 70, 1023]);
        assert_eq!(m.iter_wrap(4).collect::<Vec<_>>(), vec![70, 1023, 1, 3]);
        assert_eq!(m.weight(), 4);
        assert_eq!(CpuMask::first_n(65).weight(), 65);
        assert!(CpuMask::from_cpus([1, 3]).is_subset_of(&m));
        assert!(!CpuMask::from_cpus([2]).is_subset_of(&m));
    }
}
