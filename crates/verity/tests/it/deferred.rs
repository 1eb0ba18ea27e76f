//! Deferred tools and human-in-the-loop approval: runs that stop at calls waiting for an
//! approval or an external result, and resume from the decisions — failing closed when a
//! decision is missing, malformed or made for another call. (Histories and returns are
//! compared with PydanticAI's in the differential scenarios `deferred_*`.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use verity::deferred::{DeferredError, DeferredToolResults, ExternalResult, ToolApproval};
use verity::messages::{
    ModelMessage, ModelRequestPart, ToolCallArgs, ToolCallPart, ToolOutcome, last_tool_returns,
    messages_from_json, messages_to_json,
};
use verity::prelude::*;
use verity::toolsets::{ExternalToolset, FunctionToolset, ToolsetExt};
use verity::{ToolDefinition, deferred::Deferrable};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct PathArgs {
    path: String,
}

/// One run of a tool: its name, the path, whether approved, the metadata it got.
type Run = (String, String, bool, Option<Value>);

/// What the tools were run with.
#[derive(Default)]
struct Ran {
    calls: Mutex<Vec<Run>>,
}

impl Ran {
    fn list(&self) -> Vec<Run> {
        self.calls.lock().unwrap().clone()
    }
}

type Deps = Arc<Ran>;

fn delete_file() -> Tool<Deps> {
    Tool::new(
        "delete_file",
        "Delete a file.",
        |ctx: RunContext<Deps>, a: PathArgs| async move {
            ctx.deps().calls.lock().unwrap().push((
                "delete_file".into(),
                a.path.clone(),
                ctx.tool_call_approved(),
                ctx.tool_call_metadata().cloned(),
            ));
            Ok::<_, ToolError>(format!("deleted {}", a.path))
        },
    )
    .with_requires_approval(true)
}

