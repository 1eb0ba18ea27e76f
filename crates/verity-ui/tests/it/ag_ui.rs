//! AG-UI: the event sequence of a run with a tool call (also against PydanticAI's, a
//! golden file), the events against @ag-ui/core's schemas, messages in, bad requests.

use serde_json::{Value, json};
use verity::messages::{ModelMessage, ModelRequestPart, ModelResponsePart, UserPrompt};
use verity_ui::ag_ui::{AgUiAdapter, RunAgentInput, load_messages};

use crate::support::*;

fn input(messages: Value) -> Vec<u8> {
    json!({"threadId": "thread-1", "runId": "run-1", "state": {}, "messages": messages, "tools": [], "context": [], "forwardedProps": {}})
        .to_string()
        .into_bytes()
}

fn events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").expect(e)).expect(e))
        .collect()
}

#[tokio::test]
async fn a_run_with_a_tool_call_is_the_ag_ui_event_sequence() {
    let body = input(json!([{"id": "u1", "role": "user", "content": "Weather in Paris?"}]));
    let response = AgUiAdapter::new().dispatch(&tool_agent(), &body);
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = body_text(response).await;
    let events = events(&text);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "RUN_STARTED",
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
            "TOOL_CALL_START",
            "TOOL_CALL_ARGS",
            "TOOL_CALL_ARGS",
            "TOOL_CALL_END",
            "TOOL_CALL_RESULT",
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
            "RUN_FINISHED",
        ]
    );
    assert!(events.iter().all(|e| e["timestamp"].is_i64()));
    assert_eq!(events[0]["threadId"], "thread-1");
    assert_eq!(events[0]["protocolVersion"], "1.0");
    // the call belongs to the assistant message its text started
    assert_eq!(events[4]["parentMessageId"], events[1]["messageId"]);
    assert_eq!(events[4]["toolCallName"], "get_weather");
    assert_eq!(events[4]["toolCallId"], "call_1");
    let args: String = events[5..7]
        .iter()
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(events[8]["content"], "sunny");
    assert_eq!(events[8]["role"], "tool");
    assert_ne!(events[9]["messageId"], events[1]["messageId"]);
    let answer: String = events[10..13]
        .iter()
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(answer, "It is sunny in Paris.");
    assert_eq!(events[14]["outcome"], json!({"type": "success"}));

    // event by event as PydanticAI's AGUIAdapter writes it (ids by order of appearance,
    // timestamps dropped)
    let golden = std::fs::read_to_string(format!(
        "{}/tests/golden/ag_ui_tool.sse",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(
        normalize_ag_ui(&events),
        normalize_ag_ui(&self::events(&golden))
    );

    if let Some(npm) = ui_npm() {
        assert_eq!(
            run_node(&npm, "validate_ag_ui.cjs", &[], &text),
            events.len().to_string()
        );
        let reasoning = body_text(AgUiAdapter::new().dispatch(&reasoning_agent(), &body)).await;
        let kinds: Vec<Value> = self::events(&reasoning)
            .iter()
            .map(|e| e["type"].clone())
            .collect();
        assert_eq!(
            kinds[1..6],
            [
                json!("REASONING_START"),
                json!("REASONING_MESSAGE_START"),
                json!("REASONING_MESSAGE_CONTENT"),
                json!("REASONING_MESSAGE_END"),
                json!("REASONING_END")
            ]
        );
        run_node(&npm, "validate_ag_ui.cjs", &[], &reasoning);
    }
}

fn normalize_ag_ui(events: &[Value]) -> Vec<Value> {
    let mut ids: Vec<String> = Vec::new();
    events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            let map = e.as_object_mut().unwrap();
            map.remove("timestamp");
            for key in ["messageId", "parentMessageId", "entityId"] {
                if let Some(id) = map.get(key).and_then(Value::as_str).map(str::to_owned) {
                    let n = ids.iter().position(|i| *i == id).unwrap_or_else(|| {
                        ids.push(id.clone());
                        ids.len() - 1
                    });
                    map.insert(key.into(), json!(format!("id-{n}")));
                }
            }
            e
        })
        .collect()
}

