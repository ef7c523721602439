//! The official JSONata suite through our own engine (see `suite/mod.rs`).

mod suite;

fn main() -> std::process::ExitCode {
    suite::main("crosswalk", "jsonata-known-failures-crosswalk.txt")
}
