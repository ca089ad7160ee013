//! Redis 7.0's ACL categories, per command and per subcommand: the one
//! place they come from. COMMAND INFO, COMMAND LIST FILTERBY ACLCAT, ACL CAT
//! and the `+@category` rules all read [`of`].
//!
//! Categories follow from a row's flags (write → @write, admin → @admin
//! @dangerous ...), its group, and a few Redis gives by hand. Commands are
//! numbered for the per-user bitsets: table row `i` is id `i`; the
//! subcommands of container commands (CONFIG GET, CLIENT KILL ...) follow.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::commands::flags::*;
use crate::commands::{table, Spec};

/// ACL categories in the order Redis lists them.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The subcommands of Redwing's container commands with Redis 7.0's arity
/// and flags (the subcommands Redwing implements).
const SUBCOMMANDS: &[(&str, i32, u32)] = &[
    ("acl|cat", -2, NOSCRIPT | LOADING | STALE),
    ("acl|deluser", -3, ADMIN | NOSCRIPT | LOADING | STALE),
    ("acl|dryrun", -4, ADMIN | NOSCRIPT | LOADING | STALE),
    ("acl|genpass", -2, NOSCRIPT | LOADING | STALE),
    ("acl|getuser", 3, ADMIN | NOSCRIPT | LOADING | STALE),
    ("acl|help", 2, LOADING | STALE),
    ("acl|list", 2, ADMIN | NOSCRIPT | LOADING | STALE),
    ("acl|load", 2, ADMIN | NOSCRIPT | LOADING | STALE),
    ("acl|log", -2, ADMIN | NOSCRIPT | LOADING | STALE),
    ("acl|save", 2, ADMIN | NOSCRIPT | LOADING | STALE),
    ("acl|setuser", -3, ADMIN | NOSCRIPT | LOADING | STALE),
    ("acl|users", 2, ADMIN | NOSCRIPT | LOADING | STALE),
    ("acl|whoami", 2, NOSCRIPT | LOADING | STALE),
    ("cluster|addslots", -3, ADMIN | STALE),
    ("cluster|addslotsrange", -4, ADMIN | STALE),
    ("cluster|bumpepoch", 2, ADMIN | STALE),
    ("cluster|count-failure-reports", 3, ADMIN | STALE),
    ("cluster|countkeysinslot", 3, STALE),
    ("cluster|delslots", -3, ADMIN | STALE),
    ("cluster|delslotsrange", -4, ADMIN | STALE),
    ("cluster|failover", -2, ADMIN | STALE),
    ("cluster|flushslots", 2, ADMIN | STALE),
    ("cluster|forget", 3, ADMIN | STALE),
    ("cluster|getkeysinslot", 4, STALE),
    ("cluster|help", 2, LOADING | STALE),
    ("cluster|info", 2, STALE),
    ("cluster|keyslot", 3, STALE),
    ("cluster|links", 2, STALE),
    ("cluster|meet", -4, ADMIN | STALE),
    ("cluster|myid", 2, STALE),
    ("cluster|nodes", 2, STALE),
    ("cluster|replicas", 3, ADMIN | STALE),
    ("cluster|replicate", 3, ADMIN | STALE),
    ("cluster|reset", -2, ADMIN | NOSCRIPT | STALE),
    ("cluster|saveconfig", 2, ADMIN | STALE),
    ("cluster|set-config-epoch", 3, ADMIN | STALE),
    ("cluster|setslot", -4, ADMIN | STALE),
    ("cluster|shards", 2, STALE),
    ("cluster|slaves", 3, ADMIN | STALE),
    ("cluster|slots", 2, STALE),
    ("client|caching", 3, NOSCRIPT | LOADING | STALE),
    ("client|getname", 2, NOSCRIPT | LOADING | STALE),
    ("client|getredir", 2, NOSCRIPT | LOADING | STALE),
    ("client|help", 2, LOADING | STALE),
    ("client|id", 2, NOSCRIPT | LOADING | STALE),
    ("client|info", 2, NOSCRIPT | LOADING | STALE),
    ("client|kill", -3, ADMIN | NOSCRIPT | LOADING | STALE),
    ("client|list", -2, ADMIN | NOSCRIPT | LOADING | STALE),
    ("client|no-evict", 3, ADMIN | NOSCRIPT | LOADING | STALE),
    ("client|pause", -3, ADMIN | NOSCRIPT | LOADING | STALE),
    ("client|reply", 3, NOSCRIPT | LOADING | STALE),
    ("client|setname", 3, NOSCRIPT | LOADING | STALE),
    ("client|tracking", -3, NOSCRIPT | LOADING | STALE),
    ("client|trackinginfo", 2, NOSCRIPT | LOADING | STALE),
    ("client|unblock", -3, ADMIN | NOSCRIPT | LOADING | STALE),
    ("client|unpause", 2, ADMIN | NOSCRIPT | LOADING | STALE),
    ("command|count", 2, LOADING | STALE),
    ("command|docs", -2, LOADING | STALE),
    ("command|getkeys", -4, LOADING | STALE),
    ("command|getkeysandflags", -4, LOADING | STALE),
    ("command|help", 2, LOADING | STALE),
    ("command|info", -2, LOADING | STALE),
    ("command|list", -2, LOADING | STALE),
    ("config|get", -3, ADMIN | NOSCRIPT | LOADING | STALE),
    ("config|help", 2, LOADING | STALE),
    ("config|resetstat", 2, ADMIN | NOSCRIPT | LOADING | STALE),
    ("config|rewrite", 2, ADMIN | NOSCRIPT | LOADING | STALE),
    ("config|set", -4, ADMIN | NOSCRIPT | LOADING | STALE),
    ("function|delete", 3, WRITE | NOSCRIPT),
    ("function|dump", 2, NOSCRIPT),
    ("function|flush", -2, WRITE | NOSCRIPT),
    ("function|help", 2, LOADING | STALE),
    ("function|kill", 2, NOSCRIPT | ALLOW_BUSY),
    ("function|list", -2, NOSCRIPT),
    ("function|load", -3, WRITE | DENYOOM | NOSCRIPT),
    ("function|restore", -3, WRITE | DENYOOM | NOSCRIPT),
    ("function|stats", 2, NOSCRIPT | ALLOW_BUSY),
    ("latency|doctor", 2, ADMIN | NOSCRIPT | LOADING | STALE),
    ("latency|graph", 3, ADMIN | NOSCRIPT | LOADING | STALE),
    ("latency|help", 2, LOADING | STALE),
    ("latency|histogram", -2, ADMIN | NOSCRIPT | LOADING | STALE),
    ("latency|history", 3, ADMIN | NOSCRIPT | LOADING | STALE),
    ("latency|latest", 2, ADMIN | NOSCRIPT | LOADING | STALE),
    ("latency|reset", -2, ADMIN | NOSCRIPT | LOADING | STALE),
    ("memory|doctor", 2, 0),
    ("memory|help", 2, LOADING | STALE),
    ("memory|malloc-stats", 2, 0),
    ("memory|purge", 2, 0),
    ("memory|stats", 2, 0),
    ("memory|usage", -3, READONLY),
    ("object|encoding", 3, READONLY),
    ("object|freq", 3, READONLY),
    ("object|help", 2, LOADING | STALE),
    ("object|idletime", 3, READONLY),
    ("object|refcount", 3, READONLY),
    ("pubsub|channels", -2, PUBSUB | LOADING | STALE),
    ("pubsub|help", 2, LOADING | STALE),
    ("pubsub|numpat", 2, PUBSUB | LOADING | STALE),
    ("pubsub|numsub", -2, PUBSUB | LOADING | STALE),
    ("pubsub|shardchannels", -2, PUBSUB | LOADING | STALE),
    ("pubsub|shardnumsub", -2, PUBSUB | LOADING | STALE),
    ("script|exists", -3, NOSCRIPT),
    ("script|flush", -2, NOSCRIPT),
    ("script|help", 2, LOADING | STALE),
    ("script|kill", 2, NOSCRIPT | ALLOW_BUSY),
    ("script|load", 3, NOSCRIPT | STALE),
    ("slowlog|get", -2, ADMIN | LOADING | STALE),
    ("slowlog|help", 2, LOADING | STALE),
    ("slowlog|len", 2, ADMIN | LOADING | STALE),
    ("slowlog|reset", 2, ADMIN | LOADING | STALE),
    ("xgroup|create", -5, WRITE | DENYOOM),
    ("xgroup|createconsumer", 5, WRITE | DENYOOM),
    ("xgroup|delconsumer", 5, WRITE),
    ("xgroup|destroy", 4, WRITE),
    ("xgroup|help", 2, LOADING | STALE),
    ("xgroup|setid", -5, WRITE),
    ("xinfo|consumers", 4, READONLY),
    ("xinfo|groups", 3, READONLY),
    ("xinfo|help", 2, LOADING | STALE),
    ("xinfo|stream", -3, READONLY),
];

