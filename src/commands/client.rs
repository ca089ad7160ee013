//! The connection family: the client's own state and the commands that read
//! or change it (PING, ECHO, SELECT, AUTH, HELLO, QUIT, RESET, CLIENT).
//!
//! Each core keeps a registry of its clients so CLIENT LIST/KILL can visit
//! every core with one job each.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;

use super::{flags::*, is, spec, ClientRef, Cross, Handler, Spec};
use crate::config::{self, Opt};
use crate::protocol::errors::{self, err, wrong_args};
use crate::protocol::{parse_i64, Reply};
use crate::runtime;

/// What CLIENT REPLY asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
}

/// Everything the server knows about one connection.
#[derive(Debug)]
pub struct ClientState {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub db: usize,
    pub resp3: bool,
    pub authenticated: bool,
    /// The ACL user this connection runs as.
    pub user: crate::acl::UserRef,
    pub name: String,
    pub lib_name: String,
    pub lib_ver: String,
    pub created: Instant,
    pub last_active: Instant,
    /// Name of the last command, as `client|list` for subcommands.
    pub last_cmd: String,
    pub no_evict: bool,
    pub no_touch: bool,
    pub reply: ReplyMode,
    /// Close once the pending replies are written (QUIT, CLIENT KILL of self).
    pub close_after_reply: bool,
    pub qbuf: usize,
    pub obuf: usize,
    /// `tot_mem` as last added to this core's client memory total.
    mem_accounted: usize,
    /// Pub/Sub subscriptions; None until the first SUBSCRIBE.
    pub subs: Option<Box<super::pubsub::Subscriptions>>,
    /// Out-of-band messages (Pub/Sub, invalidations) encoded for this
    /// client and not yet handed to its connection task.
    pub pushes: Vec<u8>,
    /// Wakes the connection task when a push arrives while it waits to read.
    pub push_waker: Option<std::task::Waker>,
    /// Since when the output has been over the soft limit.
    soft_limit_since: Option<Instant>,
    /// Cut off for its output buffer; drops further pushes.
    cut_off: bool,
    /// CLIENT TRACKING settings; None when off.
    pub tracking: Option<super::tracking::Tracking>,
    /// Commands queued since MULTI; None outside a transaction.
    pub multi: Option<super::multi::Multi>,
    /// EXEC is running this client's queued commands (blocking commands
    /// then answer at once, as in Redis).
    pub in_exec: bool,
    /// Waiting in a blocking command (CLIENT LIST flag `b`, as Redis).
    pub blocked: bool,
    /// In MONITOR mode (CLIENT LIST flag `O`).
    pub monitor: bool,
    /// The AOF loader's client: runs while the server is loading.
    pub loader: bool,
    /// Keys this client WATCHes.
    pub watched: Vec<super::multi::Watched>,
    /// A replication link shown as a client: 'M' (this replica's master),
    /// 'S' (a replica of this server).
    pub repl_link: Option<char>,
    /// Set by a command that takes the connection over (PSYNC: the socket
    /// becomes a replica link): the connection task hands it the socket
    /// and the unread bytes after the replies, and ends.
    pub take_over: Option<TakeOver>,
    /// What a replica said with REPLCONF before PSYNC.
    pub repl_handshake: Option<Box<crate::replication::Handshake>>,
    /// Cluster mode: ASKING was sent (lasts one command or transaction).
    pub asking: bool,
    /// Cluster mode: READONLY (reads of the master's slots on a replica).
    pub readonly: bool,
}

/// Who takes a connection's socket over ([`ClientState::take_over`]).
pub struct TakeOver(pub Box<dyn FnOnce(std::os::fd::OwnedFd, bytes::Bytes) + Send>);

impl std::fmt::Debug for TakeOver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TakeOver")
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A client id from the clients' sequence (a replication link's too).
pub fn new_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}
/// Connected clients on all cores (for maxclients and INFO).
pub static CONNECTED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static REGISTRY: RefCell<BTreeMap<u64, ClientRef>> = const { RefCell::new(BTreeMap::new()) };
}

/// Where each client lives and who it is, for work addressed by client id
/// (tracking REDIRECT) or done for it on another core (a SLOWLOG entry).
/// Touched once per connect, disconnect and name change.
static CORES: std::sync::Mutex<BTreeMap<u64, Peer>> = std::sync::Mutex::new(BTreeMap::new());

