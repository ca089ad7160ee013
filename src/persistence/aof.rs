//! The append-only file, in Redis 7's multi-part layout: in `dir/appenddirname`
//! a base (an RDB snapshot, `appendonly.aof.<n>.base.rdb`), incremental
//! files of commands (`appendonly.aof.<n>.incr.aof`) and the manifest that
//! lists them (`appendonly.aof.manifest`), so redis-check-aof and Redis 7
//! read it.
//!
//! A writer thread reads the merged write stream (`storage::journal`) and
//! appends it to the last incremental file. `appendfsync always`: it fsyncs
//! after each write and then lets the replies covered go out (group commit:
//! everything published while it was syncing goes in the next write);
//! `everysec`: writes every millisecond, fsyncs at most a second apart;
//! `no`: writes every millisecond, the kernel decides when to flush.
//!
//! A rewrite (BGREWRITEAOF, the auto-aof-rewrite rules, `CONFIG SET
//! appendonly yes`) takes a fork-less snapshot (`save::snapshot_to`); at
//! the snapshot's instant a mark in the stream makes the writer switch to a
//! new incremental file, so the new base plus that file hold everything.
//! When the base is written, the manifest names it and the new file, and
//! the old files are deleted.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::save;
use crate::config::{self, Opt};
use crate::protocol::Reply;
use crate::runtime;
use crate::storage::journal;

// ---- the manifest ----

#[derive(Clone, Debug, PartialEq)]
struct FileInfo {
    name: String,
    seq: u64,
}

/// What the manifest lists: the base and the incremental files, in order.
#[derive(Clone, Debug, Default)]
struct Manifest {
    base: Option<FileInfo>,
    incrs: Vec<FileInfo>,
}

impl Manifest {
    /// Parses `file <name> seq <n> type <b|i|h>` lines (history is ignored).
    fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let field = |k: &str| {
                words
                    .chunks(2)
                    .find(|p| p[0] == k && p.len() == 2)
                    .map(|p| p[1])
            };
            let bad = || format!("Invalid AOF manifest file format at line {}", n + 1);
            let (Some(name), Some(seq), Some(kind)) = (field("file"), field("seq"), field("type"))
            else {
                return Err(bad());
            };
            let info = FileInfo {
                name: name.to_string(),
                seq: seq.parse().map_err(|_| bad())?,
            };
            match kind {
                "b" if m.base.is_none() => m.base = Some(info),
                "b" => return Err("Found duplicate base file information".into()),
                "i" => m.incrs.push(info),
                "h" => {}
                _ => return Err(bad()),
            }
        }
        Ok(m)
    }

    fn render(&self) -> String {
        let mut s = String::new();
        if let Some(b) = &self.base {
            s.push_str(&format!("file {} seq {} type b\n", b.name, b.seq));
        }
        for i in &self.incrs {
            s.push_str(&format!("file {} seq {} type i\n", i.name, i.seq));
        }
        s
    }

    fn last_incr_seq(&self) -> u64 {
        self.incrs.last().map_or(0, |i| i.seq)
    }
}

fn aof_dir() -> PathBuf {
    PathBuf::from(config::text(Opt::Dir)).join(config::text(Opt::Appenddirname))
}

fn basename() -> String {
    config::text(Opt::Appendfilename)
}

fn manifest_path() -> PathBuf {
    aof_dir().join(format!("{}.manifest", basename()))
}

fn base_name(seq: u64) -> String {
    format!("{}.{seq}.base.rdb", basename())
}

