//! Replication, replica side (REPLICAOF host port), as Redis 7.0 does it.
//!
//! The link is a role task on the control executor:
//!
//! ```text
//!  connect ─► PING ─► [AUTH] REPLCONF listening-port [ip-address] capa ─► PSYNC id off+1
//!     ├─ +FULLRESYNC id off ─► the RDB ($len or $EOF:<mark>) into a temp file ─► flush,
//!     │                        load (persistence::load), rename to dbfilename ─┐
//!     └─ +CONTINUE [id] ──────────────────────────────────────────────────────►┤
//!                                                         apply the stream ◄───┘
//! ```
//!
//! The stream is applied with the server's own dispatcher (an `Applier`
//! that `server` provides, the AOF replayer's client): every command is
//! routed to the core owning its keys as a client command would be, so
//! per-key order is the master's, a MULTI/EXEC block runs atomically
//! across cores, and SELECT carries over. The applied offset advances by
//! the bytes of each command applied, and not inside MULTI until its EXEC
//! (Redis's `commandProcessed`). A second task on the link writes
//! `REPLCONF ACK <offset>` every second and at once for a GETACK.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::config::{self, Opt};
use crate::persistence::aof::Replay;
use crate::protocol::{Limits, Parsed, Reply, RequestParser};
use crate::runtime;

/// Runs a batch of the master's commands like a client's (see the module doc).
pub type Applier = Box<dyn Replay>;

static MAKE_APPLIER: OnceLock<fn() -> Applier> = OnceLock::new();

/// `server` hands the replica side its dispatcher at start; snapshots
/// get the replication hooks then.
pub fn set_applier(make: fn() -> Applier) {
    let _ = MAKE_APPLIER.set(make);
    crate::persistence::save::set_repl_hooks(crate::persistence::save::ReplHooks {
        hold: || Box::pin(hold()),
        at_instant,
    });
}

/// Before a snapshot's instant: waits until the link is between two
/// applied rounds and keeps it there (the applied offset, the relayed
/// stream and the data then agree).
async fn hold() {
    HOLDS.fetch_add(1, Ordering::SeqCst);
    while APPLYING.load(Ordering::SeqCst) {
        runtime::sleep(Duration::from_millis(1)).await;
    }
}

/// At a snapshot's instant: ends the hold; the replication fields of its
/// header (a replica's master position, or a master's own with a backlog).
fn at_instant() -> Option<crate::persistence::rdb::ReplInfo> {
    HOLDS.fetch_sub(1, Ordering::SeqCst);
    let stream_db = STREAM_DB.load(Ordering::SeqCst) as i64;
    if is_replica() {
        let (id, offset) = with(|u| u.synced.clone()).flatten()?;
        return Some(crate::persistence::rdb::ReplInfo {
            stream_db,
            id,
            offset,
        });
    }
    super::with(|s| {
        s.backlog.then(|| crate::persistence::rdb::ReplInfo {
            stream_db: 0,
            id: s.replid.clone(),
            offset: s.master_offset(),
        })
    })
}

/// The applied stream is now in database `db` (for snapshots and the AOF).
fn set_stream_db(db: u64) {
    STREAM_DB.store(db, Ordering::SeqCst);
    crate::storage::journal::set_relay_db(db);
}

/// The database the applied stream is in (a snapshot's repl-stream-db).
pub fn stream_db() -> i64 {
    STREAM_DB.load(Ordering::SeqCst) as i64
}

/// The link is up: this replica serves PSYNC to its own replicas.
pub fn link_up() -> bool {
    LINK_UP.load(Ordering::Relaxed)
}

/// Marks the link as applying for as long as it lives (after any hold).
struct Applying;

impl Applying {
    async fn enter() -> Applying {
        loop {
            while HOLDS.load(Ordering::SeqCst) > 0 {
                runtime::sleep(Duration::from_millis(1)).await;
            }
            APPLYING.store(true, Ordering::SeqCst);
            if HOLDS.load(Ordering::SeqCst) == 0 {
                return Applying;
            }
            APPLYING.store(false, Ordering::SeqCst);
        }
    }
}

impl Drop for Applying {
    fn drop(&mut self) {
        APPLYING.store(false, Ordering::SeqCst);
    }
}

/// This server is a replica (read on every write command: one load).
static IS_REPLICA: AtomicBool = AtomicBool::new(false);
/// The link is up and synced (replica-serve-stale-data).
static LINK_UP: AtomicBool = AtomicBool::new(false);
/// Bumped by every REPLICAOF: a link task of an older one ends.
static GEN: AtomicU64 = AtomicU64::new(0);
/// Snapshots waiting for (or holding) the link between two applied rounds.
static HOLDS: AtomicU64 = AtomicU64::new(0);
/// The link is applying a round of the master's stream.
static APPLYING: AtomicBool = AtomicBool::new(false);
/// The database the master's stream is in after the bytes applied so far
/// (repl-stream-db for this replica's own snapshots and replicas).
static STREAM_DB: AtomicU64 = AtomicU64::new(0);

#[inline]
pub fn is_replica() -> bool {
    IS_REPLICA.load(Ordering::Relaxed)
}

/// Where the link is (Redis's repl_state, as ROLE names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connect,
    Connecting,
    Handshake,
    Transfer,
    Connected,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Connecting => "connecting",
            Phase::Handshake => "handshake",
            Phase::Transfer => "sync",
            Phase::Connected => "connected",
        }
    }
}

