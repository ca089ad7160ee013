//! redwing-plot: PNG charts from redwing-bench --json results (driven by
//! bench/plot). Two charts: throughput against connections, one line per
//! label; latency by percentile, one line per run.

mod charts;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde::Deserialize;

#[derive(Parser)]
#[command(
    name = "redwing-plot",
    version,
    about = "PNG charts from redwing-bench --json results"
)]
struct Args {
    /// A TrueType font for the labels (default: DejaVu Sans or Liberation Sans from the system).
    #[arg(long, global = true)]
    font: Option<PathBuf>,

    /// Chart title.
    #[arg(long, global = true, default_value = "")]
    title: String,

    #[command(subcommand)]
    chart: Chart,
}

#[derive(Subcommand)]
enum Chart {
    /// ops/s against total connections, one line per --label.
    Throughput {
        out: PathBuf,
        #[arg(required = true)]
        results: Vec<PathBuf>,
    },
    /// Latency (ms) by percentile, one line per result file.
    Latency {
        /// Only the run with the most connections of each label and pipeline depth.
        #[arg(long)]
        widest: bool,
        out: PathBuf,
        #[arg(required = true)]
        results: Vec<PathBuf>,
    },
}

/// The part of a redwing-bench --json report the charts use.
#[derive(Deserialize, Debug, Clone)]
pub struct Run {
    pub label: String,
    pub connections: usize,
    pub pipeline: usize,
    pub total: Total,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Total {
    pub ops_per_sec: f64,
    pub percentiles: Vec<(f64, f64)>,
}

const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("redwing-plot: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let font = match &args.font {
        Some(p) => p.clone(),
        None => FONTS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or("no font found: install fonts-dejavu-core or pass --font FILE.ttf")?,
    };
    let bytes = std::fs::read(&font).map_err(|e| format!("{}: {e}", font.display()))?;
    // plotters keeps registered fonts for the life of the process.
    plotters::style::register_font(
        "sans-serif",
        plotters::style::FontStyle::Normal,
        bytes.leak(),
    )
    .map_err(|_| format!("{}: not a usable font", font.display()))?;
    let (out, files) = match &args.chart {
        Chart::Throughput { out, results } | Chart::Latency { out, results, .. } => (out, results),
    };
    let runs = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
            serde_json::from_str::<Run>(&text).map_err(|e| format!("{}: {e}", f.display()))
        })
        .collect::<Result<Vec<Run>, String>>()?;
    match args.chart {
        Chart::Throughput { .. } => charts::throughput(out, &args.title, &runs),
        Chart::Latency { widest, .. } => {
            let runs = if widest { charts::widest(runs) } else { runs };
            charts::latency(out, &args.title, &runs)
        }
    }?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
