//! Project scripts, run as `cargo xtask <task>`.

fn main() {}
