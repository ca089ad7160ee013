//! redwing-bench: a load generator for any RESP server. See bench/README.md.
//!
//! The main thread parses flags, reads the cluster's slot map if asked,
//! starts one glommio worker per thread (runner), prints progress once a
//! second from the workers' interval histograms, and the results at the end.

mod cli;
mod client;
mod cluster;
mod resp;
mod runner;
mod stats;
mod workload;

use std::io::Write;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;

use cli::Args;
use runner::{Msg, Plan};
use stats::{CommandResult, Interval, Report};

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("redwing-bench: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let mix = workload::Mix::from_args(&args)?;
    if args.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        return Err("--rate must be above 0".into());
    }
    let addr = format!("{}:{}", args.host, args.port);
    let auth = cluster::auth_command(args.user.as_deref(), args.password.as_deref());
    let mut handshake: Vec<Vec<u8>> = auth.iter().cloned().collect();
    if args.resp3 {
        handshake.push(cluster::command(&[b"HELLO", b"3"]));
    }
    let slots = if args.cluster {
        cluster::discover(&addr, auth.as_deref())?
    } else {
        cluster::SlotMap::single(addr.clone())
    };
    let threads = args.threads();
    let names: Vec<String> = mix.templates.iter().map(|t| t.name.clone()).collect();
    let plan = Plan {
        args: args.clone(),
        mix,
        slots,
        handshake,
        threads,
    };

    let (tx, rx) = mpsc::channel();
    let barrier = Arc::new(Barrier::new(threads + 1));
    runner::spawn(plan, tx, barrier.clone())?;
    barrier.wait();
    let cpu0 = stats::process_cpu_seconds();
    let start = Instant::now();
    let wall_start = SystemTime::now();

    let mut hdr_file = match &args.hdr_out {
        Some(p) => Some(std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => None,
    };
    let mut serializer = V2DeflateSerializer::new();
    let mut hdr_log = hdr_file.as_mut().map(|f| {
        IntervalLogWriterBuilder::new()
            .add_comment("redwing-bench latency log, values in microseconds")
            .with_start_time(wall_start)
            .with_max_value_divisor(1000.0)
            .begin_log_with(f, &mut serializer)
    });

    let mut total = Interval::new(names.len());
    let mut second = Interval::new(names.len());
    let mut second_start = Duration::ZERO;
    let mut done = 0;
    let mut elapsed = Duration::ZERO;
    let mut errors = Vec::new();
    let mut reply_error = None;
    // A little after each whole second, when the workers have sent theirs.
    let mut next_print = Duration::from_millis(1100);
    while done < threads {
        let wait = next_print.saturating_sub(start.elapsed());
        match rx.recv_timeout(wait) {
            Ok(Msg::Tick(iv)) => second.add(&iv),
            Ok(Msg::Done {
                elapsed: e,
                error,
                first_reply_error,
            }) => {
                done += 1;
                elapsed = elapsed.max(e);
                errors.extend(error);
                if reply_error.is_none() {
                    reply_error = first_reply_error;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err("a worker thread died".into());
            }
        }
        let now = start.elapsed();
        if now >= next_print || done == threads {
            if !errors.is_empty() && second.ops() == 0 && total.ops() == 0 && done == threads {
                break;
            }
            if let Some(Ok(log)) = hdr_log.as_mut() {
                for (name, h) in names.iter().zip(&second.hists) {
                    if h.is_empty() {
                        continue;
                    }
                    log.write_histogram(h, second_start, now - second_start, Tag::new(name))
                        .map_err(|e| format!("--hdr-out: {e}"))?;
                }
            }
            total.add(&second);
            if !args.quiet && done < threads {
                let secs = (now - second_start).as_secs_f64().max(1e-9);
                let h = second.merged();
                eprintln!(
                    "[{:>5.1}s] {:>10.0} ops/s  p99 {:>8.3} ms  errors {}  total {}",
                    now.as_secs_f64(),
                    second.ops() as f64 / secs,
                    h.value_at_quantile(0.99) as f64 / 1000.0,
                    total.error_count(),
                    total.ops()
                );
            }
            second = Interval::new(names.len());
            second_start = now;
            next_print = now + Duration::from_secs(1);
        }
    }
    if let Some(Err(e)) = hdr_log {
        return Err(format!("--hdr-out: {e}"));
    }
    let cpu = stats::process_cpu_seconds() - cpu0;
    if let Some(e) = errors.first() {
        if total.ops() == 0 {
            return Err(e.clone());
        }
        eprintln!("redwing-bench: error: {e}");
    }
    if let Some(e) = &reply_error {
        eprintln!("redwing-bench: first error reply: {e}");
    }

    let secs = elapsed.as_secs_f64();
    let report = Report {
        label: args.label.clone(),
        server: format!("{}:{}", args.host, args.port),
        threads,
        connections_per_thread: args.connections,
        connections: threads * args.connections,
        pipeline: args.pipeline,
        rate: args.rate,
        keyspace: args.keyspace,
        distribution: args.distribution,
        data_size: args.data_size,
        resp3: args.resp3,
        cluster: args.cluster,
        redirects: total.redirects,
        seconds: secs,
        client_cpu_seconds: cpu,
        commands: names
            .iter()
            .zip(total.hists.iter().zip(&total.errors))
            .map(|(n, (h, &e))| CommandResult::new(n, h, e, secs))
            .collect(),
        total: CommandResult::new("ALL", &total.merged(), total.error_count(), secs),
    };
    let to_stdout = |p: &std::path::Path| p.as_os_str() == "-";
    let json_out = args.json.as_deref();
    let csv_out = args.csv.as_deref();
    if !json_out.is_some_and(to_stdout) && !csv_out.is_some_and(to_stdout) {
        print!("{}", report.table());
    }
    if let Some(p) = json_out {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        write_out(p, &text)?;
    }
    if let Some(p) = csv_out {
        write_out(p, &report.csv())?;
    }
    if !errors.is_empty() {
        return Err(format!("{} worker(s) stopped on an error", errors.len()));
    }
    Ok(())
}

fn write_out(path: &std::path::Path, text: &str) -> Result<(), String> {
    if path.as_os_str() == "-" {
        let mut o = std::io::stdout().lock();
        o.write_all(text.as_bytes())
            .and_then(|_| o.write_all(b"\n"))
            .map_err(|e| e.to_string())
    } else {
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    }
}
