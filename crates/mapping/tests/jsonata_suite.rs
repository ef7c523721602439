//! The official JSONata suite through the jlens-core engine (see `suite/mod.rs`).

mod suite;

fn main() -> std::process::ExitCode {
    suite::main("jlens", "jsonata-known-failures.txt")
}
