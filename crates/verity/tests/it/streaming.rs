//! Streamed runs driven by the streaming FunctionModel.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::{Stream, StreamExt, stream};
use serde_json::Value;
use verity::messages::{ModelRequestPart, ModelResponsePart};
use verity::models::function::{DeltaToolCall, StreamChunk};
use verity::prelude::*;

fn text(t: &str) -> Result<StreamChunk> {
    Ok(StreamChunk::Text(t.to_owned()))
}

fn tool_delta(
    index: usize,
    name: Option<&str>,
    args: &str,
    id: Option<&str>,
) -> Result<StreamChunk> {
    Ok(StreamChunk::ToolCalls(vec![DeltaToolCall {
        index,
        name: name.map(str::to_owned),
        json_args: Some(args.to_owned()),
        tool_call_id: id.map(str::to_owned),
    }]))
}

fn responses_so_far(messages: &[ModelMessage]) -> usize {
    messages
        .iter()
        .filter(|m| m.as_response().is_some())
        .count()
}

/// Split a string into chunks of `n` characters.
fn chunks(s: &str, n: usize) -> Vec<String> {
    s.chars()
        .collect::<Vec<_>>()
        .chunks(n)
        .map(|c| c.iter().collect())
        .collect()
}

/// Messages without the fields that differ between two runs of the same responses.
fn comparable(messages: &[ModelMessage]) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("timestamp");
                m.remove("run_id");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(messages).unwrap();
    strip(&mut v);
    v
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct City {
    city: String,
}

fn weather_agent(model: FunctionModel, calls: Arc<AtomicUsize>) -> Agent<(), String> {
    Agent::builder(model)
        .tool_fn("get_weather", "Weather in a city.", move |_ctx, c: City| {
            let calls = Arc::clone(&calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ToolError>(format!("sunny in {}", c.city))
            }
        })
        .build()
}

/// Text, then a tool call split over many deltas, in one response; then the answer.
fn text_then_split_tool_call() -> FunctionModel {
    FunctionModel::new_stream(|messages, _| {
        let items: Vec<Result<StreamChunk>> = match responses_so_far(&messages) {
            0 => {
                let mut v = vec![text("Let me "), text("check. ")];
                let args = "{\"city\": \"Paris\"}";
                for (i, piece) in chunks(args, 3).into_iter().enumerate() {
                    let (name, id) = if i == 0 {
                        (Some("get_"), Some("call_1"))
                    } else {
                        (None, None)
                    };
                    v.push(tool_delta(0, name, &piece, id));
                    if i == 1 {
                        v.push(tool_delta(0, Some("weather"), "", None));
                    }
                }
                v
            }
            _ => {
                let parts = messages.last().unwrap().as_request().unwrap().parts.clone();
                let ModelRequestPart::ToolReturn(r) = &parts[0] else {
                    panic!("{parts:?}")
                };
                let answer = format!("It is {}.", r.content.as_str().unwrap());
                chunks(&answer, 4).iter().map(|c| text(c)).collect()
            }
        };
        stream::iter(items)
    })
}

#[tokio::test]
async fn text_before_a_split_tool_call_is_not_the_answer() {
    let calls = Arc::new(AtomicUsize::new(0));
    let agent = weather_agent(text_then_split_tool_call(), Arc::clone(&calls));
    let mut run = agent.run("Weather in Paris?").stream();
    let texts: Vec<String> = run.stream_text().map(|t| t.unwrap()).collect().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the tool ran");
    assert_eq!(run.output().unwrap(), "It is sunny in Paris.");
    assert_eq!(texts.first().unwrap(), "Let me ");
    assert!(texts.contains(&"Let me check. ".to_owned()));
    assert_eq!(texts.last().unwrap(), "It is sunny in Paris.");
    let usage = run.usage().unwrap();
    assert_eq!((usage.requests, usage.tool_calls), (2, 1));
    let first = run.all_messages().unwrap()[1].as_response().unwrap();
    let call = first.tool_calls().next().unwrap();
    assert_eq!(call.tool_name, "get_weather");
    assert_eq!(call.tool_call_id, "call_1");
    assert_eq!(call.args.to_value().unwrap()["city"], "Paris");
}

#[tokio::test]
async fn streamed_and_non_streamed_runs_agree() {
    let model = text_then_split_tool_call();
    let agent = weather_agent(model, Arc::new(AtomicUsize::new(0)));
    let plain = agent.run("Weather in Paris?").await.unwrap();
    let streamed = agent
        .run("Weather in Paris?")
        .stream()
        .finish()
        .await
        .unwrap();
    assert_eq!(plain.output, streamed.output);
    assert_eq!(plain.usage(), streamed.usage());
    assert_eq!(
        comparable(plain.all_messages()),
        comparable(streamed.all_messages())
    );
}

