//! The routing function: which core runs a command, or which redirection
//! it gets (Redis's getNodeByQuery). Used by dispatch, by MULTI as it
//! queues a command, by EXEC and by a script's redis.call.
//!
//! In standalone mode every slot is served here: [`core`] is the slot
//! table's one load, and [`decide`] is never called. In cluster mode a
//! command's keys must hash to one slot this node serves (or imports,
//! for an ASKING client), else it gets MOVED / ASK / TRYAGAIN /
//! CROSSSLOT / CLUSTERDOWN with Redis's texts.

use bytes::Bytes;

use super::NodeId;
use crate::commands::{flags, ClientRef, Spec};
use crate::config::{self, Opt};
use crate::protocol::Reply;
use crate::runtime::{self, slots};
use crate::storage::key_slot;

/// The core that stores `key` (after [`decide`] accepted the command).
#[inline]
pub fn core(key: &[u8]) -> usize {
    runtime::owner(key_slot(key))
}

/// Why a command does not run here.
#[derive(Debug, Clone, PartialEq)]
pub enum Redirect {
    Moved(usize, NodeId),
    Ask(usize, NodeId),
    TryAgain,
    CrossSlot,
    /// The cluster is down.
    Down,
    /// Down, and only read commands are accepted.
    DownReadOnly,
    /// Nobody serves the slot.
    Unbound,
}

pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

impl Redirect {
    /// The error a client gets (Redis's clusterRedirectClient).
    pub fn reply(&self) -> Reply {
        Reply::error(match self {
            Redirect::Moved(slot, id) => format!("MOVED {slot} {}", endpoint(id)),
            Redirect::Ask(slot, id) => format!("ASK {slot} {}", endpoint(id)),
            Redirect::TryAgain => "TRYAGAIN Multiple keys request during rehashing of slot".into(),
            Redirect::CrossSlot => CROSSSLOT.into(),
            Redirect::Down => "CLUSTERDOWN The cluster is down".into(),
            Redirect::DownReadOnly => {
                "CLUSTERDOWN The cluster is down and only accepts read commands".into()
            }
            Redirect::Unbound => "CLUSTERDOWN Hash slot not served".into(),
        })
    }
}

/// `endpoint:port` of a node, as cluster-preferred-endpoint-type says.
fn endpoint(id: &NodeId) -> String {
    super::with(|st| {
        let Some(n) = st.get(*id) else {
            return "?:0".to_string();
        };
        let host = match config::text(Opt::ClusterPreferredEndpointType).as_str() {
            "hostname" if !n.hostname.is_empty() => n.hostname.clone(),
            "hostname" | "unknown-endpoint" => "?".to_string(),
            _ => n.ip.clone(),
        };
        format!("{host}:{}", n.port)
    })
}

/// What the client asked for with ASKING / READONLY, and the command's kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked {
    pub asking: bool,
    pub readonly: bool,
    pub write: bool,
    /// MIGRATE runs where it is sent while its slot is open: keys must
    /// move freely between the two nodes of a migration.
    pub migrate: bool,
}

