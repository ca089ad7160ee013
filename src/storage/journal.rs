//! The write journal: every change to the dataset, as the Redis command that
//! reproduces it, in one stream with one byte offset (the AOF and, later,
//! replicas and the replication backlog read it).
//!
//! Each core appends its writes to a local buffer, with no lock, and moves
//! the buffer into the shared stream at *publish points*: before a
//! connection writes its replies, after a mesh request's jobs ran, after an
//! expiry chunk, and when a transaction takes the core's gate. A write is
//! therefore in the stream before its client sees the reply, which makes the
//! stream prefix-consistent: a write acknowledged before another was
//! received comes first. One core's entries keep their order; entries of
//! different cores touch different keys, so their relative order matters
//! only for work that spans cores.
//!
//! Work that spans cores runs in a transaction (`runtime::gate`): what it
//! writes, on any core, goes into its *block*, which becomes one MULTI/EXEC.
//! The block is placed in the stream once the transaction holds every gate
//! it needs (`open_block`): writes to the same keys before it were
//! published when it took their core's gate, and writes after it come
//! after that place, since they wait for the gates. Work that runs on a
//! core as soon as its gate is taken fills the block before it is placed.
//! The block is sealed when all the work has run (`close_block`); the
//! stream is read up to the first block that is still open.
//!
//! Entries are the deterministic form of the command (EXPIRE becomes
//! PEXPIREAT, SPOP becomes SREM ...; `commands::propagate`), and clients
//! served by a push (BLPOP ...) add their pop right after the push
//! ([`record_effect`]). SELECT is added where the database changes.
//!
//! Journaling costs one atomic load per write while nothing reads the
//! stream ([`enabled`]).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

static ENABLED: AtomicBool = AtomicBool::new(false);
/// Bumped each time journaling starts; a buffer from before is dropped.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Whether writes are journaled (something consumes the stream).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Turns journaling on or off. Call it only while every core's gate is held
/// (or before the cores serve), so no transaction straddles the switch.
pub fn set_enabled(on: bool) {
    if on {
        // Entries some core kept from an earlier enabled period are stale.
        EPOCH.fetch_add(1, Ordering::SeqCst);
    }
    ENABLED.store(on, Ordering::SeqCst);
    if !on {
        let mut s = STREAM.lock().unwrap();
        s.segments.clear();
        s.unplaced.clear();
        s.db = None;
    }
}

/// Entries in RESP, with where their database changes.
#[derive(Default)]
struct Buf {
    bytes: Vec<u8>,
    /// The database of the first entry (the stream adds a SELECT before
    /// the buffer if it is elsewhere) and of the last one.
    first_db: Option<usize>,
    last_db: Option<usize>,
    count: usize,
    /// The journaling period its first entry was written in.
    epoch: u64,
}

impl Buf {
    fn push<A: AsRef<[u8]>>(&mut self, db: usize, args: &[A]) {
        match self.last_db {
            None => {
                self.first_db = Some(db);
                self.epoch = EPOCH.load(Ordering::Relaxed);
            }
            Some(d) if d != db => encode(
                &mut self.bytes,
                &[b"SELECT".as_slice(), db_name(db).as_bytes()],
            ),
            _ => {}
        }
        self.last_db = Some(db);
        encode(&mut self.bytes, args);
        self.count += 1;
    }

    fn append(&mut self, other: Buf) {
        let Some(db) = other.first_db else { return };
        if self.last_db.is_none() {
            *self = other;
            return;
        }
        if self.last_db != Some(db) {
            encode(
                &mut self.bytes,
                &[b"SELECT".as_slice(), db_name(db).as_bytes()],
            );
        }
        self.bytes.extend_from_slice(&other.bytes);
        self.last_db = other.last_db;
        self.count += other.count;
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }
}

fn db_name(db: usize) -> String {
    db.to_string()
}