/// The category a command group implies.
fn group_category(group: &str) -> Option<&'static str> {
    Some(match group {
        "generic" => "keyspace",
        "string" => "string",
        "list" => "list",
        "hash" => "hash",
        "set" => "set",
        "sorted_set" | "sorted-set" => "sortedset",
        "bitmap" => "bitmap",
        "hyperloglog" => "hyperloglog",
        "geo" => "geo",
        "stream" => "stream",
        "pubsub" => "pubsub",
        "connection" => "connection",
        "transactions" => "transaction",
        "scripting" => "scripting",
        _ => return None,
    })
}

/// Categories Redis's command table gives by hand (not implied by flags or
/// group), for the commands Redwing has. COMMAND's subcommands share its
/// @connection.
fn extra_categories(name: &str) -> &'static [&'static str] {
    match name.split('|').next().unwrap_or(name) {
        "dbsize" => &["keyspace"],
        "flushall" | "flushdb" | "swapdb" => &["keyspace", "dangerous"],
        "keys" | "migrate" | "restore" => &["dangerous"],
        "restore-asking" => &["keyspace", "dangerous"],
        "sort" | "sort_ro" => &["set", "sortedset", "list", "dangerous"],
        "info" => &["dangerous"],
        "lastsave" | "role" => &["admin", "dangerous"],
        "command" | "wait" | "asking" | "readonly" | "readwrite" => &["connection"],
        _ => &[],
    }
}

