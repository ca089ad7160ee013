//! Replication, master side (PSYNC2, as Redis 7.0): replication ids and
//! offsets, the backlog, the replicas' state, and what INFO replication,
//! ROLE and WAIT read.
//!
//! The stream replicas receive is the write journal (`storage::journal`):
//! one stream with one position that the AOF writer and every replica link
//! read at their own pace. The replication offset is the journal position
//! mapped from the moment the backlog was created, so it counts exactly the
//! bytes replicas receive (SELECT, PING, REPLCONF GETACK, MULTI/EXEC).
//!
//! A replica connects as a client on some shard; REPLCONF is answered
//! there and PSYNC/SYNC hands the socket to the control executor
//! (`master::serve`), where its link lives: full sync from a fork-less
//! snapshot (`persistence::save`), partial resync from the backlog, then
//! the stream and the replica's ACKs.

pub mod failover;
pub mod master;
pub mod replica;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;

use crate::config::{self, Opt};
use crate::protocol::Reply;
use crate::storage::journal;

/// What a replica said with REPLCONF before PSYNC.
#[derive(Debug, Default, Clone)]
pub struct Handshake {
    pub listening_port: u16,
    pub ip_address: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
}

/// Where a replica link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Waiting for the snapshot to start.
    WaitBgsave,
    /// The snapshot is being sent.
    SendBulk,
    /// Receiving the stream (streaming starts at its first ACK).
    Online,
}

impl LinkState {
    fn name(self) -> &'static str {
        match self {
            LinkState::WaitBgsave => "wait_bgsave",
            LinkState::SendBulk => "send_bulk",
            LinkState::Online => "online",
        }
    }
}

/// One replica, as INFO, ROLE and WAIT see it.
#[derive(Debug, Clone)]
pub struct Replica {
    pub link: u64,
    /// The connection that became this link (CLIENT LIST, CLIENT KILL).
    pub client: LinkClient,
    pub ip: String,
    pub port: u16,
    pub state: LinkState,
    pub ack_off: i64,
    pub ack_time: Instant,
    /// Its consumer id in the journal (0 until it has one).
    pub cursor: u64,
    /// The descriptor its link reads (shut down to end the link).
    pub fd: i32,
    /// It sent its first ACK after the snapshot: streaming may start.
    pub acked: bool,
}

impl Replica {
    /// `ip:port` as Redis names a replica in its log.
    pub fn name(&self) -> String {
        name(&self.ip, self.port)
    }
}

fn name(ip: &str, port: u16) -> String {
    if port == 0 {
        format!("{ip}:<unknown-replica-port>")
    } else {
        format!("{ip}:{port}")
    }
}

pub struct State {
    pub replid: String,
    pub replid2: String,
    pub second_off: i64,
    /// The backlog exists (created with the first replica).
    pub backlog: bool,
    /// A full sync will create the backlog at its snapshot's instant.
    pub backlog_pending: bool,
    /// The offset is `base_off + (journal position - base_pos)`.
    pub base_pos: u64,
    pub base_off: i64,
    pub replicas: Vec<Replica>,
    pub next_link: u64,
    /// Since when no replica is connected (repl-backlog-ttl).
    pub alone_since: Instant,
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

pub fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut g = STATE.lock().unwrap();
    let s = g.get_or_insert_with(|| State {
        replid: random_hex40(),
        replid2: "0".repeat(40),
        second_off: -1,
        backlog: false,
        backlog_pending: false,
        base_pos: 0,
        base_off: 0,
        replicas: Vec::new(),
        next_link: 1,
        alone_since: Instant::now(),
        sync_full: 0,
        sync_partial_ok: 0,
        sync_partial_err: 0,
    });
    f(s)
}

/// DEBUG CHANGE-REPL-ID: a new replication ID and no second one, as
/// Redis's changeReplicationId and clearReplicationId2.
pub fn change_replid() {
    with(|s| {
        s.replid = random_hex40();
        s.replid2 = "0".repeat(40);
        s.second_off = -1;
    });
}

pub fn random_hex40() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap())
        .collect()
}

impl State {
    /// The replication offset of journal position `pos`.
    pub fn offset_at(&self, pos: u64) -> i64 {
        self.base_off + (pos as i64 - self.base_pos as i64)
    }

    /// master_repl_offset (it does not move while there is no backlog).
    pub fn master_offset(&self) -> i64 {
        if self.backlog {
            self.offset_at(journal::extent().0)
        } else {
            self.base_off
        }
    }

    /// (first_byte_offset, histlen) of the backlog.
    pub fn backlog_extent(&self) -> (i64, i64) {
        if !self.backlog {
            return (0, 0);
        }
        let (end, start) = journal::extent();
        let start = start.max(self.base_pos);
        (self.offset_at(start) + 1, (end - start) as i64)
    }
}

/// master_repl_offset now.
pub fn master_offset() -> i64 {
    with(|s| s.master_offset())
}

/// The replid (INFO server's run id is another one).
pub fn replid() -> String {
    with(|s| s.replid.clone())
}