struct Peer {
    core: usize,
    addr: String,
    name: String,
}

/// The core of client `id`, if it is connected.
pub fn core_of(id: u64) -> Option<usize> {
    CORES.lock().unwrap().get(&id).map(|p| p.core)
}

/// The address and name of client `id`, if it is connected.
pub fn peer_of(id: u64) -> Option<(String, String)> {
    let cores = CORES.lock().unwrap();
    cores.get(&id).map(|p| (p.addr.clone(), p.name.clone()))
}

/// Runs `f` on client `id` if it is connected to this core.
pub fn with_local<R>(id: u64, f: impl FnOnce(&mut ClientState) -> R) -> Option<R> {
    let c = REGISTRY.with(|r| r.borrow().get(&id).cloned())?;
    let mut st = c.try_borrow_mut().ok()?;
    Some(f(&mut st))
}

/// Seconds of buffer peaks INFO's `client_recent_max_*_buffer` look back
/// over (Redis's CLIENTS_PEAK_MEM_USAGE_SLOTS).
const PEAK_SLOTS: usize = 8;

thread_local! {
    /// Per second (slot = second % PEAK_SLOTS): the second, and the biggest
    /// query and reply buffers a client of this core had in it.
    static PEAKS: RefCell<[(u32, usize, usize); PEAK_SLOTS]> =
        const { RefCell::new([(0, 0, 0); PEAK_SLOTS]) };
}

fn note_peak(qbuf: usize, obuf: usize) {
    let now = crate::storage::shard::lru_clock();
    PEAKS.with(|p| {
        let mut p = p.borrow_mut();
        let slot = &mut p[now as usize % PEAK_SLOTS];
        if slot.0 != now {
            *slot = (now, 0, 0);
        }
        slot.1 = slot.1.max(qbuf);
        slot.2 = slot.2.max(obuf);
    });
}

/// The biggest query and reply buffers of this core's clients over the
/// last `PEAK_SLOTS` seconds.
pub fn recent_peaks() -> (usize, usize) {
    let now = crate::storage::shard::lru_clock();
    PEAKS.with(|p| {
        p.borrow()
            .iter()
            .filter(|s| now.wrapping_sub(s.0) < PEAK_SLOTS as u32)
            .fold((0, 0), |m, s| (m.0.max(s.1), m.1.max(s.2)))
    })
}

/// Runs `f` on every client of this core.
pub fn for_each_local(mut f: impl FnMut(&mut ClientState)) {
    let all: Vec<ClientRef> = REGISTRY.with(|r| r.borrow().values().cloned().collect());
    for c in all {
        if let Ok(mut st) = c.try_borrow_mut() {
            f(&mut st);
        }
    }
}

impl ClientState {
    /// A client that no connection owns and no registry lists: the one a
    /// script's `redis.call` runs connection commands (TIME, SELECT ...) as.
    pub fn detached(addr: String, laddr: String, fd: i32) -> ClientState {
        let now = Instant::now();
        let (user, authenticated) = crate::acl::initial();
        ClientState {
            id: 0,
            addr,
            laddr,
            fd,
            db: 0,
            resp3: false,
            authenticated,
            user,
            name: String::new(),
            lib_name: String::new(),
            lib_ver: String::new(),
            created: now,
            last_active: now,
            last_cmd: "NULL".into(),
            no_evict: false,
            no_touch: false,
            reply: ReplyMode::On,
            close_after_reply: false,
            qbuf: 0,
            obuf: 0,
            mem_accounted: 0,
            subs: None,
            pushes: Vec::new(),
            push_waker: None,
            soft_limit_since: None,
            cut_off: false,
            tracking: None,
            multi: None,
            in_exec: false,
            blocked: false,
            monitor: false,
            loader: false,
            watched: Vec::new(),
            repl_link: None,
            take_over: None,
            repl_handshake: None,
            asking: false,
            readonly: false,
        }
    }

