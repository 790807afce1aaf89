//! The EEVDF timeline of one fair runqueue: the waiting entities ordered by (virtual
//! deadline, task), each subtree knowing the smallest vruntime in it — Linux's
//! `tasks_timeline` rbtree augmented with `min_vruntime` (6.8+). Eligibility (vruntime not
//! ahead of the average `V`) is monotone in vruntime, so a subtree holds an eligible entity
//! exactly when its smallest vruntime is eligible, and `pick_eevdf()` finds the earliest
//! eligible deadline in one walk from the root instead of a scan.
//!
//! Each subtree also knows its least recently picked entity, by (`last_picked_ns`, task):
//! the load balancer wants that one (Linux walks `cfs_tasks`, kept in pick order, from the
//! tail), and with the bound it searches only the subtrees that could hold a better one.
//!
//! The tree is a treap. A task is on at most one timeline at a time, so, as Linux embeds
//! `run_node` in the entity, each task has one node in a table shared by every runqueue
//! ([`RunNodes`], indexed by task id): no allocation, and no memory kept per runqueue for the
//! longest queue it ever had. The heap priority of a node is a hash of its task id, so the
//! shape is a function of the set of keys alone (expected depth O(log n)); no result depends
//! on the shape: every query answers what a sorted scan would.

use crate::task::TaskId;

const NIL: u32 = u32::MAX;
/// `parent` of a node that is on no timeline.
const UNLINKED: u32 = u32::MAX - 1;

/// The timeline's order: virtual deadline, then task id.
pub type Key = (i64, TaskId);

/// The load balancer's order: least recently picked first, then task id.
type PickedKey = (u64, u32);

#[derive(Clone, Debug)]
struct Node {
    deadline: i64,
    vruntime: i64,
    /// Smallest vruntime in this node's subtree (`min_vruntime`).
    min_vruntime: i64,
    /// `last_picked_ns` of this entity.
    picked_ns: u64,
    /// Smallest (`last_picked_ns`, task) in this node's subtree, in two fields so the node
    /// stays 64 bytes.
    min_picked_ns: u64,
    min_picked_task: u32,
    left: u32,
    right: u32,
    parent: u32,
}

const UNLINKED_NODE: Node = Node {
    deadline: 0,
    vruntime: 0,
    min_vruntime: 0,
    picked_ns: 0,
    min_picked_ns: 0,
    min_picked_task: 0,
    left: NIL,
    right: NIL,
    parent: UNLINKED,
};

/// The timeline node of every task (`se.run_node`), by task id.
#[derive(Debug, Default)]
pub struct RunNodes {
    nodes: Vec<Node>,
}

impl RunNodes {
    /// Make room for task `p`.
    pub(crate) fn add(&mut self, p: TaskId) {
        if self.nodes.len() <= p.index() {
            self.nodes.resize(p.index() + 1, UNLINKED_NODE);
        }
    }

    #[inline]
    fn n(&self, x: u32) -> &Node {
        &self.nodes[x as usize]
    }

    #[inline]
    fn n_mut(&mut self, x: u32) -> &mut Node {
        &mut self.nodes[x as usize]
    }

    #[inline]
    fn key(&self, x: u32) -> Key {
        (self.n(x).deadline, TaskId(x))
    }

    #[inline]
    fn min_picked(&self, x: u32) -> PickedKey {
        let node = self.n(x);
        (node.min_picked_ns, node.min_picked_task)
    }

    /// Recompute the subtree minima of `x` from its children; true if one changed.
    fn update(&mut self, x: u32) -> bool {
        let node = self.n(x);
        let mut m = node.vruntime;
        let mut mp = (node.picked_ns, x);
        for c in [node.left, node.right] {
            if c != NIL {
                m = m.min(self.n(c).min_vruntime);
                mp = mp.min(self.min_picked(c));
            }
        }
        let node = self.n_mut(x);
        let changed =
            (node.min_vruntime, node.min_picked_ns, node.min_picked_task) != (m, mp.0, mp.1);
        node.min_vruntime = m;
        (node.min_picked_ns, node.min_picked_task) = mp;
        changed
    }
}

