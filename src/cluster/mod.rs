//! Redis Cluster: this node's view of the cluster.
//!
//! The node table (`nodes.rs`), who serves each slot, the open
//! (importing / migrating) slots and the epochs live in one `State`
//! behind a mutex: only CLUSTER commands, the config file and (later) the
//! bus touch it. The data path never locks it: what it needs per slot is
//! mirrored into the lock-free slot table (`runtime::slots`), and the
//! cluster's ok/fail state into an atomic. `route.rs` turns both into
//! "run here / on core i / redirect" for every command.

pub mod bus;
pub mod commands;
pub mod failover;
pub mod gossip;
pub mod nodes;
pub mod nodes_conf;
pub mod route;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{self, Opt};
use crate::runtime::slots;
use crate::storage::slot::SLOTS;
pub use nodes::{flag, Node, NodeId};

/// Redis waits this long after start before a master reports ok.
const WRITABLE_DELAY: Duration = Duration::from_millis(2000);

pub struct State {
    /// Every known node; `nodes[0]` is myself.
    pub nodes: Vec<Node>,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    /// The node serving each slot.
    pub owner: Vec<Option<NodeId>>,
    pub migrating: BTreeMap<usize, NodeId>,
    pub importing: BTreeMap<usize, NodeId>,
    /// Slots each core holds (served or importing), for placement.
    per_core: Vec<usize>,
    ok: bool,
    /// Masters serving slots, as of the last state update (Redis starts at 1).
    pub size: usize,
    first_update: Option<Instant>,
    among_minority: Option<Instant>,
    /// nodes.conf must be written (the bus saves once per message or tick).
    pub todo_save: bool,
    /// currentEpoch, lastVoteEpoch and my configEpoch as last fsynced.
    synced_epochs: (u64, u64, u64),
    /// Nodes FORGET removed, with the unix ms until which gossip cannot
    /// bring them back.
    pub blacklist: std::collections::HashMap<NodeId, u64>,
    /// This replica's election (`failover.rs`).
    pub election: failover::Election,
    /// A manual failover in progress (`failover.rs`).
    pub manual: failover::Manual,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
static OK: AtomicBool = AtomicBool::new(false);

/// Whether this server runs as a cluster node.
#[inline]
pub fn enabled() -> bool {
    slots::cluster()
}

/// Deletes the keys of `slot` on this core (a slot lost to another
/// master): each a DEL in the journal, so the AOF and replicas drop it,
/// and a change for WATCH and tracking.
pub fn drop_slot_keys(slot: usize) {
    use crate::storage::{journal, shard};
    let keys: Vec<Vec<u8>> = shard::with(|s| {
        s.dbs[0]
            .slot_entries(slot)
            .map(|(k, _)| k.to_vec())
            .collect()
    });
    if keys.is_empty() {
        return;
    }
    tracing::info!(
        "Deleting {} keys of slot {slot}, now served by another master",
        keys.len()
    );
    for key in &keys {
        crate::persistence::snapshot::before_write(0, key);
        shard::with(|s| s.dbs[0].remove(key));
        crate::commands::key_changed(0, key, 0);
        journal::record(0, &[b"DEL".as_slice(), key]);
    }
    journal::publish();
}

/// Whether the cluster is in the ok state (CLUSTER INFO's cluster_state).
pub fn is_ok() -> bool {
    OK.load(Relaxed)
}

/// Runs `f` on the cluster state (cluster mode only).
pub fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut g = STATE.lock().unwrap_or_else(|e| e.into_inner());
    f(g.as_mut().expect("cluster mode"))
}

/// Fills the slot table for `threads` cores and, in cluster mode, loads
/// nodes.conf (or creates it with a new node id). Runs before the cores start.
pub fn init(threads: usize) -> Result<(), String> {
    let cluster = config::num(Opt::ClusterEnabled) == 1;
    slots::init(threads, cluster);
    if !cluster {
        return Ok(());
    }
    let mut st = State::new(threads, NodeId::random());
    let loaded = nodes_conf::load(&mut st)?;
    st.refresh_myself();
    *STATE.lock().unwrap() = Some(st);
    if loaded {
        tracing::info!("Node configuration loaded, I'm {}", myself_id());
    } else {
        tracing::info!("No cluster configuration found, I'm {}", myself_id());
    }
    with(|st| st.save())?;
    Ok(())
}

