//! Packet isolation is enforced by ownership: code that would let two
//! stages touch one frame does not compile. Each file in `tests/ui/` must
//! fail for the reason its `.stderr` records (a move or borrow error, a
//! missing `Clone`, a missing `Send`), and `tests/ui/pass/` shows the
//! patterns that are allowed.
//!
//! The `.stderr` files depend on the compiler version; regenerate them with
//! `TRYBUILD=overwrite cargo test -p netfn-core --test compile_fail` after a
//! toolchain bump, and read the diff: the error codes must stay the same.

#[test]
fn ownership_isolates_packets() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
