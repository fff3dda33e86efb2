//! pyrope-cli: the redis-cli equivalent. All logic lives in the library crate.
fn main() {
    std::process::exit(pyrope_cli::run(std::env::args().collect()));
}