#[tokio::test]
async fn events_cover_parts_tool_calls_results_and_final_result() {
    let agent = weather_agent(text_then_split_tool_call(), Arc::new(AtomicUsize::new(0)));
    let mut run = agent.run("Weather in Paris?").stream();
    let events: Vec<AgentEvent> = run.stream_events().map(|e| e.unwrap()).collect().await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            AgentEvent::PartStart { .. } => "start",
            AgentEvent::PartDelta { .. } => "delta",
            AgentEvent::FinalResult { .. } => "final",
            AgentEvent::ModelResponse(_) => "response",
            AgentEvent::FunctionToolCall { .. } => "call",
            AgentEvent::FunctionToolResult(_) => "result",
            _ => "other",
        })
        .collect();
    let pos = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    assert!(pos("call") < pos("result"));
    assert_eq!(kinds.iter().filter(|k| **k == "response").count(), 2);
    assert_eq!(*kinds.last().unwrap(), "final");
    let AgentEvent::FunctionToolResult(ModelRequestPart::ToolReturn(r)) = &events[pos("result")]
    else {
        panic!()
    };
    assert_eq!(r.content, "sunny in Paris");
    let deltas: String = deltas_text(&events);
    assert_eq!(deltas, "Let me check. It is sunny in Paris.");
}

#[tokio::test]
async fn tool_call_events_say_whether_the_arguments_passed() {
    // one response: valid, invalid, not JSON, an unknown tool, a toolset's tool; then text
    let model = FunctionModel::new_stream(|messages, _| {
        let items: Vec<Result<StreamChunk>> = match responses_so_far(&messages) {
            0 => vec![
                tool_delta(0, Some("get_weather"), "{\"city\": \"Paris\"}", Some("c1")),
                tool_delta(1, Some("get_weather"), "{\"city\": 3}", Some("c2")),
                tool_delta(2, Some("get_weather"), "{\"city\":", Some("c3")),
                tool_delta(3, Some("get_forecast"), "{}", Some("c4")),
                tool_delta(4, Some("lookup"), "{\"q\": 1}", Some("c5")),
            ],
            _ => vec![text("Done.")],
        };
        stream::iter(items)
    });
    let lookup = verity::FunctionToolset::new("search").tool(Tool::new(
        "lookup",
        "Look something up.",
        |_ctx, _args: serde_json::Map<String, Value>| async move { Ok::<_, ToolError>("found") },
    ));
    let agent = Agent::builder(model)
        .tool_fn(
            "get_weather",
            "Weather in a city.",
            |_ctx, c: City| async move { Ok::<_, ToolError>(format!("sunny in {}", c.city)) },
        )
        .toolset(lookup)
        .build();
    let mut run = agent.run("Weather?").stream();
    let validity: Vec<(String, Option<bool>)> = run
        .stream_events()
        .filter_map(|e| async move {
            match e.unwrap() {
                AgentEvent::FunctionToolCall { part, args_valid } => {
                    Some((part.tool_call_id, args_valid))
                }
                _ => None,
            }
        })
        .collect()
        .await;
    let expected = [
        ("c1", Some(true)),
        ("c2", Some(false)),
        ("c3", Some(false)),
        ("c4", Some(false)),
        // a toolset checks its tools' arguments as it runs them
        ("c5", Some(true)),
    ];
    for (id, valid) in expected {
        assert!(
            validity.contains(&(id.to_owned(), valid)),
            "{id}: {validity:?}"
        );
    }
    assert_eq!(validity.len(), 5);
}