/// Appends one command as a RESP array of bulk strings.
pub fn encode<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    let mut n = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(n.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(n.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// A transaction's part of the stream: written by any core, read once sealed.
struct Block {
    txn: u64,
    buf: Buf,
    /// Effects (served pops) waiting for the command that caused them.
    deferred: Buf,
    sealed: bool,
}

impl Block {
    fn new(txn: u64) -> Block {
        Block {
            txn,
            buf: Buf::default(),
            deferred: Buf::default(),
            sealed: false,
        }
    }
}

enum Part {
    Data(Buf),
    Block(Block),
    /// A consumer-defined point (the AOF switches files here).
    Mark(u64),
}

/// A part of the stream and the first publication that went into it.
struct Segment {
    part: Part,
    seq: u64,
}

impl Segment {
    /// Readable: anything but a block still open.
    fn readable(&self) -> bool {
        !matches!(&self.part, Part::Block(b) if !b.sealed)
    }
}

struct Stream {
    segments: VecDeque<Segment>,
    /// The database the stream's reader is in (None: SELECT first).
    db: Option<usize>,
    /// Bytes read from the stream so far: the replication offset.
    offset: u64,
    /// Publications so far; each publish gets the next number.
    seq: u64,
    /// The reader waits for data on `READY`.
    reader_waiting: bool,
    /// Blocks of transactions that wrote before holding every gate (they
    /// get their place in the stream from `open_block`).
    unplaced: Vec<Block>,
}

static STREAM: Mutex<Stream> = Mutex::new(Stream {
    segments: VecDeque::new(),
    db: None,
    offset: 0,
    seq: 0,
    reader_waiting: false,
    unplaced: Vec::new(),
});
static READY: Condvar = Condvar::new();
/// The last publication's number (a writer's reply waits for the durable
/// point to reach it under `appendfsync always`).
static PUBLISHED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This core's entries not yet in the stream.
    static LOCAL: RefCell<Buf> = RefCell::new(Buf::default());
    /// The transaction whose block this thread's writes go to (0: none).
    static CURRENT: Cell<u64> = const { Cell::new(0) };
    /// Publications of this core's buffer (an atomic run's mark is stale
    /// once it changes).
    static GENERATION: Cell<u64> = const { Cell::new(0) };
    /// Effects recorded while a command runs, written after it.
    static DEFERRED: RefCell<Option<Buf>> = const { RefCell::new(None) };
}

/// The transaction the running work belongs to (0: none); `runtime::gate`
/// sets it while a transaction's work runs.
#[inline]
pub fn current() -> u64 {
    CURRENT.with(Cell::get)
}

/// Makes `txn` the current transaction; returns the previous one.
#[inline]
fn set_current(txn: u64) -> u64 {
    CURRENT.with(|c| c.replace(txn))
}

/// Runs `f` as work of `txn`.
pub fn within<R>(txn: u64, f: impl FnOnce() -> R) -> R {
    let outer = set_current(txn);
    let r = f();
    set_current(outer);
    r
}

/// This core's buffer; entries left from an earlier journaling period
/// (journaling was switched off before they were published) are dropped.
fn with_local<R>(f: impl FnOnce(&mut Buf) -> R) -> R {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if !l.is_empty() && l.epoch != EPOCH.load(Ordering::Relaxed) {
            *l = Buf::default();
        }
        f(&mut l)
    })
}

/// Records that `args` ran in database `db` (a change the command made).
#[inline]
pub fn record<A: AsRef<[u8]>>(db: usize, args: &[A]) {
    if !enabled() {
        return;
    }
    let txn = current();
    if txn != 0 && with_block(txn, |b| b.buf.push(db, args)) {
        return;
    }
    with_local(|l| l.push(db, args));
}

/// Records a change made on behalf of another client while a command runs
/// (the pop that serves a blocked client after a push): it is written after
/// that command's own entry.
pub fn record_effect<A: AsRef<[u8]>>(db: usize, args: &[A]) {
    if !enabled() {
        return;
    }
    let deferred = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
        Some(buf) => {
            buf.push(db, args);
            true
        }
        None => false,
    });
    if deferred {
        return;
    }
    let txn = current();
    if txn != 0 && with_block(txn, |b| b.deferred.push(db, args)) {
        return;
    }
    record(db, args);
}