fn incr_name(seq: u64) -> String {
    format!("{}.{seq}.incr.aof", basename())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes the manifest through a temp file and a rename, as Redis does.
fn persist(m: &Manifest) -> std::io::Result<()> {
    let dir = aof_dir();
    let tmp = dir.join(format!("temp-{}.manifest", basename()));
    let mut f = File::create(&tmp)?;
    f.write_all(m.render().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, manifest_path())?;
    sync_dir(&dir);
    Ok(())
}

// ---- state INFO persistence shows ----

#[derive(Clone, Debug)]
pub struct Status {
    pub enabled: bool,
    pub rewrite_in_progress: bool,
    pub rewrite_scheduled: bool,
    pub last_rewrite_secs: i64,
    pub current_rewrite_start: Option<Instant>,
    pub last_rewrite_ok: bool,
    pub rewrites: u64,
    pub consecutive_failures: u64,
    pub last_write_ok: bool,
    pub base_size: u64,
    pub current_size: u64,
}

static STATUS: Mutex<Status> = Mutex::new(Status {
    enabled: false,
    rewrite_in_progress: false,
    rewrite_scheduled: false,
    last_rewrite_secs: -1,
    current_rewrite_start: None,
    last_rewrite_ok: true,
    rewrites: 0,
    consecutive_failures: 0,
    last_write_ok: true,
    base_size: 0,
    current_size: 0,
});

/// The manifest in force (the writer adds files, a rewrite replaces them).
static MANIFEST: Mutex<Option<Manifest>> = Mutex::new(None);

pub fn status() -> Status {
    STATUS.lock().unwrap().clone()
}

fn with_status<R>(f: impl FnOnce(&mut Status) -> R) -> R {
    f(&mut STATUS.lock().unwrap())
}

/// A write to the AOF failed: writes are refused (MISCONF) until one works.
static WRITE_FAILED: AtomicBool = AtomicBool::new(false);
/// The errno of the last failed write, named in the MISCONF error.
static WRITE_ERRNO: AtomicI32 = AtomicI32::new(0);

pub fn writes_refused() -> bool {
    WRITE_FAILED.load(Ordering::Relaxed)
}

/// Redis's error for writes refused after a failed AOF write: it names the
/// system error (`strerror`), e.g. "No space left on device".
pub fn misconf_error() -> String {
    let e = std::io::Error::from_raw_os_error(WRITE_ERRNO.load(Ordering::Relaxed)).to_string();
    let text = e.split(" (os error").next().unwrap_or(&e);
    format!("MISCONF Errors writing to the AOF file: {text}")
}

// ---- the writer thread ----

/// The incremental file the writer has switched to (a rewrite waits for it).
static ROTATED: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);
/// The writer's consumer id in the write stream (0: not reading yet).
static CURSOR: AtomicU64 = AtomicU64::new(0);
static WRITER: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);

/// How often the writer appends under `everysec` and `no`: the most a
/// killed process can lose of what was acknowledged.
const WRITE_INTERVAL: Duration = Duration::from_millis(1);

/// `appendfsync`: 0 always, 1 everysec, 2 no.
fn fsync_policy() -> i64 {
    config::num(Opt::Appendfsync)
}

/// Applies `appendfsync` to the replies: under `always` they wait for the
/// fsync that covers them. Called at start and by CONFIG SET.
pub fn apply_fsync_policy() {
    journal::set_replies_wait(status().enabled && fsync_policy() == 0);
}

fn open_incr(seq: u64) -> std::io::Result<File> {
    let path = aof_dir().join(incr_name(seq));
    let f = OpenOptions::new().create(true).append(true).open(&path)?;
    sync_dir(&aof_dir());
    Ok(f)
}

/// A replica's new incr file and the database its relayed stream is in
/// there (set at the rewrite's instant, used when the writer switches).
static SELECT_AT: Mutex<Option<(u64, u64)>> = Mutex::new(None);

struct Writer {
    file: File,
    size: u64,
    last_fsync: Instant,
    unsynced: bool,
    /// Bytes a failed write left to retry.
    pending: Vec<u8>,
}

impl Writer {
    fn write(&mut self, bytes: &[u8]) -> bool {
        self.pending.extend_from_slice(bytes);
        match self.file.write_all(&self.pending) {
            Ok(()) => {
                self.size += self.pending.len() as u64;
                self.pending.clear();
                self.unsynced = true;
                if WRITE_FAILED.swap(false, Ordering::Relaxed) {
                    tracing::warn!("AOF write error looks solved, Redwing can write again.");
                    with_status(|s| s.last_write_ok = true);
                }
                true
            }
            Err(e) => {
                // Replies are waiting for this write: Redis gives up too.
                if fsync_policy() == 0 {
                    tracing::warn!("Can't recover from AOF write error when the AOF fsync policy is 'always' ({e}). Exiting...");
                    crate::lifecycle::exit(1);
                }
                // A short write leaves part of a command: cut it off so the
                // retry appends whole commands.
                let _ = self.file.set_len(self.size);
                // A short write without an errno is a full disk to Redis.
                let errno = e.raw_os_error().unwrap_or(libc::ENOSPC);
                WRITE_ERRNO.store(errno, Ordering::Relaxed);
                if !WRITE_FAILED.swap(true, Ordering::Relaxed) {
                    tracing::warn!("Error writing to the AOF file: {e}");
                    with_status(|s| s.last_write_ok = false);
                }
                false
            }
        }
    }