/// The master this server replicates, and the link's state.
struct Upstream {
    host: String,
    port: u16,
    phase: Phase,
    /// The master's replid and the offset applied from it, once synced
    /// (kept over a link drop: Redis's cached master, for PSYNC).
    synced: Option<(String, i64)>,
    /// Bytes of the stream read (slave_read_repl_offset).
    read_off: i64,
    last_io: Instant,
    /// When the link went down (None: never up).
    down_since: Option<Instant>,
    /// A full sync's transfer: size (-1 with an EOF mark), bytes read, last read.
    transfer: (i64, i64, Instant),
    /// The link's socket (shut down to end the link), -1 when none.
    fd: i32,
    /// The link as CLIENT LIST shows it, while connected.
    client: Option<super::LinkClient>,
}

static UPSTREAM: Mutex<Option<Upstream>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Upstream) -> R) -> Option<R> {
    UPSTREAM.lock().unwrap().as_mut().map(f)
}

/// Replies that stop a non-synced replica from serving (replica-serve-stale-data no).
pub const MASTERDOWN: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
pub const READONLY: &str = "READONLY You can't write against a read only replica.";

/// The error a normal client's command gets on a replica, if any: writes
/// on a read-only replica, and commands without the `stale` flag while the
/// link is down with replica-serve-stale-data no.
#[cold]
pub fn refuses(write: bool, stale_ok: bool) -> Option<Reply> {
    if write && config::num(Opt::ReplicaReadOnly) == 1 {
        return Some(Reply::error(READONLY));
    }
    if !stale_ok && !LINK_UP.load(Ordering::Relaxed) && config::num(Opt::ReplicaServeStaleData) == 0
    {
        return Some(Reply::error(MASTERDOWN));
    }
    None
}

/// REPLICAOF host port: starts (or moves) the link. `who` is the client
/// asking, for the log. Returns false when already replicating that master.
pub fn start(host: String, port: u16, who: &str, cache_self: bool) -> bool {
    let mut g = UPSTREAM.lock().unwrap();
    if let Some(u) = g.as_ref() {
        if u.host.eq_ignore_ascii_case(&host) && u.port == port {
            return false;
        }
    }
    // A master turning replica keeps its own history as the cached master
    // (Redis's replicationCacheMasterUsingMyself): the new master may
    // continue it partially.
    // The link is down from now on if it was up (Redis frees the old
    // master client), or since it went down before: INFO's
    // master_link_down_since_seconds goes on counting across REPLICAOF.
    let mut down_since = None;
    let synced = match g.take() {
        Some(u) => {
            shutdown(u.fd);
            down_since = match u.phase {
                Phase::Connected => Some(Instant::now()),
                _ => u.down_since,
            };
            u.synced
        }
        None if !cache_self => None,
        None => {
            super::master::drop_all_links();
            Some(super::with(|s| {
                let off = s.master_offset();
                // The offset now follows the master's stream, not the journal.
                s.base_off = off;
                if s.backlog {
                    s.backlog = false;
                    crate::storage::journal::keep_history(0);
                }
                (s.replid.clone(), off)
            }))
        }
    };
    let gen = GEN.fetch_add(1, Ordering::AcqRel) + 1;
    LINK_UP.store(false, Ordering::Relaxed);
    IS_REPLICA.store(true, Ordering::Relaxed);
    crate::storage::journal::set_relaying(true);
    crate::storage::db::set_keep_expired(true);
    crate::logging::set_role('S');
    let _ = config::set(
        Opt::Replicaof as usize,
        &[host.clone(), port.to_string()],
        false,
    );
    tracing::info!("Connecting to MASTER {host}:{port}");
    *g = Some(Upstream {
        host: host.clone(),
        port,
        phase: Phase::Connect,
        synced,
        read_off: 0,
        last_io: Instant::now(),
        down_since,
        transfer: (0, 0, Instant::now()),
        fd: -1,
        client: None,
    });
    drop(g);
    tracing::info!("REPLICAOF {host}:{port} enabled (user request from '{who}')");
    run_on_control(gen);
    true
}

/// `replicaof <host> <port>` in the config or on the command line.
pub fn start_from_config() {
    let words = config::text(Opt::Replicaof);
    let w: Vec<&str> = words.split_whitespace().collect();
    match w.as_slice() {
        [] => {}
        [host, port] => match port.parse::<u16>() {
            Ok(port) => {
                start(host.to_string(), port, "config", false);
                // A restarted replica continues from its dump file's
                // position (Redis's cached master from the RDB).
                if let Some(r) = crate::persistence::load::loaded_repl() {
                    tracing::info!(
                        "Using the replication ID and offset of the loaded data: {}:{}",
                        r.id,
                        r.offset
                    );
                    set_stream_db(r.stream_db as u64);
                    with(|u| u.synced = Some((r.id.clone(), r.offset)));
                    super::with(|s| {
                        s.replid = r.id;
                        s.base_off = r.offset;
                    });
                }
            }
            Err(_) => tracing::warn!("Invalid master port in replicaof: '{port}'"),
        },
        _ => tracing::warn!("replicaof takes a host and a port, not '{words}'"),
    }
}

/// Starts the link task on the control executor (from any core).
fn run_on_control(gen: u64) {
    runtime::spawn(async move {
        let job: runtime::Job = Box::new(move || {
            runtime::spawn(link(gen));
            Reply::Ok
        });
        runtime::run_on(runtime::control(), vec![job]).await;
    });
}

/// How old this replica's data may be, in ms: since the last data from
/// the master while the link is up, else since the link went down (the
/// data age of Redis's clusterHandleSlaveFailover). None when not a replica.
pub fn data_age_ms() -> Option<u64> {
    with(|u| {
        let since = match u.phase {
            Phase::Connected => Some(u.last_io),
            _ => u.down_since,
        };
        since.map_or(u64::MAX, |t| t.elapsed().as_millis() as u64)
    })
}