/// A model that makes `first` calls, then answers with the text of the returns it got.
fn model(first: Vec<(&'static str, Value)>) -> FunctionModel {
    FunctionModel::new(move |messages: &[ModelMessage], _info: &AgentInfo| {
        let responses = messages
            .iter()
            .filter(|m| m.as_response().is_some())
            .count();
        if responses == 0 {
            let calls = first
                .iter()
                .enumerate()
                .map(|(i, (name, args))| {
                    verity::messages::ModelResponsePart::ToolCall(ToolCallPart::new(
                        *name,
                        ToolCallArgs::from(args.clone()),
                        format!("c{i}"),
                    ))
                })
                .collect();
            return ModelResponse::new(calls);
        }
        let seen: Vec<String> = last_tool_returns(messages)
            .iter()
            .map(|r| format!("{}={}", r.tool_name, r.model_response_str()))
            .collect();
        ModelResponse::text(seen.join("; "))
    })
}

fn agent(first: Vec<(&'static str, Value)>) -> Agent<Deps, Deferrable<String>> {
    Agent::builder(model(first))
        .deps_type::<Deps>()
        .tool(delete_file())
        .deferrable()
        .build()
}

async fn stop(
    agent: &Agent<Deps, Deferrable<String>>,
    deps: &Deps,
) -> (Vec<ModelMessage>, verity::DeferredToolRequests) {
    let first = agent
        .run("Delete a.txt")
        .deps(Arc::clone(deps))
        .await
        .unwrap();
    let Deferrable::Deferred(requests) = first.output.clone() else {
        panic!("the run should stop at the approval: {:?}", first.output)
    };
    (first.all_messages().to_vec(), requests)
}

#[tokio::test]
async fn an_approved_call_runs_once_with_the_approved_arguments() {
    let deps: Deps = Arc::default();
    let agent = agent(vec![("delete_file", json!({"path": "a.txt"}))]);
    let (messages, requests) = stop(&agent, &deps).await;
    assert!(deps.list().is_empty(), "nothing runs before the approval");
    assert_eq!(requests.approvals.len(), 1);
    assert!(requests.calls.is_empty());
    assert_eq!(requests.approvals[0].tool_name, "delete_file");
    // the history ends with the response that made the call
    assert!(messages.last().unwrap().as_response().is_some());

    let mut results = DeferredToolResults::new();
    results
        .approve_with_args(&requests.approvals[0], json!({"path": "b.txt"}))
        .with_metadata(&requests.approvals[0], json!({"by": "alice"}));
    let second = agent
        .resume(results)
        .message_history(messages.clone())
        .deps(Arc::clone(&deps))
        .await
        .unwrap();
    assert_eq!(
        deps.list(),
        vec![(
            "delete_file".to_string(),
            "b.txt".to_string(),
            true,
            Some(json!({"by": "alice"}))
        )]
    );
    assert_eq!(
        second.output,
        Deferrable::Output("delete_file=deleted b.txt".to_string())
    );
    assert_eq!(second.usage().tool_calls, 1);
    // new messages: the request with the return, and the model's answer
    assert_eq!(second.new_messages().len(), 2);
}

#[tokio::test]
async fn a_denied_call_never_runs_and_the_model_sees_why() {
    let deps: Deps = Arc::default();
    let agent = agent(vec![("delete_file", json!({"path": "a.txt"}))]);
    let (messages, requests) = stop(&agent, &deps).await;
    let mut results = DeferredToolResults::new();
    results.deny(&requests.approvals[0], "Deleting files is not allowed");
    let second = agent
        .resume(results)
        .message_history(messages)
        .deps(Arc::clone(&deps))
        .await
        .unwrap();
    assert!(deps.list().is_empty());
    assert_eq!(
        second.output,
        Deferrable::Output("delete_file=Deleting files is not allowed".to_string())
    );
    let ModelRequestPart::ToolReturn(ret) =
        &second.new_messages()[0].as_request().unwrap().parts[0]
    else {
        panic!()
    };
    assert_eq!(ret.outcome, ToolOutcome::Denied);
}

#[tokio::test]
async fn a_missing_decision_runs_nothing_and_is_a_typed_error() {
    let deps: Deps = Arc::default();
    let agent = agent(vec![
        ("delete_file", json!({"path": "a.txt"})),
        ("delete_file", json!({"path": "b.txt"})),
    ]);
    let (messages, requests) = stop(&agent, &deps).await;
    assert_eq!(requests.approvals.len(), 2);
    let mut results = DeferredToolResults::new();
    results.approve(&requests.approvals[0]);
    let err = agent
        .resume(results)
        .message_history(messages.clone())
        .deps(Arc::clone(&deps))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Deferred(DeferredError::Incomplete { expected, got })
                if expected == &["c0", "c1"] && got == &["c0"]
        ),
        "{err:?}"
    );
    // no decisions at all: the same
    let err = agent
        .resume(DeferredToolResults::new())
        .message_history(messages)
        .deps(Arc::clone(&deps))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Deferred(DeferredError::Incomplete { .. })
    ));
    assert!(deps.list().is_empty(), "nothing ran");
}

#[tokio::test]
async fn an_approval_is_bound_to_the_call_the_approver_saw() {
    let deps: Deps = Arc::default();
    let agent = agent(vec![("delete_file", json!({"path": "a.txt"}))]);
    let (mut messages, requests) = stop(&agent, &deps).await;
    let results = requests.approve_all();
    // the history is changed after the approval: other arguments under the same id
    let ModelMessage::Response(response) = messages.last_mut().unwrap() else {
        panic!()
    };
    let verity::messages::ModelResponsePart::ToolCall(call) = &mut response.parts[0] else {
        panic!()
    };
    call.args = ToolCallArgs::from(json!({"path": "/etc/passwd"}));
    let err = agent
        .resume(results.clone())
        .message_history(messages.clone())
        .deps(Arc::clone(&deps))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Deferred(DeferredError::CallChanged { tool_call_id, .. }) if tool_call_id == "c0"),
        "{err:?}"
    );
    // and under another tool name
    let ModelMessage::Response(response) = messages.last_mut().unwrap() else {
        panic!()
    };
    let verity::messages::ModelResponsePart::ToolCall(call) = &mut response.parts[0] else {
        panic!()
    };
    call.args = ToolCallArgs::from(json!({"path": "a.txt"}));
    call.tool_name = "other".into();
    let err = agent
        .resume(results)
        .message_history(messages)
        .deps(Arc::clone(&deps))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Deferred(DeferredError::CallChanged { .. })
    ));
    assert!(deps.list().is_empty(), "nothing ran");
}

