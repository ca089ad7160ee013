//! CLIENT PAUSE timeout [WRITE|ALL] and CLIENT UNPAUSE, as Redis 7.0.
//!
//! The pause is process-wide state (an end time and a mode in atomics), so
//! every core sees it at once with no message. Dispatch holds a paused
//! client's command (it waits, it is not refused) until the pause ends;
//! while paused, keys do not expire and nothing is evicted, as in Redis
//! (a key past its time reads as missing but stays).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::protocol::{errors, parse_i64, Reply};
use crate::runtime;
use crate::storage::now_ms;

/// When the pause ends (unix ms); 0 when there is none.
static END_MS: AtomicI64 = AtomicI64::new(0);
/// ALL (every command) rather than WRITE.
static ALL: AtomicBool = AtomicBool::new(false);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Write,
    All,
}

/// Whether a pause may be in force: one relaxed load.
#[inline]
pub fn active() -> bool {
    END_MS.load(Ordering::Relaxed) != 0
}

/// The pause in force now, if any; ends one whose time is up.
pub fn mode_now() -> Option<Mode> {
    let end = END_MS.load(Ordering::Acquire);
    if end == 0 {
        return None;
    }
    if now_ms() >= end {
        end_pause(end);
        return None;
    }
    Some(if ALL.load(Ordering::Acquire) {
        Mode::All
    } else {
        Mode::Write
    })
}

/// Ends the pause that was to end at `end` (a later one stays).
fn end_pause(end: i64) {
    if END_MS
        .compare_exchange(end, 0, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
    {
        ALL.store(false, Ordering::Release);
        crate::storage::db::set_expiry_paused(false);
    }
}

/// CLIENT PAUSE timeout [WRITE|ALL]: a pause already in force is only
/// extended and widened, never shortened (Redis's pauseClients).
pub fn pause(args: &[Bytes]) -> Reply {
    if args.len() > 4 {
        return errors::sub_wrong_args("client", &args[1]);
    }
    let mode = match args.get(3) {
        None => Mode::All,
        Some(m) if super::is(m, "write") => Mode::Write,
        Some(m) if super::is(m, "all") => Mode::All,
        Some(_) => return Reply::error("ERR CLIENT PAUSE mode must be WRITE or ALL"),
    };
    let ms = match parse_i64(&args[2]) {
        None => return Reply::error("ERR timeout is not an integer or out of range"),
        Some(ms) if ms < 0 => return Reply::error("ERR timeout is negative"),
        Some(ms) => ms,
    };
    // A pause whose time is up is over before this one starts.
    mode_now();
    let Some(end) = now_ms().checked_add(ms) else {
        return Reply::error("ERR timeout is out of range");
    };
    if mode == Mode::All {
        ALL.store(true, Ordering::Release);
    }
    crate::storage::db::set_expiry_paused(true);
    let before = END_MS.fetch_max(end, Ordering::AcqRel);
    if before == 0 {
        runtime::spawn(end_on_time());
    }
    Reply::Ok
}

/// Ends the pause when its time is up even if no paused client asks.
async fn end_on_time() {
    loop {
        let end = END_MS.load(Ordering::Acquire);
        if end == 0 {
            return;
        }
        let left = end - now_ms();
        if left <= 0 {
            end_pause(end);
            continue;
        }
        runtime::sleep(Duration::from_millis(left as u64)).await;
    }
}

/// CLIENT UNPAUSE.
pub fn unpause() -> Reply {
    let end = END_MS.load(Ordering::Acquire);
    if end != 0 {
        end_pause(end);
    }
    Reply::Ok
}
