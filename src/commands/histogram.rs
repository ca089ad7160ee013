//! Per-command latency histograms (`latency-tracking yes`): LATENCY
//! HISTOGRAM and INFO latencystats.
//!
//! Redis 7.0 records each call's duration (µs × 1000, as nanoseconds,
//! clamped to 1 ns .. 1 s) in an HDR histogram with 2 significant digits
//! and reports from it with a log-2 iterator starting at 1024 ns and with
//! `hdr_value_at_percentile`. The same bucket layout is kept here (256
//! sub-buckets, 24 half-buckets of 128: 3072 counters) so that the same
//! durations give the same replies. Each core keeps its own counters in
//! its command statistics (stats.rs); LATENCY and INFO add them up.

use std::sync::OnceLock;

use bytes::Bytes;

use crate::acl::category;
use crate::config::{self, Opt};
use crate::protocol::Reply;

/// Redis's LATENCY_HISTOGRAM_MIN_VALUE / MAX_VALUE, in ns.
const MIN_NS: u64 = 1;
const MAX_NS: u64 = 1_000_000_000;
/// 2 significant digits: sub-buckets of 256, halves of 128.
const HALF_MAGNITUDE: u32 = 7;
const HALF: usize = 1 << HALF_MAGNITUDE;
const SUB_MASK: u64 = 255;
/// Enough half-buckets to hold 1 s: (23 buckets + 1) × 128.
const COUNTS: usize = 24 * HALF;

/// One command's counters on one core.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; COUNTS].into_boxed_slice(),
            total: 0,
        }
    }
}

fn bucket_of(v: u64) -> u32 {
    64 - (v | SUB_MASK).leading_zeros() - (HALF_MAGNITUDE + 1)
}

fn index_of(v: u64) -> usize {
    let b = bucket_of(v);
    let sub = (v >> b) as usize;
    ((b as usize + 1) << HALF_MAGNITUDE) + sub - HALF
}

/// The lowest value counted at `idx`, and the width of its range.
fn range_at(idx: usize) -> (u64, u64) {
    let b = (idx >> HALF_MAGNITUDE) as i64 - 1;
    let sub = (idx & (HALF - 1)) as u64 + HALF as u64;
    if b < 0 {
        (sub - HALF as u64, 1)
    } else {
        (sub << b, 1 << b)
    }
}

fn highest_equivalent(idx: usize) -> u64 {
    let (low, width) = range_at(idx);
    low + width - 1
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        let ns = micros.saturating_mul(1000).clamp(MIN_NS, MAX_NS);
        self.counts[index_of(ns)] += 1;
        self.total += 1;
    }

    pub fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(o.counts.iter()) {
            *a += b;
        }
        self.total += o.total;
    }

    /// `hdr_value_at_percentile`, in ns.
    fn percentile(&self, p: f64) -> u64 {
        let p = p.min(100.0);
        let want = ((p / 100.0 * self.total as f64 + 0.5) as u64).max(1);
        let mut seen = 0;
        for (idx, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return if p == 0.0 {
                    range_at(idx).0
                } else {
                    highest_equivalent(idx)
                };
            }
        }
        0
    }

    /// `histogram_usec`: cumulative counts at 1024 ns, 2048 ns ... as
    /// the HDR log iterator reports them (a level's count includes the
    /// sub-bucket the level starts), keyed by that sub-bucket's highest
    /// value in µs; levels that add nothing are left out.
    fn cumulative(&self) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let mut level = 1024u64;
        let mut seen = 0u64;
        let mut last = 0u64;
        for (idx, &c) in self.counts.iter().enumerate() {
            seen += c;
            let at_end = idx + 1 == COUNTS;
            if range_at(idx).0 >= level || at_end {
                if seen > last {
                    out.push(((highest_equivalent(idx) / 1000) as i64, seen as i64));
                }
                last = seen;
                level *= 2;
                if seen == self.total {
                    break;
                }
            }
        }
        out
    }

    fn reply(&self) -> Reply {
        let buckets = self
            .cumulative()
            .into_iter()
            .map(|(us, n)| (Reply::Int(us), Reply::Int(n)))
            .collect();
        Reply::Map(vec![
            (Reply::bulk("calls"), Reply::Int(self.total as i64)),
            (Reply::bulk("histogram_usec"), Reply::Map(buckets)),
        ])
    }
}

/// Whether calls are recorded now (one relaxed load).
#[inline]
pub fn tracking() -> bool {
    config::num(Opt::LatencyTracking) != 0
}