#[tokio::test]
async fn decisions_for_answered_or_unknown_calls_are_refused() {
    let deps: Deps = Arc::default();
    let agent = agent(vec![("delete_file", json!({"path": "a.txt"}))]);
    let (messages, requests) = stop(&agent, &deps).await;
    let mut results = requests.approve_all();
    let stranger = ToolCallPart::new(
        "delete_file",
        ToolCallArgs::from(json!({"path": "x"})),
        "zz",
    );
    results.approve(&stranger);
    let err = agent
        .resume(results)
        .message_history(messages.clone())
        .deps(Arc::clone(&deps))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Deferred(DeferredError::Incomplete { .. })),
        "{err:?}"
    );

    // resumed once: the history answers the call, a second decision is refused
    let done = agent
        .resume(requests.approve_all())
        .message_history(messages)
        .deps(Arc::clone(&deps))
        .await
        .unwrap();
    let mut replay = done.all_messages().to_vec();
    replay.truncate(3); // user prompt, the call, its return
    let err = agent
        .resume(requests.approve_all())
        .message_history(replay)
        .deps(Arc::clone(&deps))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Deferred(DeferredError::AlreadyAnswered(id)) if id == "c0"),
        "{err:?}"
    );
    assert_eq!(deps.list().len(), 1, "ran once, on the first resume");

    let err = agent
        .resume(DeferredToolResults::new())
        .deps(Arc::clone(&deps))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Deferred(DeferredError::NothingToResume(_))
    ));
}

#[test]
fn a_malformed_decision_does_not_become_an_approval() {
    for bad in [
        json!({"decisions": {"c0": {"tool_name": "delete_file", "args": {}, "answer": null}}}),
        json!({"decisions": {"c0": {"tool_name": "delete_file", "args": {}, "answer": {"kind": "tool-maybe"}}}}),
        json!({"decisions": {"c0": {"args": {}, "answer": {"kind": "tool-approved"}}}}),
    ] {
        assert!(
            serde_json::from_value::<DeferredToolResults>(bad.clone()).is_err(),
            "{bad}"
        );
    }
    let ok: DeferredToolResults = serde_json::from_value(json!({"decisions": {"c0": {
        "tool_name": "delete_file", "args": {"path": "a"}, "answer": {"kind": "tool-denied"}}}}))
    .unwrap();
    assert_eq!(
        ok.decisions["c0"].answer,
        verity::deferred::DeferredAnswer::Approval(ToolApproval::Denied {
            message: "The tool call was denied.".into()
        })
    );
}

#[tokio::test]
async fn an_agent_whose_output_does_not_allow_deferral_fails_without_running() {
    let deps: Deps = Arc::default();
    let agent = Agent::builder(model(vec![("delete_file", json!({"path": "a.txt"}))]))
        .deps_type::<Deps>()
        .tool(delete_file())
        .build();
    let err = agent
        .run("Delete")
        .deps(Arc::clone(&deps))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Deferred(DeferredError::NotAllowed)),
        "{err:?}"
    );
    assert!(deps.list().is_empty());
}

/// `update_file` asks for approval only for `.env`.
fn update_file(runs: Arc<AtomicUsize>) -> Tool<()> {
    Tool::new(
        "update_file",
        "Write a file.",
        move |ctx: RunContext<()>, a: PathArgs| {
            let runs = Arc::clone(&runs);
            async move {
                if a.path == ".env" && !ctx.tool_call_approved() {
                    return Err(ToolError::ApprovalRequired(Some(
                        json!({"reason": "protected"}),
                    )));
                }
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(format!("wrote {}", a.path))
            }
        },
    )
}

