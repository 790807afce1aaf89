//! `rt_prio_array`: one FIFO list per RT priority and a bitmap of the non-empty ones, with
//! the lists threaded through the tasks (`sched_rt_entity.run_list`, and the `pushable_tasks`
//! node of `task_struct`) instead of held in per-runqueue containers. A task is on at most one
//! RT runqueue, so one table of links by task id ([`RtNodes`]) serves every runqueue: adding
//! or removing a task is O(1), and a runqueue costs two arrays of list heads, whatever it has
//! held.

use crate::attr::MAX_RT_PRIO;
use crate::cpumask::set_bits;
use crate::task::TaskId;

const NIL: u32 = u32::MAX;
const NR_PRIO: usize = MAX_RT_PRIO as usize;

#[derive(Clone, Copy, Debug)]
struct Link {
    prev: u32,
    next: u32,
}

const UNLINKED: Link = Link {
    prev: NIL,
    next: NIL,
};

/// One task's places on the lists of its RT runqueue.
#[derive(Clone, Copy, Debug)]
struct RtNode {
    /// In its priority's run list (`run_list`).
    run: Link,
    /// In its priority's pushable list.
    push: Link,
    /// On a run list (`on_list`).
    on_list: bool,
    /// On a pushable list.
    pushable: bool,
}

/// Which list of a task a [`PrioArray`] threads through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum List {
    Run,
    Pushable,
}

/// The RT list links of every task, by task id.
#[derive(Debug, Default)]
pub struct RtNodes {
    nodes: Vec<RtNode>,
}

impl RtNodes {
    /// Make room for task `p`.
    pub(crate) fn add(&mut self, p: TaskId) {
        if self.nodes.len() <= p.index() {
            self.nodes.resize(
                p.index() + 1,
                RtNode {
                    run: UNLINKED,
                    push: UNLINKED,
                    on_list: false,
                    pushable: false,
                },
            );
        }
    }

    #[inline]
    pub(crate) fn on_list(&self, p: TaskId) -> bool {
        self.nodes[p.index()].on_list
    }

    #[inline]
    pub(crate) fn pushable(&self, p: TaskId) -> bool {
        self.nodes[p.index()].pushable
    }

    #[inline]
    fn link(&self, x: u32, list: List) -> Link {
        let node = &self.nodes[x as usize];
        match list {
            List::Run => node.run,
            List::Pushable => node.push,
        }
    }

    #[inline]
    fn link_mut(&mut self, x: u32, list: List) -> &mut Link {
        let node = &mut self.nodes[x as usize];
        match list {
            List::Run => &mut node.run,
            List::Pushable => &mut node.push,
        }
    }

    #[inline]
    fn flag_mut(&mut self, x: u32, list: List) -> &mut bool {
        let node = &mut self.nodes[x as usize];
        match list {
            List::Run => &mut node.on_list,
            List::Pushable => &mut node.pushable,
        }
    }
}

/// The heads of one kind of list ([`List`]) of one runqueue, per priority.
#[derive(Debug)]
pub(crate) struct PrioArray {
    list: List,
    head: [u32; NR_PRIO],
    tail: [u32; NR_PRIO],
    bitmap: [u64; 2],
}

impl PrioArray {
    pub(crate) fn new(list: List) -> Self {
        PrioArray {
            list,
            head: [NIL; NR_PRIO],
            tail: [NIL; NR_PRIO],
            bitmap: [0; 2],
        }
    }

    /// The best (lowest) prio with a non-empty list.
    #[inline]
    pub(crate) fn first_prio(&self) -> Option<i32> {
        if self.bitmap[0] != 0 {
            Some(self.bitmap[0].trailing_zeros() as i32)
        } else if self.bitmap[1] != 0 {
            Some(64 + self.bitmap[1].trailing_zeros() as i32)
        } else {
            None
        }
    }

    /// The head of `prio`'s list.
    #[inline]
    pub(crate) fn front(&self, prio: i32) -> Option<TaskId> {
        let h = self.head[prio as usize];
        (h != NIL).then_some(TaskId(h))
    }

    /// More than one task at `prio`.
    #[inline]
    pub(crate) fn has_several(&self, prio: i32) -> bool {
        self.head[prio as usize] != self.tail[prio as usize]
    }

