//! Logs in Redis's line format (`pid:M 23 Nov 2026 11:20:12.123 * text`)
//! through `tracing`, to `logfile` or stdout, filtered by `loglevel`, which
//! CONFIG SET can change at any time.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::{format::Writer, FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{self, Opt};

/// The role letter Redis prints after the pid (M master, X sentinel ...).
static ROLE: Mutex<char> = Mutex::new('M');

pub fn set_role(c: char) {
    *ROLE.lock().unwrap() = c;
}

struct RedisFormat;

impl<S, N> FormatEvent<S, N> for RedisFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mark = match *event.metadata().level() {
            Level::TRACE | Level::DEBUG => '.',
            Level::INFO => '*',
            Level::WARN | Level::ERROR => '#',
        };
        write!(
            w,
            "{}:{} {} {} ",
            std::process::id(),
            ROLE.lock().map(|r| *r).unwrap_or('M'),
            timestamp(),
            mark
        )?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// `23 Nov 2026 11:20:12.123` in local time.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes into the tm we pass.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

/// Whether an event of `level` passes the current `loglevel`.
fn enabled(level: &Level) -> bool {
    // debug, verbose, notice, warning, nothing
    match config::num(Opt::Loglevel) {
        0 | 1 => true,
        2 => *level <= Level::INFO,
        3 => *level <= Level::WARN,
        _ => false,
    }
}

/// Installs the subscriber. Fails if the logfile cannot be opened.
pub fn init() -> Result<(), String> {
    use tracing_subscriber::prelude::*;
    let file = config::text(Opt::Logfile);
    let writer: Box<dyn Fn() -> Box<dyn Write> + Send + Sync> = if file.is_empty() {
        Box::new(|| Box::new(std::io::stdout()))
    } else {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .map_err(|e| format!("Can't open the log file: {e}"))?;
        let f = std::sync::Arc::new(f);
        Box::new(move || Box::new(f.clone()) as Box<dyn Write>)
    };
    let layer = tracing_subscriber::fmt::layer()
        .event_format(RedisFormat)
        .with_writer(writer)
        .with_filter(tracing_subscriber::filter::filter_fn(|m| {
            enabled(m.level())
        }));
    tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .map_err(|e| e.to_string())
}
