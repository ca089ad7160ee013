//! Replica links on the control executor: partial resync from the backlog,
//! full sync from a fork-less snapshot (diskless `$EOF:<mark>` or through a
//! file, `$<len>`), then the stream and the replica's ACKs.
//!
//! ```text
//!  shard: PSYNC ──socket──► serve ─┬─ +CONTINUE, attach at its offset ──────────┐
//!                                  └─ queue ─► full_sync (after the delay):     │
//!                                     snapshot; at its instant a cursor per     │
//!                                     replica and a mark; +FULLRESYNC <offset   ▼
//!                                     of the mark>; the RDB ──────────────► stream: journal
//!                                                                           from the cursor
//! ```

use std::cell::RefCell;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use super::{backlog_size, name, with, LinkState, Replica, Request};
use crate::config::{self, Opt};
use crate::persistence::rdb::ReplInfo;
use crate::persistence::save::{self, Sink};
use crate::protocol::{Limits, Parsed, RequestParser};
use crate::runtime;
use crate::storage::journal::{self, Item, Mark};

/// Most bytes a link takes from the journal per socket write: what is
/// not taken yet counts against the replica's output limit.
const READ_MAX: usize = 64 << 10;

/// A replica waiting for the next full sync.
struct Waiting {
    link: u64,
    rd: TcpStream,
    wr: TcpStream,
    eof: bool,
    psync: bool,
}

