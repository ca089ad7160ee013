//! What a node does with the cluster bus, as Redis 7.0 does it
//! (clusterProcessPacket, clusterSendPing, clusterProcessGossipSection,
//! clusterUpdateSlotsConfigWith, clusterCron): state changes on `State`
//! that return what to send. `bus.rs` owns the sockets and carries out
//! the `Send`s; nothing here does I/O.

use rand::Rng;

use super::nodes::{flag, Node, NodeId};
use super::wire::{self, kind, Body, Gossip, Header, Message, NodeId0, Ping, Slots};
use super::State;
use crate::config::{self, Opt};
use crate::storage::slot::SLOTS;

/// What the bus must do after a message or a cron tick.
pub enum Send {
    /// Send on the link the message came in on.
    Reply(Message),
    /// Send on the outbound link to a node (dropped if there is none).
    To(NodeId, Message),
    /// Open an outbound link to a node at `ip:cport`, `Message` first.
    Connect(NodeId, String, u16, Message),
    /// Close the outbound link to a node.
    Drop(NodeId),
    /// Close the link the message came in on.
    CloseThis,
    /// The handshake node `.0` is now known as `.1`: its link follows.
    Rename(NodeId, NodeId),
    /// The inbound link the message came in on belongs to this node.
    Bind(NodeId),
    /// Replicate from the master at `ip:port` (a no-op if already so).
    Replicate(String, u16),
    /// Myself turned master: stop replicating.
    StopReplication,
    /// Delete the keys of these slots, each on its core: this master
    /// lost them to another (Redis's delKeysInSlot for dirty slots).
    DropKeys(Vec<(usize, usize)>),
    /// A PUBLISH (`shard`: PUBLISHSHARD) from another node, for the
    /// subscribers here.
    Deliver {
        shard: bool,
        channel: Vec<u8>,
        message: Vec<u8>,
    },
}

/// The link a message arrived on.
pub struct Origin {
    pub inbound: bool,
    /// The node of an outbound link (a handshake name until the first PONG).
    pub node: Option<NodeId>,
    /// The peer's address and ours on this socket.
    pub peer_ip: String,
    pub local_ip: String,
}

pub fn now() -> u64 {
    crate::storage::now_ms() as u64
}

fn node_timeout() -> u64 {
    config::num(Opt::ClusterNodeTimeout) as u64
}

