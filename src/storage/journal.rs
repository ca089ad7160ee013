//! The write journal: every change to the dataset, as the Redis command that
//! reproduces it, in one stream with one byte position that several
//! consumers read at their own pace through cursors (the AOF writer, each
//! replica link); the ring keeps what a cursor has not read plus the
//! replication backlog's history.
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
//! Journaling costs one atomic load per write while nothing consumes the
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

/// A replica's stream is its master's: the bytes it applied are relayed
/// ([`relay`]) and the commands that applied them record nothing.
static RELAYING: AtomicBool = AtomicBool::new(false);

/// Whether commands' changes are recorded (journaling, not relaying).
#[inline]
fn recording() -> bool {
    enabled() && !RELAYING.load(Ordering::Relaxed)
}

/// Switches relaying on (this server became a replica) or off.
pub fn set_relaying(on: bool) {
    RELAYING.store(on, Ordering::SeqCst);
    // The relayed bytes changed databases without the stream knowing:
    // its next own entry selects again.
    STREAM.lock().unwrap().db = None;
}

/// The database a replica's relayed stream is in after the bytes relayed
/// so far: the master's stream selects only where it changes database,
/// so an AOF file that starts in the middle of it selects it first.
static RELAY_DB: AtomicU64 = AtomicU64::new(0);

pub fn set_relay_db(db: u64) {
    RELAY_DB.store(db, Ordering::SeqCst);
}

/// The relayed stream's database, while relaying.
pub fn relay_db() -> Option<u64> {
    RELAYING
        .load(Ordering::SeqCst)
        .then(|| RELAY_DB.load(Ordering::SeqCst))
}

/// Puts bytes of a master's stream, as they were applied, in the stream
/// (a replica's backlog and its own replicas read them).
pub fn relay(bytes: &[u8]) {
    if enabled() && !bytes.is_empty() {
        push(Part::Raw(bytes.to_vec()));
    }
}

