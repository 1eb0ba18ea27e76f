/// A graph with an edge to a node it does not contain, and a node returning a successor
/// it did not declare, do not compile.
#[test]
fn undeclared_edges_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
