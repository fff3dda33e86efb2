//! One module per data-type family, as Redis's t_*.c files. Each exports `COMMANDS`, the
//! handlers it registers by full command name.

pub mod bitops;
pub mod geo;
pub mod geohash;
pub mod hash;
pub mod hll;
pub mod list;
pub mod set;
pub mod sort;
pub mod stream;
pub mod string;
pub mod zset;

use crate::command::Ctx;
use crate::keyspace::{Deletion, Ev, NewValue};

/// Stores a STORE command's result at argv[1] (replacing whatever is there and dropping its
/// TTL, as `setKey`) and replies its size `n`; no result (empty) deletes argv[1] with a `del`
/// event and replies 0 (SINTERSTORE & co., ZUNIONSTORE & co., ZRANGESTORE; `ev` is the
/// command's event).
pub fn store_result(c: &mut Ctx, result: Option<(NewValue<'static>, usize)>, ev: Ev) {
    let dst = c.arg(1);
    let existing = c.lookup_write(dst);
    match result {
        Some((v, n)) => {
            let lru = c.srv.new_key_lru();
            let db = c.db;
            c.srv
                .ks
                .set(db, dst, existing, v, None, false, lru, Some(ev));
            c.dirty(1);
            c.out.int(n as i64);
        }
        None => {
            c.out.int(0);
            if let Some(h) = existing {
                c.srv
                    .ks
                    .delete(h, Deletion::Server, Some(crate::keyspace::ev::DEL));
                c.dirty(1);
            }
        }
    }
}