#[tokio::test]
async fn a_failing_run_ends_with_run_error() {
    let model = verity::models::function::FunctionModel::new(|_: &[ModelMessage], _| {
        verity::messages::ModelResponse::tool_call("nope", json!({}))
    });
    let agent = verity::Agent::builder(model).build();
    let body = input(json!([{"id": "u1", "role": "user", "content": "Hi"}]));
    let events = events(&body_text(AgUiAdapter::new().dispatch(&agent, &body)).await);
    assert_eq!(events.last().unwrap()["type"], "RUN_ERROR");
    assert!(events.last().unwrap()["message"].is_string());
}

#[test]
fn messages_load_as_history() {
    let input: RunAgentInput = serde_json::from_slice(&input(json!([
        {"id": "s", "role": "system", "content": "Be brief."},
        {"id": "u1", "role": "user", "content": "Weather in Paris?"},
        {"id": "a1", "role": "assistant", "content": "Let me check.", "toolCalls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
        ]},
        {"id": "t1", "role": "tool", "toolCallId": "call_1", "content": "sunny"},
        {"id": "a2", "role": "assistant", "content": "It is sunny."},
        {"id": "u2", "role": "user", "content": [{"type": "text", "text": "Thanks!"}]},
    ])))
    .unwrap();
    let history = load_messages(&input.messages[..input.messages.len() - 1]).unwrap();
    assert_eq!(history.len(), 4);
    let ModelMessage::Request(first) = &history[0] else {
        panic!()
    };
    assert!(matches!(first.parts[0], ModelRequestPart::SystemPrompt(_)));
    assert!(matches!(first.parts[1], ModelRequestPart::UserPrompt(_)));
    let ModelMessage::Response(call) = &history[1] else {
        panic!()
    };
    let ModelResponsePart::ToolCall(call) = &call.parts[1] else {
        panic!()
    };
    assert_eq!(call.args.to_value().unwrap(), json!({"city": "Paris"}));
    let ModelMessage::Request(ret) = &history[2] else {
        panic!()
    };
    let ModelRequestPart::ToolReturn(ret) = &ret.parts[0] else {
        panic!()
    };
    assert_eq!(
        (ret.tool_name.as_str(), &ret.content),
        ("get_weather", &json!("sunny"))
    );
    let run = AgUiAdapter::run_input(&input).unwrap();
    assert_eq!(run.history.len(), history.len());
    assert_eq!(run.prompt, Some(UserPrompt::Parts(vec!["Thanks!".into()])));
}

#[tokio::test]
async fn malformed_inputs_are_400s() {
    for body in [
        &b"[]"[..],
        br#"{"threadId": "t", "runId": "r"}"#,
        br#"{"threadId": "t", "runId": "r", "messages": []}"#,
        br#"{"threadId": "t", "runId": "r", "messages": [{"id": "a", "role": "assistant", "content": "x"}]}"#,
        br#"{"threadId": "t", "runId": "r", "messages": [{"id": "u", "role": "user", "content": 5}]}"#,
        br#"{"threadId": "t", "runId": "r", "messages": [{"id": "u", "role": "wizard", "content": "x"}]}"#,
    ] {
        let response = AgUiAdapter::new().dispatch(&tool_agent(), body);
        assert_eq!(response.status(), 400, "{}", String::from_utf8_lossy(body));
    }
}

// ---- frontend tools and interrupts -------------------------------------------------

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::stream;
use verity::messages::last_tool_returns;
use verity::models::function::{DeltaToolCall, StreamChunk};
use verity::prelude::*;

/// The golden files PydanticAI's `AGUIAdapter` wrote, as events.
fn golden(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    events(&std::fs::read_to_string(path).unwrap())
}

