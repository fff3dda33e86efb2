//! `pyrope-check-aof`: a thin main over [`pyrope_check_aof::run`].
fn main() {
    std::process::exit(pyrope_check_aof::run(std::env::args_os()));
}