/// INFO replication's replica fields (after `role:slave`), as Redis 7.0.
pub fn info(o: &mut String) {
    use std::fmt::Write;
    with(|u| {
        let connected = u.phase == Phase::Connected;
        let (read, applied) = match &u.synced {
            Some((_, off)) if connected => (u.read_off, *off),
            Some((_, off)) => (*off, *off),
            None => (1, 1),
        };
        let _ = write!(o, "master_host:{}\r\n", u.host);
        let _ = write!(o, "master_port:{}\r\n", u.port);
        let _ = write!(
            o,
            "master_link_status:{}\r\n",
            if connected { "up" } else { "down" }
        );
        let io = if connected {
            u.last_io.elapsed().as_secs() as i64
        } else {
            -1
        };
        let _ = write!(o, "master_last_io_seconds_ago:{io}\r\n");
        let _ = write!(
            o,
            "master_sync_in_progress:{}\r\n",
            (u.phase == Phase::Transfer) as u8
        );
        let _ = write!(o, "slave_read_repl_offset:{read}\r\n");
        let _ = write!(o, "slave_repl_offset:{applied}\r\n");
        if u.phase == Phase::Transfer {
            let (total, got, at) = u.transfer;
            let perc = if total > 0 {
                got as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            let _ = write!(o, "master_sync_total_bytes:{total}\r\n");
            let _ = write!(o, "master_sync_read_bytes:{got}\r\n");
            let _ = write!(o, "master_sync_left_bytes:{}\r\n", total - got);
            let _ = write!(o, "master_sync_perc:{perc:.2}\r\n");
            let _ = write!(
                o,
                "master_sync_last_io_seconds_ago:{}\r\n",
                at.elapsed().as_secs()
            );
        }
        if !connected {
            let down = u.down_since.map_or(-1, |t| t.elapsed().as_secs() as i64);
            let _ = write!(o, "master_link_down_since_seconds:{down}\r\n");
        }
        let _ = write!(
            o,
            "slave_priority:{}\r\n",
            config::num(Opt::ReplicaPriority)
        );
        let _ = write!(
            o,
            "slave_read_only:{}\r\n",
            config::num(Opt::ReplicaReadOnly)
        );
        let _ = write!(
            o,
            "replica_announced:{}\r\n",
            config::num(Opt::ReplicaAnnounced)
        );
    });
}

/// ROLE on a replica: `slave`, the master's host and port, the link's
/// state and the offset applied (-1 while not connected).
pub fn role() -> Option<Reply> {
    with(|u| {
        let off = match &u.synced {
            Some((_, off)) if u.phase == Phase::Connected => *off,
            _ => -1,
        };
        Reply::Array(vec![
            Reply::bulk("slave"),
            Reply::bulk(u.host.clone()),
            Reply::Int(u.port as i64),
            Reply::bulk(u.phase.name()),
            Reply::Int(off),
        ])
    })
}

/// REPLICAOF NO ONE: the server becomes a master. Its history continues
/// under a new replid, the master's kept as replid2 up to the offset
/// applied (Redis's shiftReplicationId), so other replicas of the old
/// master can continue partially from it.
pub async fn stop(who: &str) {
    let Some(u) = UPSTREAM.lock().unwrap().take() else {
        return;
    };
    GEN.fetch_add(1, Ordering::SeqCst);
    IS_REPLICA.store(false, Ordering::Relaxed);
    crate::logging::set_role('M');
    LINK_UP.store(false, Ordering::Relaxed);
    shutdown(u.fd);
    // The link's round in progress ends (a new one sees GEN and stops)
    // before commands record again.
    while APPLYING.load(Ordering::SeqCst) {
        runtime::sleep(Duration::from_millis(1)).await;
    }
    crate::storage::journal::set_relaying(false);
    crate::storage::db::set_keep_expired(false);
    let _ = config::set(Opt::Replicaof as usize, &[], false);
    if let Some((id, off)) = u.synced {
        let backlog = super::with(|s| {
            s.replid2 = id;
            s.second_off = off + 1;
            s.replid = super::random_hex40();
            if !s.backlog {
                s.base_off = off;
            }
            tracing::info!(
                "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
                s.replid2,
                s.second_off,
                s.replid
            );
            s.backlog
        });
        // The backlog of the relayed stream goes on; without one, it starts now.
        if !backlog {
            super::master::start_history().await;
        }
        // Its replicas continue with the new id (Redis disconnects them).
        super::master::drop_all_links();
    }
    tracing::info!("MASTER MODE enabled (user request from '{who}')");
}

/// The link to the master as CLIENT LIST shows it (flags=M), while connected.
pub fn link_client() -> Option<super::LinkClient> {
    with(|u| {
        u.client.clone().map(|c| super::LinkClient {
            last_io: u.last_io,
            db: STREAM_DB.load(Ordering::Relaxed) as usize,
            ..c
        })
    })
    .flatten()
}

/// CLIENT KILL TYPE master: ends the link (it reconnects and continues).
pub fn kill_link() -> usize {
    with(|u| {
        if u.fd >= 0 {
            shutdown(u.fd);
            1
        } else {
            0
        }
    })
    .unwrap_or(0)
}

fn shutdown(fd: i32) {
    if fd >= 0 {
        // SAFETY: shutdown on the link's live socket; its streams close it.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    }
}

/// The link task: connects, syncs and applies, again a second after any
/// failure, until another REPLICAOF.
async fn link(gen: u64) {
    let mut applier = match MAKE_APPLIER.get() {
        Some(make) => make(),
        None => return,
    };
    while GEN.load(Ordering::Acquire) == gen {
        set_phase(gen, Phase::Connecting);
        if let Err(e) = session(gen, &mut applier).await {
            if GEN.load(Ordering::Acquire) == gen {
                tracing::warn!("{e}");
            }
        }
        // The link is down: the applied state stays (the cached master).
        LINK_UP.store(false, Ordering::Relaxed);
        let still = with(|u| {
            u.fd = -1;
            u.client = None;
            if u.phase == Phase::Connected {
                u.down_since = Some(Instant::now());
            }
            u.phase = Phase::Connect;
        });
        if still.is_none() || GEN.load(Ordering::Acquire) != gen {
            return;
        }
        runtime::sleep(Duration::from_secs(1)).await;
        if GEN.load(Ordering::Acquire) == gen {
            with(|u| tracing::info!("Connecting to MASTER {}:{}", u.host, u.port));
        }
    }
}

fn set_phase(gen: u64, phase: Phase) {
    if GEN.load(Ordering::Acquire) == gen {
        with(|u| u.phase = phase);
    }
}

/// The master's socket, read through a buffer.
struct MasterConn {
    rd: TcpStream,
    buf: BytesMut,
}

impl MasterConn {
    /// Reads more bytes; the link ends at EOF.
    async fn fill(&mut self) -> Result<usize, String> {
        let mut chunk = [0u8; 16 << 10];
        match self.rd.read(&mut chunk).await {
            Ok(0) => Err("Connection with master lost.".into()),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                with(|u| u.last_io = Instant::now());
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                Err("MASTER timeout: no data nor PING received...".into())
            }
            Err(e) => Err(format!("Error reading from MASTER: {e}")),
        }
    }

    /// One reply line, without its CRLF.
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(nl) = memchr::memchr(b'\n', &self.buf) {
                let l = self.buf.split_to(nl + 1);
                let l = l.strip_suffix(b"\n").unwrap_or(&l);
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                return Ok(String::from_utf8_lossy(l).into_owned());
            }
            if self.buf.len() > 64 << 10 {
                return Err("Master sent an overlong reply line".into());
            }
            self.fill().await?;
        }
    }

    /// A reply line, skipping the empty lines a master sends to keep the
    /// link alive while it prepares.
    async fn reply(&mut self) -> Result<String, String> {
        loop {
            let l = self.line().await?;
            if !l.is_empty() {
                return Ok(l);
            }
        }
    }
}

