//! `cpumask`: a CPU bitmap. Iteration is in CPU order, so every walk over a mask is
//! deterministic.
//!
//! A mask is as long as its highest CPU needs: up to 64 CPUs it is one inline word (no heap),
//! beyond that a boxed slice of words. Every task carries one, so a machine of a few CPUs does
//! not pay for `NR_CPUS` bits per task. Words past the end read as zero; equality and hashing
//! look at the CPUs, not at how many words hold them.

/// The most CPUs a simulation may have.
pub const NR_CPUS: usize = 1024;

#[derive(Clone)]
enum Words {
    /// CPUs 0..64.
    One(u64),
    /// More than 64 CPUs' worth of words (the last ones may be zero after a `clear`).
    Many(Box<[u64]>),
}

#[derive(Clone)]
pub struct CpuMask {
    words: Words,
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

impl PartialEq for CpuMask {
    fn eq(&self, other: &Self) -> bool {
        self.trimmed() == other.trimmed()
    }
}

impl Eq for CpuMask {}

impl std::hash::Hash for CpuMask {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.trimmed().hash(state);
    }
}

impl CpuMask {
    pub const fn empty() -> Self {
        CpuMask {
            words: Words::One(0),
        }
    }

    /// A mask with room for `nr_words` words, all zero.
    fn zeroed(nr_words: usize) -> Self {
        CpuMask {
            words: if nr_words <= 1 {
                Words::One(0)
            } else {
                Words::Many(vec![0; nr_words].into_boxed_slice())
            },
        }
    }

    #[inline]
    fn words(&self) -> &[u64] {
        match &self.words {
            Words::One(w) => std::slice::from_ref(w),
            Words::Many(ws) => ws,
        }
    }

    #[inline]
    fn words_mut(&mut self) -> &mut [u64] {
        match &mut self.words {
            Words::One(w) => std::slice::from_mut(w),
            Words::Many(ws) => ws,
        }
    }

    /// The words without trailing zero words.
    fn trimmed(&self) -> &[u64] {
        let ws = self.words();
        let len = ws.iter().rposition(|&w| w != 0).map_or(0, |i| i + 1);
        &ws[..len]
    }

    /// Word `i`, zero past the end.
    #[inline]
    fn word(&self, i: usize) -> u64 {
        self.words().get(i).copied().unwrap_or(0)
    }

    /// CPUs `0..nr_cpus`.
    pub fn first_n(nr_cpus: usize) -> Self {
        assert!(nr_cpus <= NR_CPUS);
        let mut m = CpuMask::zeroed(nr_cpus.div_ceil(64));
        let ws = m.words_mut();
        for w in ws.iter_mut().take(nr_cpus / 64) {
            *w = u64::MAX;
        }
        if !nr_cpus.is_multiple_of(64) {
            ws[nr_cpus / 64] = (1u64 << (nr_cpus % 64)) - 1;
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
        match self.words_mut().get_mut(cpu / 64) {
            Some(w) => *w |= 1 << (cpu % 64),
            None => self.grow_and_set(cpu),
        }
    }

    #[cold]
    fn grow_and_set(&mut self, cpu: usize) {
        assert!(cpu < NR_CPUS, "cpu {cpu} out of range");
        let mut grown = CpuMask::zeroed(cpu / 64 + 1);
        grown.words_mut()[..self.words().len()].copy_from_slice(self.words());
        *self = grown;
        self.set(cpu);
    }

    #[inline]
    pub fn clear(&mut self, cpu: usize) {
        if let Some(w) = self.words_mut().get_mut(cpu / 64) {
            *w &= !(1 << (cpu % 64));
        }
    }

    #[inline]
    pub fn test(&self, cpu: usize) -> bool {
        self.word(cpu / 64) & (1 << (cpu % 64)) != 0
    }

    pub fn weight(&self) -> u32 {
        self.words().iter().map(|w| w.count_ones()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words().iter().all(|&w| w == 0)
    }

    pub fn and(&self, other: &CpuMask) -> CpuMask {
        let (a, b) = (self.words(), other.words());
        let mut m = CpuMask::zeroed(a.len().min(b.len()));
        for (i, w) in m.words_mut().iter_mut().enumerate() {
            *w = a[i] & b[i];
        }
        m
    }

    /// `cpumask_intersects()`.
    pub fn intersects(&self, other: &CpuMask) -> bool {
        self.words()
            .iter()
            .zip(other.words())
            .any(|(a, b)| a & b != 0)
    }

    pub fn is_subset_of(&self, other: &CpuMask) -> bool {
        self.words()
            .iter()
            .enumerate()
            .all(|(i, a)| a & !other.word(i) == 0)
    }

    pub fn first(&self) -> Option<usize> {
        self.iter().next()
    }

    /// CPUs in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        set_bits(self.words())
    }

    /// Call `f` for each CPU, in order: the same walk as `iter()`, as a plain loop that
    /// compiles to a few instructions per CPU, for scans over every CPU on a hot path.
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(usize)) {
        for (wi, &word) in self.words().iter().enumerate() {
            let mut w = word;
            while w != 0 {
                f(wi * 64 + w.trailing_zeros() as usize);
                w &= w - 1;
            }
        }
    }

