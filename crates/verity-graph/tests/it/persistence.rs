use std::sync::Arc;
use std::time::Duration;

use verity_graph::{
    FilePersistence, Graph, GraphError, InMemoryPersistence, NodeStatus, Persistence,
    PersistenceError, Progress, SqlitePersistence,
};

use crate::common::*;

const GRAPH: Graph<Tallies> = Graph::new();

/// Each backend, with the temporary directory it lives in.
fn backends() -> Vec<(&'static str, Arc<dyn Persistence>, tempfile::TempDir)> {
    let memory_dir = tempfile::tempdir().unwrap();
    let file_dir = tempfile::tempdir().unwrap();
    let sqlite_dir = tempfile::tempdir().unwrap();
    let file = Arc::new(FilePersistence::new(file_dir.path().join("runs")));
    let sqlite = Arc::new(SqlitePersistence::open(sqlite_dir.path().join("graph.db")).unwrap());
    vec![
        ("memory", Arc::new(InMemoryPersistence::new()), memory_dir),
        ("file", file, file_dir),
        ("sqlite", sqlite, sqlite_dir),
    ]
}

fn answered() -> Tally {
    Tally {
        count: 0,
        answers: vec!["ann".to_owned()],
    }
}

#[tokio::test]
async fn round_trip_for_each_backend() {
    for (name, persistence, _dir) in backends() {
        let mut run = GRAPH
            .iter(Add { target: 2 }, answered(), Probe::default())
            .persistence(persistence.clone())
            .unwrap()
            .with_run_id("round-trip")
            .unwrap();
        assert_eq!(run.run().await.unwrap(), Progress::End, "{name}");
        let stored = persistence.load("round-trip").unwrap();
        assert_eq!(stored, run.history(), "{name}");
        assert_eq!(stored.len(), 4, "{name}");
        // resuming an ended run gives its output without running anything
        let probe = Probe::default();
        let mut resumed = GRAPH
            .resume(persistence.clone(), "round-trip", probe.clone())
            .unwrap();
        assert_eq!(resumed.output(), Some(&2), "{name}");
        assert_eq!(resumed.run().await.unwrap(), Progress::End, "{name}");
        assert!(probe.log().is_empty(), "{name}");
        assert!(persistence.load("unknown").unwrap().is_empty(), "{name}");
        assert!(matches!(
            GRAPH.resume(persistence, "unknown", Probe::default()),
            Err(GraphError::UnknownRun(_))
        ));
    }
}

#[tokio::test]
async fn resume_after_a_crash_repeats_no_finished_node() {
    for (name, persistence, _dir) in backends() {
        // the "process" dies inside the third Add: its future is dropped
        let first = Probe::hanging_at(3);
        let mut run = GRAPH
            .iter(Add { target: 4 }, answered(), first.clone())
            .persistence(persistence.clone())
            .unwrap()
            .with_run_id("crash")
            .unwrap();
        let crashed = tokio::time::timeout(Duration::from_millis(200), run.run()).await;
        assert!(crashed.is_err(), "{name}: the run should hang");
        drop(run);
        assert_eq!(first.log(), ["Add 1", "Add 2", "Add 3"], "{name}");
        let stored = persistence.load("crash").unwrap();
        assert_eq!(stored.last().unwrap().status, NodeStatus::Running, "{name}");

        // a new "process": resume from the persistence
        let second = Probe::default();
        let mut resumed = GRAPH
            .resume(persistence.clone(), "crash", second.clone())
            .unwrap();
        assert_eq!(
            resumed.state().count,
            2,
            "{name}: the state before the node"
        );
        assert_eq!(resumed.run().await.unwrap(), Progress::End, "{name}");
        assert_eq!(resumed.output(), Some(&4), "{name}");
        // only the node that was running runs again (at-least-once)
        assert_eq!(second.log(), ["Add 3", "Add 4", "Check"], "{name}");
        let seqs: Vec<u64> = persistence
            .load("crash")
            .unwrap()
            .iter()
            .map(|s| s.seq)
            .collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4, 5], "{name}");
    }
}

#[tokio::test]
async fn a_node_not_safe_to_repeat_stops_the_resume() {
    for (name, persistence, _dir) in backends() {
        let mut run = GRAPH
            .iter(
                Charge { cents: 500 },
                Tally::default(),
                Probe::hanging_at(0),
            )
            .persistence(persistence.clone())
            .unwrap()
            .with_run_id("charge")
            .unwrap();
        let crashed = tokio::time::timeout(Duration::from_millis(100), run.next()).await;
        assert!(crashed.is_err(), "{name}");
        drop(run);
        let error = GRAPH
            .resume(persistence, "charge", Probe::default())
            .unwrap_err();
        match error {
            GraphError::NotSafeToRepeat { run_id, node } => {
                assert_eq!((run_id.as_str(), node.as_str()), ("charge", "Charge"));
            }
            other => panic!("{name}: {other}"),
        }
    }
}

