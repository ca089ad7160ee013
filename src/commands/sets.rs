//! The set family.

use super::Spec;

pub fn register(t: &mut Vec<Spec>) {
    let _ = t;
}
