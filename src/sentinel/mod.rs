//! Sentinel mode (`redwing-server sentinel.conf --sentinel`), as Redis
//! Sentinel 7.0 does it (sentinel.c).
//!
//! The sentinel is the ordinary server with one shard: its connections,
//! Pub/Sub and client commands are the server's, its command table is cut
//! down to what a sentinel answers (`commands.rs`). The sentinel's state —
//! monitored masters, their replicas and the other sentinels — lives on
//! the control executor, where a 100 ms timer (`monitor.rs`) keeps the
//! links, sends PING / INFO / hellos, detects SDOWN and ODOWN, and drives
//! the election and the failover (`failover.rs`). Client commands reach the
//! state with one hop to the control executor. `config.rs` reads and
//! rewrites the `sentinel` lines of the config file; `addr.rs` holds
//! instance addresses (hostnames, resolve- and announce-hostnames).

pub mod addr;
pub mod commands;
pub mod config;
pub mod failover;
pub mod link;
pub mod monitor;
pub mod scripts;
pub mod timing;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use addr::Addr;
use link::Link;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Set once the control executor holds the state: clients can connect a
/// little earlier (the listeners open first), and their commands wait.
static READY: AtomicBool = AtomicBool::new(false);

pub fn ready() -> bool {
    READY.load(Ordering::Acquire)
}

/// Whether this process is a sentinel (set by `main` before the config
/// file is read).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Instance flags, in the order SENTINEL MASTER lists them.
pub mod flag {
    pub const S_DOWN: u32 = 1 << 0;
    pub const O_DOWN: u32 = 1 << 1;
    pub const MASTER: u32 = 1 << 2;
    pub const SLAVE: u32 = 1 << 3;
    pub const SENTINEL: u32 = 1 << 4;
    pub const DISCONNECTED: u32 = 1 << 5;
    pub const MASTER_DOWN: u32 = 1 << 6;
    pub const FAILOVER_IN_PROGRESS: u32 = 1 << 7;
    pub const PROMOTED: u32 = 1 << 8;
    pub const RECONF_SENT: u32 = 1 << 9;
    pub const RECONF_INPROG: u32 = 1 << 10;
    pub const RECONF_DONE: u32 = 1 << 11;
    pub const FORCE_FAILOVER: u32 = 1 << 12;
    pub const SCRIPT_KILL_SENT: u32 = 1 << 13;
    pub const NAMES: [&str; 14] = [
        "s_down",
        "o_down",
        "master",
        "slave",
        "sentinel",
        "disconnected",
        "master_down",
        "failover_in_progress",
        "promoted",
        "reconf_sent",
        "reconf_inprog",
        "reconf_done",
        "force_failover",
        "script_kill_sent",
    ];
}

/// Where a master's failover is (Redis's SENTINEL_FAILOVER_STATE_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failover {
    None,
    WaitStart,
    SelectSlave,
    SendSlaveofNoone,
    WaitPromotion,
    ReconfSlaves,
    UpdateConfig,
}

impl Failover {
    pub fn name(self) -> &'static str {
        match self {
            Failover::None => "none",
            Failover::WaitStart => "wait_start",
            Failover::SelectSlave => "select_slave",
            Failover::SendSlaveofNoone => "send_slaveof_noone",
            Failover::WaitPromotion => "wait_promotion",
            Failover::ReconfSlaves => "reconf_slaves",
            Failover::UpdateConfig => "update_config",
        }
    }
}