/// Redis's getNodeByQuery over `keys` (in db 0 terms): Ok(slot) to run
/// here (None without keys), or the redirection. `exists(i)` says whether
/// key i exists; it is asked only for keys of an open slot.
pub fn decide(
    keys: &[&[u8]],
    asked: Asked,
    mut exists: impl FnMut(usize) -> bool,
) -> Result<Option<usize>, Redirect> {
    let mut first: Option<(usize, &[u8], u16)> = None;
    let (mut multiple, mut missing, mut existing) = (false, 0, 0);
    for (i, &k) in keys.iter().enumerate() {
        let s = key_slot(k);
        let e = match first {
            None => {
                let e = slots::entry(s);
                if e & slots::FOREIGN != 0 && owner(s).is_none() {
                    return Err(Redirect::Unbound);
                }
                first = Some((s, k, e));
                e
            }
            Some((s0, k0, e)) => {
                if k != k0 {
                    if s != s0 {
                        return Err(Redirect::CrossSlot);
                    }
                    multiple = true;
                }
                e
            }
        };
        if e & (slots::MIGRATING | slots::IMPORTING) != 0 {
            if exists(i) {
                existing += 1;
            } else {
                missing += 1;
            }
        }
    }
    let Some((slot, _, e)) = first else {
        return Ok(None);
    };
    if !super::is_ok() {
        if config::num(Opt::ClusterAllowReadsWhenDown) == 0 {
            return Err(Redirect::Down);
        }
        if asked.write {
            return Err(Redirect::DownReadOnly);
        }
    }
    if asked.migrate && e & (slots::MIGRATING | slots::IMPORTING) != 0 {
        return Ok(Some(slot));
    }
    if e & slots::MIGRATING != 0 && missing > 0 {
        if existing > 0 {
            return Err(Redirect::TryAgain);
        }
        // The table was read a moment before the state: ask the state,
        // under its lock, where the slot's new keys go now (the slot may
        // have been given away or closed meanwhile).
        let (to, owner, me) = super::with(|st| {
            let to = st.migrating.get(&slot).copied();
            (to, st.owner[slot], st.myself().id)
        });
        return match (to, owner) {
            (Some(to), _) if to != me => Err(Redirect::Ask(slot, to)),
            // Migrating to myself: it runs here, as in Redis.
            (Some(_), _) => Ok(Some(slot)),
            (None, Some(o)) if o == me => Ok(Some(slot)),
            (None, Some(o)) => Err(Redirect::Moved(slot, o)),
            (None, None) => Err(Redirect::Unbound),
        };
    }
    if e & slots::IMPORTING != 0 && asked.asking {
        if multiple && missing > 0 {
            return Err(Redirect::TryAgain);
        }
        return Ok(Some(slot));
    }
    if e & slots::FOREIGN != 0 {
        let owner = owner(slot).ok_or(Redirect::Unbound)?;
        if asked.readonly && !asked.write && serves_as_replica(owner) {
            return Ok(Some(slot));
        }
        return Err(Redirect::Moved(slot, owner));
    }
    Ok(Some(slot))
}

fn owner(slot: usize) -> Option<NodeId> {
    super::with(|st| st.owner[slot])
}

/// A READONLY client may read on a replica the slots of its master.
fn serves_as_replica(owner: NodeId) -> bool {
    super::with(|st| st.myself().master == Some(owner))
}

/// Redis's clusterRedirectBlockedClientIfNeeded, for a client blocked on
/// `key` (its keys share one slot): the error that releases it once the
/// cluster is down or another node serves the slot (a node importing the
/// slot keeps it; a READONLY reader may stay on its master's replica).
pub fn blocked_redirect(key: &[u8], readonly: bool, write: bool) -> Option<Reply> {
    if !super::is_ok() {
        return Some(Redirect::Down.reply());
    }
    let slot = key_slot(key);
    let (owner, importing, me) = super::with(|st| {
        let importing = st.importing.contains_key(&slot);
        (st.owner[slot], importing, st.myself().id)
    });
    if owner == Some(me) || importing {
        return None;
    }
    let r = match owner {
        None => Redirect::Unbound,
        Some(o) if readonly && !write && serves_as_replica(o) => return None,
        Some(o) => Redirect::Moved(slot, o),
    };
    Some(r.reply())
}

/// The key arguments of a command: its fixed key positions, or for a
/// command with movable keys (EVAL's numkeys, MIGRATE ... KEYS, SORT ...
/// STORE, XREAD STREAMS, ZUNIONSTORE ...) what Redis's key specs find.
pub fn command_keys<'a>(spec: &Spec, args: &'a [Bytes]) -> Vec<&'a [u8]> {
    if spec.flags & flags::MOVABLE_KEYS != 0 {
        return crate::commands::keyspecs::keys(spec.name, args)
            .into_iter()
            .filter_map(|(i, _)| args.get(i).map(|k| &k[..]))
            .collect();
    }
    spec.key_indices(args.len()).map(|i| &args[i][..]).collect()
}

/// Whether `key` exists (not expired) in db 0 on this core.
pub fn exists_here(key: &[u8]) -> bool {
    let now = crate::storage::now_ms();
    crate::storage::shard::with(|s| {
        s.dbs[0]
            .peek(key)
            .is_some_and(|e| e.expire_at().is_none_or(|t| t > now))
    })
}

/// Whether each key exists in db 0, asked of its core.
async fn existing(keys: &[&[u8]]) -> Vec<bool> {
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let key = Bytes::copy_from_slice(k);
        let found = runtime::call_on(core(k), move || exists_here(&key));
        out.push(found.await.unwrap_or(false));
    }
    out
}

/// What the routing check saw of a command's slot. The command runs on
/// the slot's core, later: a CLUSTER SETSLOT (run on any core) or a MIGRATE
/// may have changed the slot or moved its keys meanwhile, so that core
/// confirms the decision just before the command runs ([`confirm`]).
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    slot: usize,
    entry: u16,
    asked: Asked,
}

impl Seen {
    /// The core that stores the slot's keys (where `confirm` runs).
    pub fn core(&self) -> usize {
        runtime::owner(self.slot)
    }
}

