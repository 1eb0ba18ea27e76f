//! The examples, run through their entry points.

#[allow(dead_code)]
#[path = "../../examples/question_graph.rs"]
mod question_graph;
#[allow(dead_code)]
#[path = "../../examples/vending_machine.rs"]
mod vending_machine;

#[tokio::test]
async fn question_graph_pauses_and_resumes_across_invocations() {
    let dir = tempfile::tempdir().unwrap();
    let first = question_graph::invoke(dir.path(), None).await.unwrap();
    assert!(
        first.contains("Question: What is the capital of France?"),
        "{first}"
    );
    assert!(dir.path().join("question.json").exists());

    // a wrong answer: reprimanded, and a new question asked
    let second = question_graph::invoke(dir.path(), Some("Lyon"))
        .await
        .unwrap();
    assert!(second.contains("\"Lyon\" is wrong"), "{second}");
    assert!(
        second.contains("Question: How many legs does a spider have?"),
        "{second}"
    );

    let third = question_graph::invoke(dir.path(), Some("8")).await.unwrap();
    assert!(third.contains("Well done"), "{third}");
    assert!(third.contains("The end."), "{third}");

    // the file holds the whole history: Ask, Answer (paused, then answered), Evaluate, ...
    let stored: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("question.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = stored
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("End"))
        .collect();
    assert_eq!(
        names,
        [
            "Ask",
            "Answer",
            "Evaluate",
            "Reprimand",
            "Ask",
            "Answer",
            "Evaluate",
            "End"
        ]
    );

    // an answer without a waiting question is an error; a new run starts after the end
    assert!(question_graph::invoke(dir.path(), Some("x")).await.is_err());
    let again = question_graph::invoke(dir.path(), None).await.unwrap();
    assert!(again.contains("capital of France"), "{again}");
}

#[test]
fn question_graph_mermaid() {
    let diagram = verity_graph::Graph::<question_graph::QuestionGraph>::new().mermaid();
    insta::assert_snapshot!(diagram);
}

#[tokio::test]
async fn vending_machine_buys_crisps() {
    let (transcript, state) = vending_machine::run_script(&["100", "crisps", "100"])
        .await
        .unwrap();
    assert_eq!(state.balance, 25);
    assert_eq!(state.product.as_deref(), Some("crisps"));
    assert_eq!(
        transcript,
        "Insert coins (cents): 100\nSelect product: crisps\nInsert coins (cents): 100\n\
         purchase successful item=crisps change=0.25\n"
    );
    let (transcript, _) = vending_machine::run_script(&["500", "caviar", "water"])
        .await
        .unwrap();
    assert!(
        transcript.ends_with("item=water change=3.75\n"),
        "{transcript}"
    );
}