/// Runs a command's code; effects it records wait for [`command_done`].
#[inline]
pub fn command_start() {
    if enabled() {
        DEFERRED.with(|d| *d.borrow_mut() = Some(Buf::default()));
    }
}

/// After a command's own entry: writes the effects it caused.
#[inline]
pub fn command_done() {
    if !enabled() {
        return;
    }
    let Some(buf) = DEFERRED.with(|d| d.borrow_mut().take()) else {
        return;
    };
    if buf.is_empty() {
        return;
    }
    let txn = current();
    if txn != 0 {
        let mut buf = Some(buf);
        if with_block(txn, |b| b.buf.append(buf.take().unwrap())) {
            return;
        }
        with_local(|l| l.append(buf.take().unwrap()));
        return;
    }
    with_local(|l| l.append(buf));
    // The served client's reply is on its way: its pop goes out now.
    publish();
}

/// Records a coordinated command's entry into transaction `txn`'s block,
/// followed by the effects it caused meanwhile.
pub fn record_coordinated<A: AsRef<[u8]>>(txn: u64, db: usize, args: &[A]) {
    if !enabled() {
        return;
    }
    let done = with_block(txn, |b| {
        b.buf.push(db, args);
        let effects = std::mem::take(&mut b.deferred);
        b.buf.append(effects);
    });
    if !done {
        record(db, args);
    }
}

/// Where a run of writes that must stay together began in this core's
/// buffer ([`begin_atomic`]).
pub struct AtomicMark {
    generation: u64,
    len: usize,
    count: usize,
}

/// Starts a run of writes on this core with nothing in between (a script
/// or a transaction that stays on one core); [`end_atomic`] wraps them in
/// MULTI/EXEC when there are several.
pub fn begin_atomic() -> Option<AtomicMark> {
    if !enabled() || current() != 0 {
        return None;
    }
    with_local(|l| {
        Some(AtomicMark {
            generation: GENERATION.with(Cell::get),
            len: l.bytes.len(),
            count: l.count,
        })
    })
}

pub fn end_atomic(mark: Option<AtomicMark>) {
    let Some(m) = mark else { return };
    // Published meanwhile (it waited for another core): leave it as it is.
    if GENERATION.with(Cell::get) != m.generation {
        return;
    }
    with_local(|l| {
        if l.count >= m.count + 2 && m.len <= l.bytes.len() {
            let mut multi = Vec::new();
            encode(&mut multi, &[b"MULTI"]);
            l.bytes.splice(m.len..m.len, multi);
            encode(&mut l.bytes, &[b"EXEC"]);
        }
    });
}

/// A paused run's share of this core's journal state: its transaction
/// and the unpublished buffer (a script that yields to the executor).
pub struct Aside {
    current: u64,
    local: Buf,
}

/// Takes the running work's journal state out of this thread, so the
/// tasks that run while it is paused neither write into its transaction
/// nor publish half of an atomic run.
pub fn set_aside() -> Aside {
    Aside {
        current: set_current(0),
        local: LOCAL.with(|l| std::mem::take(&mut *l.borrow_mut())),
    }
}

/// Puts back what [`set_aside`] took, when the paused work resumes.
pub fn put_back(a: Aside) {
    set_current(a.current);
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        // Nothing else writes while the work holds the core's gate; if
        // something did, it goes after the paused run's entries.
        let later = std::mem::replace(&mut *l, a.local);
        l.append(later);
    });
}

/// [`begin_atomic`] and [`end_atomic`] around synchronous work.
pub fn atomic_local<R>(f: impl FnOnce() -> R) -> R {
    let mark = begin_atomic();
    let r = f();
    end_atomic(mark);
    r
}