thread_local! {
    /// Replicas waiting for a full sync (control executor).
    static QUEUE: RefCell<Vec<Waiting>> = const { RefCell::new(Vec::new()) };
    /// Whether a full sync task is scheduled or running.
    static SYNCING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Serves a replica that sent PSYNC or SYNC on a shard and whose socket
/// was handed over (`fd`, with `rest` unread). Runs on the control executor.
pub async fn serve(fd: OwnedFd, rest: Bytes, req: Request) {
    let _ = rest;
    if req.failover && super::replica::is_replica() {
        // Its master hands over: this replica becomes the master first,
        // so the old master continues with its old id as our replid2.
        if let Some((id, _)) = &req.psync {
            tracing::info!("Failover request received for replid {id}.");
        }
        super::replica::stop("failover").await;
    }
    let Ok(wfd) = fd.try_clone() else { return };
    let raw = fd.as_raw_fd();
    // SAFETY: both descriptors are owned here and handed to the streams.
    let (rd, mut wr) = unsafe {
        (
            TcpStream::from_raw_fd(fd.into_raw_fd()),
            TcpStream::from_raw_fd(wfd.into_raw_fd()),
        )
    };
    let _ = wr.set_nodelay(true);
    // A replica that stops reading must not hold a snapshot (or its link)
    // forever.
    let _ = wr.set_write_timeout(Some(Duration::from_secs(
        config::num(Opt::ReplTimeout) as u64
    )));
    let ip = req.hs.ip_address.clone().unwrap_or(req.peer_ip.clone());
    let port = req.hs.listening_port;
    let who = name(&ip, port);
    tracing::info!("Replica {who} asks for synchronization");
    let link = with(|s| {
        let link = s.next_link;
        s.next_link += 1;
        s.replicas.push(Replica {
            link,
            client: req.client.clone(),
            ip: ip.clone(),
            port,
            state: LinkState::WaitBgsave,
            ack_off: 0,
            ack_time: Instant::now(),
            cursor: 0,
            fd: raw,
            acked: false,
        });
        link
    });
    if let Some((id, off)) = &req.psync {
        if let Some((cursor, bytes)) = try_partial(&who, id, *off) {
            let line = if req.hs.capa_psync2 {
                format!("+CONTINUE {}\r\n", super::replid())
            } else {
                "+CONTINUE\r\n".to_string()
            };
            with(|s| {
                s.sync_partial_ok += 1;
                if let Some(r) = s.replicas.iter_mut().find(|r| r.link == link) {
                    r.state = LinkState::Online;
                    r.cursor = cursor;
                    r.acked = true;
                    r.ack_off = *off - 1;
                }
            });
            super::refresh_good();
            tracing::info!(
                "Partial resynchronization request from {who} accepted. Sending {bytes} bytes of backlog starting from offset {off}."
            );
            if wr.write_all(line.as_bytes()).await.is_err() {
                drop_link(link, "");
                return;
            }
            run_link(link, rd, wr).await;
            return;
        }
        if id != "?" {
            with(|s| s.sync_partial_err += 1);
        } else {
            tracing::info!("Full resync requested by replica {who}");
        }
    }
    with(|s| {
        s.sync_full += 1;
        if !s.backlog && !s.backlog_pending && !super::replica::is_replica() {
            // The first replica: a new history starts (Redis's
            // changeReplicationId + clearReplicationId2). A replica's
            // history is its master's.
            s.replid = super::random_hex40();
            s.replid2 = "0".repeat(40);
            s.second_off = -1;
            s.backlog_pending = true;
            tracing::info!(
                "Replication backlog created, my new replication IDs are '{}' and '{}'",
                s.replid,
                s.replid2
            );
        }
    });
    QUEUE.with(|q| {
        q.borrow_mut().push(Waiting {
            link,
            rd,
            wr,
            eof: req.hs.capa_eof,
            psync: req.psync.is_some(),
        })
    });
    if !SYNCING.with(|s| s.replace(true)) {
        runtime::spawn(full_sync());
    }
}

/// Partial resync, as Redis's masterTryPartialResynchronization: the id is
/// ours (or our previous one up to where it ended) and the offset is in
/// the backlog. Returns the replica's journal cursor and the bytes it will
/// be sent from the backlog.
fn try_partial(who: &str, id: &str, off: i64) -> Option<(u64, i64)> {
    with(|s| {
        if id != s.replid && (id != s.replid2 || off > s.second_off) {
            if id != "?" {
                if id != s.replid && id != s.replid2 {
                    tracing::info!("Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{id}', my replication IDs are '{}' and '{}')", s.replid, s.replid2);
                } else {
                    tracing::info!("Partial resynchronization not accepted: Requested offset for second ID was {off}, but I can reply up to {}", s.second_off);
                }
            }
            return None;
        }
        let (first, histlen) = s.backlog_extent();
        if !s.backlog || off < first || off > first + histlen {
            tracing::info!("Unable to partial resync with replica {who} for lack of backlog (Replica request was: {off}).");
            return None;
        }
        let pos = (s.base_pos as i64 + (off - 1 - s.base_off)) as u64;
        let cursor = journal::attach_at(pos)?;
        Some((cursor, first + histlen - off))
    })
}

/// One full sync for every replica queued: waits repl-diskless-sync-delay
/// (for more replicas to join), takes the snapshot machinery, and sends the
/// snapshot to all of them.
async fn full_sync() {
    loop {
        let diskless = config::num(Opt::ReplDisklessSync) == 1
            && QUEUE.with(|q| q.borrow().iter().all(|w| w.eof));
        if diskless {
            let delay = Duration::from_secs(config::num(Opt::ReplDisklessSyncDelay) as u64);
            let max = config::num(Opt::ReplDisklessSyncMaxReplicas) as usize;
            let start = Instant::now();
            while start.elapsed() < delay && !(max > 0 && QUEUE.with(|q| q.borrow().len()) >= max) {
                runtime::sleep(Duration::from_millis(100)).await;
            }
        }
        // One snapshot at a time (a save or an AOF rewrite may be running).
        while save::status().in_progress || !save::try_begin_quiet() {
            runtime::sleep(Duration::from_millis(10)).await;
        }
        let batch: Vec<Waiting> = QUEUE.with(|q| std::mem::take(&mut *q.borrow_mut()));
        if batch.is_empty() {
            save::end_quiet();
            SYNCING.with(|s| s.set(false));
            return;
        }
        let target = if diskless { "replicas sockets" } else { "disk" };
        tracing::info!("Starting BGSAVE for SYNC with target: {target}");
        let done = send_snapshot(batch, diskless).await;
        save::end_quiet();
        for (w, ok) in done {
            if ok {
                runtime::spawn(run_link(w.link, w.rd, w.wr));
            } else {
                drop_link(w.link, "");
            }
        }
        if QUEUE.with(|q| q.borrow().is_empty()) {
            SYNCING.with(|s| s.set(false));
            return;
        }
    }
}

/// Where a full sync's stream starts: every replica gets a cursor at the
/// snapshot's instant (the backlog is created there when it is the first).
struct Start {
    token: u64,
    cursors: Arc<Mutex<Vec<u64>>>,
    /// Journal position where the backlog was created, if it was now.
    created: Arc<Mutex<Option<u64>>>,
}

static NEXT_TOKEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Start {
    fn new() -> Start {
        Start {
            token: NEXT_TOKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            cursors: Arc::default(),
            created: Arc::default(),
        }
    }

    /// Runs at the snapshot's instant, with every core held.
    fn at_instant(&self, replicas: usize) -> Box<dyn FnOnce() + Send> {
        let (token, cursors, created) = (self.token, self.cursors.clone(), self.created.clone());
        let create = with(|s| !s.backlog);
        let keep = backlog_size();
        Box::new(move || {
            if create {
                journal::keep_history(keep);
                *created.lock().unwrap() = Some(journal::extent().0);
            }
            let mut c = cursors.lock().unwrap();
            for _ in 0..replicas {
                c.push(journal::attach());
            }
            journal::mark(Mark::Instant(token));
        })
    }

    /// After the instant: the offset replicas continue from, with their
    /// cursors moved there.
    fn resolve(&self, links: &[u64]) -> ReplInfo {
        // Every write before the instant was published and sealed while
        // the cores were held, so the mark is readable at once; the wait is
        // only a guard.
        let mut pos = journal::mark_position(Mark::Instant(self.token));
        for _ in 0..1000 {
            if pos.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            pos = journal::mark_position(Mark::Instant(self.token));
        }
        let pos = pos.unwrap_or_else(|| journal::extent().0);
        let cursors = self.cursors.lock().unwrap().clone();
        for &c in &cursors {
            journal::seek(c, pos);
        }
        with(|s| {
            if let Some(at) = self.created.lock().unwrap().take() {
                s.backlog = true;
                s.backlog_pending = false;
                s.base_pos = at;
            }
            for (link, c) in links.iter().zip(&cursors) {
                if let Some(r) = s.replicas.iter_mut().find(|r| r.link == *link) {
                    r.cursor = *c;
                    r.state = LinkState::SendBulk;
                }
            }
            // Links that went away meanwhile give their cursor back.
            for (link, c) in links.iter().zip(&cursors) {
                if !s.replicas.iter().any(|r| r.link == *link) {
                    journal::detach(*c);
                }
            }
            ReplInfo {
                // A master selects again after the instant; a replica
                // relays its master's stream, in the database it is in.
                stream_db: if super::replica::is_replica() {
                    super::replica::stream_db()
                } else {
                    0
                },
                id: s.replid.clone(),
                offset: s.offset_at(pos),
            }
        })
    }
}

/// Sends one snapshot to `batch`; says which replicas got it whole.
async fn send_snapshot(batch: Vec<Waiting>, diskless: bool) -> Vec<(Waiting, bool)> {
    let start = Start::new();
    let at_instant = start.at_instant(batch.len());
    if diskless {
        let mut sink = Sockets {
            buf: Vec::new(),
            alive: vec![true; batch.len()],
            targets: batch,
            start,
            mark: super::random_hex40(),
        };
        let r = save::snapshot_at(&mut sink, false, at_instant).await;
        if r.is_ok() {
            let mark = sink.mark.clone();
            sink.buf.extend_from_slice(mark.as_bytes());
            let _ = sink.drained().await;
        }
        let ok = r.is_ok();
        let alive = sink.alive.clone();
        let out: Vec<(Waiting, bool)> = sink
            .targets
            .into_iter()
            .zip(alive)
            .map(|(w, a)| (w, a && ok))
            .collect();
        for (w, ok) in &out {
            if *ok {
                tracing::info!(
                    "Streamed RDB transfer with replica {} succeeded (socket). Waiting for REPLCONF ACK from replica to enable streaming",
                    link_name(w.link)
                );
            }
        }
        if let Err(e) = r {
            tracing::warn!("Diskless rdb transfer failed: {e}");
        }
        return out;
    }
    let path = std::path::PathBuf::from(config::text(Opt::Dir))
        .join(format!("temp-repl-{}.rdb", std::process::id()));
    let file = match std::fs::File::create(&path) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!("Can't create the RDB file for the replicas' sync: {e}");
            return batch.into_iter().map(|w| (w, false)).collect();
        }
    };
    let mut sink = FileSink {
        out: std::io::BufWriter::with_capacity(1 << 20, file),
        start,
        links: batch.iter().map(|w| w.link).collect(),
        info: None,
    };
    let r = save::snapshot_at(&mut sink, false, at_instant).await;
    let info = sink.info.take();
    let flushed = sink.out.into_inner().map_err(|e| e.into_error());
    let (Ok(_), Ok(_), Some(info)) = (r, flushed, info) else {
        let _ = std::fs::remove_file(&path);
        tracing::warn!("Background saving for the replicas' sync failed");
        return batch.into_iter().map(|w| (w, false)).collect();
    };
    tracing::info!("Background saving terminated with success");
    let mut out = Vec::new();
    for mut w in batch {
        let ok = send_file(&mut w, &path, &info).await;
        if ok {
            tracing::info!(
                "Synchronization with replica {} succeeded",
                link_name(w.link)
            );
            with(|s| {
                if let Some(r) = s.replicas.iter_mut().find(|r| r.link == w.link) {
                    r.state = LinkState::Online;
                    r.acked = true;
                    r.ack_time = Instant::now();
                }
            });
            super::refresh_good();
        }
        out.push((w, ok));
    }
    let _ = std::fs::remove_file(&path);
    out
}

