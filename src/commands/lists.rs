//! The list family (and the blocking list commands).

use super::Spec;

pub fn register(t: &mut Vec<Spec>) {
    let _ = t;
}
