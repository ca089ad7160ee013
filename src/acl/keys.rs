//! Which arguments of a call are keys (and whether it reads or writes
//! them) and which are Pub/Sub channels, for the permission check.
//!
//! Keys come from the table row's positions, plus the rules of the
//! commands whose keys move (numkeys, STREAMS, STORE ...). A key of a
//! read-only command needs read permission; a key a write command changes
//! needs write permission, its other keys read permission.

use bytes::Bytes;

use crate::commands::{flags, is, table, written_keys};

pub const READ: u8 = 1;
pub const WRITE: u8 = 2;

/// (argument index, READ/WRITE needed) for each key of `args` run as row `row`.
pub fn of(row: usize, args: &[Bytes]) -> Vec<(usize, u8)> {
    let spec = &table().specs[row];
    let argc = args.len();
    // Shard channels sit at key positions but are no keys (Redis's NOT_KEY).
    if spec.flags & flags::PUBSUB != 0 {
        return Vec::new();
    }
    let mut keys: Vec<usize> = spec.key_indices(argc).collect();
    if spec.flags & flags::MOVABLE_KEYS != 0 || spec.keys.0 == 0 {
        keys.extend(movable(spec.name, args));
    }
    let written: Vec<usize> = written_keys(spec, argc).collect();
    let write = spec.flags & flags::WRITE != 0;
    keys.into_iter()
        .filter(|&i| i < argc)
        .map(|i| {
            let store = write && (written.contains(&i) || stores_into(spec.name, args, i));
            (i, if store { WRITE } else { READ })
        })
        .collect()
}

/// The keys the table's positions cannot say.
fn movable(name: &str, args: &[Bytes]) -> Vec<usize> {
    let numkeys_at = |at: usize| -> Vec<usize> {
        let n = args
            .get(at)
            .and_then(|a| crate::protocol::parse_i64(a))
            .unwrap_or(0)
            .max(0) as usize;
        (at + 1..(at + 1 + n).min(args.len())).collect()
    };
    match name {
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => numkeys_at(2),
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => {
            numkeys_at(1)
        }
        "blmpop" | "bzmpop" => numkeys_at(2),
        "zunionstore" | "zinterstore" | "zdiffstore" => {
            let mut k = vec![1];
            k.extend(numkeys_at(2));
            k
        }
        "xread" | "xreadgroup" => {
            let Some(s) = args.iter().position(|a| is(a, "streams")) else {
                return Vec::new();
            };
            let n = (args.len() - s - 1) / 2;
            (s + 1..s + 1 + n).collect()
        }
        "sort" | "sort_ro" | "georadius" | "georadiusbymember" => args
            .iter()
            .enumerate()
            .skip(2)
            .filter(|(_, a)| is(a, "store") || is(a, "storedist"))
            .map(|(i, _)| i + 1)
            .collect(),
        // Container subcommands naming a key (OBJECT ENCODING key ...).
        "object" | "xinfo" | "memory" if args.len() > 2 && !is(&args[1], "help") => vec![2],
        _ => Vec::new(),
    }
}

/// SORT ... STORE dst and GEORADIUS ... STORE dst write `dst`.
fn stores_into(name: &str, args: &[Bytes], i: usize) -> bool {
    matches!(name, "sort" | "georadius" | "georadiusbymember")
        && i >= 2
        && (is(&args[i - 1], "store") || is(&args[i - 1], "storedist"))
}

/// (argument index, is a pattern) for each channel a call publishes or
/// subscribes to.
pub fn channels(row: usize, args: &[Bytes]) -> Vec<(usize, bool)> {
    match table().specs[row].name {
        "publish" | "spublish" => vec![(1, false)],
        "subscribe" | "ssubscribe" => (1..args.len()).map(|i| (i, false)).collect(),
        "psubscribe" => (1..args.len()).map(|i| (i, true)).collect(),
        _ => Vec::new(),
    }
}