/// This node's id.
pub fn myself_id() -> NodeId {
    with(|st| st.myself().id)
}

impl State {
    pub fn new(cores: usize, id: NodeId) -> State {
        State {
            nodes: vec![Node::new(id, flag::MYSELF | flag::MASTER)],
            current_epoch: 0,
            last_vote_epoch: 0,
            owner: vec![None; SLOTS],
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            per_core: vec![0; cores.max(1)],
            ok: false,
            size: 1,
            first_update: None,
            among_minority: None,
            todo_save: false,
            synced_epochs: (0, 0, 0),
            blacklist: std::collections::HashMap::new(),
            election: Default::default(),
            manual: Default::default(),
        }
    }

    pub fn myself(&self) -> &Node {
        &self.nodes[0]
    }

    pub fn myself_mut(&mut self) -> &mut Node {
        &mut self.nodes[0]
    }

    pub fn node(&self, id: &[u8]) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id.as_str().as_bytes() == id)
    }

    /// The announced address of myself, from the config (Redis refreshes
    /// it at start and from the cron).
    pub fn refresh_myself(&mut self) {
        let port = config::num(Opt::Port) as u16;
        let announce = |o: Opt, def: u16| match config::num(o) as u16 {
            0 => def,
            p => p,
        };
        let bus = announce(Opt::ClusterPort, port.wrapping_add(10000));
        let me = self.myself_mut();
        me.port = announce(Opt::ClusterAnnouncePort, port);
        me.cport = announce(Opt::ClusterAnnounceBusPort, bus);
        me.hostname = config::text(Opt::ClusterAnnounceHostname);
        let ip = config::text(Opt::ClusterAnnounceIp);
        if !ip.is_empty() {
            me.ip = ip;
        }
    }

    /// Whether myself serves `slot`.
    pub fn mine(&self, slot: usize) -> bool {
        self.owner[slot] == Some(self.myself().id)
    }

    /// The slot table as runs of one owner: (first, last, owner), in
    /// order. One pass of neighbour comparisons, so that listings do not
    /// look every slot's owner up.
    pub fn runs(&self) -> Vec<(usize, usize, Option<NodeId>)> {
        let mut out: Vec<(usize, usize, Option<NodeId>)> = Vec::new();
        for (s, &o) in self.owner.iter().enumerate() {
            match out.last_mut() {
                Some(r) if r.2 == o => r.1 = s,
                _ => out.push((s, s, o)),
            }
        }
        out
    }

    /// How many slots each owner serves (None: unassigned).
    pub fn owner_counts(&self) -> Vec<(Option<NodeId>, usize)> {
        let mut out: Vec<(Option<NodeId>, usize)> = Vec::new();
        for (a, b, o) in self.runs() {
            match out.iter_mut().find(|(x, _)| *x == o) {
                Some(e) => e.1 += b - a + 1,
                None => out.push((o, b - a + 1)),
            }
        }
        out
    }

    /// The slots `id` serves, in order.
    pub fn slots_of(&self, id: NodeId) -> impl Iterator<Item = usize> + '_ {
        (0..SLOTS).filter(move |&s| self.owner[s] == Some(id))
    }

    /// A node's CLUSTER NODES line (`\n` not included).
    pub fn describe(&self, n: &Node) -> String {
        self.describe_in(n, &self.runs())
    }

    /// `describe` with the slot table's runs computed once for all nodes.
    fn describe_in(&self, n: &Node, runs: &[(usize, usize, Option<NodeId>)]) -> String {
        let epoch = n
            .master
            .and_then(|m| self.get(m))
            .map_or(n.config_epoch, |m| m.config_epoch);
        let mut line = n.head(epoch);
        for &(a, b, _) in runs.iter().filter(|r| r.2 == Some(n.id)) {
            line.push(' ');
            line.push_str(&if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            });
        }
        if n.is(flag::MYSELF) {
            // By slot; a slot both migrating and importing shows migrating.
            let open: BTreeMap<usize, String> = self
                .importing
                .iter()
                .map(|(s, from)| (*s, format!(" [{s}-<-{from}]")))
                .chain(
                    self.migrating
                        .iter()
                        .map(|(s, to)| (*s, format!(" [{s}->-{to}]"))),
                )
                .collect();
            open.values().for_each(|m| line.push_str(m));
        }
        line
    }

    /// CLUSTER NODES: every node but those in handshake when `for_file`.
    pub fn describe_all(&self, for_file: bool) -> String {
        let mut out = String::new();
        let runs = self.runs();
        for n in &self.nodes {
            if for_file && n.is(flag::HANDSHAKE) {
                continue;
            }
            out.push_str(&self.describe_in(n, &runs));
            out.push('\n');
        }
        out
    }

    /// Writes nodes.conf; Redis exits when it cannot, callers log. The
    /// file is fsynced when an epoch changed (a vote or a configEpoch must
    /// survive a crash, as Redis's CLUSTER_TODO_FSYNC_CONFIG); slot and
    /// flag changes are only written, as Redis does, since an fsync per
    /// SETSLOT made a 1000-slot reshard take 40 s.
    pub fn save(&mut self) -> Result<(), String> {
        self.write_conf(false)
    }

    /// CLUSTER SAVECONFIG: written and fsynced whatever changed.
    pub fn save_fsynced(&mut self) -> Result<(), String> {
        self.write_conf(true)
    }

    fn write_conf(&mut self, force_fsync: bool) -> Result<(), String> {
        let epochs = (
            self.current_epoch,
            self.last_vote_epoch,
            self.myself().config_epoch,
        );
        let fsync = force_fsync || epochs != self.synced_epochs;
        nodes_conf::save(self, fsync)?;
        if fsync {
            self.synced_epochs = epochs;
        }
        Ok(())
    }

    /// The greatest configEpoch known, or currentEpoch if greater.
    pub fn max_epoch(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.current_epoch)
    }

    /// Redis's clusterBumpConfigEpochWithoutConsensus: true if bumped.
    pub fn bump_epoch(&mut self) -> bool {
        let max = self.max_epoch();
        let me = self.myself().config_epoch;
        if me == 0 || me != max {
            self.current_epoch += 1;
            self.myself_mut().config_epoch = self.current_epoch;
            true
        } else {
            false
        }
    }

    /// Gives `slots` to `owner` (None: unassigned) and mirrors the change
    /// into the slot table.
    pub fn assign(&mut self, slots: &[usize], owner: Option<NodeId>) {
        for &s in slots {
            self.owner[s] = owner;
            if owner.is_none() {
                self.importing.remove(&s);
            }
        }
        self.sync(slots);
    }

    /// Mirrors `slots`' ownership and open state into the slot table:
    /// slots this node takes and were never placed go to the cores with
    /// fewest slots, interleaved; placed slots keep their core.
    pub fn sync(&mut self, slots: &[usize]) {
        let fresh: Vec<usize> = slots
            .iter()
            .copied()
            .filter(|&s| self.holds(s) && slots::entry(s) & slots::UNPLACED != 0)
            .collect();
        self.place(&fresh);
        for &s in slots {
            let e = slots::entry(s);
            let placed = e & slots::UNPLACED == 0;
            let core = (e & slots::CORE) as usize;
            let held_before =
                placed && (e & slots::FOREIGN == 0 || e & (slots::IMPORTING | slots::REPLICA) != 0);
            let held = self.holds(s);
            let mut ne = if placed { core as u16 } else { slots::UNPLACED };
            if !self.mine(s) {
                ne |= slots::FOREIGN;
            }
            if self.importing.contains_key(&s) {
                ne |= slots::IMPORTING;
            }
            if self.replica_of_owner(s) {
                ne |= slots::REPLICA;
            }
            if self.mine(s) && self.migrating.contains_key(&s) {
                ne |= slots::MIGRATING;
            }
            if placed && held != held_before {
                if held {
                    self.per_core[core] += 1;
                } else {
                    self.per_core[core] -= 1;
                }
            }
            slots::set(s, ne);
        }
    }

    /// Whether this node keeps `slot`'s keys: it serves or imports it,
    /// or replicates its owner.
    fn holds(&self, slot: usize) -> bool {
        self.mine(slot) || self.importing.contains_key(&slot) || self.replica_of_owner(slot)
    }

    /// Whether myself is a replica of the master serving `slot`.
    fn replica_of_owner(&self, slot: usize) -> bool {
        let me = self.myself();
        me.is(flag::SLAVE) && me.master.is_some() && self.owner[slot] == me.master
    }

    /// Makes myself a replica of `master` (clusterSetMaster): a master
    /// drops its open slots; the master's slots are placed on cores for
    /// the replicated keys. The bus points replication at it.
    pub fn set_my_master(&mut self, master: NodeId) {
        self.reset_manual();
        let me = self.myself_mut();
        if me.is(flag::MASTER) {
            me.flags = (me.flags & !(flag::MASTER | flag::MIGRATE_TO)) | flag::SLAVE;
            self.importing.clear();
            self.migrating.clear();
        }
        self.myself_mut().master = Some(master);
        let all: Vec<usize> = (0..SLOTS).collect();
        self.sync(&all);
        self.todo_save = true;
    }

    /// Places unplaced slots on cores, each on the core with fewest slots
    /// at that moment: the cores are evened up first, then the slots are
    /// dealt out in turn. Dealing interleaves neighbouring slots, so a
    /// reshard that later takes a contiguous range away (as
    /// `redis-cli --cluster reshard` does) takes from every core alike
    /// and the node stays even without moving keys between its cores.
    fn place(&mut self, fresh: &[usize]) {
        let mut load = self.per_core.clone();
        for &s in fresh {
            let (c, _) = load
                .iter()
                .enumerate()
                .min_by_key(|&(c, &n)| (n, c))
                .expect("at least one core");
            load[c] += 1;
            // Placed but not yet held: `sync` counts it.
            slots::set(s, c as u16 | slots::FOREIGN);
        }
    }

    /// Forgets the cores of slots this node no longer holds (after
    /// FLUSHSLOTS and RESET, which need an empty database), so a new
    /// assignment is spread evenly again.
    pub fn unplace_free(&mut self) {
        for s in 0..SLOTS {
            if !self.holds(s) {
                slots::set(s, slots::FOREIGN | slots::UNPLACED);
            }
        }
    }

    /// Redis's clusterUpdateState: fail
    /// on an unassigned slot (with full coverage) or when no reachable
    /// master serves slots; a master waits 2 s after start, and the
    /// rejoin delay after being in the minority, before turning ok.
    pub fn update_state(&mut self) {
        let now = Instant::now();
        let first = *self.first_update.get_or_insert(now);
        let master = self.myself().is(flag::MASTER);
        if master && !self.ok && now - first < WRITABLE_DELAY {
            return;
        }
        let mut ok = true;
        if config::num(Opt::ClusterRequireFullCoverage) == 1 {
            ok = self.owner_counts().iter().all(|(o, _)| {
                o.and_then(|id| self.get(id))
                    .is_some_and(|n| !n.is(flag::FAIL))
            });
        }
        let (size, reachable) = self.masters();
        self.size = size;
        if reachable < size / 2 + 1 {
            ok = false;
            self.among_minority = Some(now);
        }
        if ok != self.ok {
            let delay = Duration::from_millis(
                (config::num(Opt::ClusterNodeTimeout) as u64).clamp(500, 5000),
            );
            if ok && master && self.among_minority.is_some_and(|t| now - t < delay) {
                return;
            }
            tracing::warn!("Cluster state changed: {}", if ok { "ok" } else { "fail" });
            self.ok = ok;
            OK.store(ok, Relaxed);
        }
    }

    /// Masters serving slots, and how many of them are reachable.
    pub fn masters(&self) -> (usize, usize) {
        let (mut size, mut reachable) = (0, 0);
        let owners = self.owner_counts();
        for n in &self.nodes {
            if n.is(flag::MASTER) && owners.iter().any(|(o, _)| *o == Some(n.id)) {
                size += 1;
                if !n.is(flag::FAIL | flag::PFAIL) {
                    reachable += 1;
                }
            }
        }
        (size, reachable)
    }

    pub fn state_ok(&self) -> bool {
        self.ok
    }
}
