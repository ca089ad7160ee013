//! The server family: INFO, CONFIG, COMMAND, DBSIZE, FLUSH*, and friends.

use super::Spec;

/// The Redis version Redwing answers as, so clients enable the features
/// it has (HELLO, INFO redis_version).
pub const REDIS_VERSION: &str = "7.0.15";

pub fn register(t: &mut Vec<Spec>) {
    let _ = t;
}