/// A monitored server or a peer sentinel (Redis's sentinelRedisInstance
/// fields that every kind has, plus the replica's and the sentinel's).
#[derive(Debug, Clone)]
pub struct Inst {
    /// Names this instance's links (instances are rebuilt on reset).
    pub uid: u64,
    /// A master's name, a replica's announced `host:port`, a sentinel's
    /// run id.
    pub name: String,
    pub addr: Addr,
    pub runid: String,
    pub flags: u32,
    pub down_after: i64,
    // Link state (Redis's instanceLink).
    pub cc_conn_time: i64,
    pub pc_conn_time: i64,
    pub pc_last_activity: i64,
    pub connecting: bool,
    pub act_ping_time: i64,
    pub last_ping_time: i64,
    pub last_avail_time: i64,
    pub last_pong_time: i64,
    pub last_pub_time: i64,
    pub s_down_since: i64,
    pub o_down_since: i64,
    pub info_refresh: i64,
    /// The last INFO reply's text (SENTINEL INFO-CACHE).
    pub info: Option<String>,
    pub role_reported: u32,
    pub role_reported_time: i64,
    // Replicas.
    pub master_link_down_time: i64,
    pub slave_master_host: String,
    pub slave_master_port: u16,
    pub slave_master_link_up: bool,
    pub slave_priority: i64,
    pub slave_repl_offset: i64,
    pub replica_announced: bool,
    pub slave_conf_change_time: i64,
    pub slave_reconf_sent_time: i64,
    // Sentinels.
    pub last_hello_time: i64,
    pub last_master_down_reply_time: i64,
    pub leader: String,
    pub leader_epoch: u64,
}

impl Inst {
    pub fn new(kind: u32, name: String, addr: Addr, down_after: i64) -> Inst {
        let now = now();
        Inst {
            uid: next_uid(),
            name,
            addr,
            runid: String::new(),
            flags: kind | flag::DISCONNECTED,
            down_after,
            cc_conn_time: 0,
            pc_conn_time: 0,
            pc_last_activity: 0,
            connecting: false,
            act_ping_time: now,
            last_ping_time: 0,
            last_avail_time: now,
            last_pong_time: now,
            last_pub_time: 0,
            s_down_since: 0,
            o_down_since: 0,
            info_refresh: 0,
            info: None,
            role_reported: kind & (flag::MASTER | flag::SLAVE),
            role_reported_time: now,
            master_link_down_time: 0,
            slave_master_host: String::new(),
            slave_master_port: 0,
            slave_master_link_up: false,
            slave_priority: 100,
            slave_repl_offset: 0,
            replica_announced: true,
            slave_conf_change_time: now,
            slave_reconf_sent_time: 0,
            last_hello_time: 0,
            last_master_down_reply_time: now,
            leader: String::new(),
            leader_epoch: 0,
        }
    }

    pub fn is(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    pub fn kind(&self) -> &'static str {
        if self.is(flag::MASTER) {
            "master"
        } else if self.is(flag::SLAVE) {
            "slave"
        } else {
            "sentinel"
        }
    }

    /// Redis's sentinelRedisInstanceNoDownFor.
    pub fn no_down_for(&self, ms: i64) -> bool {
        let recent = self.s_down_since.max(self.o_down_since);
        recent == 0 || now() - recent > ms
    }
}

/// A monitored master and what Sentinel knows around it.
#[derive(Debug, Clone)]
pub struct Master {
    pub inst: Inst,
    pub quorum: u32,
    pub parallel_syncs: u32,
    pub failover_timeout: i64,
    pub auth_pass: String,
    pub auth_user: String,
    pub notification_script: String,
    pub client_reconfig_script: String,
    pub reboot_down_after: i64,
    pub renamed: link::Renames,
    /// When a reboot was seen (a new run id) with
    /// master-reboot-down-after-period set; 0 once it answers PONG.
    pub reboot_since: i64,
    pub config_epoch: u64,
    /// Our vote for this master's failover leader, and its epoch.
    pub leader: String,
    pub leader_epoch: u64,
    pub replicas: BTreeMap<String, Inst>,
    /// By run id.
    pub sentinels: BTreeMap<String, Inst>,
    pub failover_state: Failover,
    pub failover_state_change_time: i64,
    pub failover_start_time: i64,
    pub failover_epoch: u64,
    pub failover_delay_logged: i64,
    /// The replica being promoted (its name).
    pub promoted: Option<String>,
}