/// The events of one request, checked against @ag-ui/core's schemas when the npm tools
/// are there.
async fn run_ag_ui<D, O>(agent: &Agent<D, O>, body: &Value) -> Vec<Value>
where
    D: Default + Send + Sync + 'static,
    O: Send + Sync + 'static,
{
    let response = AgUiAdapter::new().dispatch(agent, body.to_string().as_bytes());
    assert_eq!(response.status(), 200);
    let text = body_text(response).await;
    if let Some(npm) = ui_npm() {
        // the request is one an AG-UI client may send, the events ones it accepts
        run_node(&npm, "validate_ag_ui_input.cjs", &[], &body.to_string());
        run_node(&npm, "validate_ag_ui.cjs", &[], &text);
    }
    events(&text)
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn request(messages: Value, extra: Value) -> Value {
    let mut body = json!({"threadId": "thread-1", "runId": "run-1", "state": {}, "messages": messages,
        "tools": [], "context": [], "forwardedProps": {}});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

fn show_map() -> Value {
    json!({"name": "show_map", "description": "Show a city on the map.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}})
}

/// The golden `frontend_tool` scenario's model: "Let me show you." and a show_map call
/// (arguments in two pieces); once the call has its result, the answer in two pieces.
/// It notes the tools it was offered. Like PydanticAI's, the agent is not deferrable:
/// the adapter lets the run stop at the client's tools.
fn frontend_agent(offered: Arc<Mutex<Vec<String>>>) -> Agent<(), String> {
    let model = FunctionModel::new_stream(move |messages: Vec<ModelMessage>, info| {
        *offered.lock().unwrap() = info.function_tools.iter().map(|t| t.name.clone()).collect();
        let chunks = if last_request_returned(&messages) {
            texts(&["Paris is ", "on your screen."])
        } else {
            text_and_split_call(
                "Let me show you.",
                "show_map",
                ["{\"city\":", " \"Paris\"}"],
            )
        };
        stream::iter(chunks.into_iter().map(Ok))
    });
    Agent::builder(model).build()
}

#[tokio::test]
async fn a_frontend_tool_call_round_trips_as_pydantic_ai_streams_it() {
    let offered = Arc::new(Mutex::new(Vec::new()));
    let agent = frontend_agent(offered.clone());
    let asked = json!({"id": "user-1", "role": "user", "content": "Show me Paris"});
    let tools = json!({"tools": [show_map()], "protocolVersion": "1.0"});

    // the call streams, and the run stops at it: no result, the call named as pending
    let first = run_ag_ui(&agent, &request(json!([asked]), tools.clone())).await;
    assert_eq!(*offered.lock().unwrap(), ["show_map"]);
    assert!(!kinds(&first).contains(&"TOOL_CALL_RESULT"));
    assert_eq!(
        first.last().unwrap()["outcome"],
        json!({"type": "success", "pendingToolCallIds": ["call_1"]})
    );
    assert_eq!(
        normalize_ag_ui(&first),
        normalize_ag_ui(&golden("ag_ui_frontend_tool.sse"))
    );

    // the client ran it: the call and its result come back, and the model answers
    let called = json!({"id": "assistant-1", "role": "assistant", "content": "Let me show you.",
        "toolCalls": [{"id": "call_1", "type": "function",
                       "function": {"name": "show_map", "arguments": "{\"city\": \"Paris\"}"}}]});
    let shown = json!({"id": "tool-1", "role": "tool", "toolCallId": "call_1", "content": "The map is shown."});
    let body = request(json!([asked, called, shown]), tools.clone());
    let second = run_ag_ui(&agent, &body).await;
    assert_eq!(
        normalize_ag_ui(&second),
        normalize_ag_ui(&golden("ag_ui_frontend_tool_resumed.sse"))
    );
    // the run went on from the call, its result the client's
    let input = AgUiAdapter::run_input(&serde_json::from_value(body).unwrap()).unwrap();
    assert!(input.prompt.is_none());
    assert!(matches!(
        input.history.last(),
        Some(ModelMessage::Response(_))
    ));
    let run = input.request(&agent).toolset(
        AgUiAdapter::toolset(&serde_json::from_value(request(json!([]), tools)).unwrap()).unwrap(),
    );
    let result = run.await.unwrap();
    let returns = last_tool_returns(&result.all_messages()[..3]);
    assert_eq!(
        (returns[0].tool_name.as_str(), &returns[0].content),
        ("show_map", &json!("The map is shown."))
    );
    assert_eq!(result.output, "Paris is on your screen.");

    // a client that did not declare AG-UI 1.0 is not sent pendingToolCallIds
    let old = run_ag_ui(
        &agent,
        &request(json!([asked]), json!({"tools": [show_map()]})),
    )
    .await;
    assert_eq!(old.last().unwrap()["outcome"], json!({"type": "success"}));

    // a frontend tool that failed: its error answers the call as a failure
    let failed = json!({"id": "tool-1", "role": "tool", "toolCallId": "call_1", "content": "", "error": "No map here."});
    let input: RunAgentInput =
        serde_json::from_value(request(json!([asked, called, failed]), json!({}))).unwrap();
    let deferred = AgUiAdapter::run_input(&input).unwrap().deferred.unwrap();
    assert_eq!(
        deferred.decisions["call_1"].answer,
        verity::deferred::DeferredAnswer::External(verity::deferred::ExternalResult::Failed(
            "No map here.".into()
        ))
    );
}

#[tokio::test]
async fn frontend_tool_results_must_answer_the_calls_before_them() {
    let called = json!({"id": "a1", "role": "assistant", "toolCalls": [{"id": "call_1", "type": "function",
        "function": {"name": "show_map", "arguments": "{}"}}]});
    for messages in [
        json!([{"id": "t", "role": "tool", "toolCallId": "call_1", "content": "x"}]),
        json!([{"id": "u", "role": "user", "content": "Hi"}, {"id": "t", "role": "tool", "toolCallId": "call_1", "content": "x"}]),
        json!([called, {"id": "t", "role": "tool", "toolCallId": "call_2", "content": "x"}]),
        // an assistant message last is only a resume
        json!([called]),
    ] {
        let body = request(messages.clone(), json!({"tools": [show_map()]}));
        let response = AgUiAdapter::new().dispatch(&tool_agent(), body.to_string().as_bytes());
        assert_eq!(response.status(), 400, "{messages}");
    }
}

#[tokio::test]
async fn an_agent_that_cannot_defer_still_stops_at_a_frontend_tool() {
    let agent = Agent::builder(FunctionModel::new(|_: &[ModelMessage], _| {
        verity::messages::ModelResponse::tool_call("show_map", json!({"city": "Paris"}))
    }))
    .build();
    assert!(!agent.is_deferrable());
    let body = request(
        json!([{"id": "u", "role": "user", "content": "Hi"}]),
        json!({"tools": [show_map()], "protocolVersion": "1.0"}),
    );
    let events = run_ag_ui(&agent, &body).await;
    let last = events.last().unwrap();
    assert_eq!(last["type"], "RUN_FINISHED", "{events:#?}");
    assert_eq!(
        last["outcome"]["pendingToolCallIds"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_backend_call_next_to_a_frontend_call_runs_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let model = FunctionModel::new(|messages: &[ModelMessage], _| {
        match last_tool_returns(messages).as_slice() {
            [] => ModelResponse::tool_calls_of([
                ("get_weather", json!({"city": "Paris"})),
                ("show_map", json!({"city": "Paris"})),
            ]),
            returns => ModelResponse::text(
                returns
                    .iter()
                    .map(|r| r.model_response_str())
                    .collect::<Vec<_>>()
                    .join(" / "),
            ),
        }
    });
    let counted = runs.clone();
    let agent = Agent::builder(model)
        .tool(Tool::new(
            "get_weather",
            "The weather in a city.",
            move |_ctx, _a: City| {
                counted.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, ToolError>("sunny") }
            },
        ))
        .deferrable()
        .build();
    let asked = json!({"id": "user-1", "role": "user", "content": "Weather and map of Paris"});
    let tools = json!({"tools": [show_map()], "protocolVersion": "1.0"});
    let first = run_ag_ui(&agent, &request(json!([asked]), tools.clone())).await;
    let starts: Vec<&Value> = first
        .iter()
        .filter(|e| e["type"] == "TOOL_CALL_START")
        .collect();
    let (weather, map) = (&starts[0]["toolCallId"], &starts[1]["toolCallId"]);
    // the agent's tool ran, the client's is pending
    let results: Vec<&Value> = first
        .iter()
        .filter(|e| e["type"] == "TOOL_CALL_RESULT")
        .collect();
    assert_eq!(results.len(), 1);
    assert_eq!(
        (&results[0]["toolCallId"], &results[0]["content"]),
        (weather, &json!("sunny"))
    );
    assert_eq!(
        first.last().unwrap()["outcome"]["pendingToolCallIds"],
        json!([map])
    );

    // the client sends back both results, as it keeps them
    let call = |id: &Value, name: &str| {
        json!({"id": id, "type": "function",
        "function": {"name": name, "arguments": "{\"city\":\"Paris\"}"}})
    };
    let messages = json!([asked,
        {"id": "a1", "role": "assistant", "toolCalls": [call(weather, "get_weather"), call(map, "show_map")]},
        {"id": "t1", "role": "tool", "toolCallId": weather, "content": "sunny"},
        {"id": "t2", "role": "tool", "toolCallId": map, "content": "shown"}]);
    let second = run_ag_ui(&agent, &request(messages, tools)).await;
    assert_eq!(
        kinds(&second),
        [
            "RUN_STARTED",
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
            "RUN_FINISHED"
        ]
    );
    assert_eq!(second[2]["delta"], "sunny / shown");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

fn delete_messages() -> Value {
    json!([
        {"id": "user-1", "role": "user", "content": "Delete notes.txt"},
        {"id": "assistant-1", "role": "assistant", "toolCalls": [{"id": "call_1", "type": "function",
            "function": {"name": "delete_file", "arguments": "{\"path\": \"notes.txt\"}"}}]},
    ])
}

fn resume(payload: Value) -> Value {
    json!({"resume": [{"interruptId": "int-call_1", "status": "resolved", "payload": payload}]})
}

#[tokio::test]
async fn approvals_are_interrupts_resumed_approved_or_denied() {
    let runs = Arc::new(AtomicUsize::new(0));
    let agent = golden_approval_agent(runs.clone());

    // the run stops at the call: one interrupt, as PydanticAI makes it
    let asked = json!([{"id": "user-1", "role": "user", "content": "Delete notes.txt"}]);
    let first = run_ag_ui(&agent, &request(asked, json!({}))).await;
    assert_eq!(
        normalize_ag_ui(&first),
        normalize_ag_ui(&golden("ag_ui_approval.sse"))
    );
    let outcome = &first.last().unwrap()["outcome"];
    assert_eq!(outcome["type"], "interrupt");
    assert_eq!(outcome["interrupts"][0]["id"], "int-call_1");
    assert_eq!(outcome["interrupts"][0]["toolCallId"], "call_1");
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    // approved: the tool runs, the model answers
    let approved = run_ag_ui(
        &agent,
        &request(delete_messages(), resume(json!({"approved": true}))),
    )
    .await;
    assert_eq!(
        normalize_ag_ui(&approved),
        normalize_ag_ui(&golden("ag_ui_approval_approved.sse"))
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // denied with a reason: the model is told it, the outcome rides along
    let denied = run_ag_ui(
        &agent,
        &request(
            delete_messages(),
            resume(json!({"approved": false, "reason": "Keep it."})),
        ),
    )
    .await;
    assert_eq!(
        normalize_ag_ui(&denied),
        normalize_ag_ui(&golden("ag_ui_approval_denied.sse"))
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // the denied result sent back loads with its outcome
    let mut messages = delete_messages();
    messages
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "t1", "role": "tool", "toolCallId": "call_1",
        "content": "Keep it.", "encryptedValue": denied[2]["encryptedValue"]}));
    let history = load_messages(&serde_json::from_value::<Vec<_>>(messages).unwrap()).unwrap();
    let returns = last_tool_returns(&history);
    assert_eq!(returns[0].outcome, verity::messages::ToolOutcome::Denied);

    // edited arguments run instead of the model's; cancelling denies
    let edited = run_ag_ui(
        &agent,
        &request(
            delete_messages(),
            resume(json!({"approved": true, "editedArgs": {"path": "old.txt"}})),
        ),
    )
    .await;
    let result = edited
        .iter()
        .find(|e| e["type"] == "TOOL_CALL_RESULT")
        .unwrap();
    assert_eq!(result["content"], "deleted old.txt");
    let cancelled = json!({"resume": [{"interruptId": "int-call_1", "status": "cancelled"}]});
    let cancelled = run_ag_ui(&agent, &request(delete_messages(), cancelled)).await;
    let result = cancelled
        .iter()
        .find(|e| e["type"] == "TOOL_CALL_RESULT")
        .unwrap();
    assert_eq!(result["content"], "Cancelled by user.");
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    // a call the request neither answers nor approves is dropped, as PydanticAI drops it
    let mut messages = delete_messages();
    messages[1]["toolCalls"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "call_2", "type": "function",
        "function": {"name": "delete_file", "arguments": "{\"path\": \"all\"}"}}));
    let body = request(messages, resume(json!({"approved": true})));
    let input = AgUiAdapter::run_input(&serde_json::from_value(body.clone()).unwrap()).unwrap();
    let ModelMessage::Response(last) = input.history.last().unwrap() else {
        panic!()
    };
    let ids: Vec<&str> = last.tool_calls().map(|c| c.tool_call_id.as_str()).collect();
    assert_eq!(ids, ["call_1"]);
    let events = run_ag_ui(&agent, &body).await;
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "TOOL_CALL_RESULT")
        .collect();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["content"], "deleted notes.txt");
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_malformed_resume_payload_fails_the_run_and_runs_nothing() {
    let runs = Arc::new(AtomicUsize::new(0));
    let agent = golden_approval_agent(runs.clone());
    let events = run_ag_ui(
        &agent,
        &request(delete_messages(), resume(json!({"approved": "yes"}))),
    )
    .await;
    assert_eq!(
        normalize_ag_ui(&events),
        normalize_ag_ui(&golden("ag_ui_approval_malformed.sse"))
    );
    // deny by default: nothing but a valid approval approves, anything malformed is an error
    let details = [
        (json!({"approved": 1}), "approved: bool_type"),
        (json!({"approved": "true"}), "approved: bool_type"),
        (json!({}), "approved: missing"),
        (json!({"reason": "ok"}), "approved: missing"),
        (
            json!({"approved": true, "editedArgs": "x"}),
            "editedArgs: dict_type",
        ),
        (
            json!({"approved": false, "reason": 5}),
            "reason: string_type",
        ),
        (json!("yes"), "payload: model_type"),
        (json!(true), "payload: model_type"),
    ];
    for (payload, detail) in details {
        let events = run_ag_ui(&agent, &request(delete_messages(), resume(payload.clone()))).await;
        assert_eq!(kinds(&events), ["RUN_STARTED", "RUN_ERROR"], "{payload}");
        let message = events[1]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("({detail})")),
            "{payload}: {message}"
        );
    }
    // no payload at all, an interrupt id that is not one, a call that is not pending
    for entry in [
        json!({"interruptId": "int-call_1", "status": "resolved"}),
        json!({"interruptId": "call_1", "status": "resolved", "payload": {"approved": true}}),
        json!({"interruptId": "int-call_9", "status": "resolved", "payload": {"approved": true}}),
    ] {
        let body = request(delete_messages(), json!({"resume": [entry]}));
        let events = run_ag_ui(&agent, &body).await;
        assert_eq!(kinds(&events), ["RUN_STARTED", "RUN_ERROR"], "{entry}");
        // a handler of its own gets the same as a typed error
        let input: RunAgentInput = serde_json::from_value(body).unwrap();
        assert!(
            AgUiAdapter::deferred_tool_results(&input, &load_messages(&input.messages).unwrap())
                .is_err()
        );
        assert!(AgUiAdapter::run_input(&input).is_err());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

#[test]
fn the_client_declares_its_protocol_version() {
    let declares = |version: Option<&str>| {
        let mut body = request(json!([]), json!({}));
        if let Some(v) = version {
            body["protocolVersion"] = json!(v);
        }
        serde_json::from_value::<RunAgentInput>(body)
            .unwrap()
            .declares_1_0()
    };
    assert!(!declares(None));
    assert!(!declares(Some("0.1")));
    assert!(!declares(Some("0.19")));
    assert!(declares(Some("1.0")));
    assert!(declares(Some("2.3")));
    // not MAJOR.MINOR: newer than this code knows
    assert!(declares(Some("1.0.0")));
    assert!(declares(Some("next")));
}

#[tokio::test]
async fn a_retried_result_carries_its_outcome_as_pydantic_ai_writes_it() {
    let calls = Arc::new(AtomicUsize::new(0));
    let model = FunctionModel::new(|messages: &[ModelMessage], _| {
        match last_tool_returns(messages).first() {
            Some(ret) if ret.outcome == verity::messages::ToolOutcome::Success => {
                ModelResponse::text("ok")
            }
            _ => ModelResponse::tool_call("get_weather", json!({"city": "Paris"})),
        }
    });
    let counted = calls.clone();
    let agent = Agent::builder(model)
        .tool(Tool::new(
            "get_weather",
            "The weather.",
            move |_ctx, _a: City| {
                let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
                async move {
                    match first {
                        true => Err(ToolError::Retry("try again".into())),
                        false => Ok("sunny"),
                    }
                }
            },
        ))
        .build();
    let body = request(
        json!([{"id": "u", "role": "user", "content": "go"}]),
        json!({}),
    );
    let events = run_ag_ui(&agent, &body).await;
    let encrypted: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "REASONING_ENCRYPTED_VALUE")
        .collect();
    // what PydanticAI 2.68 sends for a tool's first ModelRetry
    assert_eq!(
        encrypted[0]["encryptedValue"],
        r#"{"pydantic_ai": {"outcome": "retried", "retry": {"cause": "model_retry", "attempt": 1, "max_retries": 1}}}"#
    );
    let result = events
        .iter()
        .position(|e| e["type"] == "TOOL_CALL_RESULT")
        .unwrap();
    assert_eq!(encrypted[0]["entityId"], events[result]["messageId"]);
    assert_eq!(encrypted.len(), 1);
}

#[tokio::test]
async fn invalid_arguments_come_back_as_pydantic_ai_sends_them() {
    let body = request(
        json!([{"id": "user-1", "role": "user", "content": "Weather?"}]),
        json!({}),
    );
    let events = run_ag_ui(&golden_invalid_args_agent(), &body).await;
    assert_eq!(
        normalize_ag_ui(&events),
        normalize_ag_ui(&golden("ag_ui_invalid_args.sse"))
    );
}

#[tokio::test]
async fn events_a_tool_returns_follow_its_result_as_pydantic_ai_sends_them() {
    use verity::tools::ToolReturn;
    use verity_ui::ag_ui::AgUiEvent;
    let model = FunctionModel::new_stream(|messages: Vec<ModelMessage>, _| {
        let chunk = if messages.len() > 1 {
            StreamChunk::Text("Updated.".into())
        } else {
            StreamChunk::ToolCalls(vec![DeltaToolCall {
                index: 0,
                name: Some("update_state".into()),
                json_args: Some("{}".into()),
                tool_call_id: Some("call_1".into()),
            }])
        };
        stream::iter([Ok(chunk)])
    });
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}
    let agent = Agent::builder(model)
        .tool_fn(
            "update_state",
            "Update the state.",
            |_ctx, _a: NoArgs| async move {
                let events = [
                    AgUiEvent::StateSnapshot {
                        snapshot: json!({"document": "Hello"}),
                    },
                    AgUiEvent::Custom {
                        name: "count".into(),
                        value: json!(1),
                    },
                ];
                Ok::<_, ToolError>(
                    ToolReturn::new("State updated")
                        .with_metadata(Value::Array(events.into_iter().map(Value::from).collect())),
                )
            },
        )
        .build();
    let body = request(
        json!([{"id": "user-1", "role": "user", "content": "Update it"}]),
        json!({}),
    );
    let events = run_ag_ui(&agent, &body).await;
    assert_eq!(
        normalize_ag_ui(&events),
        normalize_ag_ui(&golden("ag_ui_tool_events.sse"))
    );
}