/// Whether a row takes its group's category. Redis files SORT and WAIT
/// under "generic" without @keyspace, PUBSUB HELP has no @pubsub, and a
/// container command's own row has only what its flags give.
fn takes_group(name: &str) -> bool {
    !is_container(name) && !name.starts_with("sort") && !matches!(name, "pubsub|help" | "wait")
}

fn is_container(name: &str) -> bool {
    SUBCOMMANDS
        .iter()
        .any(|(n, _, _)| n.split('|').next() == Some(name))
}

/// Bit `1 << i` for `CATEGORIES[i]`, from a row's name, group and flags.
fn mask(name: &str, group: &str, f: u32) -> u32 {
    let mut set: Vec<&str> = extra_categories(name).to_vec();
    if takes_group(name) {
        set.extend(group_category(group));
    }
    // A container's own row is @slow and its extras; scripts are never @read.
    let f = if is_container(name) { 0 } else { f };
    let read = if set.contains(&"scripting") {
        0
    } else {
        READONLY
    };
    for (flag, cats) in [
        (WRITE, &["write"][..]),
        (read, &["read"]),
        (ADMIN, &["admin", "dangerous"]),
        (PUBSUB, &["pubsub"]),
        (FAST, &["fast"]),
        (BLOCKING, &["blocking"]),
    ] {
        if f & flag != 0 && flag != 0 {
            set.extend(cats);
        }
    }
    if f & FAST == 0 {
        set.push("slow");
    }
    CATEGORIES
        .iter()
        .enumerate()
        .filter(|(_, c)| set.contains(c))
        .fold(0, |m, (i, _)| m | 1 << i)
}