/// One connection to the master: handshake, sync, stream.
async fn session(gen: u64, applier: &mut Applier) -> Result<(), String> {
    let Some((host, port)) = with(|u| (u.host.clone(), u.port)) else {
        return Ok(());
    };
    let timeout = Duration::from_secs(config::num(Opt::ReplTimeout) as u64);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("Unable to connect to MASTER: cannot resolve {host}"))?;
    let rd = TcpStream::connect_timeout(addr, timeout)
        .await
        .map_err(|e| format!("Unable to connect to MASTER: {e}"))?;
    let _ = rd.set_nodelay(true);
    let _ = rd.set_read_timeout(Some(timeout));
    let fd = std::os::fd::AsRawFd::as_raw_fd(&rd);
    let wfd = dup(fd)?;
    // SAFETY: wfd is a fresh duplicate this stream owns.
    let mut wr = unsafe { <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(wfd) };
    if GEN.load(Ordering::Acquire) != gen {
        return Ok(());
    }
    let addr = |a: Option<std::net::SocketAddr>| a.map_or(String::new(), |a| a.to_string());
    let client = super::LinkClient {
        id: crate::commands::client::new_id(),
        addr: addr(rd.peer_addr().ok()),
        laddr: addr(rd.local_addr().ok()),
        fd,
        created: Instant::now(),
        last_io: Instant::now(),
        master: true,
        db: 0,
        cmd: "NULL".into(),
    };
    with(|u| {
        u.fd = fd;
        u.phase = Phase::Handshake;
        u.client = Some(client);
    });
    tracing::info!("MASTER <-> REPLICA sync started");
    let mut conn = MasterConn {
        rd,
        buf: BytesMut::with_capacity(64 << 10),
    };
    handshake(&mut conn, &mut wr).await?;
    let cached = with(|u| u.synced.clone()).flatten();
    let psync = match &cached {
        Some((id, off)) => {
            tracing::info!(
                "Trying a partial resynchronization (request {id}:{}).",
                off + 1
            );
            let off = (off + 1).to_string();
            if super::failover::in_progress() {
                command(&["PSYNC", id, &off, "FAILOVER"])
            } else {
                command(&["PSYNC", id, &off])
            }
        }
        None => {
            tracing::info!("Partial resynchronization not possible (no cached master)");
            command(&["PSYNC", "?", "-1"])
        }
    };
    write(&mut wr, &psync).await?;
    let reply = conn.reply().await?;
    // A failover handing over ends here, one way or the other.
    super::failover::psync_answered(
        reply.starts_with("+FULLRESYNC") || reply.starts_with("+CONTINUE"),
    )
    .await;
    let applied = if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut it = rest.split(' ');
        let id = it.next().unwrap_or("").to_string();
        let off: i64 = it.next().and_then(|o| o.parse().ok()).unwrap_or(-1);
        if id.len() != 40 || off < 0 {
            return Err(format!(
                "Master replied with wrong +FULLRESYNC syntax: {rest}"
            ));
        }
        tracing::info!("Full resync from master: {id}:{off}");
        // This replica's replicas resync with the new history.
        super::master::drop_all_links();
        let same_history = super::with(|s| s.replid == id);
        full_sync(gen, &mut conn, applier, same_history).await?;
        let db = crate::persistence::load::loaded_repl().map_or(0, |r| r.stream_db.max(0));
        set_stream_db(db as u64);
        with(|u| u.synced = Some((id.clone(), off)));
        super::with(|s| {
            s.replid = id;
            s.replid2 = "0".repeat(40);
            s.second_off = -1;
        });
        history(off, true).await;
        tracing::info!("MASTER <-> REPLICA sync: Finished with success");
        off
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let Some((id, off)) = cached else {
            return Err("Master accepted a partial resync we did not ask for".into());
        };
        let new = rest.trim();
        tracing::info!("Successful partial resynchronization with master.");
        if !new.is_empty() && new != id {
            // The master's history continues under a new id (a promotion).
            tracing::info!("Master replication ID changed to {new}");
            with(|u| u.synced = Some((new.to_string(), off)));
            super::with(|s| {
                s.replid2 = id;
                s.second_off = off + 1;
                s.replid = new.to_string();
            });
            // Its replicas learn the new id when they reconnect.
            super::master::drop_all_links();
        }
        history(off, false).await;
        tracing::info!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
        off
    } else if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
        return Err(format!(
            "Master is currently unable to PSYNC but should be in the future: {reply}"
        ));
    } else {
        return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
    };
    if GEN.load(Ordering::Acquire) != gen {
        return Ok(());
    }
    with(|u| {
        u.phase = Phase::Connected;
        u.read_off = applied + conn.buf.len() as i64;
        u.down_since = None;
    });
    LINK_UP.store(true, Ordering::Relaxed);
    stream(gen, conn, wr, applier, applied).await
}