impl Master {
    pub fn new(name: String, addr: Addr, quorum: u32) -> Master {
        Master {
            inst: Inst::new(
                flag::MASTER,
                name,
                addr,
                timing::get(timing::T::DefaultDownAfter),
            ),
            quorum,
            parallel_syncs: 1,
            failover_timeout: timing::get(timing::T::DefaultFailoverTimeout),
            auth_pass: String::new(),
            auth_user: String::new(),
            notification_script: String::new(),
            client_reconfig_script: String::new(),
            reboot_down_after: 0,
            renamed: link::Renames::default(),
            reboot_since: 0,
            config_epoch: 0,
            leader: String::new(),
            leader_epoch: 0,
            replicas: BTreeMap::new(),
            sentinels: BTreeMap::new(),
            failover_state: Failover::None,
            failover_state_change_time: 0,
            failover_start_time: 0,
            failover_epoch: 0,
            failover_delay_logged: 0,
            promoted: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.inst.name
    }

    /// The address clients should use: the promoted replica's once the
    /// failover reached the reconfiguration of the replicas
    /// (sentinelGetCurrentMasterAddress).
    pub fn current_addr(&self) -> &Addr {
        if self.failover_state >= Failover::ReconfSlaves {
            if let Some(p) = self.promoted.as_ref().and_then(|p| self.replicas.get(p)) {
                return &p.addr;
            }
        }
        &self.inst.addr
    }

    /// sentinelRedisInstanceLookupSlave: the replica at `host:port` as an
    /// instance reports it (a hostname only resolves with
    /// resolve-hostnames).
    pub fn replica_at(&self, host: &str, port: u16) -> Option<&Inst> {
        let a = Addr::new(host, port as i64, false).ok()?;
        self.replicas.get(&a.announced_with_port())
    }

    /// Adds a replica named after its announced address and returns it
    /// (a copy, for the event); None if one of that name exists already.
    pub fn add_replica(&mut self, addr: Addr) -> Option<Inst> {
        let name = addr.announced_with_port();
        if self.replicas.contains_key(&name) {
            return None;
        }
        let r = Inst::new(flag::SLAVE, name.clone(), addr, self.inst.down_after);
        self.replicas.insert(name, r.clone());
        Some(r)
    }
}

/// The whole sentinel state.
#[derive(Debug, Default)]
pub struct Sentinel {
    pub myid: String,
    pub current_epoch: u64,
    pub masters: BTreeMap<String, Master>,
    pub announce_ip: String,
    pub announce_port: u16,
    pub deny_scripts_reconfig: bool,
    /// What we authenticate with to other sentinels.
    pub sentinel_user: String,
    pub sentinel_pass: String,
    pub tilt: bool,
    pub tilt_start: i64,
    pub previous_time: i64,
    /// The config file needs writing (flushed by the timer and commands).
    pub dirty: bool,
    /// SENTINEL SIMULATE-FAILURE flags (`CRASH_AFTER_*`).
    pub simulate_failure: u32,
}

pub const CRASH_AFTER_ELECTION: u32 = 1 << 0;
pub const CRASH_AFTER_PROMOTION: u32 = 1 << 1;

/// sentinelSimFailureCrash: exits as Redis does when `flag` is set.
pub fn crash_if(s: &Sentinel, flag: u32) {
    if s.simulate_failure & flag != 0 {
        tracing::warn!("Sentinel CRASH because of SENTINEL simulate-failure");
        std::process::exit(99);
    }
}

/// What `config::line` parsed, until the control executor takes it.
static PARSED: Mutex<Option<Sentinel>> = Mutex::new(None);

thread_local! {
    static STATE: RefCell<Option<Sentinel>> = const { RefCell::new(None) };
    /// Links by (instance uid, pubsub?).
    static LINKS: RefCell<std::collections::HashMap<(u64, bool), Rc<Link>>> =
        RefCell::new(std::collections::HashMap::new());
}

static UID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_uid() -> u64 {
    UID.fetch_add(1, Ordering::Relaxed)
}

/// Runs `f` on the parsed config (while the config file is read).
pub fn with_parsed<R>(f: impl FnOnce(&mut Sentinel) -> R) -> R {
    let mut p = PARSED.lock().unwrap();
    f(p.get_or_insert_with(|| Sentinel {
        deny_scripts_reconfig: true,
        ..Default::default()
    }))
}

/// Runs `f` on the live state; only on the control executor.
pub fn with<R>(f: impl FnOnce(&mut Sentinel) -> R) -> R {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        f(s.as_mut()
            .expect("sentinel state lives on the control executor"))
    })
}