/// +FULLRESYNC (PSYNC only), `$<len>`, then the file.
async fn send_file(w: &mut Waiting, path: &std::path::Path, info: &ReplInfo) -> bool {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let mut head = String::new();
    if w.psync {
        head.push_str(&format!("+FULLRESYNC {} {}\r\n", info.id, info.offset));
    }
    head.push_str(&format!("${len}\r\n"));
    if w.wr.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => {
                if w.wr.write_all(&buf[..n]).await.is_err() {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
}

fn link_name(link: u64) -> String {
    with(|s| {
        s.replicas
            .iter()
            .find(|r| r.link == link)
            .map_or_else(|| format!("#{link}"), Replica::name)
    })
}

/// A diskless snapshot's sink: every replica's socket, written between
/// the snapshot's rounds (`$EOF:<mark>` framing).
struct Sockets {
    buf: Vec<u8>,
    targets: Vec<Waiting>,
    alive: Vec<bool>,
    start: Start,
    mark: String,
}

impl Write for Sockets {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink for Sockets {
    fn started(&mut self) -> Option<ReplInfo> {
        let links: Vec<u64> = self.targets.iter().map(|w| w.link).collect();
        let info = self.start.resolve(&links);
        // Every target gets the same lines: SYNC targets are not sent here
        // (they never asked for EOF framing).
        self.buf.extend_from_slice(
            format!(
                "+FULLRESYNC {} {}\r\n$EOF:{}\r\n",
                info.id, info.offset, self.mark
            )
            .as_bytes(),
        );
        Some(info)
    }

    async fn drained(&mut self) -> std::io::Result<()> {
        for (w, alive) in self.targets.iter_mut().zip(self.alive.iter_mut()) {
            if *alive && w.wr.write_all(&self.buf).await.is_err() {
                *alive = false;
                tracing::warn!("Connection with replica {} lost.", link_name(w.link));
            }
        }
        self.buf.clear();
        if self.alive.iter().any(|a| *a) {
            Ok(())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "every replica went away",
            ))
        }
    }
}

/// A disk sync's sink: the file, with the replication fields.
struct FileSink {
    out: std::io::BufWriter<std::fs::File>,
    start: Start,
    links: Vec<u64>,
    info: Option<ReplInfo>,
}

impl Write for FileSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.out.write(b)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl Sink for FileSink {
    fn started(&mut self) -> Option<ReplInfo> {
        let info = self.start.resolve(&self.links);
        self.info = Some(info.clone());
        Some(info)
    }
}

/// An online replica: a task reads its ACKs; this one writes the stream
/// from its cursor (after its first ACK, as Redis 7.0 does after a
/// diskless transfer).
async fn run_link(link: u64, rd: TcpStream, mut wr: TcpStream) {
    runtime::spawn(read_acks(link, rd));
    let mut soft_since = None;
    loop {
        let Some((cursor, acked)) = with(|s| {
            s.replicas
                .iter()
                .find(|r| r.link == link)
                .map(|r| (r.cursor, r.acked))
        }) else {
            return;
        };
        if !acked {
            runtime::sleep(Duration::from_millis(5)).await;
            continue;
        }
        if over_limit(cursor, &mut soft_since) {
            drop_link(link, "");
            return;
        }
        let mut items = Vec::new();
        journal::read(cursor, READ_MAX, &mut items);
        let mut wrote = false;
        for it in items {
            if let Item::Bytes(b) = it {
                if wr.write_all(&b).await.is_err() {
                    drop_link(link, "Connection with replica {} lost.");
                    return;
                }
                wrote = true;
            }
        }
        if !wrote {
            // New bytes, or a check that the link still exists.
            futures_lite::future::or(journal::readable(cursor), async {
                runtime::sleep(Duration::from_millis(100)).await
            })
            .await;
        }
    }
}

/// client-output-buffer-limit for replicas, applied to what the link has
/// not sent yet (the journal holds it for the link, as Redis's backlog
/// blocks do): over the hard limit, or over the soft one for its seconds.
fn over_limit(cursor: u64, soft_since: &mut Option<Instant>) -> bool {
    let (hard, soft, secs) = config::output_limit(config::OutputClass::Replica);
    let unread = journal::unread(cursor);
    let soft_over = soft > 0 && unread > soft;
    if !soft_over {
        *soft_since = None;
    }
    let since = soft_over.then(|| *soft_since.get_or_insert_with(Instant::now));
    let over = (hard > 0 && unread > hard)
        || since.is_some_and(|t| t.elapsed() >= Duration::from_secs(secs));
    if over {
        tracing::warn!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            link_name_by_cursor(cursor)
        );
    }
    over
}