    /// A new client, registered on this core (its `maxclients` place
    /// already taken).
    pub fn register(addr: String, laddr: String, fd: i32) -> ClientRef {
        let mut st = ClientState::detached(addr, laddr, fd);
        st.id = new_id();
        let id = st.id;
        let c = Rc::new(RefCell::new(st));
        REGISTRY.with(|r| r.borrow_mut().insert(id, c.clone()));
        // Its place in CONNECTED was taken when it was accepted.
        let addr = c.borrow().addr.clone();
        let peer = Peer {
            core: runtime::me(),
            addr,
            name: String::new(),
        };
        CORES.lock().unwrap().insert(id, peer);
        c
    }

    /// Removes the client from this core's registry and its subscriptions.
    pub fn unregister(&mut self) {
        REGISTRY.with(|r| r.borrow_mut().remove(&self.id));
        CORES.lock().unwrap().remove(&self.id);
        super::monitor::stop(self);
        super::pubsub::unsubscribe_all(self);
        forget_watches(self);
        let stopped = super::tracking::stop(self);
        if stopped.is_some() {
            runtime::spawn(super::tracking::unregister_prefixes(stopped));
        }
        CONNECTED.fetch_sub(1, Ordering::Relaxed);
        super::client_evict::adjust(self.mem_accounted, 0);
        self.mem_accounted = 0;
    }

    /// CLIENT SETNAME, HELLO SETNAME.
    pub fn set_name(&mut self, name: String) {
        if let Some(p) = CORES.lock().unwrap().get_mut(&self.id) {
            p.name.clone_from(&name);
        }
        self.name = name;
    }

    /// Memory this client holds in buffers (CLIENT LIST `tot-mem`).
    pub fn tot_mem(&self) -> usize {
        self.qbuf + self.obuf + self.pushes.len() + 1024
    }

    /// Sets the buffer sizes the connection task holds for this client and
    /// counts them in this core's client memory (`maxmemory-clients`).
    pub fn set_buffers(&mut self, qbuf: usize, obuf: usize) {
        self.qbuf = qbuf;
        self.obuf = obuf;
        self.account_mem();
        note_peak(qbuf, obuf);
    }

    fn account_mem(&mut self) {
        // A closed client's buffers are as good as freed: not counted again.
        let now = if self.cut_off { 0 } else { self.tot_mem() };
        super::client_evict::adjust(self.mem_accounted, now);
        self.mem_accounted = now;
    }

    /// Whether client eviction may close this client (Redis: normal and
    /// pub/sub clients without CLIENT NO-EVICT).
    pub fn evictable(&self) -> bool {
        !self.no_evict && !self.loader && !self.cut_off
    }

    /// Ends the connection now: its pending read and write end and its
    /// task closes it; pushes queued from now on are dropped.
    pub fn close_now(&mut self) {
        self.cut_off = true;
        self.pushes = Vec::new();
        self.account_mem();
        // SAFETY: the fd belongs to this live connection (a registered
        // client's task owns it until it unregisters).
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
    }