pub fn link(uid: u64, pubsub: bool) -> Option<Rc<Link>> {
    LINKS.with(|l| l.borrow().get(&(uid, pubsub)).cloned())
}

fn set_link(uid: u64, pubsub: bool, l: Option<Rc<Link>>) {
    LINKS.with(|m| match l {
        Some(l) => {
            m.borrow_mut().insert((uid, pubsub), l);
        }
        None => {
            if let Some(old) = m.borrow_mut().remove(&(uid, pubsub)) {
                old.close();
            }
        }
    });
}

/// Closes an instance's links (it is being released).
pub fn drop_links(uid: u64) {
    set_link(uid, false, None);
    set_link(uid, true, None);
}

/// Unix time in ms (Redis's mstime()).
pub fn now() -> i64 {
    crate::storage::now_ms()
}

/// Event levels (Redis's LL_*).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Verbose,
    Notice,
    Warning,
}

/// Redis's sentinelEvent: logs `<type> <msg>`, publishes it on the
/// channel named by the type, and runs `script` (the master's
/// notification-script) for warnings about an instance. `about` =
/// (instance, its master when it is not one) gives the `%@` prefix.
pub fn event(
    level: Level,
    kind: &str,
    about: Option<(&Inst, Option<&Inst>)>,
    rest: &str,
    script: &str,
) {
    let mut msg = String::new();
    if let Some((i, m)) = about {
        let (a, port) = (i.addr.announced(), i.addr.port);
        msg = format!("{} {} {a} {port}", i.kind(), i.name);
        if let Some(m) = m {
            let (a, port) = (m.addr.announced(), m.addr.port);
            msg.push_str(&format!(" @ {} {a} {port}", m.name));
        }
    }
    msg.push_str(rest);
    match level {
        Level::Warning => tracing::warn!("{kind} {msg}"),
        Level::Notice => tracing::info!("{kind} {msg}"),
        _ => tracing::debug!("{kind} {msg}"),
    }
    if level != Level::Debug {
        crate::commands::pubsub::publish_detached(
            bytes::Bytes::from(kind.to_string()),
            bytes::Bytes::from(msg.clone()),
        );
    }
    if level == Level::Warning && !script.is_empty() {
        scripts::schedule(script.to_string(), vec![kind.to_string(), msg]);
    }
}

impl Master {
    /// An event about the master itself (`%@` = the master).
    pub fn ev(&self, level: Level, kind: &str, rest: &str) {
        event(
            level,
            kind,
            Some((&self.inst, None)),
            rest,
            &self.notification_script,
        );
    }

    /// An event about one of its replicas or sentinels.
    pub fn ev_on(&self, level: Level, kind: &str, i: &Inst, rest: &str) {
        event(
            level,
            kind,
            Some((i, Some(&self.inst))),
            rest,
            &self.notification_script,
        );
    }
}

/// The control executor's sentinel task: takes the parsed config, writes
/// the file once (myid), announces the masters and runs the timer.
pub async fn run() {
    let mut s = PARSED.lock().unwrap().take().unwrap_or_else(|| Sentinel {
        deny_scripts_reconfig: true,
        ..Default::default()
    });
    if s.myid.is_empty() {
        s.myid = random_hex40();
    }
    s.previous_time = now();
    STATE.with(|st| *st.borrow_mut() = Some(s));
    READY.store(true, Ordering::Release);
    if let Err(e) = with(config::flush) {
        tracing::warn!(
            "WARNING: Sentinel was not able to save the new configuration on disk!!!: {e}"
        );
    } else {
        tracing::info!("Sentinel new configuration saved on disk");
    }
    let id = with(|s| s.myid.clone());
    tracing::warn!("Sentinel ID is {id}");
    with(|s| {
        for m in s.masters.values() {
            m.ev(Level::Warning, "+monitor", &format!(" quorum {}", m.quorum));
        }
    });
    monitor::timer().await
}

pub fn random_hex40() -> String {
    use rand::Rng;
    let mut r = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(r.gen_range(0..16), 16).unwrap())
        .collect()
}