fn link_name_by_cursor(cursor: u64) -> String {
    with(|s| {
        s.replicas
            .iter()
            .find(|r| r.cursor == cursor)
            .map_or_else(String::new, |r| {
                format!("id=0 addr={}:{} flags=S", r.ip, r.port)
            })
    })
}

/// Reads a replica's REPLCONF ACKs (and ignores its newlines).
async fn read_acks(link: u64, mut rd: TcpStream) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut parser = RequestParser::default();
    let limits = Limits {
        max_bulk: 1 << 20,
        authenticated: true,
    };
    let mut chunk = vec![0u8; 4096];
    loop {
        let n = match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match parser.parse(&buf, limits) {
                Ok(None) => break,
                Ok(Some(Parsed::Args(used))) => {
                    let frame = buf.split_to(used).freeze();
                    let args: Vec<Bytes> = parser
                        .args()
                        .iter()
                        .map(|r| frame.slice(r.clone()))
                        .collect();
                    ack(link, &args);
                }
                Ok(Some(Parsed::Inline(args, used))) => {
                    let _ = buf.split_to(used);
                    let args: Vec<Bytes> = args.into_iter().map(Bytes::from).collect();
                    ack(link, &args);
                }
                Ok(Some(Parsed::Empty(used))) => {
                    let _ = buf.split_to(used);
                }
                Err(_) => {
                    drop_link(link, "Protocol error from replica {}.");
                    return;
                }
            }
        }
    }
    drop_link(link, "Connection with replica {} lost.");
}

