//! The conformance suite every backend passes (filled in below).
