//! `pyrope-check-rdb`: a thin main over [`pyrope_check_rdb::run`].
fn main() {
    std::process::exit(pyrope_check_rdb::run(std::env::args_os()));
}
