//! Redis Cluster.

pub mod wire;
