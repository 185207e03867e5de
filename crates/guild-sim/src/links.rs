//! Links between simulated nodes: connections made and lost, mesh decisions delivered,
//! nodes going offline, partitions and healing.

use super::*;

impl Sim {
    pub(super) fn mesh_links_up(&self) -> BTreeSet<(NodeId, NodeId)> {
        let mut up = BTreeSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for &j in &n.neighbours {
                if i < j && self.reachable(i, j) {
                    up.insert((i, j));
                }
            }
        }
        up
    }

    pub(super) fn links_of_up(&self, i: NodeId) -> BTreeSet<(NodeId, NodeId)> {
        self.nodes[i]
            .neighbours
            .iter()
            .filter(|&&j| self.reachable(i, j))
            .map(|&j| (i.min(j), i.max(j)))
            .collect()
    }

    /// Issues `connected`/`disconnected` for mesh links whose state changed.
    pub(super) fn apply_link_changes(
        &mut self,
        before: &BTreeSet<(NodeId, NodeId)>,
        after: &BTreeSet<(NodeId, NodeId)>,
    ) {
        for &(a, b) in before.difference(after) {
            self.link_down(a, b);
        }
        for &(a, b) in after.difference(before) {
            self.link_up(a, b);
        }
    }

    /// A link comes up: `a` dialled `b`. Each side hears `connected` (with the direction and
    /// the other's address as its address group, every node being a host of its own) and
    /// `identified` (where the other listens, which the connection managers hand on).
    pub(super) fn link_up(&mut self, a: NodeId, b: NodeId) {
        self.record(b"up", a, b, 0, 0);
        let now = self.now;
        for (x, y, inbound) in [(a, b, false), (b, a, true)] {
            let key = self.nodes[y].key;
            let addr = format!("/sim/{y}");
            let link = Link {
                inbound,
                group: Some(addr.clone()),
            };
            self.nodes[x]
                .service
                .connected(key, Some(addr.clone()), link, now);
            self.nodes[x].service.identified(key, vec![addr], now);
            self.perform(x);
        }
    }

    /// A dial arrives: refused (the dialler hears `dial_failed`) when the target is offline,
    /// cut off, or at [`SimConfig::max_connections`]; otherwise the link comes up.
    pub(super) fn deliver_connect(&mut self, from: NodeId, to: NodeId) {
        let now = self.now;
        if self.nodes[from].neighbours.contains(&to) {
            return;
        }
        let refusal = if !self.reachable(from, to) {
            Some("unreachable")
        } else if self.nodes[to].neighbours.len() >= self.cfg.max_connections {
            Some("connection refused: the member is at its connection limit")
        } else {
            None
        };
        if let Some(why) = refusal {
            self.record(b"refused", from, to, 0, 0);
            self.nodes[from].refused += 1;
            let key = self.nodes[to].key;
            self.nodes[from].service.dial_failed(key, why, now);
            self.perform(from);
            return;
        }
        self.link(from, to);
        self.link_up(from, to);
    }

    /// A pruned link: the notice (if any) reaches the pruned node as a request, then the link
    /// goes down on both ends.
    pub(super) fn deliver_prune(&mut self, from: NodeId, to: NodeId, notice: Option<Vec<u8>>) {
        if !self.nodes[from].neighbours.contains(&to) {
            return;
        }
        let now = self.now;
        if let Some(bytes) = notice.filter(|_| self.reachable(from, to)) {
            let key = self.nodes[from].key;
            let _ = self.nodes[to].service.received_request(key, &bytes, now);
            self.perform(to);
        }
        self.nodes[from].neighbours.remove(&to);
        self.nodes[to].neighbours.remove(&from);
        self.link_down(from, to);
    }

    pub(super) fn link_down(&mut self, a: NodeId, b: NodeId) {
        self.record(b"down", a, b, 0, 0);
        let now = self.now;
        for (x, y) in [(a, b), (b, a)] {
            let key = self.nodes[y].key;
            self.nodes[x].service.disconnected(key, now);
            self.perform(x);
        }
    }

    /// Takes a node off the network (its process keeps running and ticking) or brings it back;
    /// its mesh links go down or come up on both ends.
    pub fn set_online(&mut self, i: NodeId, online: bool) {
        if self.nodes[i].online == online {
            return;
        }
        let before = self.links_of_up(i);
        self.nodes[i].online = online;
        let after = self.links_of_up(i);
        self.apply_link_changes(&before, &after);
    }

    /// Splits the network: each listed set becomes a group of its own (numbered from 1); the
    /// unlisted nodes stay in group 0. Nodes in different groups cannot reach each other.
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        let before = self.mesh_links_up();
        for n in &mut self.nodes {
            n.group = 0;
        }
        for (g, members) in groups.iter().enumerate() {
            for &i in *members {
                self.nodes[i].group = g as u32 + 1;
            }
        }
        let after = self.mesh_links_up();
        self.apply_link_changes(&before, &after);
    }

    /// Ends every partition.
    pub fn heal(&mut self) {
        self.partition(&[]);
    }
}