/// Runs `f` on the open block of `txn`; false if there is none.
fn with_block(txn: u64, f: impl FnOnce(&mut Block)) -> bool {
    if !enabled() {
        return false;
    }
    let mut s = STREAM.lock().unwrap();
    let s = &mut *s;
    let block = match open_in(&mut s.segments, txn) {
        Some(b) => b,
        None => match s.unplaced.iter().position(|b| b.txn == txn) {
            Some(i) => &mut s.unplaced[i],
            None => {
                s.unplaced.push(Block::new(txn));
                s.unplaced.last_mut().unwrap()
            }
        },
    };
    f(block);
    true
}

/// The placed block of `txn` that is still open.
fn open_in(segments: &mut VecDeque<Segment>, txn: u64) -> Option<&mut Block> {
    segments
        .iter_mut()
        .rev()
        .find_map(|seg| match &mut seg.part {
            Part::Block(b) if b.txn == txn && !b.sealed => Some(b),
            _ => None,
        })
}

/// Moves this core's entries into the stream. Cheap when there are none.
#[inline]
pub fn publish() {
    if !enabled() {
        return;
    }
    let buf = with_local(|l| (!l.is_empty()).then(|| std::mem::take(l)));
    if let Some(buf) = buf {
        GENERATION.with(|g| g.set(g.get() + 1));
        push(Part::Data(buf));
    }
}

fn push(part: Part) {
    let mut s = STREAM.lock().unwrap();
    let seq = s.seq + 1;
    match (s.segments.back_mut().map(|g| &mut g.part), part) {
        (Some(Part::Data(tail)), Part::Data(buf)) => tail.append(buf),
        (_, part) => s.segments.push_back(Segment { part, seq }),
    }
    published_locked(&mut s);
}

/// Counts a publication and wakes the reader.
fn published_locked(s: &mut Stream) {
    s.seq += 1;
    PUBLISHED.store(s.seq, Ordering::Release);
    if s.reader_waiting {
        s.reader_waiting = false;
        READY.notify_one();
    }
}

/// Places `txn`'s block in the stream: with what it wrote so far (work that
/// ran on a core as soon as its gate was taken), and open for the rest.
/// The caller holds the gate of every core the transaction touches, so
/// their earlier writes are published before it.
pub fn open_block(txn: u64) {
    if !enabled() {
        return;
    }
    let block = {
        let mut s = STREAM.lock().unwrap();
        match s.unplaced.iter().position(|b| b.txn == txn) {
            Some(i) => s.unplaced.swap_remove(i),
            None => Block::new(txn),
        }
    };
    push(Part::Block(block));
}

/// Seals `txn`'s block once all its work has run (a block never placed is
/// placed now).
pub fn close_block(txn: u64) {
    let unplaced = {
        let mut s = STREAM.lock().unwrap();
        s.unplaced
            .iter()
            .position(|b| b.txn == txn)
            .map(|i| s.unplaced.swap_remove(i))
    };
    if let Some(b) = unplaced {
        push(Part::Block(b));
    }
    seal(txn);
}

/// Seals the placed, open block of `txn` (if any) and wakes the reader.
fn seal(txn: u64) {
    let mut s = STREAM.lock().unwrap();
    if let Some(b) = open_in(&mut s.segments, txn) {
        let effects = std::mem::take(&mut b.deferred);
        b.buf.append(effects);
        b.sealed = true;
    }
    published_locked(&mut s);
}

/// Puts a mark in the stream (all cores' earlier writes must be published:
/// call it while every gate is held). The reader sees it as [`Item::Mark`].
pub fn mark(id: u64) {
    if enabled() {
        push(Part::Mark(id));
    }
}

/// What the reader gets from the stream.
pub enum Item {
    /// Stream bytes, SELECTs included.
    Bytes(Vec<u8>),
    Mark(u64),
}

