use verity_graph::{Graph, GraphError, NodeStatus, Outcome, Progress};

use crate::common::*;

const GRAPH: Graph<Tallies> = Graph::new();

fn answered() -> Tally {
    Tally {
        count: 0,
        answers: vec!["ann".to_owned()],
    }
}

#[tokio::test]
async fn run_to_end() {
    let probe = Probe::default();
    let result = GRAPH
        .run(Add { target: 3 }, answered(), probe.clone())
        .await
        .unwrap();
    assert_eq!(result.output(), Some(&3));
    assert_eq!(result.state.count, 3);
    assert_eq!(probe.log(), ["Add 1", "Add 2", "Add 3", "Check"]);
    let names: Vec<_> = result.history.iter().map(|s| s.node_name()).collect();
    assert_eq!(
        names,
        [Some("Add"), Some("Add"), Some("Add"), Some("Check"), None]
    );
    let statuses: Vec<_> = result.history.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [
            NodeStatus::Success,
            NodeStatus::Success,
            NodeStatus::Success,
            NodeStatus::Success,
            NodeStatus::Ended
        ]
    );
    // each snapshot holds the state before its node ran
    let counts: Vec<_> = result
        .history
        .iter()
        .map(|s| s.state["count"].clone())
        .collect();
    assert_eq!(counts, [0, 1, 2, 3, 3]);
    for snapshot in &result.history[..4] {
        assert!(snapshot.duration().unwrap() >= chrono::TimeDelta::zero());
    }
}

#[tokio::test]
async fn iter_steps_inspects_changes_and_stops() {
    let probe = Probe::default();
    let mut run = GRAPH.iter(Add { target: 10 }, answered(), probe.clone());
    assert_eq!(run.next().await.unwrap(), Progress::Next { node: "Add" });
    assert_eq!(run.state().count, 1);
    // change the state between steps: jump to the target
    run.state_mut().count = 9;
    assert_eq!(run.next().await.unwrap(), Progress::Next { node: "Check" });
    assert_eq!(run.next_node(), Some(&Tallies::Check(Check)));
    // override the next node
    run.set_next_node(Add { target: 12 });
    assert_eq!(run.next().await.unwrap(), Progress::Next { node: "Add" });
    assert_eq!(run.state().count, 11);
    // stop here
    let result = run.into_result();
    assert_eq!(result.outcome, None);
    assert_eq!(probe.log(), ["Add 1", "Add 10", "Add 11"]);
    assert_eq!(result.history.len(), 4);
}

#[tokio::test]
async fn end_is_sticky() {
    let mut run = GRAPH.iter(Check, answered(), Probe::default());
    assert_eq!(run.next().await.unwrap(), Progress::End);
    assert_eq!(run.output(), Some(&0));
    assert_eq!(run.next().await.unwrap(), Progress::End);
    assert_eq!(run.history().len(), 2);
}

#[tokio::test]
async fn pause_then_input_in_the_same_process() {
    let probe = Probe::default();
    let mut run = GRAPH.iter(Add { target: 1 }, Tally::default(), probe.clone());
    let stop = run.run().await.unwrap();
    assert_eq!(
        stop,
        Progress::Paused {
            node: "Ask",
            prompt: "what is your name?".to_owned()
        }
    );
    assert_eq!(run.paused(), Some("what is your name?"));
    assert_eq!(run.history().last().unwrap().status, NodeStatus::Paused);
    run.provide_input("bo").unwrap();
    assert_eq!(run.run().await.unwrap(), Progress::End);
    assert_eq!(run.state().answers, ["bo"]);
    assert_eq!(
        probe.log(),
        ["Add 1", "Check", "Ask (paused)", "Ask bo", "Check"]
    );
}

#[tokio::test]
async fn run_returns_the_pause() {
    let result = GRAPH
        .run(Ask, Tally::default(), Probe::default())
        .await
        .unwrap();
    assert_eq!(
        result.outcome,
        Some(Outcome::Paused {
            node: "Ask".to_owned(),
            prompt: "what is your name?".to_owned()
        })
    );
}

#[tokio::test]
async fn bad_input_is_a_node_error_and_retry_works() {
    let probe = Probe::default();
    let mut run = GRAPH.iter(Ask, Tally::default(), probe.clone());
    run.provide_input(42).unwrap();
    let error = run.next().await.unwrap_err();
    assert!(
        matches!(error, GraphError::Node { node: "Ask", .. }),
        "{error}"
    );
    assert_eq!(run.history().last().unwrap().status, NodeStatus::Error);
    assert!(run.history().last().unwrap().error.is_some());
    run.provide_input("cy").unwrap();
    assert_eq!(run.next().await.unwrap(), Progress::Next { node: "Check" });
    assert_eq!(run.history().len(), 2);
}

#[tokio::test]
async fn run_id_and_persistence_are_set_before_the_start() {
    let run = GRAPH
        .iter(Check, answered(), Probe::default())
        .with_run_id("my-run")
        .unwrap();
    assert_eq!(run.run_id(), "my-run");
    let mut run = run;
    run.next().await.unwrap();
    assert!(matches!(
        run.with_run_id("late"),
        Err(GraphError::AlreadyStarted)
    ));
}
