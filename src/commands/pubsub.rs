//! Pub/Sub: SUBSCRIBE and friends, PUBLISH, PUBSUB, and keyspace
//! notifications.
//!
//! Subscriptions are kept on the core of the subscribing connection, in a
//! per-core registry. PUBLISH delivers to its own core's subscribers
//! directly and sends one job to every other core that has any
//! subscription (a per-core counter lets it skip the rest), then answers
//! with the sum. Each publisher's messages travel over the same mesh
//! channel in order, so subscribers see them in publish order.
//! Messages are queued on the subscriber (`ClientState::push`), which
//! enforces `client-output-buffer-limit` and wakes its connection task.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use super::{flags::*, spec, ClientRef, ClientState, Cross, Handler, Spec};
use crate::config::{self, events};
use crate::protocol::errors::{self, wrong_args};
use crate::protocol::Reply;
use crate::runtime;

/// The three subscription namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn subscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    fn unsubscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }
}

/// One client's subscriptions.
#[derive(Debug, Default)]
pub struct Subscriptions {
    channels: HashSet<Bytes>,
    patterns: HashSet<Bytes>,
    shard: HashSet<Bytes>,
}

impl Subscriptions {
    /// Channels (plain and shard) and patterns subscribed to (the ACL
    /// checks them when a user's channels shrink).
    pub fn names(&self) -> (Vec<&Bytes>, Vec<&Bytes>) {
        let channels = self.channels.iter().chain(&self.shard).collect();
        (channels, self.patterns.iter().collect())
    }

    fn set(&mut self, kind: Kind) -> &mut HashSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count SUBSCRIBE-family replies carry: shard channels count on
    /// their own, channels and patterns together (as Redis 7.0).
    fn count(&self, kind: Kind) -> i64 {
        match kind {
            Kind::Shard => self.shard.len() as i64,
            _ => (self.channels.len() + self.patterns.len()) as i64,
        }
    }

    fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty()
    }

    /// (channels, patterns, shard channels), for CLIENT LIST.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.channels.len(), self.patterns.len(), self.shard.len())
    }
}

/// This core's subscribers per channel / pattern / shard channel.
#[derive(Default)]
struct Registry {
    channels: HashMap<Bytes, Vec<(u64, ClientRef)>>,
    patterns: HashMap<Bytes, Vec<(u64, ClientRef)>>,
    shard: HashMap<Bytes, Vec<(u64, ClientRef)>>,
}

impl Registry {
    fn map(&mut self, kind: Kind) -> &mut HashMap<Bytes, Vec<(u64, ClientRef)>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

/// Subscriptions registered on each core; PUBLISH skips cores at zero.
static ACTIVE: [AtomicUsize; 1025] = [const { AtomicUsize::new(0) }; 1025];

fn active(core: usize) -> bool {
    ACTIVE[core].load(Ordering::Relaxed) > 0
}

/// Adds `c` (whose state is `state`) to the subscribers of `name`.
/// Returns false if it was already subscribed.
fn add(c: &ClientRef, state: &mut ClientState, kind: Kind, name: &Bytes) -> bool {
    let subs = state.subs.get_or_insert_with(Default::default);
    if !subs.set(kind).insert(name.clone()) {
        return false;
    }
    REGISTRY.with(|r| {
        r.borrow_mut()
            .map(kind)
            .entry(name.clone())
            .or_default()
            .push((state.id, c.clone()))
    });
    ACTIVE[runtime::me()].fetch_add(1, Ordering::Relaxed);
    true
}

/// Drops every subscription of a client that is going away or RESET.
pub fn unsubscribe_all(c: &mut ClientState) {
    let Some(subs) = c.subs.take() else {
        return;
    };
    for (kind, set) in [
        (Kind::Channel, &subs.channels),
        (Kind::Pattern, &subs.patterns),
        (Kind::Shard, &subs.shard),
    ] {
        for name in set {
            remove(c.id, kind, name);
        }
    }
}

/// Removes client `id` from the subscribers of `name` on this core.
fn remove(id: u64, kind: Kind, name: &Bytes) {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        let map = r.map(kind);
        if let Some(v) = map.get_mut(name) {
            v.retain(|(i, _)| *i != id);
            if v.is_empty() {
                map.remove(name);
            }
        }
    });
    ACTIVE[runtime::me()].fetch_sub(1, Ordering::Relaxed);
}

/// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE: one confirmation per name.
fn subscribe(c: &ClientRef, kind: Kind, names: &[Bytes]) -> Reply {
    let mut state = c.borrow_mut();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        add(c, &mut state, kind, name);
        let n = state.subs.as_ref().map_or(0, |s| s.count(kind));
        out.push(Reply::Push(vec![
            Reply::bulk(kind.subscribe_word()),
            Reply::Bulk(name.clone()),
            Reply::Int(n),
        ]));
    }
    Reply::Seq(out)
}

/// UNSUBSCRIBE-family: the named subscriptions, or all of this kind.
fn unsubscribe(state: &mut ClientState, kind: Kind, names: &[Bytes]) -> Reply {
    let names: Vec<Bytes> = if names.is_empty() {
        state
            .subs
            .as_mut()
            .map(|s| s.set(kind).iter().cloned().collect())
            .unwrap_or_default()
    } else {
        names.to_vec()
    };
    let word = kind.unsubscribe_word();
    if names.is_empty() {
        let n = state.subs.as_ref().map_or(0, |s| s.count(kind));
        return Reply::Seq(vec![Reply::Push(vec![
            Reply::bulk(word),
            Reply::Nil,
            Reply::Int(n),
        ])]);
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if let Some(subs) = state.subs.as_mut() {
            if subs.set(kind).remove(&name) {
                remove(state.id, kind, &name);
            }
        }
        let n = state.subs.as_ref().map_or(0, |s| s.count(kind));
        out.push(Reply::Push(vec![
            Reply::bulk(word),
            Reply::Bulk(name),
            Reply::Int(n),
        ]));
    }
    if state.subs.as_ref().is_some_and(|s| s.is_empty()) {
        state.subs = None;
    }
    Reply::Seq(out)
}

/// Whether RESP2 subscribed mode allows this command (Redis's list).
pub fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

/// The error for any other command in RESP2 subscribed mode.
pub fn subscribed_mode_error(name: &str) -> Reply {
    Reply::error(format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    ))
}

/// Delivers a message to this core's subscribers; returns how many got it.
fn deliver(kind: Kind, channel: &Bytes, msg: &Bytes) -> i64 {
    REGISTRY.with(|r| {
        let r = r.borrow();
        let mut n = 0;
        let (map, word) = match kind {
            Kind::Shard => (&r.shard, "smessage"),
            _ => (&r.channels, "message"),
        };
        if let Some(subs) = map.get(channel) {
            let m = Reply::Push(vec![
                Reply::bulk(word),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(msg.clone()),
            ]);
            for (_, c) in subs {
                c.borrow_mut().push(&m);
                n += 1;
            }
        }
        if kind == Kind::Channel {
            for (pattern, subs) in &r.patterns {
                if !crate::glob::matches(pattern, channel, false) {
                    continue;
                }
                let m = Reply::Push(vec![
                    Reply::bulk("pmessage"),
                    Reply::Bulk(pattern.clone()),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(msg.clone()),
                ]);
                for (_, c) in subs {
                    c.borrow_mut().push(&m);
                    n += 1;
                }
            }
        }
        n
    })
}

/// Other cores that have any subscriber.
fn active_peers() -> Vec<usize> {
    let me = runtime::me();
    (0..runtime::shards())
        .filter(|&c| c != me && active(c))
        .collect()
}

fn delivery_job(kind: Kind, channel: &Bytes, msg: &Bytes) -> runtime::Job {
    let (channel, msg) = (channel.clone(), msg.clone());
    Box::new(move || Reply::Int(deliver(kind, &channel, &msg)))
}

/// Publishes on every core and returns the number of receivers.
pub async fn publish(kind: Kind, channel: Bytes, msg: Bytes) -> i64 {
    let mut n = deliver(kind, &channel, &msg);
    let peers = active_peers();
    if !peers.is_empty() {
        for r in runtime::run_on_each(peers, |_| delivery_job(kind, &channel, &msg)).await {
            if let Reply::Int(k) = r {
                n += k;
            }
        }
    }
    n
}

/// Publishes from synchronous code (keyspace events inside a command):
/// local subscribers get it now, other cores right after, in order, in
/// batches (`runtime::outbox`).
pub fn publish_detached(channel: Bytes, msg: Bytes) {
    deliver(Kind::Channel, &channel, &msg);
    if !(0..runtime::shards()).any(|c| c != runtime::me() && active(c)) {
        return;
    }
    runtime::outbox::send(&OUTBOX, (channel, msg), active_peers, |(channel, msg)| {
        deliver(Kind::Channel, channel, msg);
    });
}