/// `REPLCONF ACK <offset>` from replica `link`.
fn ack(link: u64, args: &[Bytes]) {
    if args.len() < 3
        || !args[0].eq_ignore_ascii_case(b"replconf")
        || !args[1].eq_ignore_ascii_case(b"ack")
    {
        return;
    }
    let Some(off) = std::str::from_utf8(&args[2])
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return;
    };
    let first = with(|s| {
        let r = s.replicas.iter_mut().find(|r| r.link == link)?;
        r.ack_off = r.ack_off.max(off);
        r.ack_time = Instant::now();
        if r.client.cmd != "replconf" {
            r.client.cmd = "replconf".into();
        }
        let first = r.state == LinkState::SendBulk;
        if first {
            r.state = LinkState::Online;
            r.acked = true;
        }
        Some(first.then(|| r.name()))
    });
    if let Some(Some(who)) = first {
        tracing::info!("Synchronization with replica {who} succeeded");
        super::refresh_good();
    }
}

/// Ends a link: its cursor is given back and its socket shut down (the
/// other half of the link then ends too). `why` is logged with its name.
pub fn drop_link(link: u64, why: &str) {
    let gone = with(|s| {
        let i = s.replicas.iter().position(|r| r.link == link)?;
        let r = s.replicas.remove(i);
        if s.replicas.is_empty() {
            s.alone_since = Instant::now();
        }
        Some(r)
    });
    if let Some(r) = gone {
        if r.cursor != 0 {
            journal::detach(r.cursor);
        }
        // SAFETY: shutdown on a descriptor the link's streams own; they
        // are closed by their own drop.
        unsafe { libc::shutdown(r.fd, libc::SHUT_RDWR) };
        if !why.is_empty() {
            tracing::info!("{}", why.replace("{}", &r.name()));
        }
        super::refresh_good();
    }
}

