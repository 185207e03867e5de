//! The simulated network: the event queue, latency and loss, gossip publishing and forwarding,
//! and direct requests and responses between services.

use super::*;

impl Sim {
    pub(super) fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Wake { node, at } => {
                if self.nodes[node].wake_at != at {
                    return; // a later wake-up replaced this one
                }
                let now = self.now;
                self.nodes[node].wake_at = Millis::MAX;
                self.nodes[node].ticks += 1;
                self.nodes[node].service.tick(now);
                self.perform(node);
            }
            Msg::Gossip {
                from,
                to,
                topic,
                data,
                msg,
            } => self.deliver_gossip(from, to, topic, data, msg),
            Msg::Request {
                from,
                to,
                id,
                bytes,
            } => self.deliver_request(from, to, id, bytes),
            Msg::Response {
                from,
                to,
                id,
                payload,
            } => self.deliver_response(from, to, id, payload),
            Msg::Connect { from, to } => self.deliver_connect(from, to),
            Msg::Prune { from, to, notice } => self.deliver_prune(from, to, notice),
        }
    }

    /// Folds one handled message into the trace hash.
    pub(super) fn record(&mut self, kind: &[u8], a: NodeId, b: NodeId, size: usize, outcome: u8) {
        self.trace.update(self.now.to_le_bytes());
        self.trace.update(kind);
        self.trace.update((a as u64).to_le_bytes());
        self.trace.update((b as u64).to_le_bytes());
        self.trace.update((size as u64).to_le_bytes());
        self.trace.update([outcome]);
        self.trace_len += 1;
    }

    pub(super) fn latency(&mut self, a: NodeId, b: NodeId) -> Millis {
        let l = self.cfg.latency;
        let (x, y) = (a.min(b) as u64, a.max(b) as u64);
        let span = l.max_ms.saturating_sub(l.min_ms) + 1;
        let base = l.min_ms + mix(self.cfg.seed ^ mix((x << 32) | y)) % span;
        let jitter = if l.jitter_ms > 0 {
            self.rng.random_range(0..=l.jitter_ms)
        } else {
            0
        };
        base + jitter
    }

    /// When a message sent now from `a` reaches `b` (in order on the link).
    pub(super) fn arrival(&mut self, a: NodeId, b: NodeId) -> Millis {
        let at = self.now + self.latency(a, b);
        let last = self.link_clock.entry((a, b)).or_insert(0);
        let at = at.max(*last);
        *last = at;
        at
    }

    pub(super) fn lost(&mut self) -> bool {
        self.cfg.loss > 0.0 && self.rng.random_bool(self.cfg.loss.min(1.0))
    }

    pub(super) fn intern(&mut self, topic: Topic, data: &[u8]) -> u32 {
        let mut h = Sha256::new();
        h.update([topic_byte(topic)]);
        h.update(data);
        let id: [u8; 32] = h.finalize().into();
        let next = self.messages.len() as u32;
        let n = *self.messages.entry(id).or_insert(next);
        if n == next {
            self.reach.push((0, self.now));
        }
        n
    }

    /// How many nodes accepted gossip message `msg` (the publisher included) and when the last
    /// of them did: with [`Published::msg`], how long gossip alone took to spread a record.
    pub fn gossip_reach(&self, msg: u32) -> (u32, Millis) {
        self.reach.get(msg as usize).copied().unwrap_or((0, 0))
    }

    /// Performs a node's effects, in order, until its outbox stays empty.
    pub(super) fn perform(&mut self, i: NodeId) {
        loop {
            let outbox = self.nodes[i].service.take_outbox();
            if outbox.is_empty() {
                break;
            }
            for io in outbox {
                self.perform_one(i, io);
            }
        }
    }

    pub(super) fn perform_one(&mut self, i: NodeId, io: Io) {
        match io {
            Io::Publish {
                topic,
                data,
                report,
            } => {
                self.note_published(topic, &data);
                let ok = self.publish(i, topic, data.into());
                if let Some(call) = report {
                    self.nodes[i].service.published(call, ok);
                }
            }
            Io::Request { id, to, request } => self.request(i, id.0, to, &request),
            Io::Reply { call, result, .. } => {
                self.nodes[i].replies.insert(call, result);
            }
            Io::Emit(event) => {
                let n = &mut self.nodes[i];
                *n.event_counts.entry(event.kind()).or_insert(0) += 1;
                if n.events.len() >= self.cfg.max_events_per_node {
                    n.events.pop_front();
                }
                if self.cfg.max_events_per_node > 0 {
                    n.events.push_back(event);
                }
            }
            Io::Provide(key) => {
                self.nodes[i].provided.insert(key);
            }
            Io::StopProviding(key) => {
                self.nodes[i].provided.remove(&key);
            }
            Io::Dial { peer, .. } => {
                self.nodes[i].dials += 1;
                match self.by_key.get(&peer).copied() {
                    Some(j) if j != i => {
                        let at = self.now + self.latency(i, j);
                        self.schedule(at, Msg::Connect { from: i, to: j });
                    }
                    _ => {
                        let now = self.now;
                        self.nodes[i].service.dial_failed(peer, "no such node", now);
                    }
                }
            }
            Io::RememberPeer { .. } => {}
            Io::Prune { peer, elsewhere } => {
                if let Some(j) = self.by_key.get(&peer).copied() {
                    self.nodes[i].prunes += 1;
                    let notice = (!elsewhere.is_empty())
                        .then_some(DirectRequest::Elsewhere { peers: elsewhere })
                        .and_then(|r| codec::encode(&r).ok());
                    let at = self.now + self.latency(i, j);
                    self.schedule(
                        at,
                        Msg::Prune {
                            from: i,
                            to: j,
                            notice,
                        },
                    );
                }
            }
            Io::Disconnect { peer, .. } => {
                self.nodes[i].disconnected.insert(peer);
            }
            Io::Standing { .. } => {}
            Io::Wakeup(after) => {
                let after = after.as_millis().clamp(1, self.cfg.max_sleep_ms.max(1));
                let at = self.now + after;
                self.nodes[i].wake_at = at;
                self.schedule(at, Msg::Wake { node: i, at });
            }
        }
    }

    pub(super) fn note_published(&mut self, topic: Topic, data: &[u8]) {
        let record = match topic {
            Topic::Profiles => Signed::<Profile>::decode(data).ok().map(AnyRecord::Profile),
            _ => AnyRecord::decode(data).ok(),
        };
        if let Some(r) = record {
            let msg = self.intern(topic, data);
            self.published.push(Published {
                msg,
                kind: r.kind(),
                id: r.id(),
                signer: r.signer(),
                issued_at: r.issued_at(),
                at: self.now,
            });
        }
    }

    /// Sends a message to the node's reachable neighbours; returns whether there was any.
    pub(super) fn publish(&mut self, i: NodeId, topic: Topic, data: Rc<[u8]>) -> bool {
        let msg = self.intern(topic, &data);
        if self.nodes[i].seen.insert(msg) {
            let r = &mut self.reach[msg as usize];
            r.0 += 1;
            r.1 = self.now;
        }
        self.forward(i, None, topic, data, msg)
    }

    pub(super) fn forward(
        &mut self,
        i: NodeId,
        except: Option<NodeId>,
        topic: Topic,
        data: Rc<[u8]>,
        msg: u32,
    ) -> bool {
        let targets: Vec<NodeId> = self.nodes[i]
            .neighbours
            .iter()
            .copied()
            .filter(|&j| Some(j) != except && self.reachable(i, j))
            .collect();
        let any = !targets.is_empty();
        for j in targets {
            let t = &mut self.nodes[i].traffic;
            t.gossip_msgs += 1;
            t.gossip_bytes += data.len() as u64;
            if self.lost() {
                self.gossip.lost += 1;
                self.record(b"gossip-lost", i, j, data.len(), 0);
                continue;
            }
            let at = self.arrival(i, j);
            self.schedule(
                at,
                Msg::Gossip {
                    from: i,
                    to: j,
                    topic,
                    data: data.clone(),
                    msg,
                },
            );
        }
        any
    }

    pub(super) fn deliver_gossip(
        &mut self,
        from: NodeId,
        to: NodeId,
        topic: Topic,
        data: Rc<[u8]>,
        msg: u32,
    ) {
        if !self.reachable(from, to) {
            self.gossip.lost += 1;
            self.record(b"gossip-cut", from, to, data.len(), 0);
            return;
        }
        if !self.nodes[to].seen.insert(msg) {
            self.gossip.duplicates += 1;
            self.record(b"gossip-dup", from, to, data.len(), 0);
            return;
        }
        let now = self.now;
        let key = self.nodes[from].key;
        let verdict = self.nodes[to]
            .service
            .received_gossip(key, topic, &data, now);
        self.perform(to);
        let outcome = match verdict {
            Verdict::Accept => {
                self.gossip.accepted += 1;
                let r = &mut self.reach[msg as usize];
                r.0 += 1;
                r.1 = now;
                1
            }
            Verdict::Reject => {
                self.gossip.rejected += 1;
                2
            }
            Verdict::Ignore => {
                self.gossip.ignored += 1;
                3
            }
        };
        self.record(b"gossip", from, to, data.len(), outcome);
        if verdict == Verdict::Accept {
            self.forward(to, Some(from), topic, data, msg);
        }
    }

    pub(super) fn fail_later(&mut self, from: Option<NodeId>, to: NodeId, id: u64, why: &str) {
        let at = self.now + self.cfg.request_timeout_ms;
        self.schedule(
            at,
            Msg::Response {
                from,
                to,
                id,
                payload: Err(RequestFailure::Unreachable(why.to_string())),
            },
        );
    }

    pub(super) fn request(&mut self, i: NodeId, id: u64, to: PublicKey, request: &DirectRequest) {
        let bytes = match codec::encode(request) {
            Ok(b) => b,
            Err(e) => {
                let now = self.now;
                self.nodes[i].service.received_response(
                    RequestId(id),
                    Err(RequestFailure::Malformed(e.to_string())),
                    now,
                );
                return;
            }
        };
        self.send_request(i, id, to, bytes);
    }

    pub(super) fn send_request(&mut self, i: NodeId, id: u64, to: PublicKey, bytes: Vec<u8>) {
        let t = &mut self.nodes[i].traffic;
        t.request_msgs += 1;
        t.request_bytes += bytes.len() as u64;
        let Some(j) = self.node_of(&to) else {
            self.record(b"req-unknown", i, i, bytes.len(), 0);
            self.fail_later(None, i, id, "no such peer");
            return;
        };
        if !self.reachable(i, j) {
            self.record(b"req-unreachable", i, j, bytes.len(), 0);
            self.fail_later(Some(j), i, id, "unreachable");
            return;
        }
        if self.lost() {
            self.record(b"req-lost", i, j, bytes.len(), 0);
            self.fail_later(Some(j), i, id, "timed out");
            return;
        }
        let at = self.arrival(i, j);
        self.schedule(
            at,
            Msg::Request {
                from: i,
                to: j,
                id,
                bytes,
            },
        );
    }

    pub(super) fn deliver_request(&mut self, from: NodeId, to: NodeId, id: u64, bytes: Vec<u8>) {
        if !self.reachable(from, to) {
            self.record(b"req-cut", from, to, bytes.len(), 0);
            self.fail_later(Some(to), from, id, "connection closed");
            return;
        }
        let now = self.now;
        let key = self.nodes[from].key;
        let response = self.nodes[to].service.received_request(key, &bytes, now);
        self.perform(to);
        let payload = match codec::encode(&response) {
            Ok(b) => b,
            Err(e) => {
                self.fail_later(Some(to), from, id, &format!("cannot encode: {e}"));
                return;
            }
        };
        let t = &mut self.nodes[to].traffic;
        t.response_msgs += 1;
        t.response_bytes += payload.len() as u64;
        self.record(b"req", from, to, bytes.len(), 1);
        if self.lost() {
            self.record(b"resp-lost", to, from, payload.len(), 0);
            self.fail_later(Some(to), from, id, "timed out");
            return;
        }
        let at = self.arrival(to, from);
        self.schedule(
            at,
            Msg::Response {
                from: Some(to),
                to: from,
                id,
                payload: Ok(payload),
            },
        );
    }

    pub(super) fn deliver_response(
        &mut self,
        from: Option<NodeId>,
        to: NodeId,
        id: u64,
        payload: Result<Vec<u8>, RequestFailure>,
    ) {
        let size = payload.as_ref().map_or(0, |b| b.len());
        let cut = match from {
            Some(f) => payload.is_ok() && !self.reachable(f, to),
            None => false,
        };
        let result = match payload {
            _ if cut => Err(RequestFailure::Unreachable("connection closed".into())),
            Ok(bytes) => codec::decode::<DirectResponse>(&bytes, MAX_RESPONSE_BYTES)
                .map_err(|e| RequestFailure::Malformed(e.to_string())),
            Err(f) => Err(f),
        };
        self.record(
            b"resp",
            from.unwrap_or(to),
            to,
            size,
            u8::from(result.is_ok()),
        );
        if id >= RAW_REQUEST_BASE {
            self.nodes[to].raw_responses.push((id, result));
            return;
        }
        let now = self.now;
        self.nodes[to]
            .service
            .received_response(RequestId(id), result, now);
        self.perform(to);
    }
}