    /// The client's class for CLIENT LIST/KILL TYPE and output limits.
    pub fn class(&self) -> &'static str {
        if let Some(role) = self.repl_link {
            return if role == 'M' { "master" } else { "slave" };
        }
        if self.subs.is_some() {
            "pubsub"
        } else {
            "normal"
        }
    }

    /// Queues an out-of-band message and wakes the connection to write it.
    /// A client whose pending output passes its class's
    /// `client-output-buffer-limit` is disconnected, as Redis does, so one
    /// slow subscriber cannot hold the server's memory.
    pub fn push(&mut self, msg: &Reply) {
        if self.cut_off {
            return;
        }
        msg.encode(self.resp3, &mut self.pushes);
        self.account_mem();
        self.output_grew();
        if let Some(w) = self.push_waker.take() {
            w.wake();
        }
    }

    /// The pending output grew: a push, or a reply encoded into the
    /// connection's buffer (`obuf`). A client past its class's
    /// `client-output-buffer-limit` is cut off as Redis closes it: logged,
    /// its output dropped, its socket shut down. True once cut off.
    pub fn output_grew(&mut self) -> bool {
        if !self.cut_off && self.over_output_limit() {
            tracing::warn!(
                "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
                self.info_line()
            );
            self.close_now();
        }
        self.cut_off
    }

    fn over_output_limit(&mut self) -> bool {
        let class = match self.class() {
            "pubsub" => config::OutputClass::Pubsub,
            _ => config::OutputClass::Normal,
        };
        let (hard, soft, secs) = config::output_limit(class);
        let used = (self.pushes.len() + self.obuf) as u64;
        if hard > 0 && used >= hard {
            return true;
        }
        if soft > 0 && used >= soft {
            // As Redis: the first time over only starts the clock.
            return match self.soft_limit_since {
                None => {
                    self.soft_limit_since = Some(Instant::now());
                    false
                }
                Some(t) => t.elapsed().as_secs() > secs,
            };
        }
        self.soft_limit_since = None;
        false
    }

    /// The CLIENT LIST / CLIENT INFO line.
    pub fn info_line(&self) -> String {
        let now = Instant::now();
        let (sub, psub, ssub) = self.subs.as_ref().map_or((0, 0, 0), |s| s.counts());
        let mut flags = String::new();
        if self.monitor {
            flags.push('O');
        }
        flags.extend(self.repl_link);
        if self.subs.is_some() {
            flags.push('P');
        }
        if let Some(t) = &self.tracking {
            flags.push('t');
            if t.bcast {
                flags.push('B');
            }
            if t.broken_redirect {
                flags.push('R');
            }
        }
        if self.multi.is_some() {
            flags.push('x');
        }
        if self.blocked {
            flags.push('b');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let multi = self.multi.as_ref().map_or(-1, |m| m.queued.len() as i64);
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={flags} db={} sub={sub} psub={psub} ssub={ssub} multi={multi} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs={} rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={} core={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            self.name,
            now.duration_since(self.created).as_secs(),
            now.duration_since(self.last_active).as_secs(),
            self.db,
            self.qbuf,
            self.qbuf.max(1024),
            self.obuf + self.pushes.len(),
            self.tot_mem(),
            self.last_cmd,
            // A master's link runs as Redis's superuser client.
            if self.repl_link == Some('M') {
                "(superuser)"
            } else {
                &self.user.name
            },
            super::tracking::getredir(self),
            if self.resp3 { 3 } else { 2 },
            self.lib_name,
            self.lib_ver,
            runtime::me(),
        )
    }
}

/// Drops a client's WATCHes from the cores that keep them, without
/// waiting (RESET and disconnect are synchronous).
fn forget_watches(c: &mut ClientState) {
    let watched = std::mem::take(&mut c.watched);
    let id = c.id;
    for (core, keys) in super::multi::by_core(&watched) {
        runtime::spawn(async move {
            let job = move || {
                super::multi::unwatch_here(id, &keys);
                Reply::Ok
            };
            runtime::run_on(core, vec![Box::new(job)]).await;
        });
    }
}