impl State {
    pub fn index(&self, id: NodeId) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    pub fn get(&self, id: NodeId) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn get_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|n| n.id == id)
    }

    /// The master whose slots and epoch myself announces: myself, or
    /// my master.
    fn announced_master(&self) -> Option<&Node> {
        let me = self.myself();
        if me.is(flag::SLAVE) {
            me.master.and_then(|m| self.get(m))
        } else {
            Some(me)
        }
    }

    /// The header of every message myself sends (clusterBuildMessageHdr).
    pub fn header(&self) -> Header {
        let me = self.myself();
        let mut myslots = Slots::default();
        let mut config_epoch = 0;
        if let Some(m) = self.announced_master() {
            config_epoch = m.config_epoch;
            for s in self.slots_of(m.id) {
                myslots.set(s, true);
            }
        }
        let paused = me.is(flag::MASTER) && self.manual.end != 0 && self.manual.replica.is_some();
        let slaveof = if me.is(flag::SLAVE) {
            me.master.map(|m| *m.bytes())
        } else {
            None
        };
        Header {
            port: me.port,
            current_epoch: self.current_epoch,
            config_epoch,
            offset: crate::replication::master_offset().max(0) as u64,
            sender: NodeId0(*me.id.bytes()),
            myslots,
            slaveof,
            myip: config::text(Opt::ClusterAnnounceIp),
            pport: 0,
            cport: me.cport,
            flags: me.flags,
            state: if self.state_ok() { 0 } else { 1 },
            mflags: [paused as u8 * wire::mflag::PAUSED, 0, 0],
        }
    }

    /// A PING, PONG or MEET with gossip about a few random nodes and all
    /// failing ones (clusterSendPing). A PING marks `to` as pinged.
    pub fn ping(&mut self, ty: u16, to: Option<NodeId>) -> Message {
        let now = now();
        if ty == kind::PING {
            if let Some(n) = to.and_then(|id| self.get_mut(id)) {
                n.ping_sent = now;
            }
        }
        let total = self.nodes.len();
        let mut fresh = total.saturating_sub(2);
        let wanted = (total / 10).max(3).min(fresh);
        let mut picked: Vec<usize> = Vec::new();
        let mut tries = wanted * 3;
        let mut rng = rand::thread_rng();
        while fresh > 0 && picked.len() < wanted && tries > 0 {
            tries -= 1;
            let i = rng.gen_range(0..total);
            let n = &self.nodes[i];
            if n.is(flag::MYSELF | flag::PFAIL | flag::HANDSHAKE | flag::NOADDR)
                || (!n.connected && !self.owner.contains(&Some(n.id)))
                || picked.contains(&i)
            {
                continue;
            }
            picked.push(i);
            fresh -= 1;
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if n.is(flag::PFAIL) && !n.is(flag::HANDSHAKE | flag::NOADDR) {
                picked.push(i);
            }
        }
        let gossip = picked
            .into_iter()
            .map(|i| {
                let n = &self.nodes[i];
                Gossip {
                    nodename: *n.id.bytes(),
                    ping_sent: (n.ping_sent / 1000) as u32,
                    pong_received: (n.pong_received / 1000) as u32,
                    ip: n.ip.clone(),
                    port: n.port,
                    cport: n.cport,
                    flags: n.flags,
                    pport: 0,
                }
            })
            .collect();
        let host = &self.myself().hostname;
        let p = Ping {
            gossip,
            hostname: (!host.is_empty()).then(|| host.clone()),
        };
        let body = match ty {
            kind::PONG => Body::Pong(p),
            kind::MEET => Body::Meet(p),
            _ => Body::Ping(p),
        };
        Message {
            header: self.header(),
            body,
        }
    }

    /// A message to every node with a link but those in handshake
    /// (clusterBroadcastMessage).
    pub fn broadcast(&self, m: &Message, out: &mut Vec<Send>) {
        for n in &self.nodes {
            if n.connected && !n.is(flag::MYSELF | flag::HANDSHAKE) {
                out.push(Send::To(n.id, m.clone()));
            }
        }
    }

    /// The other nodes of myself's shard (its master and replicas).
    pub fn send_to_my_shard(&self, m: &Message, out: &mut Vec<Send>) {
        let me = self.myself();
        let master = me.master.filter(|_| me.is(flag::SLAVE)).unwrap_or(me.id);
        for n in &self.nodes {
            let in_shard = n.id == master || n.master == Some(master);
            if in_shard && n.connected && !n.is(flag::MYSELF | flag::HANDSHAKE) {
                out.push(Send::To(n.id, m.clone()));
            }
        }
    }

    /// Removes a node: its slots become unassigned, its replicas lose
    /// their master, its failure reports go (clusterDelNode).
    pub fn del_node(&mut self, id: NodeId, out: &mut Vec<Send>) {
        let Some(i) = self.index(id) else { return };
        let owned: Vec<usize> = self.slots_of(id).collect();
        self.assign(&owned, None);
        self.importing.retain(|_, from| *from != id);
        self.migrating.retain(|_, to| *to != id);
        for n in &mut self.nodes {
            n.fail_reports.retain(|(r, _)| *r != id);
            if n.master == Some(id) {
                n.master = None;
            }
        }
        if self.nodes[i].connected {
            out.push(Send::Drop(id));
        }
        self.nodes.remove(i);
        self.todo_save = true;
    }

    /// A replica turns master (clusterSetNodeAsMaster).
    fn set_as_master(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if n.is(flag::MASTER) {
            return;
        }
        n.flags = (n.flags & !flag::SLAVE) | flag::MASTER;
        n.master = None;
        self.todo_save = true;
    }

    /// Handles one message from a peer (clusterProcessPacket).
    pub fn process(&mut self, from: &Origin, m: Message, out: &mut Vec<Send>) {
        let now = now();
        let h = &m.header;
        let ty = m.body.kind();
        let sender_id = NodeId::parse(&h.sender.0);
        let sender = sender_id
            .and_then(|id| self.index(id))
            .filter(|&i| !self.nodes[i].is(flag::HANDSHAKE));
        if let Some(i) = sender {
            let n = &mut self.nodes[i];
            n.data_received = now;
            n.repl_offset = h.offset;
            if h.config_epoch > n.config_epoch {
                n.config_epoch = h.config_epoch;
                self.todo_save = true;
            }
            if h.current_epoch > self.current_epoch {
                self.current_epoch = h.current_epoch;
                self.todo_save = true;
            }
            if from.inbound {
                out.push(Send::Bind(n.id));
            }
        }
        match m.body {
            Body::Ping(ref p) | Body::Meet(ref p) | Body::Pong(ref p) => {
                let p = p.clone();
                self.process_ping(from, &m.header, ty, sender, p, out);
            }
            Body::Fail { nodename } => {
                if sender.is_none() {
                    return;
                }
                let failing = NodeId::parse(&nodename).and_then(|id| self.index(id));
                if let Some(f) = failing.filter(|&f| !self.nodes[f].is(flag::FAIL | flag::MYSELF)) {
                    {
                        tracing::info!(
                            "FAIL message received from {} about {}",
                            self.nodes[sender.unwrap_or(0)].id,
                            self.nodes[f].id
                        );
                        let n = &mut self.nodes[f];
                        n.flags = (n.flags | flag::FAIL) & !flag::PFAIL;
                        n.fail_time = now;
                        self.todo_save = true;
                    }
                }
            }
            Body::Update {
                config_epoch,
                nodename,
                slots,
            } => {
                if sender.is_none() {
                    return;
                }
                let Some(i) = NodeId::parse(&nodename).and_then(|id| self.index(id)) else {
                    return;
                };
                if self.nodes[i].config_epoch >= config_epoch {
                    return;
                }
                self.set_as_master(i);
                self.nodes[i].config_epoch = config_epoch;
                let id = self.nodes[i].id;
                self.update_slots_with(id, config_epoch, &slots, out);
                self.todo_save = true;
            }
            Body::FailoverAuthRequest => {
                if let Some(s) = sender {
                    self.vote(s, &m.header, out);
                }
            }
            Body::FailoverAuthAck => {
                if let Some(s) = sender {
                    self.count_vote(s, &m.header, out);
                }
            }
            Body::MfStart => {
                if let Some(s) = sender {
                    self.manual_start(s, out);
                }
            }
            Body::Publish { channel, message } if sender.is_some() => {
                out.push(Send::Deliver {
                    shard: false,
                    channel,
                    message,
                });
            }
            Body::PublishShard { channel, message } if sender.is_some() => {
                out.push(Send::Deliver {
                    shard: true,
                    channel,
                    message,
                });
            }
            // From unknown senders, and module messages (no modules).
            _ => {}
        }
    }

    fn process_ping(
        &mut self,
        from: &Origin,
        h: &Header,
        ty: u16,
        sender: Option<usize>,
        p: Ping,
        out: &mut Vec<Send>,
    ) {
        let now = now();
        if ty == kind::PING || ty == kind::MEET {
            // Our own address is what a peer reached us on.
            if (ty == kind::MEET || self.myself().ip.is_empty())
                && config::text(Opt::ClusterAnnounceIp).is_empty()
                && self.myself().ip != from.local_ip
            {
                tracing::info!("IP address for this node updated to {}", from.local_ip);
                self.myself_mut().ip = from.local_ip.clone();
                self.todo_save = true;
            }
            if sender.is_none() && ty == kind::MEET {
                let mut n = Node::new(NodeId::random(), flag::HANDSHAKE);
                n.ip = peer_ip(h, from);
                n.port = h.port;
                n.cport = h.cport;
                self.nodes.push(n);
                self.process_gossip(None, &p.gossip, out);
            }
            let pong = self.ping(kind::PONG, None);
            out.push(Send::Reply(pong));
        }
        if !from.inbound {
            let Some(link_node) = from.node.and_then(|id| self.index(id)) else {
                return;
            };
            if self.nodes[link_node].is(flag::HANDSHAKE) {
                let old = self.nodes[link_node].id;
                if let Some(s) = sender {
                    // We already know it under its real name.
                    self.update_address(s, h, from, out);
                    self.del_node(old, out);
                    return;
                }
                let Some(new) =
                    NodeId::parse(&h.sender.0).filter(|_| wire::valid_node_id(&h.sender.0))
                else {
                    return;
                };
                tracing::info!("Handshake with node {old} completed, it is {new}");
                let n = &mut self.nodes[link_node];
                n.id = new;
                n.flags &= !flag::HANDSHAKE;
                n.flags |= h.flags & (flag::MASTER | flag::SLAVE);
                self.todo_save = true;
                out.push(Send::Rename(old, new));
            } else if self.nodes[link_node].id.bytes() != &h.sender.0 {
                // Another node answers at that address now.
                let n = &mut self.nodes[link_node];
                n.flags |= flag::NOADDR;
                n.ip.clear();
                n.port = 0;
                n.cport = 0;
                n.connected = false;
                self.todo_save = true;
                out.push(Send::CloseThis);
                return;
            }
        }
        // The handshake may have just named the sender.
        let sender = sender.or_else(|| {
            NodeId::parse(&h.sender.0)
                .and_then(|id| self.index(id))
                .filter(|&i| !self.nodes[i].is(flag::HANDSHAKE))
        });
        if let Some(s) = sender {
            let n = &mut self.nodes[s];
            n.flags = (n.flags & !flag::NOFAILOVER) | (h.flags & flag::NOFAILOVER);
            if ty == kind::PING && from.inbound {
                self.update_address(s, h, from, out);
            }
        }
        if !from.inbound && ty == kind::PONG {
            if let Some(i) = from.node.and(sender) {
                let n = &mut self.nodes[i];
                n.pong_received = now;
                n.ping_sent = 0;
                if n.is(flag::PFAIL) {
                    n.flags &= !flag::PFAIL;
                } else if n.is(flag::FAIL) {
                    self.clear_failure_if_needed(i);
                }
            }
        }
        let Some(s) = sender else { return };
        // Role changes.
        match h.slaveof.and_then(|m| NodeId::parse(&m)) {
            None => self.set_as_master(s),
            Some(master) => {
                if self.nodes[s].is(flag::MASTER) {
                    let id = self.nodes[s].id;
                    let owned: Vec<usize> = self.slots_of(id).collect();
                    self.assign(&owned, None);
                }
                if !self.nodes[s].is(flag::SLAVE) {
                    let n = &mut self.nodes[s];
                    n.flags = (n.flags & !(flag::MASTER | flag::MIGRATE_TO)) | flag::SLAVE;
                    self.todo_save = true;
                }
                if self.index(master).is_some() && self.nodes[s].master != Some(master) {
                    self.nodes[s].master = Some(master);
                    self.todo_save = true;
                }
            }
        }
        // Slots: a master's claim (a replica carries its master's).
        let sid = self.nodes[s].id;
        let sender_master = if self.nodes[s].is(flag::MASTER) {
            Some(sid)
        } else {
            self.nodes[s].master
        };
        let dirty = sender_master.is_some_and(|m| {
            (0..SLOTS).any(|slot| (self.owner[slot] == Some(m)) != h.myslots.get(slot))
        });
        if dirty && self.nodes[s].is(flag::MASTER) {
            self.update_slots_with(sid, h.config_epoch, &h.myslots, out);
        }
        if dirty {
            // It claims slots a newer owner has: tell it.
            let stale = h.myslots.iter().find_map(|slot| {
                let o = self.owner[slot].filter(|o| *o != sid)?;
                let on = self.get(o)?;
                (on.config_epoch > h.config_epoch).then_some(o)
            });
            if let Some(o) = stale {
                let msg = self.update_about(o);
                out.push(Send::To(sid, msg));
            }
        }
        if self.myself().is(flag::MASTER)
            && self.nodes[s].is(flag::MASTER)
            && h.config_epoch == self.myself().config_epoch
        {
            self.config_epoch_collision(sid);
        }
        self.master_paused(s, h);
        self.process_gossip(Some(s), &p.gossip, out);
        let host = p.hostname.unwrap_or_default();
        if self.nodes[s].hostname != host {
            self.nodes[s].hostname = host;
            self.todo_save = true;
        }
    }

    /// Moves a node to the address a message shows, closing its old link
    /// (nodeUpdateAddressIfNeeded).
    fn update_address(&mut self, i: usize, h: &Header, from: &Origin, out: &mut Vec<Send>) {
        let ip = peer_ip(h, from);
        let n = &mut self.nodes[i];
        if n.ip == ip && n.port == h.port && n.cport == h.cport {
            return;
        }
        tracing::info!(
            "Address updated for node {} ({}), now {ip}:{}",
            n.id,
            n.hostname,
            h.port
        );
        n.ip = ip;
        n.port = h.port;
        n.cport = h.cport;
        n.flags &= !flag::NOADDR;
        if n.connected {
            n.connected = false;
            out.push(Send::Drop(n.id));
        }
        self.todo_save = true;
    }

    /// An UPDATE telling a peer that `owner` serves its slots at its epoch.
    fn update_about(&self, owner: NodeId) -> Message {
        let mut slots = Slots::default();
        for s in self.slots_of(owner) {
            slots.set(s, true);
        }
        let epoch = self.get(owner).map_or(0, |n| n.config_epoch);
        Message {
            header: self.header(),
            body: Body::Update {
                config_epoch: epoch,
                nodename: *owner.bytes(),
                slots,
            },
        }
    }

    /// A master's slot claim wins over an unassigned slot or an owner with
    /// an older epoch, unless we import the slot
    /// (clusterUpdateSlotsConfigWith).
    fn update_slots_with(
        &mut self,
        sender: NodeId,
        epoch: u64,
        claimed: &Slots,
        out: &mut Vec<Send>,
    ) {
        let me = self.myself().id;
        if sender == me {
            return;
        }
        let current = if self.myself().is(flag::MASTER) {
            Some(me)
        } else {
            self.myself().master
        };
        let mut won = Vec::new();
        for slot in claimed.iter() {
            let owner = self.owner[slot];
            if owner == Some(sender) || self.importing.contains_key(&slot) {
                continue;
            }
            let older = match owner {
                None => true,
                Some(o) => self.get(o).is_none_or(|n| n.config_epoch < epoch),
            };
            if older {
                won.push(slot);
            }
        }
        if won.is_empty() {
            return;
        }
        if won.iter().any(|&s| self.owner[s] == Some(me)) {
            tracing::warn!(
                "Slots of this node were claimed by {sender} with a greater configEpoch"
            );
        }
        let ours = won.iter().filter(|&&s| self.owner[s] == current).count();
        // Slots of mine, with the core that holds their keys.
        let lost: Vec<(usize, usize)> = won
            .iter()
            .filter(|&&s| self.owner[s] == Some(me))
            .map(|&s| (s, crate::runtime::owner(s)))
            .collect();
        self.assign(&won, Some(sender));
        self.todo_save = true;
        // Our side lost its last slot to the sender: follow it.
        if ours > 0 && current.is_some_and(|c| self.slots_of(c).next().is_none()) {
            let claimed = claimed.iter().count();
            if config::num(Opt::ClusterAllowReplicaMigration) == 1 || claimed == ours {
                tracing::info!(
                    "Configuration change detected. Reconfiguring myself as a replica of {sender}"
                );
                self.set_my_master(sender);
                return;
            }
        }
        // Still a master of other slots: the keys of the lost ones go,
        // so that keys and slots agree (replication flushes a replica).
        if self.myself().is(flag::MASTER) && !lost.is_empty() {
            out.push(Send::DropKeys(lost));
        }
    }

    /// Two masters with one configEpoch: the smaller name takes a new one
    /// (clusterHandleConfigEpochCollision).
    fn config_epoch_collision(&mut self, sender: NodeId) {
        if sender <= self.myself().id {
            return;
        }
        self.current_epoch += 1;
        let e = self.current_epoch;
        self.myself_mut().config_epoch = e;
        self.todo_save = true;
        tracing::info!("WARNING: configEpoch collision with node {sender}. configEpoch set to {e}");
    }

    /// What a peer's gossip says of other nodes: failure reports, pong
    /// times, new addresses, and nodes we did not know
    /// (clusterProcessGossipSection). `sender` is None for a MEET from an
    /// unknown node.
    fn process_gossip(&mut self, sender: Option<usize>, gossip: &[Gossip], out: &mut Vec<Send>) {
        let now = now();
        let reporter = sender
            .filter(|&s| self.nodes[s].is(flag::MASTER))
            .map(|s| self.nodes[s].id);
        let me = self.myself().id;
        for g in gossip {
            let Some(id) = NodeId::parse(&g.nodename) else {
                continue;
            };
            let failing = g.flags & (flag::FAIL | flag::PFAIL) != 0;
            if let Some(i) = self.index(id) {
                if let Some(r) = reporter.filter(|_| id != me) {
                    let n = &mut self.nodes[i];
                    n.fail_reports.retain(|(who, _)| *who != r);
                    if failing {
                        n.fail_reports.push((r, now));
                        self.mark_failing_if_needed(i, out);
                    }
                }
                let n = &mut self.nodes[i];
                if !failing && n.ping_sent == 0 && n.fail_reports.is_empty() {
                    let pong = g.pong_received as u64 * 1000;
                    if pong <= now + 500 && pong > n.pong_received {
                        n.pong_received = pong;
                    }
                }
                if n.is(flag::FAIL | flag::PFAIL)
                    && g.flags & flag::NOADDR == 0
                    && !failing
                    && (n.ip != g.ip || n.port != g.port || n.cport != g.cport)
                {
                    n.ip = g.ip.clone();
                    n.port = g.port;
                    n.cport = g.cport;
                    n.flags &= !flag::NOADDR;
                    if n.connected {
                        n.connected = false;
                        out.push(Send::Drop(id));
                    }
                }
            } else if sender.is_some()
                && g.flags & flag::NOADDR == 0
                && wire::valid_node_id(&g.nodename)
                && !self.blacklisted(id)
            {
                // With the flags the sender sees (a replica must be known as one
                // for the votes of a later election).
                let mut n = Node::new(id, g.flags & !flag::MYSELF);
                n.ip = g.ip.clone();
                n.port = g.port;
                n.cport = g.cport;
                self.nodes.push(n);
                self.todo_save = true;
            }
        }
    }

    /// A node reachable again loses FAIL: at once if it is a replica or
    /// has no slots, else after 2 × node timeout (clearNodeFailureIfNeeded).
    fn clear_failure_if_needed(&mut self, i: usize) {
        let now = now();
        let id = self.nodes[i].id;
        let has_slots = self.owner.contains(&Some(id));
        let n = &mut self.nodes[i];
        if n.is(flag::SLAVE) || !has_slots || now - n.fail_time > node_timeout() * 2 {
            tracing::info!("Clear FAIL state for node {id}: is reachable again.");
            n.flags &= !flag::FAIL;
            self.todo_save = true;
        }
    }

    /// Whether FORGET banned a node from coming back through gossip.
    fn blacklisted(&mut self, id: NodeId) -> bool {
        let now = now();
        self.blacklist.retain(|_, until| *until > now);
        self.blacklist.contains_key(&id)
    }

    /// Every 100 ms (clusterCron): expire handshakes, open missing links,
    /// ping, drop stale links, and mark unresponsive nodes PFAIL.
    pub fn cron(&mut self, iteration: u64, out: &mut Vec<Send>) {
        let now = now();
        let timeout = node_timeout();
        let handshake_timeout = timeout.max(1000);
        self.refresh_myself();
        let ids: Vec<NodeId> = self.nodes.iter().map(|n| n.id).collect();
        for id in ids {
            let Some(n) = self.get(id) else { continue };
            if n.is(flag::MYSELF | flag::NOADDR) {
                continue;
            }
            if n.is(flag::HANDSHAKE) && now.saturating_sub(n.ctime) > handshake_timeout {
                tracing::info!("Handshake with node {id} timed out");
                self.del_node(id, out);
                continue;
            }
            if !n.connected {
                let (ip, cport, meet) = (n.ip.clone(), n.cport, n.is(flag::MEET));
                let old = n.ping_sent;
                let first = self.ping(if meet { kind::MEET } else { kind::PING }, Some(id));
                let n = self.get_mut(id).expect("listed");
                if old != 0 {
                    n.ping_sent = old;
                }
                n.flags &= !flag::MEET;
                n.connected = true;
                n.link_ctime = now;
                out.push(Send::Connect(id, ip, cport, first));
            }
        }
        if iteration.is_multiple_of(10) {
            // The node with the oldest pong among five random ones.
            let mut rng = rand::thread_rng();
            let mut best: Option<(u64, NodeId)> = None;
            for _ in 0..5 {
                let n = &self.nodes[rng.gen_range(0..self.nodes.len())];
                if !n.connected || n.ping_sent != 0 || n.is(flag::MYSELF | flag::HANDSHAKE) {
                    continue;
                }
                if best.is_none_or(|(p, _)| n.pong_received < p) {
                    best = Some((n.pong_received, n.id));
                }
            }
            if let Some((_, id)) = best {
                let m = self.ping(kind::PING, Some(id));
                out.push(Send::To(id, m));
            }
        }
        let ids: Vec<NodeId> = self.nodes.iter().map(|n| n.id).collect();
        for id in ids {
            let Some(n) = self.get_mut(id) else { continue };
            if n.is(flag::MYSELF | flag::NOADDR | flag::HANDSHAKE) {
                continue;
            }
            let ping_delay = now.saturating_sub(n.ping_sent);
            let data_delay = now.saturating_sub(n.data_received);
            if n.connected
                && now.saturating_sub(n.link_ctime) > timeout
                && n.ping_sent != 0
                && ping_delay > timeout / 2
                && data_delay > timeout / 2
            {
                // A link that carries nothing: reconnect next time.
                n.connected = false;
                out.push(Send::Drop(id));
            }
            if n.connected && n.ping_sent == 0 && now.saturating_sub(n.pong_received) > timeout / 2
            {
                let m = self.ping(kind::PING, Some(id));
                out.push(Send::To(id, m));
                continue;
            }
            if n.ping_sent == 0 {
                continue;
            }
            if ping_delay.min(data_delay) > timeout && !n.is(flag::PFAIL | flag::FAIL) {
                tracing::debug!("*** NODE {id} possibly failing");
                n.flags |= flag::PFAIL;
            }
        }
        self.manual_cron(out);
        self.replica_failover(out);
        self.replica_migration();
        // A replica whose replication is not pointed at its master yet.
        let me = self.myself();
        if let Some(m) = me
            .master
            .filter(|_| me.is(flag::SLAVE))
            .and_then(|m| self.get(m))
        {
            if !m.ip.is_empty() && m.port != 0 {
                out.push(Send::Replicate(m.ip.clone(), m.port));
            }
        }
        self.update_state();
    }
}

/// A peer's address: what it announces, else where its socket comes from.
fn peer_ip(h: &Header, from: &Origin) -> String {
    if h.myip.is_empty() {
        from.peer_ip.clone()
    } else {
        h.myip.clone()
    }
}
