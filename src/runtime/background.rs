//! Background work on a shard core without hurting its clients.
//!
//! Measured on glommio 0.9: a CPU-bound task that only calls
//! `yield_if_needed` pushed client round trips to 100–200 ms, because socket
//! polls are serviced on reactor visits. So background work runs in chunks
//! with a time budget, and every chunk ends with a real sleep, which forces
//! a reactor visit before the next chunk.

use std::time::{Duration, Instant};

/// Longest a chunk of background work may run before yielding to clients.
pub const CHUNK_BUDGET: Duration = Duration::from_micros(300);

/// Runs `step(budget)` every `period()`; each call does at most `budget` of
/// work and returns whether more is pending right now, in which case the
/// next chunk follows after a 1 µs sleep instead of a full period.
/// Periods are measured from the start of each round, not its end.
pub async fn every(period: impl Fn() -> Duration, mut step: impl FnMut(Duration) -> bool) {
    loop {
        let round = Instant::now();
        while step(CHUNK_BUDGET) {
            super::sleep(Duration::from_micros(1)).await;
        }
        let p = period();
        if let Some(rest) = p.checked_sub(round.elapsed()) {
            super::sleep(rest).await;
        }
    }
}