/// Turns journaling on or off; [`attach`] and [`detach`] do it as
/// consumers come and go. Call it only while every core's gate is held (or
/// before the cores serve), so no transaction straddles the switch.
fn set_enabled(s: &mut Stream, on: bool) {
    if on {
        // Entries some core kept from an earlier enabled period are stale.
        EPOCH.fetch_add(1, Ordering::SeqCst);
    }
    ENABLED.store(on, Ordering::SeqCst);
    if !on {
        s.segments.clear();
        s.unplaced.clear();
        s.db = None;
        s.ring = VecDeque::new();
        s.marks.clear();
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
    /// Commands that belong to no database (the master's PING, REPLCONF
    /// GETACK): written as they are, with no SELECT.
    Raw(Vec<u8>),
    /// A point consumers find at its stream position: the AOF switches
    /// files at `Mark::Aof`; `Mark::Instant` is a snapshot's instant.
    Mark(Mark),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Aof(u64),
    Instant(u64),
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
    /// The database the stream is in (None: SELECT first).
    db: Option<usize>,
    /// Bytes of the stream so far (moved from the segments into `ring`):
    /// the position consumers read at.
    pos: u64,
    /// The stream's last bytes, `pos - ring.len() .. pos`: what some
    /// consumer has not read yet, and `keep` bytes of history.
    ring: VecDeque<u8>,
    /// History kept for late readers (the replication backlog's size; 0
    /// without a backlog).
    keep: u64,
    /// Consumers and how far each has read.
    cursors: Vec<Cursor>,
    next_cursor: u64,
    /// Marks moved out of the segments, with their position and number.
    marks: VecDeque<(u64, u64, Mark)>,
    /// Marks moved out so far.
    mark_count: u64,
    /// Publications so far; each publish gets the next number.
    seq: u64,
    /// Publications moved into `ring` (the segments before the first open
    /// block).
    covered: u64,
    /// A reader thread waits for data on `READY`.
    reader_waiting: bool,
    /// Async readers waiting for data.
    wakers: Vec<Waker>,
    /// Blocks of transactions that wrote before holding every gate (they
    /// get their place in the stream from `open_block`).
    unplaced: Vec<Block>,
}

/// A consumer: its id, the position it has read up to, and the number of
/// the next mark it has to be given.
#[derive(Clone, Copy)]
struct Cursor {
    id: u64,
    pos: u64,
    next_mark: u64,
}

static STREAM: Mutex<Stream> = Mutex::new(Stream {
    segments: VecDeque::new(),
    db: None,
    pos: 0,
    ring: VecDeque::new(),
    keep: 0,
    cursors: Vec::new(),
    next_cursor: 1,
    marks: VecDeque::new(),
    mark_count: 0,
    seq: 0,
    covered: 0,
    reader_waiting: false,
    wakers: Vec::new(),
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
    if !recording() {
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
    if !recording() {
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
    if recording() {
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
    if !recording() {
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

/// Counts a publication and wakes the readers.
fn published_locked(s: &mut Stream) {
    s.seq += 1;
    PUBLISHED.store(s.seq, Ordering::Release);
    if s.reader_waiting {
        s.reader_waiting = false;
        READY.notify_all();
    }
    s.wakers.drain(..).for_each(Waker::wake);
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
/// call it while every gate is held). A reader finds it at its position;
/// the database is selected again after it, so what follows stands alone.
pub fn mark(m: Mark) {
    if enabled() {
        push(Part::Mark(m));
    }
}

/// Puts a command that belongs to no database in the stream (the
/// replication PING and GETACK), if something reads it.
pub fn record_raw<A: AsRef<[u8]>>(args: &[A]) {
    if recording() {
        let mut bytes = Vec::new();
        encode(&mut bytes, args);
        push(Part::Raw(bytes));
    }
}

/// What a consumer reads.
pub enum Item {
    /// Stream bytes, SELECTs included.
    Bytes(Vec<u8>),
    Mark(u64),
}

/// Moves the readable segments (up to the first open block) into the ring.
fn pump(s: &mut Stream) {
    while s.segments.front().is_some_and(Segment::readable) {
        match s.segments.pop_front().unwrap().part {
            Part::Data(buf) => add(s, buf, false),
            Part::Block(b) => {
                let wrap = b.buf.count > 1;
                add(s, b.buf, wrap)
            }
            Part::Raw(bytes) => {
                s.ring.extend(&bytes);
                s.pos += bytes.len() as u64;
            }
            Part::Mark(m) => {
                s.db = None;
                let (pos, no) = (s.pos, s.mark_count);
                s.marks.push_back((pos, no, m));
                s.mark_count += 1;
            }
        }
    }
    // Publications from the first unread segment on are not covered.
    s.covered = s.segments.front().map_or(s.seq, |g| g.seq - 1);
    trim(s);
}

fn add(s: &mut Stream, buf: Buf, wrap: bool) {
    let Some(first) = buf.first_db else { return };
    let mut out = Vec::with_capacity(buf.bytes.len() + 32);
    if s.db != Some(first) {
        encode(&mut out, &[b"SELECT".as_slice(), db_name(first).as_bytes()]);
    }
    if wrap {
        encode(&mut out, &[b"MULTI"]);
    }
    let head = out.len();
    s.ring.extend(&out);
    s.ring.extend(&buf.bytes);
    out.clear();
    if wrap {
        encode(&mut out, &[b"EXEC"]);
        s.ring.extend(&out);
    }
    s.db = buf.last_db;
    s.pos += (head + buf.bytes.len() + out.len()) as u64;
}

/// Drops what no consumer needs: bytes every cursor read, beyond `keep`.
fn trim(s: &mut Stream) {
    let start = s.pos - s.ring.len() as u64;
    let need = s
        .cursors
        .iter()
        .map(|c| c.pos)
        .min()
        .unwrap_or(s.pos)
        .min(s.pos.saturating_sub(s.keep));
    if need > start {
        s.ring.drain(..(need - start) as usize);
        // Give back what a burst (a slow reader) left allocated.
        let want = (s.ring.len() as u64).max(s.keep) as usize;
        if s.ring.capacity() > 2 * want + (1 << 20) {
            s.ring.shrink_to(want + want / 4);
        }
    }
    let start = s.pos - s.ring.len() as u64;
    let delivered = s
        .cursors
        .iter()
        .map(|c| c.next_mark)
        .min()
        .unwrap_or(u64::MAX);
    while s
        .marks
        .front()
        .is_some_and(|m| m.0 < start || (m.0 == start && m.1 < delivered))
    {
        s.marks.pop_front();
    }
}

/// Adds a consumer that reads from the stream's current end (writes
/// published but not yet placed are read by it too). The first consumer
/// turns journaling on: call it while every gate is held, or before the
/// cores serve.
pub fn attach() -> u64 {
    let mut s = STREAM.lock().unwrap();
    if !enabled() {
        set_enabled(&mut s, true);
    }
    pump(&mut s);
    let pos = s.pos;
    new_cursor(&mut s, pos)
}

fn new_cursor(s: &mut Stream, pos: u64) -> u64 {
    let id = s.next_cursor;
    s.next_cursor += 1;
    let next_mark = s.mark_count;
    s.cursors.push(Cursor { id, pos, next_mark });
    id
}

/// Adds a consumer at `pos`, which must still be held (a replica
/// continuing from the backlog); false if it is not.
pub fn attach_at(pos: u64) -> Option<u64> {
    let mut s = STREAM.lock().unwrap();
    pump(&mut s);
    if !enabled() || pos > s.pos || pos < s.pos - s.ring.len() as u64 {
        return None;
    }
    Some(new_cursor(&mut s, pos))
}

/// Removes a consumer; with none left (and no history kept) journaling
/// stops.
pub fn detach(id: u64) {
    let mut s = STREAM.lock().unwrap();
    s.cursors.retain(|c| c.id != id);
    if s.cursors.is_empty() && s.keep == 0 {
        set_enabled(&mut s, false);
    } else {
        trim(&mut s);
    }
}

/// Keeps `bytes` of history for late readers (the replication backlog),
/// or none. History counts as a consumer: journaling stays on while it is
/// kept (turn it on while every gate is held).
pub fn keep_history(bytes: u64) {
    let mut s = STREAM.lock().unwrap();
    s.keep = bytes;
    if bytes > 0 && !enabled() {
        set_enabled(&mut s, true);
    }
    if bytes == 0 && s.cursors.is_empty() {
        set_enabled(&mut s, false);
    } else {
        pump(&mut s);
    }
}

/// Moves consumer `id` to `pos` (a replica starts at its snapshot's
/// instant); the bytes there must still be held.
pub fn seek(id: u64, pos: u64) -> bool {
    let mut s = STREAM.lock().unwrap();
    let start = s.pos - s.ring.len() as u64;
    if pos < start || pos > s.pos {
        return false;
    }
    if let Some(c) = s.cursors.iter_mut().find(|c| c.id == id) {
        c.pos = pos;
    }
    trim(&mut s);
    true
}

/// The stream position of a mark, once every write before it is readable.
pub fn mark_position(m: Mark) -> Option<u64> {
    let mut s = STREAM.lock().unwrap();
    pump(&mut s);
    s.marks.iter().find(|x| x.2 == m).map(|x| x.0)
}

/// Reads what consumer `id` has not read (up to `max` bytes) into `out`,
/// split at AOF marks; returns its new position and the publication
/// number covered once it has read everything.
pub fn read(id: u64, max: usize, out: &mut Vec<Item>) -> (u64, u64) {
    let mut s = STREAM.lock().unwrap();
    pump(&mut s);
    let Some(i) = s.cursors.iter().position(|c| c.id == id) else {
        return (s.pos, 0);
    };
    let Cursor {
        pos: from,
        next_mark,
        ..
    } = s.cursors[i];
    let start = s.pos - s.ring.len() as u64;
    let to = s.pos.min(from.saturating_add(max as u64));
    let mut at = from;
    let mut delivered = next_mark;
    for &(pos, no, m) in &s.marks {
        if no < next_mark || pos > to {
            continue;
        }
        delivered = no + 1;
        let Mark::Aof(n) = m else { continue };
        if pos > at {
            out.push(Item::Bytes(ring_bytes(&s.ring, at - start, pos - start)));
            at = pos;
        }
        out.push(Item::Mark(n));
    }
    if to > at {
        out.push(Item::Bytes(ring_bytes(&s.ring, at - start, to - start)));
    }
    s.cursors[i].pos = to;
    s.cursors[i].next_mark = delivered;
    let covered = if to == s.pos { s.covered } else { 0 };
    trim(&mut s);
    (to, covered)
}

/// Bytes `from..to` of the ring (indices into it), copied out.
fn ring_bytes(ring: &VecDeque<u8>, from: u64, to: u64) -> Vec<u8> {
    let (from, to) = (from as usize, to as usize);
    let (a, b) = ring.as_slices();
    let mut out = Vec::with_capacity(to - from);
    if from < a.len() {
        out.extend_from_slice(&a[from..to.min(a.len())]);
    }
    if to > a.len() {
        out.extend_from_slice(&b[from.saturating_sub(a.len())..to - a.len()]);
    }
    out
}

/// Bytes consumer `id` has not read yet (a replica's output backlog).
pub fn unread(id: u64) -> u64 {
    let s = STREAM.lock().unwrap();
    s.cursors
        .iter()
        .find(|c| c.id == id)
        .map_or(0, |c| s.pos - c.pos)
}

/// The bytes from `pos` to the end (up to `max`), if still held (a partial
/// resync served from the backlog).
pub fn read_from(pos: u64, max: usize) -> Option<Vec<u8>> {
    let mut s = STREAM.lock().unwrap();
    pump(&mut s);
    let start = s.pos - s.ring.len() as u64;
    if !enabled() || pos < start || pos > s.pos {
        return None;
    }
    let to = s.pos.min(pos.saturating_add(max as u64));
    Some(ring_bytes(&s.ring, pos - start, to - start))
}

/// The stream's end and the first position still held.
pub fn extent() -> (u64, u64) {
    let mut s = STREAM.lock().unwrap();
    if enabled() {
        pump(&mut s);
    }
    (s.pos, s.pos - s.ring.len() as u64)
}

/// Blocks a reader thread until something was published or `timeout`.
pub fn wait(id: u64, timeout: Duration) {
    let mut s = STREAM.lock().unwrap();
    if has_news(&s, id) {
        return;
    }
    s.reader_waiting = true;
    let _ = READY.wait_timeout(s, timeout).unwrap();
}

fn has_news(s: &Stream, id: u64) -> bool {
    s.segments.front().is_some_and(Segment::readable)
        || s.cursors.iter().any(|c| c.id == id && c.pos < s.pos)
}

/// Waits until consumer `id` has something to read.
pub async fn readable(id: u64) {
    std::future::poll_fn(|cx: &mut Context<'_>| {
        let mut s = STREAM.lock().unwrap();
        if has_news(&s, id) || !s.cursors.iter().any(|c| c.id == id) {
            return Poll::Ready(());
        }
        s.wakers.push(cx.waker().clone());
        Poll::Pending
    })
    .await
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
