//! `pyrope-common`: the codecs and small algorithms every Pyrope binary shares.
//!
//! - [`acl`]: the command-table-free parts of Redis's ACL (`acl.c`): categories, rule
//!   parsing, user description, command-rule compaction, the ACL LOG, password hashing.
//! - [`aof`]: AOF command streams (reader, writer, redis-check-aof's scan) and the Redis 7
//!   multi-part manifest.
//! - [`resp`]: RESP2/RESP3 request parsing (server side), reply encoding and reply parsing.
//! - [`glob`]: Redis glob patterns.
//! - [`hll`]: Redis's HyperLogLog representation (sparse/dense bytes, hash, estimator).
//! - [`slot`]: CRC16 cluster hash slots.
//! - [`conf`]: `redis.conf` / `sdssplitargs` tokenizing.
//! - [`client`]: the tools' and tests' client layer: connection options (clap), `redis://`
//!   URIs, TCP/unix streams, the incremental reply reader, a blocking client.
//! - [`rdb`]: the RDB format: CRC64, LZF, a streaming reader (v1-12) with a visitor, a writer,
//!   DUMP/RESTORE payloads.
//! - [`logfmt`]: Redis's log line format.
//! - [`util`]: Redis's strict number parsing and formatting (`string2ll`, `ll2string`...).
//!
//! Invariant: no server logic lives here; nothing here allocates per byte on a hot path.

pub mod acl;
pub mod aof;
pub mod client;
pub mod conf;
pub mod glob;
pub mod hll;
pub mod intset;
pub mod listpack;
pub mod logfmt;
pub mod rdb;
pub mod resp;
pub mod slot;
pub mod util;
