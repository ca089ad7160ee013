//! Per-core data: the keyspace of the slots a core owns, value encodings,
//! expiry. Runs only on the owning shard core, synchronously; knows nothing
//! of connections, the mesh or roles.

pub mod db;
mod entry;
pub mod evict;
pub mod hash;
pub mod journal;
pub mod list;
pub mod listpack;
pub mod set;
pub mod shard;
pub mod slot;
mod small;
pub mod stream;
pub mod value;
pub mod zset;

pub use db::{Db, Entry, Key};
pub use shard::{now_ms, Shard};
pub use slot::key_slot;
pub use value::Value;
