//! The Store trait, its row types and errors, and the conformance suite every backend passes.
