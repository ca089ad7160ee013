//! RESP2/RESP3: the request parser, the reply type and its encoder, and the
//! error texts every layer replies with. Knows nothing of the server above.

pub mod errors;
pub mod inline;
pub mod parse;
pub mod reply;

pub use parse::{parse_i64, Limits, Parsed, ProtocolError, RequestParser};
pub use reply::Reply;
