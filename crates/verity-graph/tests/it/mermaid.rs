use verity_graph::{Direction, Graph, MermaidOptions};

use crate::common::Tallies;

const GRAPH: Graph<Tallies> = Graph::new();

/// A structural check of a `stateDiagram-v2`: the header, then only known statement
/// forms, every transition between declared states, notes closed.
fn check_state_diagram(diagram: &str, states: &[&str]) {
    let mut lines = diagram
        .lines()
        .skip_while(|l| !l.starts_with("stateDiagram-v2"));
    assert_eq!(lines.next(), Some("stateDiagram-v2"));
    let known = |s: &str| s == "[*]" || states.contains(&s);
    let mut in_note = false;
    for line in lines {
        let line = line.trim();
        if in_note {
            in_note = line != "end note";
            continue;
        }
        if let Some(rest) = line.strip_prefix("note right of ") {
            assert!(known(rest), "note of an unknown state: {line}");
            in_note = true;
        } else if let Some((from, to)) = line.split_once(" --> ") {
            let to = to.split(':').next().unwrap().trim();
            assert!(known(from) && known(to), "unknown state in {line}");
        } else if let Some(dir) = line.strip_prefix("direction ") {
            assert!(["TB", "LR", "RL", "BT"].contains(&dir), "{line}");
        } else if let Some(rest) = line.strip_prefix("class ") {
            let (state, class) = rest.split_once(' ').unwrap();
            assert!(known(state) && class == "highlighted", "{line}");
        } else {
            assert!(line.starts_with("classDef "), "unexpected line: {line}");
        }
    }
    assert!(!in_note, "unclosed note");
}

#[test]
fn default_diagram() {
    let diagram = GRAPH.mermaid();
    check_state_diagram(&diagram, &["Add", "Check", "Ask", "Charge"]);
    insta::assert_snapshot!(diagram);
}

#[test]
fn diagram_with_options() {
    let options = MermaidOptions::new()
        .direction(Direction::LeftToRight)
        .title("Tallies")
        .start("Check")
        .notes(false)
        .edge_labels(false)
        .highlight("Ask");
    let diagram = GRAPH.mermaid_with(&options);
    check_state_diagram(&diagram, &["Add", "Check", "Ask", "Charge"]);
    insta::assert_snapshot!(diagram);
}

#[test]
fn node_list_comes_from_the_declaration() {
    let nodes = GRAPH.nodes();
    let names: Vec<_> = nodes.iter().map(|n| n.name).collect();
    assert_eq!(names, ["Add", "Check", "Ask", "Charge"]);
    assert_eq!(
        nodes[0].doc,
        " Adds one to the count\n until it reaches the target.\n"
    );
    assert_eq!(nodes[1].edges[1].to, None);
    assert_eq!(nodes[1].edges[1].label, Some("answered"));
}
