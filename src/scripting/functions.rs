//! FUNCTION libraries: the `#!lua name=<lib>` header, the registry kept in
//! the [`Store`], and the FUNCTION LIST / STATS / DELETE / FLUSH / DUMP /
//! RESTORE data. Compiling and running is the engine's.

use std::sync::Arc;

use bytes::Bytes;

use super::store::Store;
use super::ScriptFlags;
use crate::protocol::Reply;

/// One loaded library; `code` is the whole FUNCTION LOAD payload, which is
/// also what DUMP and the RDB keep.
#[derive(Debug, Clone)]
pub struct Library {
    pub name: String,
    pub code: Bytes,
    pub functions: Vec<FunctionInfo>,
}

#[derive(Debug, Clone)]
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<String>,
    pub flags: ScriptFlags,
}

/// FUNCTION RESTORE's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    Append,
    Replace,
    Flush,
}

/// Reads the `#!<engine> name=<lib>` line: the library name and where the
/// code starts (at the newline, so line numbers hold).
pub fn parse_metadata(payload: &[u8]) -> Result<(String, usize), String> {
    if !payload.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = memchr::memchr(b'\n', payload) else {
        return Err("ERR Invalid library metadata".into());
    };
    let parts = match crate::protocol::inline::split_args(&payload[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid library metadata".into()),
    };
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(String::from_utf8_lossy(&part[5..]).into_owned());
            continue;
        }
        return Err(format!(
            "ERR Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    let engine = &parts[0][2..];
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(format!(
            "ERR Engine '{}' not found",
            String::from_utf8_lossy(engine)
        ));
    }
    if !super::api::valid_name(&name) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    Ok((name, end))
}

impl Store {
    /// Adds compiled libraries under one lock, with Redis's checks: a library
    /// that exists needs `replace`; no function name may be taken by another
    /// library. With `flush` everything before is dropped first.
    pub(crate) fn install(
        &self,
        new: Vec<Library>,
        replace: bool,
        flush: bool,
    ) -> Result<(), String> {
        let mut reg = self.libraries();
        let mut libs: Vec<Arc<Library>> = if flush { Vec::new() } else { reg.libs.clone() };
        for lib in &new {
            if libs.iter().any(|l| l.name == lib.name) {
                if !replace {
                    return Err(format!("ERR Library '{}' already exists", lib.name));
                }
                libs.retain(|l| l.name != lib.name);
            }
        }
        for lib in new {
            for f in &lib.functions {
                if libs
                    .iter()
                    .any(|l| l.functions.iter().any(|g| g.name == f.name))
                {
                    return Err(format!("ERR Function {} already exists", f.name));
                }
            }
            libs.push(Arc::new(lib));
        }
        reg.libs = libs;
        reg.generation += 1;
        Ok(())
    }

    /// FUNCTION DELETE.
    pub fn function_delete(&self, name: &[u8]) -> Result<(), Reply> {
        let mut reg = self.libraries();
        let before = reg.libs.len();
        reg.libs.retain(|l| l.name.as_bytes() != name);
        if reg.libs.len() == before {
            return Err(Reply::error("ERR Library not found"));
        }
        reg.generation += 1;
        Ok(())
    }

    /// FUNCTION FLUSH.
    pub fn function_flush(&self) {
        let mut reg = self.libraries();
        reg.libs.clear();
        reg.generation += 1;
    }

    /// The library and flags of a function (FCALL_RO's check, locking).
    pub fn function(&self, name: &[u8]) -> Option<(Arc<Library>, FunctionInfo)> {
        let reg = self.libraries();
        reg.libs.iter().find_map(|l| {
            l.functions
                .iter()
                .find(|f| f.name.as_bytes() == name)
                .map(|f| (l.clone(), f.clone()))
        })
    }

    /// Every library's code, in load order (FUNCTION DUMP, RDB FUNCTION2).
    pub fn library_codes(&self) -> Vec<Bytes> {
        self.libraries()
            .libs
            .iter()
            .map(|l| l.code.clone())
            .collect()
    }

    /// FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern] (pattern: glob, no case).
    pub fn function_list(&self, pattern: Option<&[u8]>, withcode: bool) -> Reply {
        let reg = self.libraries();
        let libs = reg
            .libs
            .iter()
            .filter(|l| pattern.is_none_or(|p| crate::glob::matches(p, l.name.as_bytes(), true)));
        Reply::Array(
            libs.map(|l| {
                let functions = l
                    .functions
                    .iter()
                    .map(|f| {
                        Reply::Map(vec![
                            (Reply::bulk("name"), Reply::bulk(&f.name)),
                            (
                                Reply::bulk("description"),
                                f.description.as_ref().map_or(Reply::Nil, Reply::bulk),
                            ),
                            (
                                Reply::bulk("flags"),
                                Reply::Set(
                                    f.flags.names().into_iter().map(Reply::status).collect(),
                                ),
                            ),
                        ])
                    })
                    .collect();
                let mut m = vec![
                    (Reply::bulk("library_name"), Reply::bulk(&l.name)),
                    (Reply::bulk("engine"), Reply::bulk("LUA")),
                    (Reply::bulk("functions"), Reply::Array(functions)),
                ];
                if withcode {
                    m.push((Reply::bulk("library_code"), Reply::Bulk(l.code.clone())));
                }
                Reply::Map(m)
            })
            .collect(),
        )
    }

    /// FUNCTION STATS' `engines` part: (libraries, functions).
    pub fn function_counts(&self) -> (usize, usize) {
        let reg = self.libraries();
        let f = reg.libs.iter().map(|l| l.functions.len()).sum();
        (reg.libs.len(), f)
    }

    /// Bytes of the libraries' code and names (INFO used_memory_functions).
    pub fn libraries_size(&self) -> usize {
        let reg = self.libraries();
        reg.libs
            .iter()
            .map(|l| {
                let names: usize = l.functions.iter().map(|f| f.name.len()).sum();
                l.name.len() + l.code.len() + names
            })
            .sum()
    }
}