#[tokio::test]
async fn the_clients_state_reaches_the_run_as_state_deps() {
    use verity_ui::ag_ui::StateDeps;
    #[derive(Debug, Default, Clone, PartialEq, serde::Deserialize)]
    struct Doc {
        #[serde(default)]
        document: String,
    }
    // the model answers with the instructions it was sent
    let model = FunctionModel::new_stream(|messages: Vec<ModelMessage>, _| {
        let instructions = messages
            .iter()
            .rev()
            .find_map(|m| m.as_request().and_then(|r| r.instructions.clone()))
            .unwrap_or_default();
        stream::iter([Ok(StreamChunk::Text(instructions))])
    });
    let agent = Agent::builder(model)
        .deps_type::<StateDeps<Doc>>()
        .instructions_fn(|ctx: RunContext<StateDeps<Doc>>| async move {
            format!("The document: {:?}", ctx.deps().state.document)
        })
        .build();
    let answer = |state: Value| {
        let agent = agent.clone();
        async move {
            let body = request(
                json!([{"id": "u", "role": "user", "content": "What does it say?"}]),
                json!({"state": state}),
            );
            let response =
                AgUiAdapter::new().dispatch_with_state(&agent, body.to_string().as_bytes());
            let status = response.status();
            let text = body_text(response).await;
            let events = if status == 200 {
                events(&text)
            } else {
                Vec::new()
            };
            (status, events)
        }
    };
    let (status, events) = answer(json!({"document": "Hello"})).await;
    assert_eq!(status, 200);
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "TEXT_MESSAGE_CONTENT")
        .map(|e| e["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "The document: \"Hello\"");

    // no state, or an empty one: the state type's default
    for empty in [Value::Null, json!({})] {
        let (status, events) = answer(empty).await;
        assert_eq!(status, 200);
        assert!(
            events.iter().any(|e| e["delta"] == "The document: \"\""),
            "{events:#?}"
        );
    }
    // a state that does not fit is a bad request
    let (status, _) = answer(json!({"document": 3})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn run_finished_reports_token_usage_when_asked_as_pydantic_ai_does() {
    let body = request(
        json!([{"id": "user-1", "role": "user", "content": "What is the weather in Paris?"}]),
        json!({"protocolVersion": "1.0"}),
    );
    let response = AgUiAdapter::new()
        .include_usage(true)
        .dispatch(&tool_agent(), body.to_string().as_bytes());
    let mut ours = events(&body_text(response).await);
    let mut theirs = golden("ag_ui_tool_usage.sse");
    // the same fields and counts (the function models estimate alike); the model's name
    // is each function model's own
    let usage = |events: &mut Vec<Value>| {
        let last = events.last_mut().unwrap().as_object_mut().unwrap();
        last.remove("usage").unwrap()
    };
    let (our_usage, their_usage) = (usage(&mut ours), usage(&mut theirs));
    let keys = |u: &Value| -> Vec<String> {
        let mut keys: Vec<String> = u[0].as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(
        keys(&our_usage),
        keys(&their_usage),
        "{our_usage} {their_usage}"
    );
    assert_eq!(our_usage.as_array().unwrap().len(), 1);
    for key in ["inputTokens", "outputTokens", "totalTokens"] {
        assert_eq!(our_usage[0][key], their_usage[0][key], "{key}");
    }
    assert_eq!(normalize_ag_ui(&ours), normalize_ag_ui(&theirs));

    // not asked for, or an older client: no usage
    for (adapter, version) in [
        (AgUiAdapter::new(), json!("1.0")),
        (AgUiAdapter::new().include_usage(true), Value::Null),
    ] {
        let mut body = body.clone();
        body["protocolVersion"] = version;
        let response = adapter.dispatch(&tool_agent(), body.to_string().as_bytes());
        let events = events(&body_text(response).await);
        assert!(events.last().unwrap().get("usage").is_none(), "{events:#?}");
    }
}
