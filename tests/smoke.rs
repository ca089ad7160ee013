//! The server starts, answers, and routes keys to both cores.
mod common;
use common::*;

#[test]
fn set_get_across_cores() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let (a, b) = keys_on_two_cores("smoke:");
    let _: () = redis::cmd("SET").arg(&a).arg("1").query(&mut c).unwrap();
    let _: () = redis::cmd("SET").arg(&b).arg("2").query(&mut c).unwrap();
    let v: Vec<String> = redis::cmd("MGET").arg(&a).arg(&b).query(&mut c).unwrap();
    assert_eq!(v, ["1", "2"]);
    assert_eq!(s.cli(&["ping"]).trim(), "PONG");
}
