//! Latency histograms per command, the interval snapshots worker threads
//! send once a second, and the summary made from them.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in microseconds, 3 significant digits, up to an hour.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds")
}

/// What one thread measured per command since its last snapshot.
pub struct Interval {
    pub hists: Vec<Histogram<u64>>,
    pub errors: Vec<u64>,
    /// MOVED and ASK replies followed (not counted as requests).
    pub redirects: u64,
}

impl Interval {
    pub fn new(commands: usize) -> Interval {
        Interval {
            hists: (0..commands).map(|_| histogram()).collect(),
            errors: vec![0; commands],
            redirects: 0,
        }
    }

    #[inline]
    pub fn record(&mut self, cmd: usize, micros: u64, error: bool) {
        self.hists[cmd].saturating_record(micros.max(1));
        if error {
            self.errors[cmd] += 1;
        }
    }

    /// Takes what was recorded so far, leaving this interval empty.
    pub fn take(&mut self) -> Interval {
        let mut out = Interval::new(self.hists.len());
        std::mem::swap(self, &mut out);
        out
    }

    pub fn add(&mut self, other: &Interval) {
        for (a, b) in self.hists.iter_mut().zip(&other.hists) {
            a.add(b).expect("same bounds");
        }
        for (a, b) in self.errors.iter_mut().zip(&other.errors) {
            *a += b;
        }
        self.redirects += other.redirects;
    }

    pub fn ops(&self) -> u64 {
        self.hists.iter().map(|h| h.len()).sum()
    }

    pub fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// All commands in one histogram.
    pub fn merged(&self) -> Histogram<u64> {
        let mut all = histogram();
        for h in &self.hists {
            all.add(h).expect("same bounds");
        }
        all
    }
}

/// Results for one command (or "ALL"), in milliseconds.
#[derive(Serialize, Debug)]
pub struct CommandResult {
    pub name: String,
    pub requests: u64,
    pub errors: u64,
    pub ops_per_sec: f64,
    pub avg_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub p9999_ms: f64,
    pub max_ms: f64,
    /// (percentile, ms) points from 0 to 99.9999 for latency curves.
    pub percentiles: Vec<(f64, f64)>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl CommandResult {
    pub fn new(name: &str, h: &Histogram<u64>, errors: u64, secs: f64) -> CommandResult {
        let q = |p: f64| ms(h.value_at_quantile(p));
        // Points at 1 - 10^(-k/10): evenly spaced on the "nines" axis.
        let percentiles = (0..=60)
            .map(|k| {
                let p = 1.0 - 10f64.powf(-(k as f64) / 10.0);
                (p * 100.0, q(p))
            })
            .collect();
        CommandResult {
            name: name.to_string(),
            requests: h.len(),
            errors,
            ops_per_sec: h.len() as f64 / secs.max(1e-9),
            avg_ms: h.mean() / 1000.0,
            p50_ms: q(0.5),
            p90_ms: q(0.9),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            p9999_ms: q(0.9999),
            max_ms: ms(h.max()),
            percentiles,
        }
    }
}

/// The whole run, as --json writes it.
#[derive(Serialize, Debug)]
pub struct Report {
    pub label: String,
    pub server: String,
    pub threads: usize,
    pub connections_per_thread: usize,
    pub connections: usize,
    pub pipeline: usize,
    pub rate: Option<f64>,
    pub keyspace: u64,
    pub distribution: crate::cli::Distribution,
    pub data_size: usize,
    pub resp3: bool,
    pub cluster: bool,
    /// MOVED/ASK replies followed in --cluster mode.
    pub redirects: u64,
    pub seconds: f64,
    /// Client CPU seconds (user + system) this process used.
    pub client_cpu_seconds: f64,
    pub commands: Vec<CommandResult>,
    pub total: CommandResult,
}

impl Report {
    pub fn table(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "{}{}: {} threads x {} connections, pipeline {}{}, {:.2} s, client CPU {:.2} s\n\n",
            self.server,
            if self.cluster {
                format!(" (cluster, {} MOVED/ASK followed)", self.redirects)
            } else {
                String::new()
            },
            self.threads,
            self.connections_per_thread,
            self.pipeline,
            self.rate.map_or(String::new(), |r| format!(", rate {r}/s")),
            self.seconds,
            self.client_cpu_seconds,
        ));
        s.push_str(&format!(
            "{:<12} {:>10} {:>12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
            "command",
            "requests",
            "ops/s",
            "avg ms",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "p99.99",
            "max",
            "errors"
        ));
        for c in self.commands.iter().chain(std::iter::once(&self.total)) {
            s.push_str(&format!(
                "{:<12} {:>10} {:>12.0} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8}\n",
                c.name,
                c.requests,
                c.ops_per_sec,
                c.avg_ms,
                c.p50_ms,
                c.p90_ms,
                c.p99_ms,
                c.p999_ms,
                c.p9999_ms,
                c.max_ms,
                c.errors
            ));
        }
        s
    }

    pub fn csv(&self) -> String {
        let mut s = String::from(
            "command,requests,errors,ops_per_sec,avg_ms,p50_ms,p90_ms,p99_ms,p99.9_ms,p99.99_ms,max_ms\n",
        );
        for c in self.commands.iter().chain(std::iter::once(&self.total)) {
            s.push_str(&format!(
                "{},{},{},{:.1},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3}\n",
                c.name,
                c.requests,
                c.errors,
                c.ops_per_sec,
                c.avg_ms,
                c.p50_ms,
                c.p90_ms,
                c.p99_ms,
                c.p999_ms,
                c.p9999_ms,
                c.max_ms
            ));
        }
        s
    }
}

/// utime + stime of this process, in seconds.
pub fn process_cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return 0.0;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}