    fn fsync(&mut self) {
        if self.unsynced && self.pending.is_empty() {
            if let Err(e) = self.file.sync_data() {
                tracing::warn!("Error syncing the AOF file: {e}");
                return;
            }
            self.unsynced = false;
        }
        self.last_fsync = Instant::now();
    }

    /// Switches to incremental file `seq` and lists it in the manifest.
    fn rotate(&mut self, seq: u64) {
        self.fsync();
        match open_incr(seq) {
            Ok(f) => {
                self.file = f;
                self.size = 0;
                // A replica's relayed stream goes on in its database.
                let select = SELECT_AT.lock().unwrap().take_if(|(s, _)| *s == seq);
                if let Some((_, db)) = select.filter(|(_, db)| *db != 0) {
                    let db = db.to_string();
                    let cmd = format!("*2\r\n$6\r\nSELECT\r\n${}\r\n{db}\r\n", db.len());
                    self.write(cmd.as_bytes());
                }
                let mut m = MANIFEST.lock().unwrap();
                let m = m.get_or_insert_with(Manifest::default);
                m.incrs.push(FileInfo {
                    name: incr_name(seq),
                    seq,
                });
                // Without a base yet (appendonly just turned on) the
                // manifest is written when the base is.
                if m.base.is_some() {
                    if let Err(e) = persist(m) {
                        tracing::warn!("Can't persist the AOF manifest: {e}");
                    }
                }
                tracing::info!(
                    "Creating AOF incr file {} on background rewrite",
                    incr_name(seq)
                );
                ROTATED.store(seq, Ordering::SeqCst);
            }
            // Appending goes on in the old file; the rewrite gives up.
            Err(e) => tracing::warn!("Can't open the append-only file {}: {e}", incr_name(seq)),
        }
    }