/// Takes everything readable (up to the first open block) into `out`;
/// returns the stream offset after it and the publication number it covers.
pub fn drain(out: &mut Vec<Item>) -> (u64, u64) {
    let mut s = STREAM.lock().unwrap();
    let mut bytes = Vec::new();
    while s.segments.front().is_some_and(Segment::readable) {
        match s.segments.pop_front().unwrap().part {
            Part::Data(buf) => add(&mut s, &mut bytes, buf, false),
            Part::Block(b) => {
                let wrap = b.buf.count > 1;
                add(&mut s, &mut bytes, b.buf, wrap)
            }
            Part::Mark(id) => {
                if !bytes.is_empty() {
                    out.push(Item::Bytes(std::mem::take(&mut bytes)));
                }
                // A new reader (file) starts without a database.
                s.db = None;
                out.push(Item::Mark(id));
            }
        }
    }
    if !bytes.is_empty() {
        out.push(Item::Bytes(bytes));
    }
    // Publications from the first unread segment on are not covered.
    let covered = s.segments.front().map_or(s.seq, |g| g.seq - 1);
    (s.offset, covered)
}

fn add(s: &mut Stream, out: &mut Vec<u8>, buf: Buf, wrap: bool) {
    let Some(first) = buf.first_db else { return };
    let start = out.len();
    if s.db != Some(first) {
        encode(out, &[b"SELECT".as_slice(), db_name(first).as_bytes()]);
    }
    if wrap {
        encode(out, &[b"MULTI"]);
    }
    out.extend_from_slice(&buf.bytes);
    if wrap {
        encode(out, &[b"EXEC"]);
    }
    s.db = buf.last_db;
    s.offset += (out.len() - start) as u64;
}

/// Blocks the reader thread until something was published or `timeout`.
pub fn wait(timeout: Duration) {
    let mut s = STREAM.lock().unwrap();
    if s.segments.front().is_some_and(Segment::readable) {
        return;
    }
    s.reader_waiting = true;
    let _ = READY.wait_timeout(s, timeout).unwrap();
}

/// The last publication's number.
#[inline]
pub fn last_published() -> u64 {
    PUBLISHED.load(Ordering::Acquire)
}

// ---- durability: replies that wait for the fsync covering their writes ----

static DURABLE: AtomicU64 = AtomicU64::new(0);
static WAIT_DURABLE: AtomicBool = AtomicBool::new(false);
static WAITERS: Mutex<Vec<(u64, Waker)>> = Mutex::new(Vec::new());

/// Whether replies to writes wait until their entries are durable
/// (`appendfsync always`).
#[inline]
pub fn replies_wait() -> bool {
    WAIT_DURABLE.load(Ordering::Relaxed) && enabled()
}

pub fn set_replies_wait(on: bool) {
    WAIT_DURABLE.store(on, Ordering::SeqCst);
    if !on {
        // Release the waiting replies, but leave DURABLE as it is: raising
        // it to the top would count every later write as synced once waits
        // are turned back on (CONFIG SET appendfsync always).
        let ready: Vec<Waker> = WAITERS.lock().unwrap().drain(..).map(|(_, w)| w).collect();
        ready.into_iter().for_each(Waker::wake);
    }
}

/// The reader made every publication up to `seq` durable.
pub fn set_durable(seq: u64) {
    DURABLE.fetch_max(seq, Ordering::AcqRel);
    let seq = DURABLE.load(Ordering::Acquire);
    let ready: Vec<Waker> = {
        let mut w = WAITERS.lock().unwrap();
        let (ready, wait): (Vec<_>, Vec<_>) = w.drain(..).partition(|(s, _)| *s <= seq);
        *w = wait;
        ready.into_iter().map(|(_, w)| w).collect()
    };
    ready.into_iter().for_each(Waker::wake);
}

/// Waits until publication `seq` is durable.
pub async fn durable(seq: u64) {
    std::future::poll_fn(|cx: &mut Context<'_>| {
        if DURABLE.load(Ordering::Acquire) >= seq || !replies_wait() {
            return Poll::Ready(());
        }
        WAITERS.lock().unwrap().push((seq, cx.waker().clone()));
        // The reader may have advanced between the check and the push.
        if DURABLE.load(Ordering::Acquire) >= seq || !replies_wait() {
            return Poll::Ready(());
        }
        Poll::Pending
    })
    .await
}