/// The category names in `mask`, in Redis's order.
pub fn names(mask: u32) -> Vec<&'static str> {
    (0..CATEGORIES.len())
        .filter(|i| mask & 1 << i != 0)
        .map(|i| CATEGORIES[i])
        .collect()
}

/// `read string fast` ...: a table row's categories, in Redis's order.
pub fn of(s: &Spec) -> Vec<&'static str> {
    names(mask(s.name, s.group, s.flags))
}

/// The bit of category `name` (any case).
pub fn by_name(name: &str) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

/// Every command and subcommand the ACL knows, by id.
pub struct Ids {
    /// `get`, `config|get` ... by id.
    pub names: Vec<String>,
    /// Category mask by id.
    pub masks: Vec<u32>,
    /// Table row by id (a subcommand's is its container's).
    pub row: Vec<usize>,
    /// A container row's subcommand ids.
    pub subs: HashMap<usize, Vec<usize>>,
    by_name: HashMap<String, usize>,
}

/// Bits in a command bitset: room for every id.
pub const BITS: usize = 512;

pub fn ids() -> &'static Ids {
    static IDS: OnceLock<Ids> = OnceLock::new();
    IDS.get_or_init(|| {
        let t = table();
        let mut ids = Ids {
            names: Vec::new(),
            masks: Vec::new(),
            row: Vec::new(),
            subs: HashMap::new(),
            by_name: HashMap::new(),
        };
        for (i, s) in t.specs.iter().enumerate() {
            ids.names.push(s.name.to_string());
            ids.masks.push(mask(s.name, s.group, s.flags));
            ids.row.push(i);
        }
        for (name, _, flags) in SUBCOMMANDS {
            let container = name.split('|').next().unwrap_or(name);
            let Some((row, spec)) = t.lookup(container.as_bytes()) else {
                continue; // sentinel mode's table lacks it
            };
            let id = ids.names.len();
            ids.names.push(name.to_string());
            ids.masks.push(mask(name, spec.group, *flags));
            ids.row.push(row);
            ids.subs.entry(row).or_default().push(id);
        }
        assert!(ids.names.len() < BITS, "ACL command ids overflow");
        for (id, n) in ids.names.iter().enumerate() {
            ids.by_name.insert(n.clone(), id);
        }
        ids
    })
}

impl Ids {
    /// The id of `get` or `config|get` (any case).
    pub fn lookup(&self, name: &str) -> Option<usize> {
        self.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    /// The id a call runs as: a container's subcommand (None when the
    /// subcommand is unknown: the command answers that itself).
    #[inline]
    pub fn of_call(&self, row: usize, args: &[bytes::Bytes]) -> Option<usize> {
        let Some(subs) = self.subs.get(&row) else {
            return Some(row);
        };
        let sub = args.get(1)?;
        subs.iter().copied().find(|&id| {
            let n = &self.names[id];
            n.as_bytes()[n.find('|').map_or(0, |p| p + 1)..].eq_ignore_ascii_case(sub)
        })
    }

    /// Whether `id` is a container command (it has subcommands).
    pub fn is_container(&self, id: usize) -> bool {
        id < self.row.len() && self.row[id] == id && self.subs.contains_key(&id)
    }
}

/// A subcommand's flags (`config|get`), for the subcommands listed here.
pub fn sub_flags(name: &str) -> Option<u32> {
    SUBCOMMANDS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, f)| *f)
}

/// A subcommand's arity (`acl|whoami`), as Redis checks it.
pub fn sub_arity(name: &str) -> Option<i32> {
    SUBCOMMANDS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, a, _)| *a)
}