    fn run(mut self) {
        let mut items = Vec::new();
        loop {
            let stopping = STOP.load(Ordering::SeqCst);
            let cursor = CURSOR.load(Ordering::SeqCst);
            let covered = if cursor == 0 {
                0
            } else {
                journal::read(cursor, usize::MAX, &mut items).1
            };
            let mut ok = true;
            for item in items.drain(..) {
                match item {
                    journal::Item::Bytes(b) => ok &= self.write(&b),
                    journal::Item::Mark(seq) => self.rotate(seq),
                }
            }
            if !self.pending.is_empty() && ok {
                ok = self.write(&[]);
            }
            with_status(|s| s.current_size = s.base_size + self.size);
            match fsync_policy() {
                0 => {
                    self.fsync();
                    if ok && covered > 0 {
                        journal::set_durable(covered);
                    }
                }
                1 if self.last_fsync.elapsed() >= Duration::from_secs(1) => self.fsync(),
                _ => {}
            }
            if stopping {
                self.fsync();
                return;
            }
            if !ok {
                // Redis retries a failed write once a second.
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            if fsync_policy() == 0 {
                // Replies wait on this thread: be woken by the next write.
                journal::wait(CURSOR.load(Ordering::SeqCst), Duration::from_millis(100));
            } else {
                // Nobody waits: gather a millisecond of writes per write(2)
                // rather than waking for each (a wake-up per write cost
                // more CPU than the write itself).
                std::thread::sleep(WRITE_INTERVAL);
            }
        }
    }
}

fn start_writer(file: File) {
    let size = file.metadata().map_or(0, |m| m.len());
    STOP.store(false, Ordering::SeqCst);
    let w = Writer {
        file,
        size,
        last_fsync: Instant::now(),
        unsynced: false,
        pending: Vec::new(),
    };
    let handle = std::thread::Builder::new()
        .name("aof-writer".into())
        .spawn(move || w.run())
        .expect("spawn the AOF writer");
    *WRITER.lock().unwrap() = Some(handle);
}

/// Stops the writer after it wrote and synced what was published, and
/// lets go of its place in the stream.
fn stop_writer() {
    STOP.store(true, Ordering::SeqCst);
    if let Some(h) = WRITER.lock().unwrap().take() {
        let _ = h.join();
    }
    let cursor = CURSOR.swap(0, Ordering::SeqCst);
    if cursor != 0 {
        journal::detach(cursor);
    }
}

// ---- start-up ----

/// Replays commands read from an incremental file (the server's dispatcher
/// with a client of its own; `server` provides it).
pub trait Replay {
    fn run<'a>(
        &'a mut self,
        cmds: Vec<Vec<Bytes>>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Reply>> + 'a>>;
}

/// Loads the AOF at start-up (appendonly yes) and starts appending, or
/// creates the first base and incremental file. Exits on a bad file.
pub async fn at_start(replay: &mut dyn Replay) {
    let started = Instant::now();
    let dir = aof_dir();
    let manifest = match std::fs::read_to_string(manifest_path()) {
        Ok(text) => match Manifest::parse(&text) {
            Ok(m) => Some(m),
            Err(e) => fatal(&manifest_path(), &e),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => fatal(&manifest_path(), &e.to_string()),
    };
    let manifest = match manifest {
        Some(m) if m.base.is_some() || !m.incrs.is_empty() => {
            load_files(&m, replay).await;
            tracing::info!(
                "DB loaded from append only file: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
            m
        }
        _ => {
            if let Err(e) = std::fs::create_dir_all(&dir) {
                fatal(&dir, &e.to_string());
            }
            let m = Manifest {
                base: Some(FileInfo {
                    name: base_name(1),
                    seq: 1,
                }),
                incrs: Vec::new(),
            };
            tracing::info!("Creating AOF base file {} on server start", base_name(1));
            if let Err(e) = write_empty_base(&dir.join(base_name(1))) {
                fatal(&dir.join(base_name(1)), &e.to_string());
            }
            m
        }
    };
    let mut m = manifest;
    if m.incrs.is_empty() {
        tracing::info!("Creating AOF incr file {} on server start", incr_name(1));
        m.incrs.push(FileInfo {
            name: incr_name(1),
            seq: 1,
        });
    }
    let last = m.incrs.last().cloned().expect("an incremental file");
    let file = open_incr(last.seq).unwrap_or_else(|e| fatal(&dir.join(&last.name), &e.to_string()));
    if let Err(e) = persist(&m) {
        fatal(&manifest_path(), &e.to_string());
    }
    let base_size = m
        .base
        .as_ref()
        .and_then(|b| std::fs::metadata(dir.join(&b.name)).ok())
        .map_or(0, |md| md.len());
    ROTATED.store(last.seq, Ordering::SeqCst);
    *MANIFEST.lock().unwrap() = Some(m);
    with_status(|s| {
        s.enabled = true;
        s.base_size = base_size;
    });
    // Nothing runs yet (clients get -LOADING): journaling starts cleanly.
    CURSOR.store(journal::attach(), Ordering::SeqCst);
    start_writer(file);
    apply_fsync_policy();
}

fn fatal(path: &Path, why: &str) -> ! {
    tracing::warn!(
        "Fatal error loading the append only file {}: {why}. Exiting.",
        path.display()
    );
    eprintln!("redwing-server: cannot load {}: {why}", path.display());
    crate::lifecycle::exit(1)
}

/// An RDB with no keys, marked as an AOF base.
fn write_empty_base(path: &Path) -> std::io::Result<()> {
    use super::rdb::{Aux, RdbWriter, WriteOptions};
    let mut w = RdbWriter::new(WriteOptions {
        compression: true,
        checksum: true,
    });
    w.aux_fields(&Aux {
        aof_base: true,
        ..Aux::default()
    });
    w.finish();
    let mut f = File::create(path)?;
    f.write_all(&w.take_chunk())?;
    f.sync_all()?;
    sync_dir(path.parent().unwrap_or(Path::new(".")));
    Ok(())
}

async fn load_files(m: &Manifest, replay: &mut dyn Replay) {
    let dir = aof_dir();
    let files: Vec<PathBuf> = m
        .base
        .iter()
        .chain(m.incrs.iter())
        .map(|f| dir.join(&f.name))
        .collect();
    let total: u64 = files
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |md| md.len()))
        .sum();
    super::load::begin_info(total);
    let mut done = 0u64;
    if let Some(b) = &m.base {
        let path = dir.join(&b.name);
        let r = if b.name.ends_with(".rdb") {
            super::load::load_file(&path, done).await
        } else {
            replay_file(&path, replay, false, done).await
        };
        if let Err(e) = r {
            fatal(&path, &e);
        }
        done += std::fs::metadata(&path).map_or(0, |md| md.len());
    }
    for (i, f) in m.incrs.iter().enumerate() {
        let path = dir.join(&f.name);
        let last = i + 1 == m.incrs.len();
        if let Err(e) = replay_file(&path, replay, last, done).await {
            fatal(&path, &e);
        }
        done += std::fs::metadata(&path).map_or(0, |md| md.len());
    }
}

/// Reads one command of an AOF: `*<n>` then n bulk strings. `Ok(None)` at
/// a clean end of file; `Err(Short)` when the file ends inside a command.
fn read_command(r: &mut impl Read, offset: &mut u64) -> Result<Option<Vec<Bytes>>, ReadError> {
    let Some(line) = read_line(r, offset, true)? else {
        return Ok(None);
    };
    let n = match line.strip_prefix(b"*") {
        Some(n) => parse_len(n)?,
        None => return Err(ReadError::Format),
    };
    if n < 1 {
        return Err(ReadError::Format);
    }
    let mut args = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let line = read_line(r, offset, false)?.ok_or(ReadError::Short)?;
        let len = match line.strip_prefix(b"$") {
            Some(l) => parse_len(l)? as usize,
            None => return Err(ReadError::Format),
        };
        let mut buf = vec![0u8; len + 2];
        read_exact(r, &mut buf)?;
        *offset += buf.len() as u64;
        if &buf[len..] != b"\r\n" {
            return Err(ReadError::Format);
        }
        buf.truncate(len);
        args.push(Bytes::from(buf));
    }
    Ok(Some(args))
}