/// The backlog of the relayed stream, at offset `off` (Redis's replica
/// keeps one, for its replicas and for after a promotion): kept when it
/// already ends there, started again there otherwise (`fresh`: after a
/// full sync).
async fn history(off: i64, fresh: bool) {
    let end = crate::storage::journal::extent().0;
    let keep = super::with(|s| {
        if s.backlog && !fresh && s.offset_at(end) == off {
            return true;
        }
        s.base_off = off;
        if s.backlog {
            s.base_pos = end;
            return true;
        }
        false
    });
    if !keep {
        super::master::start_history().await;
    }
}

/// PING, then AUTH, REPLCONF listening-port, [ip-address] and capa in one
/// burst, their replies read after (syncWithMaster).
async fn handshake(conn: &mut MasterConn, wr: &mut TcpStream) -> Result<(), String> {
    write(wr, &command(&["PING"])).await?;
    let pong = conn.reply().await?;
    if !(pong.starts_with('+')
        || pong.starts_with("-NOAUTH")
        || pong.starts_with("-NOPERM")
        || pong.starts_with("-ERR operation not permitted"))
    {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    tracing::info!("Master replied to PING, replication can continue...");
    let mut burst = Vec::new();
    let pass = config::text(Opt::Masterauth);
    let user = config::text(Opt::Masteruser);
    if !pass.is_empty() {
        if user.is_empty() {
            burst.extend(command(&["AUTH", &pass]));
        } else {
            burst.extend(command(&["AUTH", &user, &pass]));
        }
    }
    let port = match config::num(Opt::ReplicaAnnouncePort) {
        0 => config::num(Opt::Port),
        p => p,
    };
    burst.extend(command(&["REPLCONF", "listening-port", &port.to_string()]));
    let ip = config::text(Opt::ReplicaAnnounceIp);
    if !ip.is_empty() {
        burst.extend(command(&["REPLCONF", "ip-address", &ip]));
    }
    burst.extend(command(&["REPLCONF", "capa", "eof", "capa", "psync2"]));
    write(wr, &burst).await?;
    if !pass.is_empty() {
        let r = conn.reply().await?;
        if r.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {r}"));
        }
    }
    let r = conn.reply().await?;
    if r.starts_with('-') {
        tracing::info!("(Non critical) Master does not understand REPLCONF listening-port: {r}");
    }
    if !ip.is_empty() {
        let r = conn.reply().await?;
        if r.starts_with('-') {
            tracing::info!("(Non critical) Master does not understand REPLCONF ip-address: {r}");
        }
    }
    let r = conn.reply().await?;
    if r.starts_with('-') {
        tracing::info!("(Non critical) Master does not understand REPLCONF capa: {r}");
    }
    Ok(())
}

/// Receives the RDB and replaces the dataset with it: through a temp
/// file, or straight from the socket when `repl-diskless-load` allows
/// (`swapdb`, or `on-empty-db` with no keys), as Redis 7.0 decides.
/// `same_history`: the master's replid is this replica's (swapdb then
/// keeps serving reads from the old data while it loads).
async fn full_sync(
    gen: u64,
    conn: &mut MasterConn,
    applier: &mut Applier,
    same_history: bool,
) -> Result<(), String> {
    let head = conn.reply().await?;
    let Some(size) = head.strip_prefix('$') else {
        return Err(format!(
            "Bad protocol from MASTER, the first byte is not '$' (we received '{head}'), are you sure the host and port are right?"
        ));
    };
    let mark = size.strip_prefix("EOF:").map(|m| m.as_bytes().to_vec());
    let total: i64 = match &mark {
        Some(m) if m.len() == 40 => -1,
        Some(_) => return Err(format!("Bad EOF mark from MASTER: {head}")),
        None => size
            .parse()
            .ok()
            .filter(|n: &i64| *n >= 0)
            .ok_or_else(|| format!("Bad RDB size from MASTER: {head}"))?,
    };
    let load = config::text(Opt::ReplDisklessLoad);
    let diskless = match load.as_str() {
        "swapdb" => true,
        "on-empty-db" => total_keys().await == 0,
        _ => false,
    };
    let to = if diskless { "to parser" } else { "to disk" };
    if mark.is_some() {
        tracing::info!("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF {to}");
    } else {
        tracing::info!("MASTER <-> REPLICA sync: receiving {total} bytes from master {to}");
    }
    with(|u| {
        u.phase = Phase::Transfer;
        u.transfer = (total, 0, Instant::now());
    });
    if diskless {
        let swap = load == "swapdb";
        socket_load(conn, applier, total, mark, swap, swap && same_history).await
    } else {
        disk_load(gen, conn, applier, total, mark).await
    }
}

/// Keys in every database on every core (repl-diskless-load on-empty-db).
async fn total_keys() -> usize {
    runtime::gather(0..runtime::shards(), || {
        crate::storage::shard::with(|sh| sh.dbs.iter().map(|d| d.len()).sum::<usize>())
    })
    .await
    .into_iter()
    .sum()
}

