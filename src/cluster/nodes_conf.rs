//! nodes.conf (`cluster-config-file`): the CLUSTER NODES lines of every
//! node but those in handshake, then `vars currentEpoch N lastVoteEpoch N`
//! (Redis's clusterSaveConfig / clusterLoadConfig). Written through a temp
//! file, fsynced and renamed, so a crash leaves the old file or the new.

use std::io::Write;
use std::path::PathBuf;

use super::nodes::{self, flag, Node, NodeId};
use super::State;
use crate::config::{self, Opt};
use crate::storage::slot::SLOTS;

/// The file, relative to `dir` (the server runs in it).
fn path() -> PathBuf {
    PathBuf::from(config::text(Opt::ClusterConfigFile))
}

const CORRUPT: &str = "Unrecoverable error: corrupted cluster config file.";

/// Loads the file into `st`; false when there is none (or it is empty).
pub fn load(st: &mut State) -> Result<bool, String> {
    let text = match std::fs::read_to_string(path()) {
        Ok(t) if !t.trim().is_empty() => t,
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(format!(
                "Loading the cluster node config from {}: {e}",
                path().display()
            ))
        }
    };
    let mut myself = None;
    let mut others: Vec<Node> = Vec::new();
    let mut owners: Vec<(usize, NodeId)> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f[0].eq_ignore_ascii_case("vars") {
            for kv in f[1..].chunks(2) {
                let v = kv.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
                match kv[0] {
                    "currentEpoch" => st.current_epoch = v,
                    "lastVoteEpoch" => st.last_vote_epoch = v,
                    other => tracing::warn!("Skipping unknown cluster config variable '{other}'"),
                }
            }
            continue;
        }
        let (mut n, rest) = nodes::parse_line(line).ok_or(CORRUPT)?;
        // Links are opened anew by the bus.
        n.connected = n.is(flag::MYSELF);
        // Ping and pong are only "pending / seen" once reloaded.
        let now = crate::storage::now_ms() as u64;
        n.ping_sent = if n.ping_sent != 0 { now } else { 0 };
        n.pong_received = if n.pong_received != 0 { now } else { 0 };
        for r in rest {
            if let Some(open) = r.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                let (slot, dir, peer) = parse_open(open).ok_or(CORRUPT)?;
                if dir == '>' {
                    st.migrating.insert(slot, peer);
                } else {
                    st.importing.insert(slot, peer);
                }
                continue;
            }
            let (a, b) = match r.split_once('-') {
                Some((a, b)) => (a.parse(), b.parse()),
                None => (r.parse(), r.parse()),
            };
            let (Ok(a), Ok(b)) = (a, b) else {
                return Err(CORRUPT.into());
            };
            if a > b || b >= SLOTS {
                return Err(CORRUPT.into());
            }
            owners.extend((a..=b).map(|s| (s, n.id)));
        }
        if n.is(flag::MYSELF) {
            myself = Some(n);
        } else {
            others.push(n);
        }
    }
    let me = myself.ok_or(CORRUPT)?;
    st.nodes = std::iter::once(me).chain(others).collect();
    for (s, id) in owners {
        st.owner[s] = Some(id);
    }
    st.current_epoch = st.current_epoch.max(st.max_epoch());
    let all: Vec<usize> = (0..SLOTS).collect();
    st.sync(&all);
    Ok(true)
}

/// `12->-<id>` (migrating) or `12-<-<id>` (importing).
fn parse_open(s: &str) -> Option<(usize, char, NodeId)> {
    let dash = s.find('-')?;
    let slot = s[..dash].parse().ok().filter(|&n: &usize| n < SLOTS)?;
    let dir = s[dash + 1..].chars().next()?;
    let peer = NodeId::parse(s.get(dash + 3..)?.as_bytes())?;
    matches!(dir, '>' | '<').then_some((slot, dir, peer))
}

/// Writes the file. With `fsync` (an epoch changed): a temp file,
/// fsynced, renamed over the old one, and the directory fsynced, so a
/// crash leaves the old or the new file whole. Without: rewritten in place
/// as Redis 7.0 does (padded with newlines to the old length, then
/// truncated, so no moment shows a cut line), because renaming over an
/// existing file makes ext4 flush the new one first (auto_da_alloc): 2 ms
/// per CLUSTER SETSLOT, most of a reshard's time.
pub fn save(st: &State, fsync: bool) -> Result<(), String> {
    let mut text = st.describe_all(true);
    text.push_str(&format!(
        "vars currentEpoch {} lastVoteEpoch {}\n",
        st.current_epoch, st.last_vote_epoch
    ));
    let path = path();
    if !fsync {
        return rewrite_in_place(&path, text.as_bytes()).map_err(|e| e.to_string());
    }
    let tmp = path.with_file_name(format!(
        "{}.tmp-{}",
        path.file_name()
            .map_or("nodes.conf".into(), |f| f.to_string_lossy()),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        e.to_string()
    })
}

fn rewrite_in_place(path: &std::path::Path, text: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let old = f.metadata()?.len() as usize;
    let mut padded = text.to_vec();
    padded.resize(old.max(text.len()), b'\n');
    f.write_all(&padded)?;
    f.set_len(text.len() as u64)
}