enum ReadError {
    /// The file ends inside a command (a torn tail).
    Short,
    Format,
    Io(String),
}

fn parse_len(b: &[u8]) -> Result<i64, ReadError> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|&n| (0..=512 * 1024 * 1024).contains(&n))
        .ok_or(ReadError::Format)
}

fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), ReadError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => ReadError::Short,
        _ => ReadError::Io(e.to_string()),
    })
}

/// One `\r\n`-terminated line, without the terminator; None at a clean EOF
/// when `eof_ok`.
fn read_line(
    r: &mut impl Read,
    offset: &mut u64,
    eof_ok: bool,
) -> Result<Option<Vec<u8>>, ReadError> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match r.read(&mut b) {
            Ok(0) if line.is_empty() && eof_ok => return Ok(None),
            Ok(0) => return Err(ReadError::Short),
            Ok(_) => {
                *offset += 1;
                if b[0] == b'\n' && line.last() == Some(&b'\r') {
                    line.pop();
                    return Ok(Some(line));
                }
                if line.len() > 64 {
                    return Err(ReadError::Format);
                }
                line.push(b[0]);
            }
            Err(e) => return Err(ReadError::Io(e.to_string())),
        }
    }
}

/// Commands replayed per dispatcher batch.
const REPLAY_BATCH: usize = 1024;