/// Diskless load: the RDB is parsed as it arrives. Without swapdb the
/// old data is flushed first (clients get -LOADING until the end); with
/// it the snapshot goes into staged databases that replace the dataset
/// only once it is whole, so a failed transfer leaves the old data, and
/// with `in_background` clients go on reading the old data meanwhile
/// (INFO's async_loading).
async fn socket_load(
    conn: &mut MasterConn,
    applier: &mut Applier,
    total: i64,
    mark: Option<Vec<u8>>,
    swap: bool,
    in_background: bool,
) -> Result<(), String> {
    use crate::persistence::load::{self, Target};
    let fd = with(|u| u.fd).unwrap_or(-1);
    let src = SocketSource {
        ahead: conn.buf.split().to_vec(),
        fd: dup(fd)?,
        left: if mark.is_some() {
            u64::MAX
        } else {
            total as u64
        },
    };
    let target = if swap {
        load::begin_staged().await;
        Target::Staged
    } else {
        tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
        applier
            .run(vec![vec![Bytes::from_static(b"FLUSHALL")]])
            .await;
        Target::Live
    };
    tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
    let loaded = load::replica_load_stream(src, target, total.max(0) as u64, in_background)
        .await
        .and_then(|(mut src, ahead)| src.after_snapshot(ahead, mark.as_deref()));
    match loaded {
        Ok(rest) => {
            conn.buf = BytesMut::from(&rest[..]);
            if swap {
                tracing::info!("MASTER <-> REPLICA sync: Swapping active DB with loaded DB");
                load::swap_staged(flushed).await;
                tracing::info!("MASTER <-> REPLICA sync: Discarding previously cached DB");
            }
            Ok(())
        }
        Err(e) => {
            // The parser thread may still be reading: the link ends here.
            shutdown(fd);
            tracing::warn!(
                "Failed trying to load the MASTER synchronization DB from socket, check server logs."
            );
            if swap {
                tracing::info!(
                    "MASTER <-> REPLICA sync: Discarding temporary DB, the old data stays"
                );
                load::drop_staged().await;
            } else {
                tracing::info!("MASTER <-> REPLICA sync: Discarding the half-loaded data");
                applier
                    .run(vec![vec![Bytes::from_static(b"FLUSHALL")]])
                    .await;
            }
            Err(format!("I/O error trying to sync with MASTER: {e}"))
        }
    }
}

/// On each core when a loaded snapshot replaces the dataset: what a flush
/// tells WATCH and client tracking.
fn flushed() {
    crate::commands::multi::db_replaced(None);
    crate::commands::tracking::flushed();
}

/// The master's socket as a blocking byte source for the RDB parser's
/// thread: first the bytes already read, then the socket (waiting at most
/// `repl-timeout`), never past a `$<len>` payload's end.
struct SocketSource {
    ahead: Vec<u8>,
    fd: i32,
    left: u64,
}

impl std::io::Read for SocketSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = if !self.ahead.is_empty() {
            let n = want.min(self.ahead.len());
            buf[..n].copy_from_slice(&self.ahead[..n]);
            self.ahead.drain(..n);
            n
        } else {
            self.recv(&mut buf[..want])?
        };
        if self.left != u64::MAX {
            self.left -= n as u64;
        }
        with(|u| {
            u.transfer.1 += n as i64;
            u.transfer.2 = Instant::now();
            u.last_io = Instant::now();
        });
        Ok(n)
    }
}

impl SocketSource {
    fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let timeout = config::num(Opt::ReplTimeout).clamp(1, i32::MAX as i64 / 1000) as i32;
        loop {
            let mut p = libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd for the socket this source owns.
            let r = unsafe { libc::poll(&mut p, 1, timeout * 1000) };
            if r == 0 {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            if r > 0 {
                // SAFETY: reads into `buf`, at most its length.
                let n = unsafe {
                    libc::recv(
                        self.fd,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT,
                    )
                };
                if n >= 0 {
                    return Ok(n as usize);
                }
            }
            let e = std::io::Error::last_os_error();
            if !matches!(
                e.kind(),
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
            ) {
                return Err(e);
            }
        }
    }

    /// The bytes after the snapshot (the start of the stream), given what
    /// the parser read ahead: with an EOF mark, the 40-byte mark must
    /// come first.
    fn after_snapshot(
        &mut self,
        mut ahead: Vec<u8>,
        mark: Option<&[u8]>,
    ) -> Result<Vec<u8>, String> {
        ahead.append(&mut self.ahead);
        let Some(mark) = mark else {
            return match self.left {
                0 => Ok(ahead),
                n => Err(format!(
                    "{n} bytes of the payload were left after the RDB's end"
                )),
            };
        };
        while ahead.len() < mark.len() {
            let mut chunk = [0u8; 64];
            let n = self.recv(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("Connection with master lost.".into());
            }
            ahead.extend_from_slice(&chunk[..n]);
        }
        if &ahead[..mark.len()] != mark {
            return Err("the EOF mark after the RDB does not match".into());
        }
        Ok(ahead.split_off(mark.len()))
    }
}

impl Drop for SocketSource {
    fn drop(&mut self) {
        // SAFETY: the duplicate descriptor this source owns.
        unsafe { libc::close(self.fd) };
    }
}