/// Ends every replica link: this server is becoming a replica itself.
pub fn drop_all_links() {
    let links: Vec<u64> = with(|s| s.replicas.iter().map(|r| r.link).collect());
    for link in links {
        drop_link(link, "");
    }
}

/// A promoted replica's history goes on at once: the backlog starts at
/// its offset (taken with every core held, as at a snapshot's instant), so
/// the old master's other replicas can continue from it with replid2.
pub async fn start_history() {
    let created = Arc::new(Mutex::new(None));
    let keep = backlog_size();
    let last = runtime::shards() - 1;
    let parts = (0..=last)
        .map(|core| {
            let created = created.clone();
            let job: runtime::Job = Box::new(move || {
                // The highest core's part runs with every gate held.
                if core == last {
                    journal::keep_history(keep);
                    *created.lock().unwrap() = Some(journal::extent().0);
                }
                crate::protocol::Reply::Ok
            });
            (core, job)
        })
        .collect();
    runtime::gate::write_atomically(parts).await;
    let at = created.lock().unwrap().take();
    with(|s| {
        if let Some(at) = at {
            s.backlog = true;
            s.backlog_pending = false;
            s.base_pos = at;
            s.alone_since = Instant::now();
        }
    });
}

/// The master's timer (control executor, once a second): PING in the
/// stream every repl-ping-replica-period, replicas silent for repl-timeout
/// dropped, the backlog freed after repl-backlog-ttl with no replica.
pub async fn cron() {
    let mut ticks: i64 = 0;
    loop {
        super::refresh_good();
        runtime::sleep(Duration::from_secs(1)).await;
        ticks += 1;
        let period = config::num(Opt::ReplPingReplicaPeriod).max(1);
        let any = with(|s| !s.replicas.is_empty());
        // No PING while a failover holds the offset still.
        if any && ticks % period == 0 && !super::failover::writes_paused() {
            journal::record_raw(&[b"PING".as_slice()]);
        }
        let timeout = Duration::from_secs(config::num(Opt::ReplTimeout) as u64);
        let stale: Vec<(u64, String)> = with(|s| {
            s.replicas
                .iter()
                .filter(|r| r.state == LinkState::Online && r.ack_time.elapsed() > timeout)
                .map(|r| (r.link, r.name()))
                .collect()
        });
        for (link, who) in stale {
            tracing::warn!("Disconnecting timedout replica (streaming sync): {who}");
            drop_link(link, "");
        }
        let ttl = config::num(Opt::ReplBacklogTtl) as u64;
        with(|s| {
            if s.backlog
                && !super::replica::is_replica()
                && ttl > 0
                && s.replicas.is_empty()
                && s.alone_since.elapsed() >= Duration::from_secs(ttl)
            {
                // A new history starts with the next replica.
                s.base_off = s.master_offset();
                s.backlog = false;
                s.replid = super::random_hex40();
                s.replid2 = "0".repeat(40);
                s.second_off = -1;
                journal::keep_history(0);
                tracing::info!(
                    "Replication backlog freed after {ttl} seconds without connected replicas."
                );
            }
        });
    }
}