/// Replays an incremental (or old-style base) file. A torn tail of the last
/// file is cut off when `aof-load-truncated` allows it (back to before an
/// unfinished MULTI); anything else wrong stops the start.
async fn replay_file(
    path: &Path,
    replay: &mut dyn Replay,
    last: bool,
    before: u64,
) -> Result<(), String> {
    let f = File::open(path).map_err(|e| e.to_string())?;
    let size = f.metadata().map_or(0, |m| m.len());
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut offset = 0u64;
    // The end of the last whole command, and of the last command outside
    // MULTI/EXEC (where a torn transaction is cut back to).
    let mut valid = 0u64;
    let mut valid_outside_multi = 0u64;
    let mut in_multi = false;
    let mut batch: Vec<Vec<Bytes>> = Vec::new();
    let mut last_log = Instant::now();
    let started = Instant::now();
    let mut commands = 0u64;
    let mut errors = 0u64;
    let outcome = loop {
        match read_command(&mut r, &mut offset) {
            Ok(Some(cmd)) => {
                if cmd[0].eq_ignore_ascii_case(b"multi") {
                    in_multi = true;
                } else if cmd[0].eq_ignore_ascii_case(b"exec") {
                    in_multi = false;
                }
                if crate::commands::table().lookup(&cmd[0]).is_none() {
                    break Err(format!(
                        "Unknown command '{}' reading the append only file {}",
                        String::from_utf8_lossy(&cmd[0]),
                        path.display()
                    ));
                }
                batch.push(cmd);
                valid = offset;
                if !in_multi {
                    valid_outside_multi = offset;
                }
                if batch.len() >= REPLAY_BATCH {
                    errors += run_batch(replay, &mut batch).await;
                }
                commands += 1;
                if last_log.elapsed() >= Duration::from_secs(1) {
                    last_log = Instant::now();
                    tracing::info!(
                        "Loading AOF {}: {commands} commands, {:.1} MB of {:.1} MB ({:.1}%), {:.0} commands/s",
                        path.display(),
                        offset as f64 / 1e6,
                        size as f64 / 1e6,
                        offset as f64 * 100.0 / size.max(1) as f64,
                        commands as f64 / started.elapsed().as_secs_f64().max(1e-3)
                    );
                }
                super::load::progress(before + offset);
            }
            Ok(None) => break Ok(()),
            Err(ReadError::Short) => break Err("short".to_string()),
            Err(ReadError::Format) => {
                break Err(format!(
                    "Bad file format reading the append only file {} at offset {valid}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
                    path.display()
                ))
            }
            Err(ReadError::Io(e)) => {
                break Err(format!(
                    "Unrecoverable error reading the append only file {}: {e}",
                    path.display()
                ))
            }
        }
    };
    let torn = matches!(&outcome, Err(e) if e == "short") || (outcome.is_ok() && in_multi);
    if let Err(e) = &outcome {
        if e != "short" {
            return Err(e.clone());
        }
    }
    // A transaction cut short is dropped whole: its queued commands are
    // never executed (the replay client's MULTI is discarded below).
    let keep = if in_multi { valid_outside_multi } else { valid };
    if in_multi {
        batch.truncate(batch.len().saturating_sub(count_from_multi(&batch)));
    }
    errors += run_batch(replay, &mut batch).await;
    if errors > 0 {
        tracing::warn!(
            "{errors} command(s) in {} answered an error while loading",
            path.display()
        );
    }
    if torn {
        if !last || config::num(Opt::AofLoadTruncated) == 0 {
            return Err(format!(
                "Unexpected end of file reading the append only file {} at offset {keep}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.",
                path.display()
            ));
        }
        tracing::warn!(
            "!!! Warning: short read while loading the AOF file {}!!! AOF loaded anyway because aof-load-truncated is enabled; the file is truncated to {keep} bytes (it had {size}).",
            path.display()
        );
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(keep).and_then(|_| f.sync_all()))
            .map_err(|e| format!("Error truncating the AOF file {}: {e}", path.display()))?;
    }
    Ok(())
}

/// How many commands at the end of `batch` belong to an unfinished MULTI.
fn count_from_multi(batch: &[Vec<Bytes>]) -> usize {
    batch
        .iter()
        .rev()
        .position(|c| c[0].eq_ignore_ascii_case(b"multi"))
        .map_or(0, |p| p + 1)
}

async fn run_batch(replay: &mut dyn Replay, batch: &mut Vec<Vec<Bytes>>) -> u64 {
    if batch.is_empty() {
        return 0;
    }
    let replies = replay.run(std::mem::take(batch)).await;
    let errors: Vec<&Reply> = replies.iter().filter(|r| r.is_error()).collect();
    if let Some(Reply::Error(e)) = errors.first() {
        tracing::debug!("AOF replay: {e}");
    }
    errors.len() as u64
}