/// Client names and lib names may not contain spaces or control characters.
fn valid_name(b: &[u8]) -> bool {
    b.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn ping(c: &mut ClientState, args: &[Bytes]) -> Reply {
    // RESP2 subscribed mode answers in the shape of a message.
    if c.subs.is_some() && !c.resp3 {
        let arg = args.get(1).cloned().unwrap_or_default();
        return match args.len() {
            1 | 2 => Reply::Array(vec![Reply::bulk("pong"), Reply::Bulk(arg)]),
            _ => wrong_args("ping"),
        };
    }
    match args.len() {
        1 => Reply::status("PONG"),
        2 => Reply::Bulk(args[1].clone()),
        _ => wrong_args("ping"),
    }
}

fn echo(_: &mut ClientState, args: &[Bytes]) -> Reply {
    Reply::Bulk(args[1].clone())
}

fn select(c: &mut ClientState, args: &[Bytes]) -> Reply {
    // Redis reads the index with getIntFromObjectOrReply (C int range).
    let n = match super::arg_range(&args[1], i32::MIN as i64, i32::MAX as i64, None) {
        Ok(n) => n,
        Err(e) => return e,
    };
    if crate::cluster::enabled() && n != 0 {
        return err("ERR SELECT is not allowed in cluster mode");
    }
    if n < 0 || n >= config::num(Opt::Databases) {
        return err(errors::DB_RANGE);
    }
    c.db = n as usize;
    Reply::Ok
}

fn auth(c: &mut ClientState, args: &[Bytes]) -> Reply {
    let (user, pass): (&[u8], &[u8]) = match args.len() {
        2 => {
            if !crate::acl::default_has_password() {
                return err(errors::AUTH_NOT_CONFIGURED);
            }
            (b"default", &args[1])
        }
        3 => (&args[1], &args[2]),
        _ => return err(errors::SYNTAX),
    };
    match crate::acl::authenticate(c, user, pass) {
        Ok(()) => Reply::Ok,
        Err(e) => e,
    }
}

fn hello(c: &mut ClientState, args: &[Bytes]) -> Reply {
    let mut resp3 = c.resp3;
    let mut i = 1;
    if args.len() > 1 {
        match parse_i64(&args[1]) {
            Some(2) => resp3 = false,
            Some(3) => resp3 = true,
            Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
            None => return Reply::error("ERR Protocol version is not an integer or out of range"),
        }
        i = 2;
    }
    let mut name = None;
    while i < args.len() {
        let more = args.len() - i - 1;
        if is(&args[i], "AUTH") && more >= 2 {
            if let Err(e) = crate::acl::authenticate(c, &args[i + 1], &args[i + 2]) {
                return e;
            }
            i += 3;
        } else if is(&args[i], "SETNAME") && more >= 1 {
            if !valid_name(&args[i + 1]) {
                return Reply::error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
            }
            name = Some(String::from_utf8_lossy(&args[i + 1]).into_owned());
            i += 2;
        } else {
            return Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[i])
            ));
        }
    }
    if !c.authenticated {
        return Reply::error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(n) = name {
        c.set_name(n);
    }
    c.resp3 = resp3;
    Reply::Map(vec![
        (Reply::bulk("server"), Reply::bulk("redis")),
        (
            Reply::bulk("version"),
            Reply::bulk(super::server::REDIS_VERSION),
        ),
        (Reply::bulk("proto"), Reply::Int(if resp3 { 3 } else { 2 })),
        (Reply::bulk("id"), Reply::Int(c.id as i64)),
        (Reply::bulk("mode"), Reply::bulk("standalone")),
        (Reply::bulk("role"), Reply::bulk("master")),
        (Reply::bulk("modules"), Reply::Array(vec![])),
    ])
}

fn quit(c: &mut ClientState, _: &[Bytes]) -> Reply {
    c.close_after_reply = true;
    Reply::Ok
}

fn reset(c: &mut ClientState, _: &[Bytes]) -> Reply {
    super::pubsub::unsubscribe_all(c);
    c.multi = None;
    forget_watches(c);
    let stopped = super::tracking::stop(c);
    if stopped.is_some() {
        runtime::spawn(super::tracking::unregister_prefixes(stopped));
    }
    super::monitor::stop(c);
    c.db = 0;
    c.resp3 = false;
    c.set_name(String::new());
    c.no_evict = false;
    c.no_touch = false;
    c.reply = ReplyMode::On;
    (c.user, c.authenticated) = crate::acl::initial();
    Reply::status("RESET")
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "GETNAME",
    "GETREDIR",
    "ID",
    "INFO",
    "KILL <ip:port>",
    "KILL <option> <value> [<option> <value> [...]]",
    "LIST [options ...]",
    "NO-EVICT (ON|OFF)",
    "NO-TOUCH (ON|OFF)",
    "PAUSE <timeout> [WRITE|ALL]",
    "REPLY (ON|OFF|SKIP)",
    "SETINFO <option> <value>",
    "SETNAME <name>",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]] [OPTIN] [OPTOUT] [NOLOOP]",
    "TRACKINGINFO",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "UNPAUSE",
    "HELP",
];

