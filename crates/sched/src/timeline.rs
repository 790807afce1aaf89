//! The EEVDF timeline of one fair runqueue: the waiting entities ordered by (virtual
//! deadline, task), each subtree knowing the smallest vruntime in it — Linux's
//! `tasks_timeline` rbtree augmented with `min_vruntime` (6.8+). Eligibility (vruntime not
//! ahead of the average `V`) is monotone in vruntime, so a subtree holds an eligible entity
//! exactly when its smallest vruntime is eligible, and `pick_eevdf()` finds the earliest
//! eligible deadline in one walk from the root instead of a scan.
//!
//! The tree is a treap in an arena owned by the runqueue: nodes are reused through a free
//! list, so steady-state operation does not allocate. The heap priority of a node is a hash of
//! its task id, so the shape is a function of the set of keys alone (expected depth O(log n)),
//! and no result depends on the shape: every query answers what a sorted scan would.
//!
//! Each subtree also knows its least recently picked entity, by (`last_picked_ns`, task):
//! the load balancer wants that one (Linux walks `cfs_tasks`, kept in pick order, from the
//! tail), and with the bound it searches only the subtrees that could hold a better one.

use crate::task::TaskId;

const NIL: u32 = u32::MAX;

/// The timeline's order: virtual deadline, then task id.
pub type Key = (i64, TaskId);

/// The load balancer's order: least recently picked first, then task id, packed into one
/// integer (`last_picked_ns` above the task id) so that a subtree minimum is one comparison.
type PickedKey = u128;

#[inline]
fn picked_key(picked_ns: u64, p: TaskId) -> PickedKey {
    (picked_ns as u128) << 32 | p.0 as u128
}

#[inline]
fn picked_task(k: PickedKey) -> TaskId {
    TaskId(k as u32)
}

#[derive(Clone, Debug)]
struct Node {
    key: Key,
    vruntime: i64,
    /// Smallest vruntime in this node's subtree (`min_vruntime`).
    min_vruntime: i64,
    /// (`last_picked_ns`, task) of this entity.
    picked: PickedKey,
    /// Smallest (`last_picked_ns`, task) in this node's subtree.
    min_picked: PickedKey,
    prio: u32,
    left: u32,
    right: u32,
    parent: u32,
}

#[derive(Debug)]
pub struct Timeline {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    len: usize,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            len: 0,
        }
    }
}

/// The treap priority of a task's node: its id times 2^32 / golden ratio (Fibonacci hashing),
/// which spreads consecutive ids evenly over the range.
fn heap_prio(p: TaskId) -> u32 {
    p.0.wrapping_mul(0x9E37_79B9)
}

impl Timeline {
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn n(&self, x: u32) -> &Node {
        &self.nodes[x as usize]
    }

    #[inline]
    fn n_mut(&mut self, x: u32) -> &mut Node {
        &mut self.nodes[x as usize]
    }

    /// Recompute the subtree minima of `x` from its children; true if one changed.
    fn update(&mut self, x: u32) -> bool {
        let node = self.n(x);
        let mut m = node.vruntime;
        let mut mp = node.picked;
        if node.left != NIL {
            let child = self.n(node.left);
            m = m.min(child.min_vruntime);
            mp = mp.min(child.min_picked);
        }
        if node.right != NIL {
            let child = self.n(node.right);
            m = m.min(child.min_vruntime);
            mp = mp.min(child.min_picked);
        }
        let node = self.n_mut(x);
        let changed = (node.min_vruntime, node.min_picked) != (m, mp);
        node.min_vruntime = m;
        node.min_picked = mp;
        changed
    }

    /// Point whatever pointed at `old` (its parent's child link, or the root) at `new`.
    fn replace_child(&mut self, parent: u32, old: u32, new: u32) {
        if parent == NIL {
            self.root = new;
        } else if self.n(parent).left == old {
            self.n_mut(parent).left = new;
        } else {
            self.n_mut(parent).right = new;
        }
        if new != NIL {
            self.n_mut(new).parent = parent;
        }
    }

    /// Rotate `x` above its parent, keeping the in-order sequence and the augmentation.
    fn rotate_up(&mut self, x: u32) {
        let p = self.n(x).parent;
        let g = self.n(p).parent;
        if self.n(p).left == x {
            let b = self.n(x).right;
            self.n_mut(p).left = b;
            if b != NIL {
                self.n_mut(b).parent = p;
            }
            self.n_mut(x).right = p;
        } else {
            let b = self.n(x).left;
            self.n_mut(p).right = b;
            if b != NIL {
                self.n_mut(b).parent = p;
            }
            self.n_mut(x).left = p;
        }
        self.n_mut(p).parent = x;
        self.replace_child(g, p, x);
        // x now spans exactly what p spanned: it takes p's minima, p recomputes its own.
        let (m, mp) = (self.n(p).min_vruntime, self.n(p).min_picked);
        let node = self.n_mut(x);
        node.min_vruntime = m;
        node.min_picked = mp;
        self.update(p);
    }