thread_local! {
    /// Detached messages waiting for this core's delivery task, in order.
    static OUTBOX: runtime::outbox::Outbox<(Bytes, Bytes)> = const { runtime::outbox::Outbox::new() };
}

/// Emits a keyspace notification if `notify-keyspace-events` enables its
/// class: `__keyspace@<db>__:<key>` with the event, and
/// `__keyevent@<db>__:<event>` with the key (Redis's notifyKeyspaceEvent).
/// With notifications off (the default) this is one load and a branch.
#[inline]
pub fn notify(class: u32, event: &str, key: &[u8], db: usize) {
    let flags = config::notify_flags();
    if flags & class == 0 {
        return;
    }
    notify_slow(flags, event, key, db);
}

#[cold]
fn notify_slow(flags: u32, event: &str, key: &[u8], db: usize) {
    // Nobody subscribed anywhere: skip building the channel names.
    if !(0..runtime::shards()).any(active) {
        return;
    }
    if flags & events::KEYSPACE != 0 {
        let mut ch = format!("__keyspace@{db}__:").into_bytes();
        ch.extend_from_slice(key);
        publish_detached(Bytes::from(ch), Bytes::copy_from_slice(event.as_bytes()));
    }
    if flags & events::KEYEVENT != 0 {
        let ch = format!("__keyevent@{db}__:{event}");
        publish_detached(Bytes::from(ch), Bytes::copy_from_slice(key));
    }
}

type BoxedReply = Pin<Box<dyn Future<Output = Reply>>>;

fn subscribe_cmd(kind: Kind, c: ClientRef, args: Vec<Bytes>) -> BoxedReply {
    Box::pin(async move { subscribe(&c, kind, &args[1..]) })
}

fn subscribe_channels(c: ClientRef, args: Vec<Bytes>) -> BoxedReply {
    subscribe_cmd(Kind::Channel, c, args)
}

fn subscribe_patterns(c: ClientRef, args: Vec<Bytes>) -> BoxedReply {
    subscribe_cmd(Kind::Pattern, c, args)
}

fn subscribe_shard(c: ClientRef, args: Vec<Bytes>) -> BoxedReply {
    subscribe_cmd(Kind::Shard, c, args)
}

fn unsubscribe_channels(c: &mut ClientState, args: &[Bytes]) -> Reply {
    unsubscribe(c, Kind::Channel, &args[1..])
}

fn unsubscribe_patterns(c: &mut ClientState, args: &[Bytes]) -> Reply {
    unsubscribe(c, Kind::Pattern, &args[1..])
}

fn unsubscribe_shard(c: &mut ClientState, args: &[Bytes]) -> Reply {
    unsubscribe(c, Kind::Shard, &args[1..])
}

/// PUBLISH and SPUBLISH: this node's subscribers now (the reply counts
/// only them, as Redis's), the cluster's through the bus.
fn publish_cmd(kind: Kind, args: Vec<Bytes>) -> BoxedReply {
    Box::pin(async move {
        if crate::cluster::enabled() {
            crate::cluster::bus::propagate_publish(kind == Kind::Shard, &args[1], &args[2]);
        }
        Reply::Int(publish(kind, args[1].clone(), args[2].clone()).await)
    })
}

fn publish_channel(_: ClientRef, args: Vec<Bytes>) -> BoxedReply {
    publish_cmd(Kind::Channel, args)
}

fn publish_shard(_: ClientRef, args: Vec<Bytes>) -> BoxedReply {
    publish_cmd(Kind::Shard, args)
}

const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

/// Names in this core's registry of `kind`, with their subscriber counts.
fn local_counts(kind: Kind) -> Vec<(Bytes, i64)> {
    REGISTRY.with(|r| {
        r.borrow_mut()
            .map(kind)
            .iter()
            .map(|(k, v)| (k.clone(), v.len() as i64))
            .collect()
    })
}

/// This core's channel, pattern and shard channel names (INFO).
pub fn local_names() -> [HashSet<Bytes>; 3] {
    [Kind::Channel, Kind::Pattern, Kind::Shard]
        .map(|k| REGISTRY.with(|r| r.borrow_mut().map(k).keys().cloned().collect()))
}