/// The ACL id a call of table row `row` is recorded under: its
/// subcommand's for a container command (`config|get`), None for an
/// unknown subcommand.
#[inline]
pub fn id_of(row: usize, args: &[Bytes]) -> Option<usize> {
    // Most rows are plain commands: their id is the row, no lookup.
    static CONTAINER: OnceLock<Vec<bool>> = OnceLock::new();
    let container = CONTAINER.get_or_init(|| {
        let ids = category::ids();
        (0..crate::commands::table().specs.len())
            .map(|r| ids.subs.contains_key(&r))
            .collect()
    });
    if !container.get(row).copied().unwrap_or(false) {
        return Some(row);
    }
    category::ids().of_call(row, args)
}

/// Every core's histograms added up, by ACL id.
pub async fn merged() -> Vec<Option<Histogram>> {
    let per_core = crate::runtime::gather(0..crate::runtime::shards(), || {
        super::stats::with(|s| s.latency.clone())
    })
    .await;
    let mut all: Vec<Option<Histogram>> = Vec::new();
    for core in per_core {
        if all.len() < core.len() {
            all.resize(core.len(), None);
        }
        for (a, b) in all.iter_mut().zip(core) {
            match (a.as_mut(), b) {
                (Some(a), Some(b)) => a.merge(&b),
                (None, b) => *a = b,
                _ => {}
            }
        }
    }
    all
}

/// LATENCY HISTOGRAM [command ...] from every core's merged histograms
/// (indexed by ACL id): a map of full command name to its histogram. A
/// container named alone gives its subcommands; unknown names are skipped.
pub fn histogram_reply(merged: &[Option<Histogram>], names: &[Bytes]) -> Reply {
    let ids = category::ids();
    let mut wanted: Vec<usize> = Vec::new();
    if names.is_empty() {
        wanted.extend(0..merged.len());
    }
    for n in names {
        let Some(id) = ids.lookup(&String::from_utf8_lossy(n)) else {
            continue;
        };
        wanted.push(id);
        if let Some(subs) = ids.subs.get(&id) {
            wanted.extend(subs);
        }
    }
    let mut out = Vec::new();
    for id in wanted {
        if let Some(Some(h)) = merged.get(id) {
            out.push((Reply::bulk(ids.names[id].clone()), h.reply()));
        }
    }
    Reply::Map(out)
}

/// INFO latencystats: `latency_percentiles_usec_<name>:p50=...` per
/// command with calls, at the `latency-tracking-info-percentiles`.
pub fn info_lines(merged: &[Option<Histogram>], out: &mut String) {
    use std::fmt::Write;
    if !tracking() {
        return;
    }
    let percentiles: Vec<f64> = config::text(Opt::LatencyTrackingInfoPercentiles)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let ids = category::ids();
    for (id, h) in merged.iter().enumerate() {
        let Some(h) = h else { continue };
        let _ = write!(out, "latency_percentiles_usec_{}:", ids.names[id]);
        for (i, p) in percentiles.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let v = h.percentile(*p) as f64 / 1000.0;
            // %f with its trailing zeros trimmed, as Redis prints it.
            let _ = write!(out, "{sep}p{}={v:.3}", trim(format!("{p:.6}")));
        }
        out.push_str("\r\n");
    }
}

fn trim(s: String) -> String {
    if !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_hdr() {
        // 1000 ns lies in [512, 1024), width 4: highest 1003 (INFO's p50=1.003).
        assert_eq!(highest_equivalent(index_of(1000)), 1003);
        assert_eq!(highest_equivalent(index_of(9000)), 9023);
        assert_eq!(highest_equivalent(index_of(11000)), 11007);
        assert_eq!(highest_equivalent(index_of(1)), 1);
        assert!(index_of(MAX_NS) < COUNTS);
    }

    #[test]
    fn cumulative_levels() {
        let mut h = Histogram::default();
        for us in [0, 0, 1, 2, 3, 8, 40] {
            h.record(us);
        }
        // 1 µs level holds 0 and 1000 ns; 2 µs adds 2000; 4 µs 3000;
        // 8 µs 8000 (8192's sub-bucket starts at 8192, 8000 is below); 66 µs 40000.
        assert_eq!(
            h.cumulative(),
            vec![(1, 3), (2, 4), (4, 5), (8, 6), (66, 7)]
        );
        assert_eq!(h.percentile(50.0), 2007);
    }
}