/// CLIENT subcommands that only touch this client run synchronously here;
/// LIST and KILL visit every core (see `client_coord`).
fn client(c: &mut ClientState, args: &[Bytes]) -> Reply {
    let sub = args[1].to_ascii_lowercase();
    let n = args.len();
    let on_off = |v: &[u8]| -> Option<bool> {
        if is(v, "on") {
            Some(true)
        } else if is(v, "off") {
            Some(false)
        } else {
            None
        }
    };
    match (sub.as_slice(), n) {
        (b"id", 2) => Reply::Int(c.id as i64),
        (b"getname", 2) => {
            if c.name.is_empty() {
                Reply::Nil
            } else {
                Reply::bulk(&c.name)
            }
        }
        (b"setname", 3) => {
            if !valid_name(&args[2]) {
                return Reply::error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
            }
            c.set_name(String::from_utf8_lossy(&args[2]).into_owned());
            Reply::Ok
        }
        (b"info", 2) => Reply::Verbatim(Bytes::from(c.info_line() + "\n")),
        (b"setinfo", 4) => {
            if !valid_name(&args[3]) {
                return Reply::error(
                    "ERR lib-name cannot contain spaces, newlines or special characters.".replace(
                        "lib-name",
                        &String::from_utf8_lossy(&args[2]).to_lowercase(),
                    ),
                );
            }
            let v = String::from_utf8_lossy(&args[3]).into_owned();
            if is(&args[2], "lib-name") {
                c.lib_name = v;
            } else if is(&args[2], "lib-ver") {
                c.lib_ver = v;
            } else {
                return Reply::error(format!(
                    "ERR Unrecognized option '{}'",
                    String::from_utf8_lossy(&args[2])
                ));
            }
            Reply::Ok
        }
        (b"no-evict", 3) => match on_off(&args[2]) {
            Some(v) => {
                c.no_evict = v;
                Reply::Ok
            }
            None => err(errors::SYNTAX),
        },
        (b"no-touch", 3) => match on_off(&args[2]) {
            Some(v) => {
                c.no_touch = v;
                Reply::Ok
            }
            None => err(errors::SYNTAX),
        },
        (b"reply", 3) => {
            if is(&args[2], "on") {
                c.reply = ReplyMode::On;
                Reply::Ok
            } else if is(&args[2], "off") {
                c.reply = ReplyMode::Off;
                Reply::Ok
            } else if is(&args[2], "skip") {
                c.reply = ReplyMode::SkipNext;
                Reply::Ok
            } else {
                err(errors::SYNTAX)
            }
        }
        (b"help", 2) => Reply::Array(CLIENT_HELP.iter().map(|l| Reply::status(*l)).collect()),
        (b"caching", 3) => super::tracking::client_caching(c, args),
        (b"getredir", 2) => Reply::Int(super::tracking::getredir(c)),
        (b"trackinginfo", 2) => super::tracking::trackinginfo(c),
        (b"list" | b"kill" | b"tracking", _) => unreachable!("routed to client_coord"),
        _ => errors::unknown_subcommand("client", &args[1]),
    }
}

/// Filters of CLIENT KILL / CLIENT LIST, checked on each core.
#[derive(Clone, Default)]
struct Filter {
    ids: Vec<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    skip: Option<u64>,
    maxage: Option<u64>,
    /// normal, pubsub, slave or master (CLIENT LIST/KILL TYPE).
    class: Option<&'static str>,
    /// An ACL user's name (CLIENT KILL USER).
    user: Option<String>,
}

impl Filter {
    fn matches(&self, c: &ClientState) -> bool {
        (self.ids.is_empty() || self.ids.contains(&c.id))
            && self.addr.as_ref().is_none_or(|a| *a == c.addr)
            && self.laddr.as_ref().is_none_or(|a| *a == c.laddr)
            && self.skip != Some(c.id)
            && self
                .maxage
                .is_none_or(|m| c.created.elapsed().as_secs() >= m)
            && self.class.is_none_or(|k| k == c.class())
            && self.user.as_ref().is_none_or(|u| *u == c.user.name)
    }
}