#[tokio::test]
async fn pause_for_input_and_resume_later() {
    for (name, persistence, _dir) in backends() {
        let first = Probe::default();
        let mut run = GRAPH
            .iter(Add { target: 1 }, Tally::default(), first.clone())
            .persistence(persistence.clone())
            .unwrap()
            .with_run_id("pause")
            .unwrap();
        let stop = run.run().await.unwrap();
        assert!(
            matches!(stop, Progress::Paused { node: "Ask", .. }),
            "{name}"
        );
        drop(run);

        // later: the paused node is known without running anything
        let second = Probe::default();
        let mut resumed = GRAPH
            .resume(persistence.clone(), "pause", second.clone())
            .unwrap();
        assert_eq!(resumed.paused(), Some("what is your name?"), "{name}");
        assert_eq!(resumed.next_node(), Some(&Tallies::Ask(Ask)), "{name}");
        resumed.provide_input("dee").unwrap();
        assert_eq!(resumed.run().await.unwrap(), Progress::End, "{name}");
        assert_eq!(resumed.output(), Some(&1), "{name}");
        assert_eq!(resumed.state().answers, ["dee"], "{name}");
        assert_eq!(first.log(), ["Add 1", "Check", "Ask (paused)"], "{name}");
        assert_eq!(second.log(), ["Ask dee", "Check"], "{name}");
    }
}

#[tokio::test]
async fn corrupted_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let persistence = Arc::new(FilePersistence::new(dir.path()));
    let path = persistence.path("broken").unwrap();
    std::fs::write(&path, "[{\"run_id\": ").unwrap();
    let error = GRAPH
        .resume(persistence.clone(), "broken", Probe::default())
        .unwrap_err();
    let GraphError::Persistence(PersistenceError::Corrupt { location, .. }) = &error else {
        panic!("{error}");
    };
    assert!(location.contains("broken.json"), "{location}");

    // valid JSON, but not a snapshot: names the snapshot index
    std::fs::write(&path, "[{\"seq\": 0}]").unwrap();
    let error = GRAPH
        .resume(persistence.clone(), "broken", Probe::default())
        .unwrap_err();
    assert!(
        error.to_string().contains("broken.json (snapshot #0)"),
        "{error}"
    );

    // a snapshot whose node is not in the graph
    let mut run = GRAPH
        .iter(Add { target: 5 }, Tally::default(), Probe::default())
        .persistence(persistence.clone())
        .unwrap()
        .with_run_id("renamed")
        .unwrap();
    run.next().await.unwrap();
    let path = persistence.path("renamed").unwrap();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"Add\"", "\"Gone\"");
    std::fs::write(&path, text).unwrap();
    let error = GRAPH
        .resume(persistence.clone(), "renamed", Probe::default())
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("renamed.json (snapshot seq 1)"),
        "{message}"
    );
    assert!(message.contains("`Gone` is not a node"), "{message}");

    assert!(matches!(
        persistence.load("../escape"),
        Err(PersistenceError::InvalidRunId(_))
    ));
}

#[tokio::test]
async fn corrupted_row_names_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let persistence = Arc::new(SqlitePersistence::open(dir.path().join("g.db")).unwrap());
    let mut run = GRAPH
        .iter(Add { target: 5 }, Tally::default(), Probe::default())
        .persistence(persistence.clone())
        .unwrap()
        .with_run_id("rows")
        .unwrap();
    run.next().await.unwrap();
    run.next().await.unwrap();
    persistence.with_connection(|conn| {
        conn.execute(
            "UPDATE graph_snapshots SET snapshot = 'not json' WHERE seq = 1",
            [],
        )
        .unwrap();
    });
    let error = GRAPH
        .resume(persistence.clone(), "rows", Probe::default())
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("table graph_snapshots row (run_id=\"rows\", seq=1)"),
        "{message}"
    );
    assert!(message.contains("g.db"), "{message}");

    // a state that does not fit the graph's state type
    persistence.with_connection(|conn| {
        conn.execute("DELETE FROM graph_snapshots WHERE seq = 1", [])
            .unwrap();
        conn.execute(
            "UPDATE graph_snapshots SET snapshot = json_set(snapshot, '$.state', 'oops') WHERE seq = 2",
            [],
        )
        .unwrap();
    });
    let error = GRAPH
        .resume(persistence, "rows", Probe::default())
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("seq=2"), "{message}");
    assert!(message.contains("the state does not decode"), "{message}");
}

#[tokio::test]
async fn a_crash_after_the_input_resumes_with_the_input() {
    for (name, persistence, _dir) in backends() {
        let first = Probe::hanging_at(1000);
        let mut run = GRAPH
            .iter(Ask, Tally::default(), first.clone())
            .persistence(persistence.clone())
            .unwrap()
            .with_run_id("input")
            .unwrap();
        assert!(
            matches!(run.run().await.unwrap(), Progress::Paused { .. }),
            "{name}"
        );
        run.provide_input("eve").unwrap();
        let crashed = tokio::time::timeout(Duration::from_millis(100), run.next()).await;
        assert!(crashed.is_err(), "{name}");
        drop(run);
        let second = Probe::default();
        let mut resumed = GRAPH
            .resume(persistence.clone(), "input", second.clone())
            .unwrap();
        assert_eq!(resumed.run().await.unwrap(), Progress::End, "{name}");
        assert_eq!(resumed.state().answers, ["eve"], "{name}");
        assert_eq!(first.log(), ["Ask (paused)", "Ask eve"], "{name}");
        assert_eq!(second.log(), ["Ask eve", "Check"], "{name}");
        // the input is not kept once the node finished
        assert!(
            persistence
                .load("input")
                .unwrap()
                .iter()
                .all(|s| s.input.is_none()),
            "{name}"
        );
    }
}