// ---- rewrite ----

/// BGREWRITEAOF: starts a rewrite, or schedules one while a snapshot runs.
pub async fn bgrewriteaof() -> Reply {
    const RUNNING: &str = "ERR Background append only file rewriting already in progress";
    if status().rewrite_in_progress {
        return Reply::error(RUNNING);
    }
    if save::status().in_progress {
        with_status(|s| s.rewrite_scheduled = true);
        return Reply::status("Background append only file rewriting scheduled");
    }
    if !begin_rewrite() {
        return Reply::error(RUNNING);
    }
    rewrite_on_control().await;
    Reply::status("Background append only file rewriting started")
}

/// Starts a rewrite on the control executor (where snapshots are
/// coordinated).
async fn rewrite_on_control() {
    runtime::run_on(
        runtime::control(),
        vec![Box::new(|| {
            runtime::spawn(rewrite());
            Reply::Ok
        })],
    )
    .await;
}

/// Marks a rewrite started; false if one runs.
fn begin_rewrite() -> bool {
    with_status(|s| {
        if s.rewrite_in_progress {
            return false;
        }
        s.rewrite_in_progress = true;
        s.rewrite_scheduled = false;
        s.current_rewrite_start = Some(Instant::now());
        true
    })
}

/// Writes a new base from a snapshot and switches the stream to a new
/// incremental file at the snapshot's instant. Runs on the control executor.
async fn rewrite() {
    tracing::info!("Background append only file rewriting started");
    let started = Instant::now();
    let result = rewrite_files().await;
    let secs = started.elapsed().as_secs() as i64;
    match &result {
        Ok(()) => tracing::info!("Background AOF rewrite finished successfully"),
        Err(e) => tracing::warn!("Background AOF rewrite failed: {e}"),
    }
    with_status(|s| {
        s.rewrite_in_progress = false;
        s.current_rewrite_start = None;
        s.last_rewrite_secs = secs;
        s.last_rewrite_ok = result.is_ok();
        if result.is_ok() {
            s.rewrites += 1;
            s.consecutive_failures = 0;
        } else {
            s.consecutive_failures += 1;
        }
    });
}

async fn rewrite_files() -> Result<(), String> {
    // The snapshot machinery serves one snapshot at a time.
    while save::status().in_progress || !save::try_begin_quiet() {
        runtime::sleep(Duration::from_millis(10)).await;
    }
    let result = write_new_base().await;
    save::end_quiet();
    result
}