/// CLIENT LIST and CLIENT KILL: one job per core; other subcommands run
/// on this client's state.
fn client_coord(
    c: ClientRef,
    args: Vec<Bytes>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Reply>>> {
    Box::pin(async move {
        let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        // Arity per subcommand (Redis's container-command rule: N exact,
        // -N at least) from the one subcommand table; SETINFO and NO-TOUCH
        // are Redis 7.2's, kept out of the 7.0 table that COMMAND LIST shows.
        let arity = match (
            crate::acl::category::sub_arity(&format!("client|{sub}")),
            sub.as_str(),
        ) {
            (Some(a), _) => a,
            (None, "setinfo") => 4,
            (None, "no-touch") => 3,
            _ => return errors::unknown_subcommand("client", &args[1]),
        };
        let n = args.len() as i32;
        if (arity > 0 && n != arity) || (arity < 0 && n < -arity) {
            return wrong_args(&format!("client|{sub}"));
        }
        // CLIENT LIST/INFO show the subcommand as `cmd=client|info`.
        c.borrow_mut().last_cmd = format!("client|{sub}");
        match sub.as_str() {
            "list" => client_list(&c, &args).await,
            "kill" => client_kill(&c, &args).await,
            "unblock" => client_unblock(&args),
            "pause" => super::pause::pause(&args),
            "unpause" => super::pause::unpause(),
            "tracking" => super::tracking::client_tracking(&c, &args).await,
            _ => client(&mut c.borrow_mut(), &args),
        }
    })
}

async fn client_list(_c: &ClientRef, args: &[Bytes]) -> Reply {
    let mut f = Filter::default();
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "type") && i + 1 < args.len() {
            let t = args[i + 1].to_ascii_lowercase();
            match t.as_slice() {
                b"normal" => f.class = Some("normal"),
                b"pubsub" => f.class = Some("pubsub"),
                b"replica" | b"slave" => f.class = Some("slave"),
                b"master" => f.class = Some("master"),
                _ => {
                    return Reply::error(format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(&args[i + 1])
                    ))
                }
            }
            i += 2;
        } else if is(&args[i], "id") && i + 1 < args.len() {
            for a in &args[i + 1..] {
                match parse_i64(a) {
                    Some(id) if id > 0 => f.ids.push(id as u64),
                    _ => return Reply::error("ERR Invalid client ID"),
                }
            }
            i = args.len();
        } else {
            return err(errors::SYNTAX);
        }
    }
    let links = f.clone();
    let parts = runtime::run_on_each(0..runtime::shards(), move |_| {
        let f = f.clone();
        Box::new(move || {
            let mut out = String::new();
            REGISTRY.with(|r| {
                for c in r.borrow().values() {
                    let c = c.borrow();
                    if f.matches(&c) {
                        out.push_str(&c.info_line());
                        out.push('\n');
                    }
                }
            });
            Reply::Bulk(Bytes::from(out))
        })
    })
    .await;
    let mut all = Vec::new();
    for p in parts {
        if let Reply::Bulk(b) = p {
            all.extend_from_slice(&b);
        }
    }
    for link in link_states() {
        if links.matches(&link) {
            all.extend_from_slice(link.info_line().as_bytes());
            all.push(b'\n');
        }
    }
    Reply::Verbatim(Bytes::from(all))
}

