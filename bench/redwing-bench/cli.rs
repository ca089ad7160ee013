//! Command-line flags. Connection flags follow redis-benchmark (`-h -p -a
//! --user -3`, and its short `-c -n -P -d -r`), so `-h` is the host and help
//! is `--help` only.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "redwing-bench",
    version,
    about = "Load generator for RESP servers (Redwing, Redis, ...): thread-per-core, closed or open loop, HDR latencies",
    disable_help_flag = true
)]
pub struct Args {
    /// Server host.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    pub host: String,

    /// Server port.
    #[arg(short = 'p', long, default_value_t = 6379)]
    pub port: u16,

    /// Password (AUTH); with --user, ACL user name and password.
    #[arg(short = 'a', long = "pass")]
    pub password: Option<String>,

    /// ACL user name for AUTH.
    #[arg(long)]
    pub user: Option<String>,

    /// Speak RESP3 (HELLO 3 on every connection).
    #[arg(short = '3', long = "resp3")]
    pub resp3: bool,

    /// Worker threads, one glommio executor each (default: every CPU this process may use).
    #[arg(long)]
    pub threads: Option<usize>,

    /// Pin worker thread i to the i-th CPU of this list (e.g. 0,1).
    #[arg(long, value_delimiter = ',')]
    pub cpus: Vec<usize>,

    /// Connections per thread.
    #[arg(short = 'c', long, default_value_t = 50)]
    pub connections: usize,

    /// Requests in flight per connection.
    #[arg(short = 'P', long, default_value_t = 1)]
    pub pipeline: usize,

    /// Total requests to perform (default 100000 unless --duration is given).
    #[arg(short = 'n', long, conflicts_with = "duration")]
    pub requests: Option<u64>,

    /// Run for this long instead of a request count: 10s, 500ms, 2m.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Open loop: fixed total arrival rate in requests/s; latency counts from each
    /// request's intended send time (coordinated-omission correction as wrk2).
    #[arg(long)]
    pub rate: Option<f64>,

    /// Number of distinct keys.
    #[arg(short = 'r', long, default_value_t = 1_000_000)]
    pub keyspace: u64,

    /// Key prefix; keys are <prefix><12-digit number> as redis-benchmark's.
    #[arg(long, default_value = "key:")]
    pub key_prefix: String,

    /// Key choice.
    #[arg(long, value_enum, default_value_t = Distribution::Uniform)]
    pub distribution: Distribution,

    /// Exponent of the zipfian distribution.
    #[arg(long, default_value_t = 0.99)]
    pub zipf_exponent: f64,

    /// Value size in bytes for __data__.
    #[arg(short = 'd', long, default_value_t = 3)]
    pub data_size: usize,

    /// SET:GET mix, e.g. 1:10 (used when no --command is given).
    #[arg(long, default_value = "1:10")]
    pub ratio: String,

    /// Command template, repeatable, with __key__ and __data__ placeholders:
    /// "HSET __key__ f __data__". A leading "N:" gives its weight ("3:GET __key__").
    #[arg(long = "command")]
    pub commands: Vec<String>,

    /// Cluster mode: read the slot map with CLUSTER SLOTS, route each key to its
    /// node, follow MOVED and ASK.
    #[arg(long)]
    pub cluster: bool,

    /// Write the results as JSON to this file ("-" for stdout, instead of the table).
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Write the per-command results as CSV to this file ("-" for stdout).
    #[arg(long)]
    pub csv: Option<PathBuf>,

    /// Write an HdrHistogram interval log (one histogram per command per second).
    #[arg(long)]
    pub hdr_out: Option<PathBuf>,

    /// A name for this run in --json output and charts (e.g. the server's).
    #[arg(long, default_value = "")]
    pub label: String,

    /// Give up when no reply arrives for this long while requests are in
    /// flight, or a connection takes this long (0: wait forever).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,

    /// No live progress on stderr.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Seed for key choice (runs with the same seed choose the same keys).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    Uniform,
    Zipfian,
    Sequential,
}

impl Args {
    pub fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }

    /// Total requests, or None in --duration mode.
    pub fn total_requests(&self) -> Option<u64> {
        match (self.requests, self.duration) {
            (Some(n), _) => Some(n),
            (None, Some(_)) => None,
            (None, None) => Some(100_000),
        }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1e3,
        "us" => n / 1e6,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration unit in {s:?} (use ms, s, m, h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}