async fn write_new_base() -> Result<(), String> {
    let dir = aof_dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // BGREWRITEAOF with appendonly no writes the files once, as Redis does.
    let aof_on = status().enabled;
    let (base_seq, incr_seq) = {
        let m = MANIFEST.lock().unwrap();
        let m = m.clone().unwrap_or_default();
        (
            m.base.as_ref().map_or(0, |b| b.seq) + 1,
            m.last_incr_seq() + 1,
        )
    };
    let tmp = dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    let written = async {
        let f = File::create(&tmp).map_err(|e| e.to_string())?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        // `appendonly yes` just set: appending starts at the instant.
        let enable = aof_on && WRITER.lock().unwrap().is_none();
        // At the snapshot's instant (every core held): later writes go to
        // the new incremental file.
        let at_instant = move || {
            if enable {
                CURSOR.store(journal::attach(), Ordering::SeqCst);
            }
            if aof_on {
                *SELECT_AT.lock().unwrap() = journal::relay_db().map(|db| (incr_seq, db));
                journal::mark(journal::Mark::Aof(incr_seq));
            }
        };
        if enable {
            start_writer_for_enable(incr_seq)?;
        }
        save::snapshot_at(&mut out, true, Box::new(at_instant))
            .await
            .map_err(|e| e.to_string())?;
        let f = out.into_inner().map_err(|e| e.into_error().to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        Ok::<(), String>(())
    }
    .await;
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    tracing::info!(
        "Successfully created the temporary AOF base file {}",
        tmp.display()
    );
    if aof_on {
        // The writer must be on the new incremental file before the old go.
        let deadline = Instant::now() + Duration::from_secs(10);
        while ROTATED.load(Ordering::SeqCst) < incr_seq {
            if Instant::now() > deadline {
                let _ = std::fs::remove_file(&tmp);
                return Err(format!(
                    "the AOF writer could not switch to {}",
                    incr_name(incr_seq)
                ));
            }
            runtime::sleep(Duration::from_millis(1)).await;
        }
    } else {
        open_incr(incr_seq).map_err(|e| e.to_string())?;
        let mut m = MANIFEST.lock().unwrap();
        m.get_or_insert_with(Manifest::default)
            .incrs
            .push(FileInfo {
                name: incr_name(incr_seq),
                seq: incr_seq,
            });
    }
    std::fs::rename(&tmp, dir.join(base_name(base_seq))).map_err(|e| e.to_string())?;
    tracing::info!(
        "Successfully renamed the temporary AOF base file {} into {}",
        tmp.display(),
        base_name(base_seq)
    );
    let old: Vec<String> = {
        let mut guard = MANIFEST.lock().unwrap();
        let m = guard.get_or_insert_with(Manifest::default);
        let mut old: Vec<String> = m.base.iter().map(|b| b.name.clone()).collect();
        old.extend(
            m.incrs
                .iter()
                .filter(|i| i.seq < incr_seq)
                .map(|i| i.name.clone()),
        );
        m.base = Some(FileInfo {
            name: base_name(base_seq),
            seq: base_seq,
        });
        m.incrs.retain(|i| i.seq >= incr_seq);
        persist(m).map_err(|e| e.to_string())?;
        old
    };
    for name in old {
        tracing::info!("Removing the history file {name}");
        let _ = std::fs::remove_file(dir.join(name));
    }
    let base_size = std::fs::metadata(dir.join(base_name(base_seq))).map_or(0, |m| m.len());
    with_status(|s| s.base_size = base_size);
    apply_fsync_policy();
    Ok(())
}

/// `CONFIG SET appendonly yes`: the writer starts with no file; the mark
/// at the first rewrite's instant opens one.
fn start_writer_for_enable(incr_seq: u64) -> Result<(), String> {
    let m = Manifest::default();
    *MANIFEST.lock().unwrap() = Some(m);
    // A placeholder until the mark: nothing is published before it.
    let file = open_incr(incr_seq).map_err(|e| e.to_string())?;
    start_writer(file);
    Ok(())
}

/// After CONFIG SET: `appendonly` turned on starts a rewrite (the AOF
/// begins with a base of the current data), turned off stops appending;
/// `appendfsync` applies to the next replies.
pub async fn config_changed() {
    let on = config::num(Opt::Appendonly) == 1;
    let enabled = status().enabled;
    if on && !enabled {
        // On from now (INFO says so); appending starts with the rewrite.
        with_status(|s| s.enabled = true);
        if begin_rewrite() {
            rewrite_on_control().await;
        } else {
            with_status(|s| s.rewrite_scheduled = true);
        }
    } else if !on && enabled {
        // Stop appending; what is on disk stays (as Redis does).
        stop_writer();
        with_status(|s| s.enabled = false);
    }
    apply_fsync_policy();
}

/// The control executor's check (Redis's serverCron): a scheduled rewrite,
/// or auto-aof-rewrite-percentage/min-size.
pub fn cron() {
    let st = status();
    if st.rewrite_in_progress || save::status().in_progress {
        return;
    }
    let pct = config::num(Opt::AutoAofRewritePercentage) as u64;
    let min = config::num(Opt::AutoAofRewriteMinSize) as u64;
    let grown = st.enabled
        && pct > 0
        && st.current_size > min
        && st.current_size.saturating_sub(st.base_size) * 100 / st.base_size.max(1) >= pct;
    if (st.rewrite_scheduled || grown) && begin_rewrite() {
        if grown {
            tracing::info!(
                "Starting automatic rewriting of AOF on {}% growth",
                st.current_size.saturating_sub(st.base_size) * 100 / st.base_size.max(1)
            );
        }
        runtime::spawn(rewrite());
    }
}

/// At shutdown: everything published is written and synced.
pub fn flush_at_exit() {
    if status().enabled {
        stop_writer();
    }
}