/// The replication links as clients, for CLIENT LIST and CLIENT KILL.
fn link_states() -> Vec<ClientState> {
    crate::replication::link_clients()
        .into_iter()
        .map(|l| {
            let mut st = ClientState::detached(l.addr, l.laddr, l.fd);
            st.id = l.id;
            st.created = l.created;
            st.last_active = l.last_io;
            st.db = l.db;
            st.last_cmd = l.cmd;
            st.repl_link = Some(if l.master { 'M' } else { 'S' });
            st
        })
        .collect()
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: the waiter registry is shared by
/// every core, so a client blocked anywhere is found here.
fn client_unblock(args: &[Bytes]) -> Reply {
    if args.len() > 4 {
        return errors::unknown_subcommand("client", &args[1]);
    }
    let error = match args.get(3) {
        None => false,
        Some(r) if is(r, "timeout") => false,
        Some(r) if is(r, "error") => true,
        Some(_) => return Reply::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    match parse_i64(&args[2]) {
        None => err(errors::NOT_INTEGER),
        Some(id) => Reply::Int(super::blocking::unblock(id as u64, error) as i64),
    }
}

async fn client_kill(c: &ClientRef, args: &[Bytes]) -> Reply {
    let me = c.borrow().id;
    let mut f = Filter::default();
    let old_form = args.len() == 3;
    if old_form {
        f.addr = Some(String::from_utf8_lossy(&args[2]).into_owned());
    } else {
        if args.len() < 4 || !args.len().is_multiple_of(2) {
            return err(errors::SYNTAX);
        }
        f.skip = Some(me);
        for pair in args[2..].chunks(2) {
            let (k, v) = (&pair[0], &pair[1]);
            let text = String::from_utf8_lossy(v).into_owned();
            if is(k, "id") {
                match parse_i64(v) {
                    Some(id) if id > 0 => f.ids = vec![id as u64],
                    _ => return Reply::error("ERR client-id should be greater than 0"),
                }
            } else if is(k, "addr") {
                f.addr = Some(text);
            } else if is(k, "laddr") {
                f.laddr = Some(text);
            } else if is(k, "skipme") {
                if is(v, "yes") {
                    f.skip = Some(me);
                } else if is(v, "no") {
                    f.skip = None;
                } else {
                    return err(errors::SYNTAX);
                }
            } else if is(k, "maxage") {
                match parse_i64(v) {
                    Some(a) if a >= 0 => f.maxage = Some(a as u64),
                    _ => return err(errors::SYNTAX),
                }
            } else if is(k, "type") {
                match text.to_lowercase().as_str() {
                    "normal" => f.class = Some("normal"),
                    "pubsub" => f.class = Some("pubsub"),
                    "replica" | "slave" => f.class = Some("slave"),
                    "master" => f.class = Some("master"),
                    _ => return Reply::error(format!("ERR Unknown client type '{text}'")),
                }
            } else if is(k, "user") {
                if crate::acl::lookup(&text).is_none() {
                    return Reply::error(format!("ERR No such user '{text}'"));
                }
                f.user = Some(text);
            } else {
                return err(errors::SYNTAX);
            }
        }
    }
    // Replication links are no core's clients: they are matched here.
    let mut links_killed = 0;
    for link in link_states() {
        if f.matches(&link) {
            crate::replication::kill_link_client(link.id);
            links_killed += 1;
        }
    }
    let killed = runtime::run_on_each(0..runtime::shards(), move |_| {
        let f = f.clone();
        Box::new(move || {
            let mut n = 0;
            REGISTRY.with(|r| {
                for c in r.borrow().values() {
                    let mut c = c.borrow_mut();
                    if f.matches(&c) {
                        n += 1;
                        if c.id == me {
                            // Our own reply must still go out.
                            c.close_after_reply = true;
                        } else {
                            c.close_now();
                        }
                    }
                }
            });
            Reply::Int(n)
        })
    })
    .await
    .into_iter()
    .map(|r| if let Reply::Int(n) = r { n } else { 0 })
    .sum::<i64>()
        + links_killed;
    if c.borrow().close_after_reply && killed > 0 && old_form {
        return Reply::Ok;
    }
    match (old_form, killed) {
        (true, 0) => Reply::error("ERR No such client"),
        (true, _) => Reply::Ok,
        (false, n) => Reply::Int(n),
    }
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::{Conn, Coord};
    const N: (i32, i32, i32) = (0, 0, 0);
    let conn = "connection";
    t.extend([
        spec(
            "ping",
            -1,
            FAST | STALE,
            N,
            Conn(ping),
            Cross::Never,
            conn,
            "Returns the server's liveliness response.",
            "1.0.0",
        ),
        spec(
            "echo",
            2,
            FAST,
            N,
            Conn(echo),
            Cross::Never,
            conn,
            "Returns the given string.",
            "1.0.0",
        ),
        spec(
            "select",
            2,
            FAST | LOADING | STALE,
            N,
            Conn(select),
            Cross::Never,
            conn,
            "Changes the selected database.",
            "1.0.0",
        ),
        spec(
            "auth",
            -2,
            NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
            N,
            Conn(auth),
            Cross::Never,
            conn,
            "Authenticates the connection.",
            "1.0.0",
        ),
        spec(
            "hello",
            -1,
            NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
            N,
            Conn(hello),
            Cross::Never,
            conn,
            "Handshakes with the Redis server.",
            "6.0.0",
        ),
        spec(
            "quit",
            -1,
            ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
            N,
            Conn(quit),
            Cross::Never,
            conn,
            "Closes the connection.",
            "1.0.0",
        ),
        spec(
            "reset",
            1,
            NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
            N,
            Conn(reset),
            Cross::Never,
            conn,
            "Resets the connection.",
            "6.2.0",
        ),
        spec(
            "client",
            -2,
            ADMIN | NOSCRIPT | LOADING | STALE,
            N,
            Coord(client_coord),
            Cross::Never,
            conn,
            "A container for client connection commands.",
            "2.4.0",
        ),
    ]);
}