/// (sync_full, sync_partial_ok, sync_partial_err) for INFO stats.
pub fn sync_stats() -> (u64, u64, u64) {
    with(|s| (s.sync_full, s.sync_partial_ok, s.sync_partial_err))
}

/// CONFIG RESETSTAT.
pub fn reset_stats() {
    with(|s| {
        s.sync_full = 0;
        s.sync_partial_ok = 0;
        s.sync_partial_err = 0;
    });
}

/// After CONFIG SET: a new backlog size and min-replicas-* apply at once.
pub fn config_changed() {
    with(|s| {
        if s.backlog {
            journal::keep_history(backlog_size());
        }
    });
    refresh_good();
}

/// The error for writes while fewer than min-replicas-to-write replicas
/// are good.
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

/// Writes are refused (min-replicas-to-write): read on every write, one load.
static TOO_FEW_REPLICAS: AtomicBool = AtomicBool::new(false);

/// Whether a client's write gets [`NOREPLICAS`].
#[inline]
pub fn too_few_replicas() -> bool {
    TOO_FEW_REPLICAS.load(Ordering::Relaxed)
}

/// (min-replicas-to-write, min-replicas-max-lag) when both are set.
fn min_replicas() -> Option<(i64, u64)> {
    let (n, lag) = (
        config::num(Opt::MinReplicasToWrite),
        config::num(Opt::MinReplicasMaxLag),
    );
    (n > 0 && lag > 0).then_some((n, lag as u64))
}

impl State {
    /// Online replicas whose last ACK is at most `max_lag` seconds old
    /// (Redis's repl_good_slaves_count).
    fn good_replicas(&self, max_lag: u64) -> i64 {
        self.replicas
            .iter()
            .filter(|r| r.state == LinkState::Online && r.ack_time.elapsed().as_secs() <= max_lag)
            .count() as i64
    }
}

/// Counts the good replicas again (each second, and when one comes or
/// goes): a master with fewer than min-replicas-to-write refuses writes.
pub fn refresh_good() {
    let refuse = match min_replicas() {
        Some((n, lag)) if !replica::is_replica() => with(|s| s.good_replicas(lag) < n),
        _ => false,
    };
    TOO_FEW_REPLICAS.store(refuse, Ordering::Relaxed);
}

/// repl-backlog-size, at least Redis's 16 KB.
pub fn backlog_size() -> u64 {
    (config::num(Opt::ReplBacklogSize) as u64).max(16 * 1024)
}

/// The body of INFO replication.
pub fn info(o: &mut String) {
    use std::fmt::Write;
    // (The replica's lock is never taken inside the state's.)
    if replica::is_replica() {
        let _ = write!(o, "role:slave\r\n");
        replica::info(o);
    } else {
        let _ = write!(o, "role:master\r\n");
    }
    let min = min_replicas().filter(|_| !replica::is_replica());
    with(|s| {
        let _ = write!(o, "connected_slaves:{}\r\n", s.replicas.len());
        if let Some((_, lag)) = min {
            let _ = write!(o, "min_slaves_good_slaves:{}\r\n", s.good_replicas(lag));
        }
        for (i, r) in s.replicas.iter().enumerate() {
            let _ = write!(
                o,
                "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
                r.ip,
                r.port,
                r.state.name(),
                r.ack_off,
                r.ack_time.elapsed().as_secs()
            );
        }
        let (first, histlen) = s.backlog_extent();
        let _ = write!(o, "master_failover_state:{}\r\n", failover::state_name());
        let _ = write!(o, "master_replid:{}\r\n", s.replid);
        let _ = write!(o, "master_replid2:{}\r\n", s.replid2);
        let _ = write!(o, "master_repl_offset:{}\r\n", s.master_offset());
        let _ = write!(o, "second_repl_offset:{}\r\n", s.second_off);
        let _ = write!(o, "repl_backlog_active:{}\r\n", s.backlog as u8);
        let _ = write!(o, "repl_backlog_size:{}\r\n", backlog_size());
        let _ = write!(o, "repl_backlog_first_byte_offset:{first}\r\n");
        let _ = write!(o, "repl_backlog_histlen:{histlen}\r\n");
    });
}

/// ROLE on a master: `master`, the offset, and `[ip, port, offset]` of
/// every online replica (port and offset as bulk strings, as Redis).
pub fn role() -> Reply {
    if let Some(r) = replica::role() {
        return r;
    }
    with(|s| {
        let replicas = s
            .replicas
            .iter()
            .filter(|r| r.state == LinkState::Online)
            .map(|r| {
                Reply::Array(vec![
                    Reply::bulk(r.ip.clone()),
                    Reply::bulk(r.port.to_string()),
                    Reply::bulk(r.ack_off.to_string()),
                ])
            })
            .collect();
        Reply::Array(vec![
            Reply::bulk("master"),
            Reply::Int(s.master_offset()),
            Reply::Array(replicas),
        ])
    })
}

/// Online replicas that acknowledged `off`.
pub fn acked(off: i64) -> i64 {
    with(|s| {
        s.replicas
            .iter()
            .filter(|r| r.state == LinkState::Online && r.ack_off >= off)
            .count() as i64
    })
}

