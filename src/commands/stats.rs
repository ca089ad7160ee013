//! Per-core command statistics (INFO commandstats, errorstats), summed over
//! cores when INFO asks. Counting is a plain add on the connection's core.

use std::cell::RefCell;
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone, Copy)]
pub struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

#[derive(Debug, Default, Clone)]
pub struct CoreStats {
    /// Indexed like the command table.
    pub commands: Vec<CmdStat>,
    /// Error replies by code (`ERR`, `WRONGTYPE` ...).
    pub errors: BTreeMap<String, u64>,
    pub total_commands: u64,
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub total_error_replies: u64,
    pub reads_processed: u64,
    pub writes_processed: u64,
    /// Times a connection's reply buffer grew / was given back (INFO's
    /// reply_buffer_expands / _shrinks).
    pub reply_buffer_expands: u64,
    pub reply_buffer_shrinks: u64,
    /// Latency histograms by ACL id (subcommands apart), made on first use.
    pub latency: Vec<Option<super::histogram::Histogram>>,
}

thread_local! {
    static STATS: RefCell<CoreStats> = RefCell::new(CoreStats::default());
}

/// Runs `f` on this core's statistics.
pub fn with<R>(f: impl FnOnce(&mut CoreStats) -> R) -> R {
    STATS.with(|s| f(&mut s.borrow_mut()))
}

impl CoreStats {
    pub fn command(&mut self, idx: usize) -> &mut CmdStat {
        if self.commands.len() <= idx {
            self.commands
                .resize(super::table().specs.len(), CmdStat::default());
        }
        &mut self.commands[idx]
    }

    /// Records a call's duration in its command's latency histogram.
    pub fn latency(&mut self, id: usize, micros: u64) {
        if self.latency.len() <= id {
            self.latency.resize(id + 1, None);
        }
        self.latency[id]
            .get_or_insert_with(Default::default)
            .record(micros);
    }

    /// Counts an error reply by its code (the first word).
    pub fn error(&mut self, text: &str) {
        let code = text.split(' ').next().unwrap_or("ERR");
        *self.errors.entry(code.to_string()).or_default() += 1;
        self.total_error_replies += 1;
    }

    /// Adds another core's numbers into these.
    pub fn merge(&mut self, o: &CoreStats) {
        if self.commands.len() < o.commands.len() {
            self.commands.resize(o.commands.len(), CmdStat::default());
        }
        for (a, b) in self.commands.iter_mut().zip(&o.commands) {
            a.calls += b.calls;
            a.usec += b.usec;
            a.rejected += b.rejected;
            a.failed += b.failed;
        }
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        self.total_commands += o.total_commands;
        self.total_connections += o.total_connections;
        self.rejected_connections += o.rejected_connections;
        self.net_input_bytes += o.net_input_bytes;
        self.net_output_bytes += o.net_output_bytes;
        self.total_error_replies += o.total_error_replies;
        self.reads_processed += o.reads_processed;
        self.writes_processed += o.writes_processed;
        self.reply_buffer_expands += o.reply_buffer_expands;
        self.reply_buffer_shrinks += o.reply_buffer_shrinks;
        if self.latency.len() < o.latency.len() {
            self.latency.resize(o.latency.len(), None);
        }
        for (a, b) in self.latency.iter_mut().zip(&o.latency) {
            if let Some(b) = b {
                a.get_or_insert_with(Default::default).merge(b);
            }
        }
    }
}