/// The treap priority of a task's node: its id times 2^32 / golden ratio (Fibonacci hashing),
/// which spreads consecutive ids evenly over the range.
#[inline]
fn heap_prio(x: u32) -> u32 {
    x.wrapping_mul(0x9E37_79B9)
}

/// One runqueue's tree; its nodes are in [`RunNodes`].
#[derive(Debug)]
pub struct Timeline {
    root: u32,
    len: usize,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline { root: NIL, len: 0 }
    }
}

impl Timeline {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Point whatever pointed at `old` (its parent's child link, or the root) at `new`.
    fn replace_child(&mut self, nodes: &mut RunNodes, parent: u32, old: u32, new: u32) {
        if parent == NIL {
            self.root = new;
        } else if nodes.n(parent).left == old {
            nodes.n_mut(parent).left = new;
        } else {
            nodes.n_mut(parent).right = new;
        }
        if new != NIL {
            nodes.n_mut(new).parent = parent;
        }
    }

    /// Rotate `x` above its parent, keeping the in-order sequence and the augmentation.
    fn rotate_up(&mut self, nodes: &mut RunNodes, x: u32) {
        let p = nodes.n(x).parent;
        let g = nodes.n(p).parent;
        if nodes.n(p).left == x {
            let b = nodes.n(x).right;
            nodes.n_mut(p).left = b;
            if b != NIL {
                nodes.n_mut(b).parent = p;
            }
            nodes.n_mut(x).right = p;
        } else {
            let b = nodes.n(x).left;
            nodes.n_mut(p).right = b;
            if b != NIL {
                nodes.n_mut(b).parent = p;
            }
            nodes.n_mut(x).left = p;
        }
        nodes.n_mut(p).parent = x;
        self.replace_child(nodes, g, p, x);
        // x now spans exactly what p spanned: it takes p's minima, p recomputes its own.
        let pn = nodes.n(p);
        let (m, mpn, mpt) = (pn.min_vruntime, pn.min_picked_ns, pn.min_picked_task);
        let xn = nodes.n_mut(x);
        (xn.min_vruntime, xn.min_picked_ns, xn.min_picked_task) = (m, mpn, mpt);
        nodes.update(p);
    }

    /// Add task `key.1`, last picked at `picked_ns`; it must be on no timeline.
    pub fn insert(&mut self, nodes: &mut RunNodes, key: Key, vruntime: i64, picked_ns: u64) {
        let x = key.1 .0;
        debug_assert_eq!(nodes.n(x).parent, UNLINKED, "timeline node linked twice");
        *nodes.n_mut(x) = Node {
            deadline: key.0,
            vruntime,
            min_vruntime: vruntime,
            picked_ns,
            min_picked_ns: picked_ns,
            min_picked_task: x,
            left: NIL,
            right: NIL,
            parent: NIL,
        };
        self.len += 1;
        if self.root == NIL {
            self.root = x;
            return;
        }
        // Down to a leaf position; every subtree on the way gains this entity's minima.
        let picked = (picked_ns, x);
        let mut cur = self.root;
        loop {
            let go_left = key < nodes.key(cur);
            let c = nodes.n_mut(cur);
            c.min_vruntime = c.min_vruntime.min(vruntime);
            if picked < (c.min_picked_ns, c.min_picked_task) {
                (c.min_picked_ns, c.min_picked_task) = picked;
            }
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
        nodes.n_mut(x).parent = cur;
        // Up to where the heap order holds.
        let prio = heap_prio(x);
        while nodes.n(x).parent != NIL && heap_prio(nodes.n(x).parent) < prio {
            self.rotate_up(nodes, x);
        }
    }

    /// Remove task `key.1`, which must be on this timeline with this key; false if it is on
    /// none or with another deadline.
    pub fn remove(&mut self, nodes: &mut RunNodes, key: &Key) -> bool {
        let x = key.1 .0;
        if nodes.n(x).parent == UNLINKED || nodes.n(x).deadline != key.0 {
            return false;
        }
        // Rotate it down until it has at most one child, then splice it out.
        loop {
            let (l, r) = (nodes.n(x).left, nodes.n(x).right);
            if l == NIL || r == NIL {
                break;
            }
            let c = if heap_prio(l) > heap_prio(r) { l } else { r };
            self.rotate_up(nodes, c);
        }
        let node = nodes.n(x);
        let parent = node.parent;
        let child = if node.left != NIL {
            node.left
        } else {
            node.right
        };
        self.replace_child(nodes, parent, x, child);
        // Only the ancestors of the splice can have lost their minimum; once one keeps its
        // value, everything above it is right already.
        let mut y = parent;
        while y != NIL && nodes.update(y) {
            y = nodes.n(y).parent;
        }
        *nodes.n_mut(x) = UNLINKED_NODE;
        self.len -= 1;
        true
    }

    fn leftmost(nodes: &RunNodes, mut x: u32) -> u32 {
        if x == NIL {
            return NIL;
        }
        while nodes.n(x).left != NIL {
            x = nodes.n(x).left;
        }
        x
    }

    /// The earliest deadline (`__pick_first_entity()`).
    pub fn first(&self, nodes: &RunNodes) -> Option<Key> {
        let x = Self::leftmost(nodes, self.root);
        (x != NIL).then(|| nodes.key(x))
    }

    /// The earliest deadline among entities whose vruntime passes `eligible`, which must be
    /// monotone (true for a vruntime means true for every smaller one). The same as the first
    /// eligible entity of an in-order scan.
    pub fn first_eligible(&self, nodes: &RunNodes, eligible: impl Fn(i64) -> bool) -> Option<Key> {
        let mut x = self.root;
        if x == NIL || !eligible(nodes.n(x).min_vruntime) {
            return None;
        }
        // Invariant: the subtree of x holds an eligible entity.
        loop {
            let node = nodes.n(x);
            if node.left != NIL && eligible(nodes.n(node.left).min_vruntime) {
                x = node.left;
            } else if eligible(node.vruntime) {
                return Some(nodes.key(x));
            } else {
                x = node.right;
            }
        }
    }

    /// The least recently picked entity (ties: lowest task id) that `accept` takes. Subtrees
    /// whose least recently picked entity is no better than the best taken so far are skipped,
    /// so when the first candidates are taken this costs a walk down the tree, not a scan.
    pub fn least_recently_picked(
        &self,
        nodes: &RunNodes,
        mut accept: impl FnMut(TaskId) -> bool,
    ) -> Option<TaskId> {
        let mut best = None;
        Self::search_picked(nodes, self.root, &mut best, &mut accept);
        best.map(|(_, p)| TaskId(p))
    }

    fn search_picked(
        nodes: &RunNodes,
        x: u32,
        best: &mut Option<PickedKey>,
        accept: &mut impl FnMut(TaskId) -> bool,
    ) {
        if x == NIL {
            return;
        }
        let node = nodes.n(x);
        // The node itself (marked NIL) and its subtrees, by the best each could offer.
        let mut parts = [((node.picked_ns, x), NIL); 3];
        let mut n = 1;
        for c in [node.left, node.right] {
            if c != NIL {
                parts[n] = (nodes.min_picked(c), c);
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
                if accept(TaskId(bound.1)) {
                    *best = Some(bound);
                }
            } else {
                Self::search_picked(nodes, c, best, accept);
            }
        }
    }

    /// In-order successor of `x`.
    fn next(nodes: &RunNodes, x: u32) -> u32 {
        let r = nodes.n(x).right;
        if r != NIL {
            return Self::leftmost(nodes, r);
        }
        let mut x = x;
        let mut p = nodes.n(x).parent;
        while p != NIL && nodes.n(p).right == x {
            x = p;
            p = nodes.n(p).parent;
        }
        p
    }

    /// Every entity by key, with its vruntime and when it was last picked.
    pub fn iter<'a>(&self, nodes: &'a RunNodes) -> impl Iterator<Item = (Key, i64, u64)> + 'a {
        let mut x = Self::leftmost(nodes, self.root);
        std::iter::from_fn(move || {
            if x == NIL {
                return None;
            }
            let node = nodes.n(x);
            let item = (nodes.key(x), node.vruntime, node.picked_ns);
            x = Self::next(nodes, x);
            Some(item)
        })
    }