    /// Add an entity, last picked at `picked_ns`; its key must not be in the tree.
    pub fn insert(&mut self, key: Key, vruntime: i64, picked_ns: u64) {
        let picked = picked_key(picked_ns, key.1);
        let node = Node {
            key,
            vruntime,
            min_vruntime: vruntime,
            picked,
            min_picked: picked,
            prio: heap_prio(key.1),
            left: NIL,
            right: NIL,
            parent: NIL,
        };
        let x = match self.free.pop() {
            Some(x) => {
                self.nodes[x as usize] = node;
                x
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.len += 1;
        if self.root == NIL {
            self.root = x;
            return;
        }
        // Down to a leaf position; every subtree on the way gains this vruntime.
        let mut cur = self.root;
        loop {
            let c = self.n_mut(cur);
            c.min_vruntime = c.min_vruntime.min(vruntime);
            c.min_picked = c.min_picked.min(picked);
            debug_assert_ne!(c.key, key, "timeline key inserted twice");
            let go_left = key < c.key;
            let next = if go_left { c.left } else { c.right };
            if next == NIL {
                if go_left {
                    c.left = x;
                } else {
                    c.right = x;
                }
                break;
            }
            cur = next;
        }
        self.n_mut(x).parent = cur;
        // Up to where the heap order holds.
        let prio = self.n(x).prio;
        while self.n(x).parent != NIL && self.n(self.n(x).parent).prio < prio {
            self.rotate_up(x);
        }
    }

    fn find(&self, key: &Key) -> u32 {
        let mut x = self.root;
        while x != NIL {
            let k = &self.n(x).key;
            if key == k {
                return x;
            }
            x = if key < k {
                self.n(x).left
            } else {
                self.n(x).right
            };
        }
        NIL
    }

    /// Remove the entity with `key`; false if there is none.
    pub fn remove(&mut self, key: &Key) -> bool {
        let x = self.find(key);
        if x == NIL {
            return false;
        }
        // Rotate it down until it has at most one child, then splice it out.
        loop {
            let (l, r) = (self.n(x).left, self.n(x).right);
            if l == NIL || r == NIL {
                break;
            }
            let c = if self.n(l).prio > self.n(r).prio {
                l
            } else {
                r
            };
            self.rotate_up(c);
        }
        let node = self.n(x);
        let (parent, child) = (
            node.parent,
            if node.left != NIL {
                node.left
            } else {
                node.right
            },
        );
        self.replace_child(parent, x, child);
        // Only the ancestors of the splice can have lost their minimum; once one keeps its
        // value, everything above it is right already.
        let mut y = parent;
        while y != NIL && self.update(y) {
            y = self.n(y).parent;
        }
        self.free.push(x);
        self.len -= 1;
        true
    }

    fn leftmost(&self, mut x: u32) -> u32 {
        if x == NIL {
            return NIL;
        }
        while self.n(x).left != NIL {
            x = self.n(x).left;
        }
        x
    }

    /// The earliest deadline (`__pick_first_entity()`).
    pub fn first(&self) -> Option<Key> {
        let x = self.leftmost(self.root);
        (x != NIL).then(|| self.n(x).key)
    }

    /// The earliest deadline among entities whose vruntime passes `eligible`, which must be
    /// monotone (true for a vruntime means true for every smaller one). The same as the first
    /// eligible entity of an in-order scan.
    pub fn first_eligible(&self, eligible: impl Fn(i64) -> bool) -> Option<Key> {
        let mut x = self.root;
        if x == NIL || !eligible(self.n(x).min_vruntime) {
            return None;
        }
        // Invariant: the subtree of x holds an eligible entity.
        loop {
            let node = self.n(x);
            if node.left != NIL && eligible(self.n(node.left).min_vruntime) {
                x = node.left;
            } else if eligible(node.vruntime) {
                return Some(node.key);
            } else {
                x = node.right;
            }
        }
    }

    /// The least recently picked entity (ties: lowest task id) that `accept` takes. Subtrees
    /// whose least recently picked entity is no better than the best taken so far are skipped,
    /// so when the first candidates are taken this costs a walk down the tree, not a scan.
    pub fn least_recently_picked(&self, mut accept: impl FnMut(TaskId) -> bool) -> Option<TaskId> {
        let mut best = None;
        self.search_picked(self.root, &mut best, &mut accept);
        best.map(picked_task)
    }

    fn search_picked(
        &self,
        x: u32,
        best: &mut Option<PickedKey>,
        accept: &mut impl FnMut(TaskId) -> bool,
    ) {
        if x == NIL {
            return;
        }
        let node = self.n(x);
        // The node itself (marked NIL) and its subtrees, by the best each could offer.
        let mut parts = [(node.picked, NIL); 3];
        let mut n = 1;
        for c in [node.left, node.right] {
            if c != NIL {
                parts[n] = (self.n(c).min_picked, c);
                n += 1;
            }
        }
        let parts = &mut parts[..n];
        parts.sort_unstable_by_key(|&(bound, _)| bound);
        for &(bound, c) in parts.iter() {
            if best.is_some_and(|b| bound >= b) {
                // Sorted: what follows cannot do better either.
                return;
            }
            if c == NIL {
                if accept(picked_task(bound)) {
                    *best = Some(bound);
                }
            } else {
                self.search_picked(c, best, accept);
            }
        }
    }

    /// In-order successor of `x`.
    fn next(&self, x: u32) -> u32 {
        let r = self.n(x).right;
        if r != NIL {
            return self.leftmost(r);
        }
        let mut x = x;
        let mut p = self.n(x).parent;
        while p != NIL && self.n(p).right == x {
            x = p;
            p = self.n(p).parent;
        }
        p
    }

    /// Every entity by key, with its vruntime and when it was last picked.
    pub fn iter(&self) -> impl Iterator<Item = (Key, i64, u64)> + '_ {
        let mut x = self.leftmost(self.root);
        std::iter::from_fn(move || {
            if x == NIL {
                return None;
            }
            let node = self.n(x);
            x = self.next(x);
            Some((node.key, node.vruntime, (node.picked >> 32) as u64))
        })
    }

    /// Check the tree's own invariants: search order, heap order, parent links, augmentation
    /// and length. For `check_invariants`.
    pub(crate) fn check(&self) -> Result<(), String> {
        type Minima = (usize, i64, PickedKey);
        fn walk(t: &Timeline, x: u32, parent: u32) -> Result<Minima, String> {
            let node = t.n(x);
            if node.parent != parent {
                return Err(format!("timeline node {:?} has a wrong parent", node.key));
            }
            let mut count = 1;
            let mut min = node.vruntime;
            let mut min_picked = node.picked;
            for (c, left) in [(node.left, true), (node.right, false)] {
                if c == NIL {
                    continue;
                }
                let child = t.n(c);
                if (child.key < node.key) != left || child.prio > node.prio {
                    return Err(format!(
                        "timeline node {:?} breaks the search or heap order",
                        child.key
                    ));
                }
                let (n, m, mp) = walk(t, c, x)?;
                count += n;
                min = min.min(m);
                min_picked = min_picked.min(mp);
            }
            if (min, min_picked) != (node.min_vruntime, node.min_picked) {
                return Err(format!(
                    "timeline node {:?} has minima {:?} but its subtree's are {:?}",
                    node.key,
                    (node.min_vruntime, node.min_picked),
                    (min, min_picked)
                ));
            }
            Ok((count, min, min_picked))
        }
        let count = if self.root == NIL {
            0
        } else {
            walk(self, self.root, NIL)?.0
        };
        if count != self.len {
            return Err(format!(
                "timeline holds {count} entities but counts {}",
                self.len
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A tiny deterministic generator (xorshift) for the model test.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn matches_a_sorted_map_and_a_scan() {
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut t = Timeline::default();
        let mut model: BTreeMap<Key, (i64, u64)> = BTreeMap::new();
        for step in 0..20_000 {
            let r = rng(&mut seed);
            if !r.is_multiple_of(3) || model.is_empty() {
                let key = (
                    (rng(&mut seed) % 500) as i64 - 250,
                    TaskId((r % 300) as u32),
                );
                if model.contains_key(&key) {
                    continue;
                }
                let v = (rng(&mut seed) % 400) as i64 - 200;
                let picked = rng(&mut seed) % 50;
                t.insert(key, v, picked);
                model.insert(key, (v, picked));
            } else {
                let i = rng(&mut seed) as usize % model.len();
                let key = *model.keys().nth(i).unwrap();
                assert!(t.remove(&key));
                model.remove(&key);
                assert!(!t.remove(&key));
            }
            if step % 97 == 0 {
                t.check().unwrap();
            }
            let threshold = (rng(&mut seed) % 400) as i64 - 200;
            let scan = model
                .iter()
                .find(|(_, &(v, _))| v <= threshold)
                .map(|(&k, _)| k);
            assert_eq!(t.first_eligible(|v| v <= threshold), scan);
            // Accept tasks by a pattern, as affinity and state would.
            let pattern = rng(&mut seed) % 4;
            let accept = |p: TaskId| !(p.0 as u64 + pattern).is_multiple_of(4);
            let lrp = model
                .iter()
                .filter(|(k, _)| accept(k.1))
                .min_by_key(|(k, &(_, picked))| (picked, k.1))
                .map(|(k, _)| k.1);
            assert_eq!(t.least_recently_picked(accept), lrp);
            assert_eq!(t.first(), model.keys().next().copied());
            assert_eq!(t.len(), model.len());
        }
        let all: Vec<_> = t.iter().collect();
        let expected: Vec<_> = model.iter().map(|(&k, &(v, pk))| (k, v, pk)).collect();
        assert_eq!(all, expected);
    }
}
