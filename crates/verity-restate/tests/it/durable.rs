use serde_json::{Value, json};
use verity::deferred::DeferredToolResults;
use verity::messages::ToolCallPart;
use verity_restate::IngressClient;

use crate::support::*;

struct Setup {
    mock: MockModel,
    config: WorkerConfig,
    dir: std::path::PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Setup {
    async fn new(test: &str) -> Setup {
        restate();
        let mock = MockModel::start().await;
        let dir = scratch(test);
        let config = WorkerConfig {
            prefix: prefix(test),
            id: format!("{test}-1"),
            model_url: mock.url.clone(),
            tool_log: dir.join("tools.log"),
            pause_marker: None,
        };
        Setup { mock, config, dir }
    }

    fn assistant(&self) -> String {
        format!("{}_assistant", self.config.prefix)
    }

    fn tools(&self) -> Vec<String> {
        tool_log(&self.config.tool_log)
    }
}

#[tokio::test]
async fn a_run_killed_after_its_first_tool_call_completes_once_after_a_restart() {
    let mut setup = Setup::new("crash").await;
    let marker = setup.dir.join("paused");
    setup.config.pause_marker = Some(marker.clone());
    let port = free_port();
    let worker = Worker::start(&setup.config, port);
    register(port).await;

    let invocation = send(&setup.assistant(), "conv", "note alpha").await;
    // the worker stops right before the model request that follows the tool call
    eventually(
        60,
        "the worker to reach the second model request",
        async || marker.exists().then_some(()),
    )
    .await;
    assert_eq!(setup.tools().len(), 1, "the tool ran once before the crash");
    worker.kill();

    let _worker = Worker::start(&setup.config, port);
    let (status, output) = attach(&invocation).await;
    assert_eq!(status, 200, "{output}");
    // the tool's return is the journaled one, from the killed worker
    assert_eq!(output["output"], "done: recorded alpha on crash-1");

    let tools = setup.tools();
    assert_eq!(tools.len(), 1, "each tool runs exactly once: {tools:?}");
    assert!(
        tools[0].starts_with(&format!("record alpha crash-1 {invocation}/call_record_1")),
        "the tool saw its idempotency key: {tools:?}"
    );
    let requests = setup.mock.requests();
    assert_eq!(requests.len(), 2, "one request per step: {requests:#?}");
    assert!(
        counts(&requests).values().all(|&n| n == 1),
        "no request was sent twice"
    );

    // the conversation's history is the run's messages
    let (status, history) = call(&setup.assistant(), "conv", "history", Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(history.as_array().unwrap().len(), 4, "{history:#}");
    // what the tool returned besides its value was journaled with it
    let record_return = history[2]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["part_kind"] == "tool-return" && p["tool_name"] == "record")
        .unwrap_or_else(|| panic!("no record return: {history:#}"));
    assert_eq!(record_return["metadata"], json!({"worker": "crash-1"}));

    // each request's events went out live once: the replayed first request (the tool
    // call) was not made again, so its events were not handed over again
    let events = tool_log(&setup.config.tool_log.with_extension("events"));
    assert!(events.iter().all(|e| e.starts_with("conv ")), "{events:#?}");
    let with = |needle: &str| events.iter().filter(|e| e.contains(needle)).count();
    assert_eq!(with("\"record\""), 1, "{events:#?}");
    assert!(with("recorded alpha") >= 1, "{events:#?}");
}

#[tokio::test]
async fn two_workers_share_two_concurrent_conversations_and_keep_each_history() {
    let setup = Setup::new("scale").await;
    let (p1, p2) = (free_port(), free_port());
    let _w1 = Worker::start(&setup.config, p1);
    let second = WorkerConfig {
        id: "scale-2".into(),
        prefix: setup.config.prefix.clone(),
        model_url: setup.config.model_url.clone(),
        tool_log: setup.config.tool_log.clone(),
        pause_marker: None,
    };
    let _w2 = Worker::start(&second, p2);
    // one deployment URI in front of both processes, as a load balancer would be
    let front = proxy(vec![p1, p2]).await;
    register(front).await;

    let service = setup.assistant();
    for turn in 1..=3 {
        let (a, b) = tokio::join!(
            call(
                &service,
                "a",
                "run",
                json!({"prompt": format!("slow a{turn}")})
            ),
            call(
                &service,
                "b",
                "run",
                json!({"prompt": format!("slow b{turn}")})
            ),
        );
        assert_eq!(a.0, 200, "{}", a.1);
        assert_eq!(b.0, 200, "{}", b.1);
        let expect = |c: &str| {
            (1..=turn)
                .map(|t| format!("slow {c}{t}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(a.1["output"], format!("prompts so far: {}", expect("a")));
        assert_eq!(b.1["output"], format!("prompts so far: {}", expect("b")));
    }
    for key in ["a", "b"] {
        let (_, history) = call(&service, key, "history", Value::Null).await;
        assert_eq!(history.as_array().unwrap().len(), 6, "{history:#}");
    }
    let workers = counts(&setup.mock.workers());
    assert_eq!(
        workers.keys().collect::<Vec<_>>(),
        ["scale-1", "scale-2"],
        "both workers served runs: {workers:?}"
    );
}

#[tokio::test]
async fn an_approval_suspends_the_run_and_the_decision_resumes_the_same_invocation() {
    let setup = Setup::new("approve").await;
    let port = free_port();
    let worker = Worker::start(&setup.config, port);
    register(port).await;
    let client = IngressClient::new(&restate().ingress, setup.assistant()).unwrap();
    let pending_call = async |key: &str| -> ToolCallPart {
        let pending = eventually(60, "the run to wait for a decision", async || {
            client.pending(key).await.unwrap()
        })
        .await;
        pending.requests.approvals[0].clone()
    };

    // approved
    let invocation = client.send_run("c1", "delete notes.txt").await.unwrap();
    let call_part = pending_call("c1").await;
    assert_eq!(call_part.tool_name, "delete_file");
    assert!(setup.tools().is_empty(), "nothing ran before the decision");
    // the suspended run holds no process: the worker may go away meanwhile
    worker.kill();
    let _worker = Worker::start(&setup.config, port);
    let mut results = DeferredToolResults::new();
    results.approve(&call_part);
    client.decide("c1", &results).await.unwrap();
    let output = client.attach(&invocation).await.unwrap();
    assert_eq!(output.output, "done: deleted notes.txt");
    assert_eq!(setup.tools(), ["delete notes.txt approve-1"]);
    assert_eq!(
        setup.mock.requests().len(),
        2,
        "one run: two model requests"
    );
    assert!(client.pending("c1").await.unwrap().is_none());
    assert_eq!(client.history("c1").await.unwrap().len(), 4);

    // denied, after a decision that answers no call (refused: the run waits on)
    let invocation = client.send_run("c2", "delete secret.txt").await.unwrap();
    let call_part = pending_call("c2").await;
    client
        .decide("c2", &DeferredToolResults::new())
        .await
        .unwrap();
    let refused = eventually(60, "the refused decision to show", async || {
        client.pending("c2").await.unwrap().and_then(|p| p.refused)
    })
    .await;
    assert!(refused.contains("call_delete_file_1"), "{refused}");
    let mut results = DeferredToolResults::new();
    results.deny(&call_part, "Not today");
    client.decide("c2", &results).await.unwrap();
    let output = client.attach(&invocation).await.unwrap();
    assert_eq!(output.output, "done: Not today");
    assert_eq!(setup.tools().len(), 1, "the denied tool never ran");

    // a decision with nothing pending is refused
    let err = client
        .decide("c3", &DeferredToolResults::new())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no run of conversation `c3` waits"),
        "{err}"
    );
    client.clear("c1").await.unwrap();
    assert!(client.history("c1").await.unwrap().is_empty());
}

#[tokio::test]
async fn terminal_errors_end_the_invocation_with_a_clear_message() {
    let setup = Setup::new("terminal").await;
    let port = free_port();
    let _worker = Worker::start(&setup.config, port);
    register(port).await;

    // a tool's failure: journaled, not retried
    let (status, body) = call(&setup.assistant(), "x", "run", json!({"prompt": "explode"})).await;
    assert!(status >= 400, "{status} {body}");
    assert!(
        body.to_string().contains("boom: the tool failed for good"),
        "{body}"
    );
    assert_eq!(setup.tools(), ["explode"], "the failing tool ran once");

    // an output that cannot be serialized
    let broken = format!("{}_broken", setup.config.prefix);
    let (status, body) = call(&broken, "y", "run", json!({"prompt": "json"})).await;
    assert!(status >= 400, "{status} {body}");
    assert!(body.to_string().contains("cannot be serialized"), "{body}");

    // an input that is not a run's
    let (status, body) = call(&setup.assistant(), "z", "run", json!({"nope": 1})).await;
    assert!(status >= 400, "{status} {body}");
    assert!(
        body.to_string().contains("invalid input for `run`"),
        "{body}"
    );
}

#[tokio::test]
async fn one_responses_calls_are_journaled_in_call_order_and_pure_tools_are_not() {
    let setup = Setup::new("batch").await;
    let port = free_port();
    let _worker = Worker::start(&setup.config, port);
    register(port).await;

    let invocation = send(&setup.assistant(), "b", "batch").await;
    let (status, output) = attach(&invocation).await;
    assert_eq!(status, 200, "{output}");
    assert_eq!(
        output["output"],
        "done: recorded one on batch-1 | hi | recorded two on batch-1"
    );
    let tools = setup.tools();
    assert_eq!(tools.len(), 2, "{tools:?}");
    assert!(tools[0].starts_with("record one"), "{tools:?}");
    assert!(tools[1].starts_with("record two"), "{tools:?}");
    // the run steps' commands (each is followed by its completion notification)
    let steps = journal(&invocation).await;
    let names: Vec<&str> = steps
        .iter()
        .filter_map(|e| e.strip_prefix("Command: Run "))
        .collect();
    assert_eq!(
        names,
        [
            // the given toolset's list is journaled at each step (the agent's own
            // tools, `record`, list the same every time and are not)
            "list tools FunctionToolset 'test' 1",
            "model request 1",
            "tool record call_a",
            "tool record call_c",
            "list tools FunctionToolset 'test' 2",
            "model request 2"
        ],
        "{steps:?}"
    );
}

#[tokio::test]
async fn model_errors_worth_retrying_are_retried_and_others_end_the_run() {
    let setup = Setup::new("retry").await;
    let port = free_port();
    let _worker = Worker::start(&setup.config, port);
    register(port).await;
    let service = setup.assistant();

    // a 503 on the first attempt: the step is retried and the run completes
    let (status, output) = call(&service, "f", "run", json!({"prompt": "flaky"})).await;
    assert_eq!(status, 200, "{output}");
    assert_eq!(output["output"], "prompts so far: flaky");
    let requests = setup.mock.requests();
    assert_eq!(requests.len(), 2, "one failed attempt, one retry");

    // a 400: terminal at once
    let (status, body) = call(&service, "g", "run", json!({"prompt": "bad request"})).await;
    assert!(status >= 400, "{status} {body}");
    assert!(
        body.to_string().contains("this request is malformed"),
        "{body}"
    );
    assert_eq!(setup.mock.requests().len(), 3, "a 400 is not retried");
}