#[tokio::test]
async fn external_calls_and_per_call_approval_resume_with_a_prompt() {
    let runs = Arc::new(AtomicUsize::new(0));
    let external = ExternalToolset::new(
        "frontend",
        [ToolDefinition::new(
            "ask_user",
            json!({"type": "object", "properties": {"question": {"type": "string"}}}),
        )],
    );
    let agent = Agent::builder(model(vec![
        ("ask_user", json!({"question": "which file?"})),
        ("update_file", json!({"path": "README.md"})),
        ("update_file", json!({"path": ".env"})),
    ]))
    .tool(update_file(Arc::clone(&runs)))
    .toolset(external)
    .deferrable()
    .build();
    let first = agent.run("Update").await.unwrap();
    let requests = first.output.deferred().unwrap().clone();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "README.md needs no approval"
    );
    assert_eq!(requests.calls[0].tool_name, "ask_user");
    assert_eq!(
        requests.approvals[0].args.to_value().unwrap(),
        json!({"path": ".env"})
    );
    assert_eq!(requests.metadata["c2"], json!({"reason": "protected"}));

    let mut results = DeferredToolResults::new();
    results
        .external(
            &requests.calls[0],
            ExternalResult::Return(json!("README.md")),
        )
        .approve(&requests.approvals[0]);
    // the history goes through PydanticAI's JSON between the runs
    let history = messages_from_json(&messages_to_json(first.all_messages()).unwrap()).unwrap();
    let second = agent
        .run("Thanks")
        .message_history(history)
        .deferred_results(results)
        .await
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let request = second.new_messages()[0].as_request().unwrap();
    let kinds: Vec<&str> = request
        .parts
        .iter()
        .map(|p| match p {
            ModelRequestPart::ToolReturn(r) => r.tool_name.as_str(),
            ModelRequestPart::UserPrompt(_) => "prompt",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["ask_user", "update_file", "prompt"]);
    // the model saw all three returns in call order
    assert_eq!(
        second.output.output().unwrap(),
        "ask_user=README.md; update_file=wrote README.md; update_file=wrote .env"
    );
}

#[tokio::test]
async fn a_toolset_can_require_approval_per_call_and_streams_announce_the_requests() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let files = FunctionToolset::new("files").tool(Tool::new(
        "remove",
        "Remove a file.",
        move |_ctx: RunContext<()>, a: PathArgs| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ToolError>(format!("removed {}", a.path))
            }
        },
    ));
    let guarded = files.approval_required(|_ctx, _name, args| {
        args["path"].as_str().is_some_and(|p| p.starts_with('/'))
    });
    let agent = Agent::builder(model(vec![
        ("remove", json!({"path": "tmp.txt"})),
        ("remove", json!({"path": "/etc/hosts"})),
    ]))
    .toolset(guarded)
    .deferrable()
    .build();
    let mut stream = agent.run("Clean up").stream();
    let mut announced = None;
    {
        let mut events = stream.stream_events();
        while let Some(event) = events.next().await {
            if let AgentEvent::DeferredToolRequests(r) = event.unwrap() {
                announced = Some(r);
            }
        }
    }
    let result = stream.result().unwrap().clone();
    let requests = result.output.deferred().unwrap();
    assert_eq!(announced.as_ref(), Some(requests));
    assert_eq!(requests.approvals.len(), 1);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "only the relative path ran");

    let second = agent
        .resume(requests.approve_all())
        .message_history(result.all_messages().to_vec())
        .await
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(
        second.output.into_output().unwrap(),
        "remove=removed tmp.txt; remove=removed /etc/hosts"
    );
}

/// Deletes a file (needs approval).
#[verity::tool(requires_approval)]
fn wipe(path: String) -> String {
    format!("wiped {path}")
}

#[tokio::test]
async fn the_tool_macro_marks_a_tool_as_needing_approval() {
    let agent = Agent::builder(model(vec![("wipe", json!({"path": "a"}))]))
        .tool(Wipe)
        .deferrable()
        .build();
    let first = agent.run("Wipe").await.unwrap();
    let requests = first.output.deferred().unwrap();
    assert_eq!(requests.approvals[0].tool_name, "wipe");
    let second = agent
        .resume(requests.approve_all())
        .message_history(first.all_messages().to_vec())
        .await
        .unwrap();
    assert_eq!(second.output.into_output().unwrap(), "wipe=wiped a");
}