/// WAIT numreplicas timeout: the replicas that acknowledged everything
/// written so far, waiting up to `timeout_ms` (0: forever) for `n` of them.
pub async fn wait(n: i64, timeout_ms: i64) -> Reply {
    let target = master_offset();
    let count = acked(target);
    if count >= n {
        return Reply::Int(count);
    }
    // Ask the replicas for their offset now rather than at their next ACK.
    journal::record_raw(&[b"REPLCONF".as_slice(), b"GETACK", b"*"]);
    let deadline = (timeout_ms > 0)
        .then(|| Instant::now() + std::time::Duration::from_millis(timeout_ms as u64));
    loop {
        crate::runtime::sleep(std::time::Duration::from_millis(5)).await;
        let count = acked(target);
        if count >= n || deadline.is_some_and(|d| Instant::now() >= d) {
            return Reply::Int(count);
        }
    }
}

/// REPLCONF on a client connection (before PSYNC; ACK/GETACK never reply).
pub fn replconf(hs: &mut Option<Box<Handshake>>, args: &[Bytes]) -> Option<Reply> {
    if args.len().is_multiple_of(2) {
        return Some(Reply::error("ERR syntax error"));
    }
    let hs = hs.get_or_insert_with(Box::default);
    for pair in args[1..].chunks(2) {
        let opt = pair[0].to_ascii_lowercase();
        let val = &pair[1];
        match opt.as_slice() {
            b"listening-port" => match std::str::from_utf8(val).ok().and_then(|v| v.parse().ok()) {
                Some(p) => hs.listening_port = p,
                None => return Some(Reply::error("ERR value is not an integer or out of range")),
            },
            b"ip-address" => {
                if val.len() >= 256 {
                    return Some(Reply::error(format!(
                        "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                        val.len()
                    )));
                }
                hs.ip_address = Some(String::from_utf8_lossy(val).into_owned());
            }
            b"capa" => {
                if val.eq_ignore_ascii_case(b"eof") {
                    hs.capa_eof = true;
                } else if val.eq_ignore_ascii_case(b"psync2") {
                    hs.capa_psync2 = true;
                }
            }
            // From a connection that is not a replica link: ignored, as Redis.
            b"ack" | b"getack" => return None,
            b"rdb-only" | b"rdb-filter-only" => {}
            _ => {
                return Some(Reply::error(format!(
                    "ERR Unrecognized REPLCONF option: {}",
                    String::from_utf8_lossy(&pair[0])
                )))
            }
        }
    }
    Some(Reply::Ok)
}

/// What PSYNC (or SYNC) asked for.
#[derive(Debug)]
pub struct Request {
    /// The connection that asked, as CLIENT LIST goes on showing it.
    pub client: LinkClient,
    /// None for SYNC (no +FULLRESYNC line, a bare payload).
    pub psync: Option<(String, i64)>,
    pub hs: Handshake,
    pub peer_ip: String,
    /// PSYNC <id> <off> FAILOVER: the master hands its role to this replica.
    pub failover: bool,
}

/// Parses PSYNC's arguments.
pub fn psync_request(args: &[Bytes], hs: Handshake, client: LinkClient) -> Result<Request, Reply> {
    let psync = if args[0].eq_ignore_ascii_case(b"psync") {
        let id = String::from_utf8_lossy(&args[1]).into_owned();
        let off = std::str::from_utf8(&args[2])
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| Reply::error("ERR value is not an integer or out of range"))?;
        Some((id, off))
    } else {
        None
    };
    let peer = client.addr.as_str();
    let peer_ip = peer
        .rsplit_once(':')
        .map_or(peer, |(ip, _)| ip)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let failover = args.len() > 3 && args[3].eq_ignore_ascii_case(b"failover");
    Ok(Request {
        client,
        psync,
        hs,
        peer_ip,
        failover,
    })
}

/// A replication link as CLIENT LIST shows it: Redis lists a replica's
/// link to its master (`flags=M`) and a master's replica links
/// (`flags=S`) among its clients, though here they are no core's clients.
#[derive(Debug, Clone)]
pub struct LinkClient {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created: Instant,
    pub last_io: Instant,
    /// The link to this replica's master (else a replica's link).
    pub master: bool,
    pub db: usize,
    /// The last command received on it.
    pub cmd: String,
}

/// Every replication link, for CLIENT LIST and CLIENT KILL.
pub fn link_clients() -> Vec<LinkClient> {
    let mut all: Vec<LinkClient> = replica::link_client().into_iter().collect();
    with(|s| {
        all.extend(s.replicas.iter().map(|r| LinkClient {
            last_io: r.ack_time,
            fd: r.fd,
            ..r.client.clone()
        }))
    });
    all
}

/// CLIENT KILL of a replication link: the master link reconnects (and
/// continues partially), a replica's link is dropped.
pub fn kill_link_client(id: u64) {
    if replica::link_client().is_some_and(|c| c.id == id) {
        replica::kill_link();
        return;
    }
    let link = with(|s| {
        s.replicas
            .iter()
            .find(|r| r.client.id == id)
            .map(|r| r.link)
    });
    if let Some(link) = link {
        master::drop_link(link, "");
    }
}
