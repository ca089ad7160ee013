//! Persistence. `rdb` is Redis's snapshot format (the same bytes a master
//! streams to a replica) and `lzf` the compression its strings use; both
//! only encode and decode. `snapshot` is one core's part of a fork-less
//! snapshot, `save` takes snapshots (SAVE, BGSAVE, the `save` rules) and
//! `load` reads the dump file at start-up; `aof` is the append-only file.

pub mod aof;
pub mod load;
pub mod lzf;
pub mod rdb;
pub mod save;
pub mod snapshot;

pub use load::loading;

/// Function libraries live in the script engine, above this layer; the
/// server hands in how to list their code (snapshots save it) and how to
/// load one (the dump and AOF base loaders).
#[derive(Clone, Copy)]
pub struct FunctionHooks {
    pub codes: fn() -> Vec<bytes::Bytes>,
    pub load: fn(&[u8]) -> Result<(), String>,
}

static FUNCTIONS: std::sync::OnceLock<FunctionHooks> = std::sync::OnceLock::new();

pub fn set_function_hooks(h: FunctionHooks) {
    let _ = FUNCTIONS.set(h);
}

fn function_hooks() -> Option<FunctionHooks> {
    FUNCTIONS.get().copied()
}
pub use save::{abort_running, before_coord, writes_refused};

/// The orderly stop of SHUTDOWN and SIGTERM/SIGINT: saves first when asked
/// (`save`), or by default when save rules exist, as Redis does. Returns
/// false, without exiting, when that save fails and `force` is not set.
pub async fn shutdown(save: Option<bool>, force: bool) -> bool {
    tracing::info!("User requested shutdown...");
    // Never while loading: that would replace the file with part of it.
    let save = !loading() && save.unwrap_or_else(|| !save::save_rules().is_empty());
    if save {
        tracing::info!("Saving the final RDB snapshot before exiting.");
        // A background save or AOF rewrite in progress finishes first.
        while save::status().in_progress || aof::status().rewrite_in_progress {
            crate::runtime::sleep(std::time::Duration::from_millis(1)).await;
        }
        let ok = save::try_begin() && save::start_and_wait(false).await;
        if !ok && !force {
            tracing::warn!("Error trying to save the DB, can't exit.");
            return false;
        }
    }
    // Everything acknowledged is in the AOF and synced.
    aof::flush_at_exit();
    crate::lifecycle::exit_after_shutdown()
}

/// A SIGTERM/SIGINT the signal thread left for the control executor.
pub fn shutdown_requested() -> bool {
    crate::lifecycle::signal_pending()
}

pub async fn shutdown_from_signal() {
    crate::lifecycle::take_signal();
    if !shutdown(None, false).await {
        tracing::warn!(
            "Errors trying to shut down the server. Check the logs for more information."
        );
    }
}