/// Every core's names of `kind` with summed subscriber counts.
async fn all_names(kind: Kind) -> HashMap<Bytes, i64> {
    let parts = runtime::gather(0..runtime::shards(), move || local_counts(kind)).await;
    let mut all: HashMap<Bytes, i64> = HashMap::new();
    for (name, n) in parts.into_iter().flatten() {
        *all.entry(name).or_default() += n;
    }
    all
}

fn pubsub(_: ClientRef, args: Vec<Bytes>) -> BoxedReply {
    Box::pin(async move {
        let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        let n = args.len();
        let arity_ok = match sub.as_str() {
            "channels" | "shardchannels" => n <= 3,
            "numsub" | "shardnumsub" => true,
            "numpat" | "help" => n == 2,
            _ => return errors::unknown_subcommand("pubsub", &args[1]),
        };
        if !arity_ok {
            return wrong_args(&format!("pubsub|{sub}"));
        }
        match sub.as_str() {
            "channels" | "shardchannels" => {
                let kind = if sub == "channels" {
                    Kind::Channel
                } else {
                    Kind::Shard
                };
                let pattern = args.get(2).cloned();
                let names = all_names(kind).await;
                Reply::Array(
                    names
                        .into_keys()
                        .filter(|ch| {
                            pattern
                                .as_ref()
                                .is_none_or(|p| crate::glob::matches(p, ch, false))
                        })
                        .map(Reply::Bulk)
                        .collect(),
                )
            }
            "numsub" | "shardnumsub" => {
                let kind = if sub == "numsub" {
                    Kind::Channel
                } else {
                    Kind::Shard
                };
                let names = all_names(kind).await;
                let mut out = Vec::with_capacity(2 * (n - 2));
                for ch in &args[2..] {
                    out.push(Reply::Bulk(ch.clone()));
                    out.push(Reply::Int(names.get(ch).copied().unwrap_or(0)));
                }
                Reply::Array(out)
            }
            "numpat" => Reply::Int(all_names(Kind::Pattern).await.len() as i64),
            _ => Reply::Array(PUBSUB_HELP.iter().map(|l| Reply::status(*l)).collect()),
        }
    })
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::{Conn, Coord};
    const N: (i32, i32, i32) = (0, 0, 0);
    const CHANNELS: (i32, i32, i32) = (1, -1, 1);
    let g = "pubsub";
    let sub_flags = PUBSUB | NOSCRIPT | LOADING | STALE;
    t.extend([
        spec(
            "subscribe",
            -2,
            sub_flags,
            N,
            Coord(subscribe_channels),
            Cross::Never,
            g,
            "Listens for messages published to channels.",
            "2.0.0",
        ),
        spec(
            "psubscribe",
            -2,
            sub_flags,
            N,
            Coord(subscribe_patterns),
            Cross::Never,
            g,
            "Listens for messages published to channels that match one or more patterns.",
            "2.0.0",
        ),
        spec(
            "ssubscribe",
            -2,
            sub_flags,
            CHANNELS,
            Coord(subscribe_shard),
            Cross::Never,
            g,
            "Listens for messages published to shard channels.",
            "7.0.0",
        ),
        spec(
            "unsubscribe",
            -1,
            sub_flags,
            N,
            Conn(unsubscribe_channels),
            Cross::Never,
            g,
            "Stops listening to messages posted to channels.",
            "2.0.0",
        ),
        spec(
            "punsubscribe",
            -1,
            sub_flags,
            N,
            Conn(unsubscribe_patterns),
            Cross::Never,
            g,
            "Stops listening to messages published to channels that match one or more patterns.",
            "2.0.0",
        ),
        spec(
            "sunsubscribe",
            -1,
            sub_flags,
            CHANNELS,
            Conn(unsubscribe_shard),
            Cross::Never,
            g,
            "Stops listening to messages posted to shard channels.",
            "7.0.0",
        ),
        spec(
            "publish",
            3,
            PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
            N,
            Coord(publish_channel),
            Cross::Never,
            g,
            "Posts a message to a channel.",
            "2.0.0",
        ),
        spec(
            "spublish",
            3,
            PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
            (1, 1, 1),
            Coord(publish_shard),
            Cross::Never,
            g,
            "Post a message to a shard channel",
            "7.0.0",
        ),
        spec(
            "pubsub",
            -2,
            0,
            N,
            Coord(pubsub),
            Cross::Never,
            g,
            "A container for Pub/Sub commands.",
            "2.8.0",
        ),
    ]);
}
