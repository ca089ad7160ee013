//! The two charts, drawn with plotters into PNG files.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use crate::Run;

const SIZE: (u32, u32) = (960, 560);

fn color(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(214, 39, 40),
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
    ];
    C[i % C.len()]
}

fn label(r: &Run) -> String {
    if r.label.is_empty() {
        "run".into()
    } else {
        r.label.clone()
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// ops/s against total connections; one line per label, points in order.
pub fn throughput(out: &Path, title: &str, runs: &[Run]) -> Result<(), String> {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in runs {
        series
            .entry(label(r))
            .or_default()
            .push(((r.connections.max(1) as f64).log2(), r.total.ops_per_sec));
    }
    for pts in series.values_mut() {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    // x is log2(connections): doublings equally spaced, labelled 1, 2, 4 ...
    let max_x = (runs.iter().map(|r| r.connections).max().unwrap_or(1).max(2) as f64)
        .log2()
        .ceil();
    let max_ops = runs.iter().map(|r| r.total.ops_per_sec).fold(1.0, f64::max);
    let pipelines: Vec<String> = {
        let mut p: Vec<usize> = runs.iter().map(|r| r.pipeline).collect();
        p.sort();
        p.dedup();
        p.iter().map(|p| p.to_string()).collect()
    };
    let title = if title.is_empty() {
        format!(
            "Throughput by connections (pipeline {})",
            pipelines.join(",")
        )
    } else {
        title.to_string()
    };

    let root = BitMapBackend::new(out, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .margin_right(48)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.2f64..max_x + 0.2, 0f64..max_ops * 1.15)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("connections (total)")
        .y_desc("ops/s")
        .x_labels(max_x as usize + 2)
        .x_label_formatter(&|v| format!("{:.0}", v.exp2()))
        .y_label_formatter(&|v| {
            if *v >= 1000.0 {
                format!("{:.0}k", v / 1000.0)
            } else {
                format!("{v:.0}")
            }
        })
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(3)))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
            .map_err(err)?;
    }
    legend(&mut chart)?;
    root.present().map_err(err)
}

/// Latency by percentile on a "nines" axis (90%, 99%, 99.9% ... equally
/// spaced), one line per run.
pub fn latency(out: &Path, title: &str, runs: &[Run]) -> Result<(), String> {
    // x = number of nines: -log10(1 - p).
    let nines = |p: f64| -((1.0 - p / 100.0).max(1e-6)).log10();
    let series: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|r| {
            let name = format!("{} c={} P={}", label(r), r.connections, r.pipeline);
            let pts = r
                .total
                .percentiles
                .iter()
                .map(|&(p, ms)| (nines(p), ms))
                .collect();
            (name, pts)
        })
        .collect();
    let max_x = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(1.0, f64::max);
    let max_ms = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .fold(0.01, f64::max);
    let min_ms = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .fold(max_ms, f64::min)
        .max(0.001);
    let title = if title.is_empty() {
        "Latency by percentile".to_string()
    } else {
        title.to_string()
    };

    let root = BitMapBackend::new(out, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .margin_right(48)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..max_x.ceil(), (min_ms / 1.5..max_ms * 1.5).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_labels(max_x.ceil() as usize + 1)
        .x_label_formatter(&|v| {
            let p = 100.0 * (1.0 - 10f64.powf(-v));
            let digits = (v.round() as usize).saturating_sub(2);
            format!("{p:.digits$}%")
        })
        .y_label_formatter(&|v| format!("{v}"))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
    }
    legend(&mut chart)?;
    root.present().map_err(err)
}

/// Per label and pipeline depth, the run with the most connections.
pub fn widest(runs: Vec<Run>) -> Vec<Run> {
    let mut best: BTreeMap<(String, usize), Run> = BTreeMap::new();
    for r in runs {
        let k = (label(&r), r.pipeline);
        if best.get(&k).is_none_or(|b| b.connections < r.connections) {
            best.insert(k, r);
        }
    }
    best.into_values().collect()
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(err)
}