/// Disk load: the RDB goes into a temp file while the old data serves
/// reads; then the dataset is flushed, the file loaded and renamed to
/// dbfilename.
async fn disk_load(
    gen: u64,
    conn: &mut MasterConn,
    applier: &mut Applier,
    total: i64,
    mark: Option<Vec<u8>>,
) -> Result<(), String> {
    use std::io::Write;
    let dir = std::path::PathBuf::from(config::text(Opt::Dir));
    let tmp = dir.join(format!(
        "temp-{}.{}.rdb",
        crate::storage::now_ms() / 1000,
        std::process::id()
    ));
    let file = std::fs::File::create(&tmp).map_err(|e| {
        format!("Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}")
    })?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut read: i64 = 0;
    let result: Result<(), String> = async {
        loop {
            match &mark {
                None => {
                    let take = (conn.buf.len() as i64).min(total - read) as usize;
                    let part = conn.buf.split_to(take);
                    out.write_all(&part).map_err(|e| e.to_string())?;
                    read += take as i64;
                    if read == total {
                        return Ok(());
                    }
                }
                Some(m) => {
                    // Everything but the last 40 bytes may be the RDB; the
                    // transfer ends when they are the mark.
                    if conn.buf.len() >= 40 && conn.buf.ends_with(m) {
                        let body = conn.buf.len() - 40;
                        let part = conn.buf.split_to(body);
                        out.write_all(&part).map_err(|e| e.to_string())?;
                        read += conn.buf.len() as i64 + body as i64;
                        conn.buf.clear();
                        return Ok(());
                    }
                    if conn.buf.len() > 40 {
                        let body = conn.buf.len() - 40;
                        let part = conn.buf.split_to(body);
                        out.write_all(&part).map_err(|e| e.to_string())?;
                        read += body as i64;
                    }
                }
            }
            with(|u| u.transfer = (total, read, Instant::now()));
            if GEN.load(Ordering::Acquire) != gen {
                return Err("The link was replaced".into());
            }
            conn.fill().await?;
        }
    }
    .await;
    let result = result.and_then(|_| out.flush().map_err(|e| e.to_string()));
    drop(out);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("I/O error trying to sync with MASTER: {e}"));
    }
    tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
    applier
        .run(vec![vec![Bytes::from_static(b"FLUSHALL")]])
        .await;
    tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
    let loaded = crate::persistence::load::replica_load(&tmp).await;
    if let Err(e) = loaded {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "Failed trying to load the MASTER synchronization DB from disk: {e}"
        ));
    }
    let rdb = crate::persistence::save::rdb_path();
    if let Err(e) = std::fs::rename(&tmp, &rdb) {
        tracing::warn!(
            "Failed trying to rename the temp DB into {}: {e}",
            rdb.display()
        );
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(())
}

/// Applies the master's stream from offset `applied` until the link ends.
/// What is applied is relayed, byte for byte, into this server's own
/// stream (its backlog and its replicas), so offsets stay the master's.
async fn stream(
    gen: u64,
    mut conn: MasterConn,
    wr: TcpStream,
    applier: &mut Applier,
    mut applied: i64,
) -> Result<(), String> {
    use crate::storage::journal;
    let (tx, rx) = glommio::channels::local_channel::new_unbounded::<i64>();
    runtime::spawn(acks(gen, wr, rx));
    // The first ACK at once: a diskless master streams only after it.
    let _ = tx.try_send(applied);
    let limits = Limits {
        max_bulk: config::num(Opt::ProtoMaxBulkLen),
        authenticated: true,
    };
    // The applier continues in the stream's database (after a restart too).
    let mut db = STREAM_DB.load(Ordering::SeqCst);
    applier
        .run(vec![vec![
            Bytes::from_static(b"SELECT"),
            Bytes::from(db.to_string()),
        ]])
        .await;
    loop {
        let applying = Applying::enter().await;
        if GEN.load(Ordering::SeqCst) != gen {
            return Ok(());
        }
        // Every complete command up to the last one outside MULTI is
        // applied; a MULTI block whose EXEC has not arrived waits whole.
        let frame = conn.buf.split().freeze();
        let (mut pos, mut done) = (0, 0);
        let (mut batch, mut batch_end, mut batch_len) = (Vec::new(), 0, 0);
        let (mut in_multi, mut parsed_db, mut batch_db) = (false, db, db);
        let mut last_cmd: Option<Bytes> = None;
        loop {
            let mut parser = RequestParser::default();
            let (args, used): (Vec<Bytes>, usize) = match parser.parse(&frame[pos..], limits) {
                Ok(None) => break,
                Ok(Some(Parsed::Empty(used))) => (Vec::new(), used),
                Ok(Some(Parsed::Args(used))) => (
                    parser
                        .args()
                        .iter()
                        .map(|r| frame.slice(pos + r.start..pos + r.end))
                        .collect(),
                    used,
                ),
                Ok(Some(Parsed::Inline(args, used))) => {
                    (args.into_iter().map(Bytes::from).collect(), used)
                }
                Err(e) => return Err(format!("Protocol error from MASTER: {}", e.text())),
            };
            pos += used;
            if let Some(name) = args.first() {
                last_cmd = Some(name.clone());
            }
            match args.first() {
                None => {}
                Some(name) if name.eq_ignore_ascii_case(b"replconf") => {
                    let getack = args
                        .get(1)
                        .is_some_and(|a| a.eq_ignore_ascii_case(b"getack"));
                    if getack && !in_multi {
                        // The ACK counts what precedes the GETACK, not itself.
                        apply_in_order(applier, std::mem::take(&mut batch)).await;
                        journal::relay(&frame[done..batch_end]);
                        applied += (batch_end - done) as i64;
                        let _ = tx.try_send(applied);
                        journal::relay(&frame[batch_end..pos]);
                        applied += (pos - batch_end) as i64;
                        done = pos;
                        batch_len = 0;
                    }
                }
                Some(name) => {
                    if name.eq_ignore_ascii_case(b"multi") {
                        in_multi = true;
                    } else if name.eq_ignore_ascii_case(b"exec")
                        || name.eq_ignore_ascii_case(b"discard")
                    {
                        in_multi = false;
                    } else if name.eq_ignore_ascii_case(b"select") {
                        if let Some(n) = args
                            .get(1)
                            .and_then(|a| std::str::from_utf8(a).ok()?.parse().ok())
                        {
                            parsed_db = n;
                        }
                    }
                    batch.push(args);
                }
            }
            if !in_multi {
                batch_end = pos;
                batch_len = batch.len();
                batch_db = parsed_db;
            }
        }
        batch.truncate(batch_len);
        apply_in_order(applier, batch).await;
        if batch_end > done {
            journal::relay(&frame[done..batch_end]);
            applied += (batch_end - done) as i64;
            done = batch_end;
        }
        db = batch_db;
        set_stream_db(db);
        conn.buf = BytesMut::from(&frame[done..]);
        if let Some(name) = last_cmd {
            let name = String::from_utf8_lossy(&name).to_lowercase();
            with(|u| {
                if let Some(c) = u.client.as_mut() {
                    c.cmd = name;
                }
            });
        }
        publish(applied);
        drop(applying);
        if GEN.load(Ordering::Acquire) != gen {
            return Ok(());
        }
        let n = conn.fill().await?;
        with(|u| u.read_off += n as i64);
    }
}

