//! What every core's engine shares: script bodies by SHA1 and the function
//! libraries. Engines compile from here on first use, so SCRIPT LOAD or
//! FUNCTION LOAD on one core is seen by all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::functions::Library;
use super::ScriptFlags;

#[derive(Default)]
pub struct Store {
    scripts: Mutex<HashMap<String, Arc<Script>>>,
    /// Bumped by SCRIPT FLUSH: engines drop their compiled scripts.
    pub(crate) scripts_gen: AtomicU64,
    libraries: Mutex<Libraries>,
}

pub struct Script {
    pub body: Vec<u8>,
    pub flags: ScriptFlags,
    /// Length of the shebang line, not compiled.
    pub skip: usize,
}

#[derive(Default, Clone)]
pub struct Libraries {
    /// Bumped on every change: engines reload their functions.
    pub generation: u64,
    pub libs: Vec<Arc<Library>>,
}

impl Store {
    pub fn new() -> Arc<Store> {
        Arc::default()
    }

    pub(crate) fn add_script(&self, sha: String, script: Script) -> Arc<Script> {
        let mut map = self.scripts.lock().unwrap();
        map.entry(sha).or_insert_with(|| Arc::new(script)).clone()
    }

    pub(crate) fn script(&self, sha: &str) -> Option<Arc<Script>> {
        self.scripts.lock().unwrap().get(sha).cloned()
    }

    /// SCRIPT EXISTS for one SHA (case-insensitive, as Redis).
    pub fn script_exists(&self, sha: &[u8]) -> bool {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        self.scripts.lock().unwrap().contains_key(&sha)
    }

    /// The flags of a cached script (EVALSHA_RO's check, locking plans).
    pub fn script_flags(&self, sha: &[u8]) -> Option<ScriptFlags> {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        self.script(&sha).map(|s| s.flags)
    }

    /// SCRIPT FLUSH.
    pub fn script_flush(&self) {
        self.scripts.lock().unwrap().clear();
        self.scripts_gen.fetch_add(1, Ordering::Relaxed);
    }

    pub fn scripts_count(&self) -> usize {
        self.scripts.lock().unwrap().len()
    }

    /// The cached scripts' count and body bytes (INFO used_memory_scripts_eval).
    pub fn scripts_size(&self) -> (usize, usize) {
        let map = self.scripts.lock().unwrap();
        let bytes = map.iter().map(|(sha, s)| sha.len() + s.body.len()).sum();
        (map.len(), bytes)
    }

    pub(crate) fn libraries(&self) -> MutexGuard<'_, Libraries> {
        self.libraries.lock().unwrap()
    }

    pub(crate) fn libraries_gen(&self) -> u64 {
        self.libraries().generation
    }
}
