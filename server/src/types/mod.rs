//! One module per data-type family, as Redis's t_*.c files. Each exports `COMMANDS`, the
//! handlers it registers by full command name.

pub mod bitops;
pub mod hash;
pub mod hll;
pub mod list;
pub mod set;
pub mod string;
pub mod zset;