/// Applies commands so that no command becomes visible before one that
/// preceded it on the master: the dispatcher runs a batch's parts for
/// different cores concurrently, so commands between the master's own
/// transactions that touch several cores are applied as one MULTI/EXEC
/// (one visit per core, and readers see the state after the whole run,
/// which the master passed through). The master's MULTI/EXEC blocks are
/// atomic already. A run with a command a transaction would refuse (one
/// this server does not know, a wrong arity) is cut wherever the next key
/// is on another core instead, so that only that command fails.
async fn apply_in_order(applier: &mut Applier, cmds: Vec<Vec<Bytes>>) {
    let mut run: Vec<Vec<Bytes>> = Vec::new();
    let mut in_multi = false;
    for args in cmds {
        let name = &args[0];
        if name.eq_ignore_ascii_case(b"multi") {
            apply_run(applier, std::mem::take(&mut run)).await;
            in_multi = true;
        }
        let ends = in_multi
            && (name.eq_ignore_ascii_case(b"exec") || name.eq_ignore_ascii_case(b"discard"));
        run.push(args);
        if ends {
            applier.run(std::mem::take(&mut run)).await;
            in_multi = false;
        }
    }
    if in_multi {
        applier.run(run).await;
    } else {
        apply_run(applier, run).await;
    }
}

/// Commands outside the master's transactions, applied in order.
async fn apply_run(applier: &mut Applier, run: Vec<Vec<Bytes>>) {
    let core_of = |args: &Vec<Bytes>| {
        (args.len() >= 2 && !args[0].eq_ignore_ascii_case(b"select"))
            .then(|| crate::cluster::route::core(&args[1]))
    };
    let mut cores = run.iter().filter_map(core_of);
    let first = cores.next();
    if !cores.any(|c| Some(c) != first) {
        if !run.is_empty() {
            applier.run(run).await;
        }
        return;
    }
    let table = crate::commands::table();
    let queueable = run.iter().all(|args| {
        table.lookup(&args[0]).is_some_and(|(_, s)| {
            s.arity_ok(args.len()) && s.flags & crate::commands::flags::NO_MULTI == 0
        })
    });
    if queueable {
        let mut tx = Vec::with_capacity(run.len() + 2);
        tx.push(vec![Bytes::from_static(b"MULTI")]);
        tx.extend(run);
        tx.push(vec![Bytes::from_static(b"EXEC")]);
        applier.run(tx).await;
        return;
    }
    let (mut part, mut core) = (Vec::new(), None);
    for args in run {
        if let Some(owner) = core_of(&args) {
            if core.is_some_and(|c| c != owner) {
                applier.run(std::mem::take(&mut part)).await;
            }
            core = Some(owner);
        }
        part.push(args);
    }
    applier.run(part).await;
}

/// The offset applied so far, for INFO, ROLE and the next PSYNC (with a
/// backlog, master_repl_offset follows the relayed stream by itself).
fn publish(applied: i64) {
    with(|u| {
        if let Some(s) = u.synced.as_mut() {
            s.1 = applied;
        }
    });
    super::with(|s| {
        if !s.backlog {
            s.base_off = applied;
        }
    });
}

/// Writes `REPLCONF ACK <offset>` every second, and at once with each
/// offset the stream task sends (the first after a sync, GETACK answers).
async fn acks(
    gen: u64,
    mut wr: TcpStream,
    rx: glommio::channels::local_channel::LocalReceiver<i64>,
) {
    loop {
        let now = futures_lite::future::or(async { Some(rx.recv().await) }, async {
            runtime::sleep(Duration::from_secs(1)).await;
            None
        })
        .await;
        let off = match now {
            Some(None) => return,
            Some(Some(off)) => off,
            None => match with(|u| u.synced.as_ref().map(|s| s.1)).flatten() {
                Some(off) => off,
                None => return,
            },
        };
        if GEN.load(Ordering::Acquire) != gen {
            return;
        }
        let ack = command(&["REPLCONF", "ACK", &off.to_string()]);
        if write(&mut wr, &ack).await.is_err() {
            return;
        }
    }
}

/// A command in RESP.
fn command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

async fn write(wr: &mut TcpStream, bytes: &[u8]) -> Result<(), String> {
    wr.write_all(bytes)
        .await
        .map_err(|e| format!("Error writing to MASTER: {e}"))
}

/// A second descriptor of the link's socket, for its writer.
fn dup(fd: i32) -> Result<i32, String> {
    // SAFETY: dup of the live socket; the caller owns the result.
    let d = unsafe { libc::dup(fd) };
    if d < 0 {
        Err(format!(
            "Unable to connect to MASTER: {}",
            std::io::Error::last_os_error()
        ))
    } else {
        Ok(d)
    }
}