fn deltas_text(events: &[AgentEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::PartStart {
                part: ModelResponsePart::Text(t),
                ..
            } => Some(t.content.clone()),
            AgentEvent::PartDelta {
                delta: verity::stream::PartDelta::Text { content_delta },
                ..
            } => Some(content_delta.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn text_deltas_join_to_the_text() {
    let model = FunctionModel::new_stream(|_, _| {
        stream::iter(vec![
            text("# Title\n\n"),
            text("Some "),
            text("*markdown*."),
        ])
    });
    let agent = Agent::builder(model).build();
    let mut run = agent.run("x").stream();
    let deltas: Vec<String> = run.stream_text_deltas().map(|d| d.unwrap()).collect().await;
    assert_eq!(deltas, ["# Title\n\n", "Some ", "*markdown*."]);
    assert_eq!(run.output().unwrap(), "# Title\n\nSome *markdown*.");
    assert_eq!(run.usage().unwrap().requests, 1);
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize, schemars::JsonSchema)]
struct Profile {
    name: Option<String>,
    city: Option<String>,
    #[serde(default)]
    hobbies: Vec<String>,
}

fn profile_model() -> FunctionModel {
    FunctionModel::new_stream(|_, info| {
        let tool = info.output_tools[0].name.clone();
        let args = r#"{"name": "Ada Lovelace", "city": "London", "hobbies": ["maths", "poetry"]}"#;
        let mut items = Vec::new();
        for (i, piece) in chunks(args, 5).into_iter().enumerate() {
            let (name, id) = if i == 0 {
                (Some(tool.as_str()), Some("out_1"))
            } else {
                (None, None)
            };
            items.push(tool_delta(0, name, &piece, id));
        }
        stream::iter(items)
    })
}

#[tokio::test]
async fn structured_output_streams_partial_values() {
    let agent = Agent::builder(profile_model()).output::<Profile>().build();
    let mut run = agent.run("Who?").stream();
    let partials: Vec<Profile> = run.stream_output().map(|p| p.unwrap()).collect().await;
    let expected = agent.run("Who?").await.unwrap().output;
    assert!(partials.len() > 5, "many partial states: {partials:?}");
    assert_eq!(partials.last().unwrap(), &expected);
    assert_eq!(run.output().unwrap(), &expected);
    for p in &partials {
        // each partial is valid for the fields it has: a prefix of the final value
        if let Some(name) = &p.name {
            assert!("Ada Lovelace".starts_with(name.as_str()), "{p:?}");
        }
        if let Some(city) = &p.city {
            assert!("London".starts_with(city.as_str()), "{p:?}");
        }
        assert!(p.hobbies.len() <= 2);
        for (h, full) in p.hobbies.iter().zip(["maths", "poetry"]) {
            assert!(full.starts_with(h.as_str()), "{p:?}");
        }
    }
    assert!(
        partials
            .iter()
            .any(|p| p.name.is_some() && p.city.is_none())
    );
}

#[tokio::test]
async fn native_structured_output_streams_partial_values_from_text() {
    let model = FunctionModel::new_stream(|_, _| {
        let body = "```json\n{\"name\": \"Grace\", \"city\": \"Arlington\"}\n```";
        stream::iter(
            chunks(body, 4)
                .into_iter()
                .map(|c| text(&c))
                .collect::<Vec<_>>(),
        )
    });
    let agent = Agent::builder(model)
        .output::<Profile>()
        .output_mode(OutputMode::Native)
        .build();
    let mut run = agent.run("Who?").stream();
    let partials: Vec<Profile> = run.stream_output().map(|p| p.unwrap()).collect().await;
    assert!(partials.iter().any(|p| p.name.as_deref() == Some("Gr")));
    assert_eq!(partials.last().unwrap().city.as_deref(), Some("Arlington"));
}

#[tokio::test]
async fn a_stream_that_errors_midway_gives_a_typed_error() {
    let model = FunctionModel::new_stream(|_, _| {
        stream::iter(vec![
            text("partial "),
            Err(Error::ModelApi {
                model_name: "m".into(),
                message: "connection reset".into(),
            }),
            text("never"),
        ])
    });
    let agent = Agent::builder(model).build();
    let mut run = agent.run("x").stream();
    let items: Vec<Result<String>> = run.stream_text().collect().await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap(), "partial ");
    assert!(matches!(items[1], Err(Error::ModelApi { .. })));
    assert!(run.result().is_none());
    let err = agent.run("x").stream().finish().await.unwrap_err();
    assert!(err.to_string().contains("connection reset"));
}

#[tokio::test]
async fn malformed_stream_events_are_errors_not_panics() {
    // a delta for a tool call whose arguments arrive on a part that is text
    let model = FunctionModel::new_stream(|_, _| {
        stream::iter(vec![text("hi"), tool_delta(0, None, "{", None)])
    });
    let agent = Agent::builder(model).build();
    let result = agent.run("x").stream().finish().await;
    // a tool-call delta with no name starts a nameless call: the run treats it as an
    // unknown tool and asks again, until the retries are spent: an error, no panic
    assert!(result.is_err());
}

struct DropCounter(Arc<AtomicUsize>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A stream that yields one chunk and then waits forever, counting when it is dropped.
fn endless(dropped: Arc<AtomicUsize>) -> impl Stream<Item = Result<StreamChunk>> + Send {
    let guard = DropCounter(dropped);
    stream::once(async { text("first") })
        .chain(stream::pending())
        .map(move |c| {
            let _ = &guard;
            c
        })
}

#[tokio::test]
async fn dropping_a_stream_aborts_the_model_request() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&dropped);
    let model = FunctionModel::new_stream(move |_, _| endless(Arc::clone(&d)));
    let agent = Agent::builder(model).build();
    let mut run = agent.run("x").stream();
    {
        let mut text = run.stream_text_deltas();
        assert_eq!(text.next().await.unwrap().unwrap(), "first");
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 0, "still streaming");
    drop(run);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "dropping the run dropped the model stream"
    );

    // and a non-streamed run whose future is dropped (timeout) aborts too
    let run = agent.run("x");
    let timed_out = tokio::time::timeout(std::time::Duration::from_millis(20), run).await;
    assert!(timed_out.is_err());
    assert_eq!(dropped.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn end_strategy_decides_pending_tool_calls_in_a_stream() {
    let model = FunctionModel::new_stream(|_, info| {
        let out = info.output_tools[0].name.clone();
        stream::iter(vec![
            tool_delta(0, Some(&out), r#"{"name": "X"}"#, Some("o")),
            tool_delta(1, Some("get_weather"), r#"{"city": "Rome"}"#, Some("w")),
        ])
    });
    for (strategy, expected) in [(EndStrategy::Early, 0), (EndStrategy::Exhaustive, 1)] {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let agent = Agent::builder(model.clone())
            .tool_fn("get_weather", "Weather.", move |_ctx, _: City| {
                let c = Arc::clone(&c);
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ToolError>("sunny")
                }
            })
            .output::<Profile>()
            .end_strategy(strategy)
            .build();
        let result = agent.run("x").stream().finish().await.unwrap();
        assert_eq!(result.output.name.as_deref(), Some("X"));
        assert_eq!(calls.load(Ordering::SeqCst), expected, "{strategy:?}");
    }
}

#[tokio::test]
async fn iter_steps_through_nodes_and_can_change_and_stop() {
    let agent = weather_agent(text_then_split_tool_call(), Arc::new(AtomicUsize::new(0)));
    let mut run = agent.run("Weather in Paris?").iter();
    let mut node = AgentNode::UserPrompt;
    let mut seen = Vec::new();
    let output = loop {
        node = run.next(node).await.unwrap();
        seen.push(match &node {
            AgentNode::UserPrompt => "user_prompt",
            AgentNode::ModelRequest(_) => "model_request",
            AgentNode::CallTools(_) => "call_tools",
            AgentNode::End(_) => "end",
            _ => "other",
        });
        if let AgentNode::ModelRequest(req) = &mut node {
            // change state between steps: add a note to every request
            req.parts.push(ModelRequestPart::UserPrompt(
                verity::messages::UserPromptPart::new("(be brief)"),
            ));
        }
        if let AgentNode::End(r) = node {
            break r.output;
        }
    };
    assert_eq!(output, "It is sunny in Paris.");
    assert_eq!(
        seen,
        [
            "model_request",
            "call_tools",
            "model_request",
            "call_tools",
            "end"
        ]
    );
    let second_request = run.messages()[2].as_request().unwrap();
    assert_eq!(
        second_request.parts.len(),
        2,
        "the change reached the history"
    );

    // stopping early: just drop the run after the first model response
    let mut run = agent.run("Weather?").iter();
    let node = run.next(AgentNode::UserPrompt).await.unwrap();
    let node = run.next(node).await.unwrap();
    assert!(matches!(node, AgentNode::CallTools(_)));
    assert_eq!(run.usage().requests, 1);
}

/// In a streamed run the output is committed as it streams, so a function tool's retry
/// in the same response does not hold it back (PydanticAI's `run_stream`); an awaited run
/// of the same responses asks the model again (retry wins).
#[tokio::test]
async fn a_streamed_output_is_not_held_back_by_a_tool_retry() {
    #[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
    struct Answer {
        value: i64,
    }
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}
    let model = FunctionModel::new(|messages, _| {
        let call = |name: &str, args: Value, id: &str| {
            ModelResponsePart::ToolCall(verity::messages::ToolCallPart::new(
                name,
                verity::messages::ToolCallArgs::from(args),
                id,
            ))
        };
        let n = responses_so_far(messages);
        ModelResponse::new(vec![
            call("final_result", serde_json::json!({"value": n}), "out"),
            call("flaky", serde_json::json!({}), "f"),
        ])
    });
    let agent = Agent::builder(model)
        .output::<Answer>()
        .tool_fn(
            "flaky",
            "Asks again once.",
            |ctx: RunContext<()>, _: NoArgs| async move {
                if ctx.retry() == 0 {
                    Err(ModelRetry::new("again"))
                } else {
                    Ok("ok")
                }
            },
        )
        .build();
    let awaited = agent.run("x").await.unwrap();
    assert_eq!(
        awaited.output.value, 1,
        "retry wins: the second response's output"
    );
    let streamed = agent.run("x").stream().finish().await.unwrap();
    assert_eq!(streamed.output.value, 0, "the streamed output stands");
}
