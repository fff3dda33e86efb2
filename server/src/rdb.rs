//! The dataset in RDB form (rdb.c's object side): the server's values written through
//! `common::rdb`'s writer primitives, and RDB files loaded into the keyspace through its reader.

use crate::fork::ChildCtx;
use crate::server::Server;

/// What a load did: keys loaded and keys skipped because they had expired.
#[derive(Debug, Default)]
pub struct LoadStats {
    /// Keys added to the keyspace.
    pub loaded: u64,
    /// Keys whose expire time had passed (not added, as Redis's loader on a primary).
    pub expired: u64,
}

/// Writes the whole dataset to `path` atomically: `temp-<pid>.rdb`, fsync, rename, fsync of
/// the directory (Redis `rdbSave`). Errors are logged with Redis's wording and returned.
pub fn save_file(_srv: &Server, _path: &str, _ctx: Option<&mut ChildCtx>) -> Result<(), String> {
    Err("not yet".into())
}

/// Loads `path` into the (empty) keyspace. Errors name the offset, the key and the reason.
pub fn load_file(_srv: &mut Server, _path: &str) -> Result<LoadStats, String> {
    Err("not yet".into())
}