    /// CPUs starting at `start` and wrapping around, as `for_each_cpu_wrap()` walks them, so
    /// that searches spread from the caller's CPU instead of always favouring CPU 0.
    pub fn iter_wrap(&self, start: usize) -> impl Iterator<Item = usize> + '_ {
        self.iter()
            .skip_while(move |&c| c < start)
            .chain(self.iter().take_while(move |&c| c < start))
    }

    /// The first CPU of `self & other` that `iter_wrap(start)` would visit: the first at or
    /// after `start`, else the first before it. Word by word, without building the mask.
    pub fn first_and_wrap(&self, other: &CpuMask, start: usize) -> Option<usize> {
        let (a, b) = (self.words(), other.words());
        let n = a.len().min(b.len());
        let first_in = |i: usize, w: u64| (w != 0).then(|| i * 64 + w.trailing_zeros() as usize);
        let s = start / 64;
        if s < n {
            let high = (a[s] & b[s]) & (u64::MAX << (start % 64));
            if let Some(c) = first_in(s, high) {
                return Some(c);
            }
        }
        for i in s + 1..n {
            if let Some(c) = first_in(i, a[i] & b[i]) {
                return Some(c);
            }
        }
        (0..n.min(s + 1)).find_map(|i| first_in(i, a[i] & b[i]))
    }
}

/// The indices of the set bits of `words` (bit `b` of word `i` is `64 * i + b`), in increasing
/// order: a CPU mask's CPUs, a priority bitmap's non-empty levels.
pub(crate) fn set_bits(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(wi, &word)| {
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

    #[test]
    fn equality_ignores_storage() {
        let mut big = CpuMask::from_cpus([1, 200]);
        big.clear(200);
        assert_eq!(big, CpuMask::from_cpus([1]));
        assert_eq!(CpuMask::first_n(64), CpuMask::from_cpus(0..64));
        assert_ne!(CpuMask::first_n(64), CpuMask::first_n(65));
        assert!(CpuMask::from_cpus([130]).is_subset_of(&CpuMask::first_n(1024)));
        assert!(!CpuMask::from_cpus([130]).is_subset_of(&CpuMask::first_n(64)));
        assert_eq!(
            CpuMask::first_n(64).and(&CpuMask::from_cpus([5, 600])),
            CpuMask::from_cpus([5])
        );
        assert!(!CpuMask::from_cpus([600]).test(5));
        assert!(!CpuMask::from_cpus([5]).test(600));
    }

    #[test]
    fn first_and_wrap_is_the_first_of_the_wrapped_walk() {
        let masks = [
            CpuMask::from_cpus([3, 70, 1, 1023]),
            CpuMask::first_n(64),
            CpuMask::first_n(130),
            CpuMask::from_cpus([0, 63, 64, 127, 128]),
            CpuMask::empty(),
        ];
        for a in &masks {
            for b in &masks {
                for start in [0, 1, 2, 3, 4, 63, 64, 65, 70, 71, 128, 500, 1023] {
                    let walk = a.and(b).iter_wrap(start).next();
                    assert_eq!(a.first_and_wrap(b, start), walk, "{a:?} {b:?} {start}");
                }
            }
        }
    }
}