    /// Check the tree's own invariants: search order, heap order, parent links, augmentation
    /// and length. For `check_invariants`.
    pub(crate) fn check(&self, nodes: &RunNodes) -> Result<(), String> {
        type Minima = (usize, i64, PickedKey);
        fn walk(nodes: &RunNodes, x: u32, parent: u32) -> Result<Minima, String> {
            let node = nodes.n(x);
            let key = nodes.key(x);
            if node.parent != parent {
                return Err(format!("timeline node {key:?} has a wrong parent"));
            }
            let mut count = 1;
            let mut min = node.vruntime;
            let mut min_picked = (node.picked_ns, x);
            for (c, left) in [(node.left, true), (node.right, false)] {
                if c == NIL {
                    continue;
                }
                if (nodes.key(c) < key) != left || heap_prio(c) > heap_prio(x) {
                    return Err(format!(
                        "timeline node {:?} breaks the search or heap order",
                        nodes.key(c)
                    ));
                }
                let (n, m, mp) = walk(nodes, c, x)?;
                count += n;
                min = min.min(m);
                min_picked = min_picked.min(mp);
            }
            if (min, min_picked) != (node.min_vruntime, nodes.min_picked(x)) {
                return Err(format!(
                    "timeline node {key:?} has minima {:?} but its subtree's are {:?}",
                    (node.min_vruntime, nodes.min_picked(x)),
                    (min, min_picked)
                ));
            }
            Ok((count, min, min_picked))
        }
        let count = if self.root == NIL {
            0
        } else {
            walk(nodes, self.root, NIL)?.0
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
        let mut nodes = RunNodes::default();
        for p in 0..300 {
            nodes.add(TaskId(p));
        }
        // Two timelines sharing the node table, as runqueues do.
        let mut ts = [Timeline::default(), Timeline::default()];
        let mut models: [BTreeMap<Key, (i64, u64)>; 2] = [BTreeMap::new(), BTreeMap::new()];
        for step in 0..20_000 {
            let r = rng(&mut seed);
            let p = TaskId((r % 300) as u32);
            let on = (0..2).find(|&i| models[i].keys().any(|k| k.1 == p));
            match on {
                None => {
                    let i = (r >> 20) as usize % 2;
                    let key = ((rng(&mut seed) % 500) as i64 - 250, p);
                    let v = (rng(&mut seed) % 400) as i64 - 200;
                    let picked = rng(&mut seed) % 50;
                    ts[i].insert(&mut nodes, key, v, picked);
                    models[i].insert(key, (v, picked));
                }
                Some(i) => {
                    let key = *models[i].keys().find(|k| k.1 == p).unwrap();
                    assert!(!ts[i].remove(&mut nodes, &(key.0 + 1, p)));
                    assert!(ts[i].remove(&mut nodes, &key));
                    models[i].remove(&key);
                    assert!(!ts[i].remove(&mut nodes, &key));
                }
            }
            for (t, model) in ts.iter().zip(&models) {
                if step % 97 == 0 {
                    t.check(&nodes).unwrap();
                }
                let threshold = (rng(&mut seed) % 400) as i64 - 200;
                let scan = model
                    .iter()
                    .find(|(_, &(v, _))| v <= threshold)
                    .map(|(&k, _)| k);
                assert_eq!(t.first_eligible(&nodes, |v| v <= threshold), scan);
                // Accept tasks by a pattern, as affinity and state would.
                let pattern = rng(&mut seed) % 4;
                let accept = |p: TaskId| !(p.0 as u64 + pattern).is_multiple_of(4);
                let lrp = model
                    .iter()
                    .filter(|(k, _)| accept(k.1))
                    .min_by_key(|(k, &(_, picked))| (picked, k.1))
                    .map(|(k, _)| k.1);
                assert_eq!(t.least_recently_picked(&nodes, accept), lrp);
                assert_eq!(t.first(&nodes), model.keys().next().copied());
                assert_eq!(t.len(), model.len());
            }
        }
        for (t, model) in ts.iter().zip(&models) {
            let all: Vec<_> = t.iter(&nodes).collect();
            let expected: Vec<_> = model.iter().map(|(&k, &(v, pk))| (k, v, pk)).collect();
            assert_eq!(all, expected);
        }
    }
}