    /// Put `p` after `after` in `prio`'s list (at the front if `None`).
    pub(crate) fn insert_after(
        &mut self,
        nodes: &mut RtNodes,
        prio: i32,
        after: Option<TaskId>,
        p: TaskId,
    ) {
        let (i, x) = (prio as usize, p.0);
        debug_assert!(!*nodes.flag_mut(x, self.list), "task on an RT list twice");
        let next = match after {
            Some(a) => nodes.link(a.0, self.list).next,
            None => self.head[i],
        };
        let prev = after.map_or(NIL, |a| a.0);
        *nodes.link_mut(x, self.list) = Link { prev, next };
        *nodes.flag_mut(x, self.list) = true;
        match after {
            Some(a) => nodes.link_mut(a.0, self.list).next = x,
            None => self.head[i] = x,
        }
        if next == NIL {
            self.tail[i] = x;
        } else {
            nodes.link_mut(next, self.list).prev = x;
        }
        self.bitmap[i / 64] |= 1 << (i % 64);
    }

    /// Put `p` at the tail of `prio`'s list.
    #[inline]
    pub(crate) fn push_back(&mut self, nodes: &mut RtNodes, prio: i32, p: TaskId) {
        let tail = self.tail[prio as usize];
        self.insert_after(nodes, prio, (tail != NIL).then_some(TaskId(tail)), p);
    }

    /// Take `p` off `prio`'s list.
    pub(crate) fn remove(&mut self, nodes: &mut RtNodes, prio: i32, p: TaskId) {
        let (i, x) = (prio as usize, p.0);
        debug_assert!(*nodes.flag_mut(x, self.list), "task not on this RT list");
        let Link { prev, next } = nodes.link(x, self.list);
        if prev == NIL {
            self.head[i] = next;
        } else {
            nodes.link_mut(prev, self.list).next = next;
        }
        if next == NIL {
            self.tail[i] = prev;
        } else {
            nodes.link_mut(next, self.list).prev = prev;
        }
        *nodes.link_mut(x, self.list) = UNLINKED;
        *nodes.flag_mut(x, self.list) = false;
        if self.head[i] == NIL {
            self.bitmap[i / 64] &= !(1 << (i % 64));
        }
    }

    /// The task before `p` in its list.
    #[inline]
    pub(crate) fn prev(&self, nodes: &RtNodes, p: TaskId) -> Option<TaskId> {
        let prev = nodes.link(p.0, self.list).prev;
        (prev != NIL).then_some(TaskId(prev))
    }

    /// Every task, best prio first, in list order within a prio. Walks the non-empty lists
    /// only (the bitmap), not all 100.
    pub(crate) fn iter<'a>(&'a self, nodes: &'a RtNodes) -> impl Iterator<Item = TaskId> + 'a {
        set_bits(&self.bitmap).flat_map(move |prio| {
            let mut x = self.head[prio];
            std::iter::from_fn(move || {
                if x == NIL {
                    return None;
                }
                let p = TaskId(x);
                x = nodes.link(x, self.list).next;
                Some(p)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_keep_fifo_order_per_prio() {
        let mut nodes = RtNodes::default();
        for p in 0..6 {
            nodes.add(TaskId(p));
        }
        let mut a = PrioArray::new(List::Run);
        for (p, prio) in [(0, 5), (1, 3), (2, 5), (3, 5), (4, 3)] {
            a.push_back(&mut nodes, prio, TaskId(p));
        }
        let order = |a: &PrioArray, nodes: &RtNodes| a.iter(nodes).map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(order(&a, &nodes), vec![1, 4, 0, 2, 3]);
        a.remove(&mut nodes, 5, TaskId(2));
        a.insert_after(&mut nodes, 5, Some(TaskId(3)), TaskId(5));
        a.insert_after(&mut nodes, 3, None, TaskId(2));
        assert_eq!(order(&a, &nodes), vec![2, 1, 4, 0, 3, 5]);
        assert_eq!(a.first_prio(), Some(3));
        assert_eq!(a.front(5), Some(TaskId(0)));
        assert_eq!(a.prev(&nodes, TaskId(5)), Some(TaskId(3)));
        for (p, prio) in [(2, 3), (1, 3), (4, 3)] {
            a.remove(&mut nodes, prio, TaskId(p));
        }
        assert_eq!(a.first_prio(), Some(5));
        assert!(a.has_several(5));
        assert!(nodes.on_list(TaskId(0)) && !nodes.on_list(TaskId(1)));
    }
}
