//! RESP, the Redis serialization protocol (RESP2 and RESP3, as specified in Redis's
//! `docs/reference/protocol-spec`).
//!
//! - [`request`]: the server's incremental parser of client commands (multibulk and inline).
//! - [`encode`]: appending replies / commands to a byte buffer.
//! - [`frame`]: parsing replies into [`Frame`] trees (clients, tools, tests).
//! - [`scan`]: finding reply boundaries without building values (counting replies).

pub mod encode;
pub mod frame;
pub mod request;
pub mod scan;

pub use frame::{parse_frame, Frame, FrameError};
pub use request::{ArgSource, Parsed, ProtocolError, RequestParser};