/// On the slot's core, right before the command runs: Ok if it still
/// runs here, else the redirection it gets now. Cheap when the slot is
/// unchanged and not open (one load); otherwise the decision is taken
/// again with the keys' existence read here, as Redis takes it in the
/// same step as the command. Nothing else runs on this core until the
/// command is done, so the decision holds for it.
pub fn confirm<'a>(seen: &Seen, keys: impl FnOnce() -> Vec<&'a [u8]>) -> Result<(), Redirect> {
    let now = slots::entry(seen.slot);
    if now == seen.entry && now & (slots::MIGRATING | slots::IMPORTING) == 0 {
        return Ok(());
    }
    let keys = keys();
    decide(&keys, seen.asked, |i| exists_here(keys[i])).map(|_| ())
}

/// The routing check for a client's command in cluster mode: Ok to run
/// it (with what it saw of the keys' slot, for [`confirm`]), or the
/// redirection's error. EXEC is checked over all its queued commands. The
/// client's ASKING lasts one command (or one transaction).
pub async fn check(client: &ClientRef, spec: &Spec, args: &[Bytes]) -> Result<Option<Seen>, Reply> {
    let (asking, readonly) = {
        let mut c = client.borrow_mut();
        // The commands EXEC runs are not checked again (EXEC was, over
        // all of them, and `confirm_queue` confirms it where they run).
        if c.loader || c.in_exec {
            return Ok(None);
        }
        let asking = c.asking;
        // As Redis's resetClient: ASKING lasts one command, or until the
        // transaction it opens (or is inside) ends.
        let in_multi = c.multi.is_some() && !matches!(spec.name, "exec" | "discard");
        if !in_multi && spec.name != "multi" {
            c.asking = false;
        }
        (asking, c.readonly)
    };
    let queued: Vec<Vec<Bytes>> = match (spec.name, &client.borrow().multi) {
        ("exec", Some(m)) => m.queued.clone(),
        _ => Vec::new(),
    };
    let (keys, write) = if spec.name == "exec" {
        queue_keys(&queued)
    } else {
        (command_keys(spec, args), spec.flags & flags::WRITE != 0)
    };
    let asked = Asked {
        asking: asking || spec.flags & flags::ASKING != 0,
        readonly,
        write,
        migrate: spec.name == "migrate",
    };
    let open = keys
        .iter()
        .any(|k| slots::entry(key_slot(k)) & (slots::MIGRATING | slots::IMPORTING) != 0);
    let found = if open {
        existing(&keys).await
    } else {
        Vec::new()
    };
    // Read before the decision: if the slot changes while it is taken,
    // `confirm` sees a difference and decides again.
    let entry = keys.first().map_or(0, |k| slots::entry(key_slot(k)));
    // (A slot that opened after `open` was read counts its keys missing.)
    match decide(&keys, asked, |i| found.get(i).copied().unwrap_or(false)) {
        Ok(Some(slot)) => Ok(Some(Seen { slot, entry, asked })),
        Ok(None) => Ok(None),
        Err(r) => Err(r.reply()),
    }
}

/// The keys of an EXEC's queued commands, and whether any of them writes.
fn queue_keys(queued: &[Vec<Bytes>]) -> (Vec<&[u8]>, bool) {
    let table = crate::commands::table();
    let (mut keys, mut write) = (Vec::new(), false);
    for q in queued {
        if let Some((_, s)) = table.lookup(&q[0]) {
            write |= s.flags & flags::WRITE != 0;
            keys.extend(command_keys(s, q));
        }
    }
    (keys, write)
}

/// [`confirm`] for an EXEC's queue, on the core of its slot before the
/// queue runs: the whole transaction runs, or answers the redirection.
pub fn confirm_queue(seen: &Seen, queued: &[Vec<Bytes>]) -> Result<(), Reply> {
    confirm(seen, || queue_keys(queued).0).map_err(|r| r.reply())
}

/// Redis 7.0's errors for a script's redis.call in cluster mode
/// (scriptVerifyClusterState); `slot` is the slot the script used first.
pub fn script_error(r: &Redirect) -> &'static str {
    match r {
        Redirect::DownReadOnly => {
            "ERR Script attempted to execute a write command while the cluster is down and readonly"
        }
        Redirect::Down => "ERR Script attempted to execute a command while the cluster is down",
        _ => "ERR Script attempted to access a non local key in a cluster node",
    }
}

pub const SCRIPT_CROSSSLOT: &str =
    "ERR Script attempted to access keys that do not hash to the same slot";
