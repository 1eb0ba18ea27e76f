use serde_json::{Value, json};
use verity::messages::last_tool_returns;
use verity::prelude::*;
use verity_tools::{SearchDepth, SearchError, TavilySearch, TavilySearchArgs, TimeRange, Topic};

use crate::stub::{Reply, stub};

const KEY: &str = "tvly-dev-SECRET0123456789";

/// A response in Tavily's shape (`POST /search`).
fn response() -> String {
    json!({
        "query": "rust async runtimes",
        "follow_up_questions": null,
        "answer": null,
        "images": [],
        "results": [
            {
                "title": "Tokio - An asynchronous Rust runtime",
                "url": "https://tokio.rs/",
                "content": "Tokio is an event-driven, non-blocking I/O platform for writing asynchronous applications.",
                "score": 0.91,
                "raw_content": null
            },
            {
                "title": "smol-rs/smol: A small and fast async runtime",
                "url": "https://github.com/smol-rs/smol",
                "content": "A small and fast async runtime for Rust.",
                "score": 0.72,
                "raw_content": null
            }
        ],
        "response_time": 1.02,
        "request_id": "123e4567-e89b-12d3-a456-426614174111"
    })
    .to_string()
}

fn args(query: &str) -> TavilySearchArgs {
    serde_json::from_value(json!({ "query": query })).unwrap()
}

#[tokio::test]
async fn results_and_the_request_sent() {
    let url = stub().scenario("tavily-ok", Reply::new(200, response()));
    let tavily = TavilySearch::new(KEY)
        .endpoint(url)
        .max_results(2)
        .include_domains(["tokio.rs", "github.com"]);
    let mut a = args("rust async runtimes");
    a.search_depth = SearchDepth::Advanced;
    a.topic = Topic::News;
    a.time_range = Some(TimeRange::Week);
    let results = tavily.search(&a).await.unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].url, "https://tokio.rs/");
    assert_eq!(results[0].score, 0.91);
    assert_eq!(
        results[1].title,
        "smol-rs/smol: A small and fast async runtime"
    );

    let sent = stub().received("tavily-ok");
    let request = sent.last().unwrap();
    assert_eq!(request.headers["authorization"], format!("Bearer {KEY}"));
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(
        body,
        json!({
            "query": "rust async runtimes",
            "search_depth": "advanced",
            "topic": "news",
            "time_range": "week",
            "max_results": 2,
            "include_domains": ["tokio.rs", "github.com"],
        })
    );
}

#[tokio::test]
async fn errors_are_typed_and_never_show_the_key() {
    let url = stub().scenario(
        "tavily-429",
        Reply::new(429, r#"{"detail":{"error":"Rate limit exceeded"}}"#).header("retry-after", "7"),
    );
    let err = TavilySearch::new(KEY)
        .endpoint(url)
        .search(&args("q"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SearchError::RateLimited { retry_after: Some(d), .. } if d.as_secs() == 7),
        "{err:?}"
    );

    let url = stub().scenario(
        "tavily-401",
        Reply::new(
            401,
            r#"{"detail":{"error":"Unauthorized: missing or invalid API key."}}"#,
        ),
    );
    let err = TavilySearch::new(KEY)
        .endpoint(url)
        .search(&args("q"))
        .await
        .unwrap_err();
    match &err {
        SearchError::Unauthorized { message, .. } => {
            assert_eq!(message, "Unauthorized: missing or invalid API key.");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable());

    // plan limits (432) fail, server errors are retried
    let url = stub().scenario(
        "tavily-432",
        Reply::new(
            432,
            r#"{"detail":{"error":"This request exceeds your plan's set usage limit."}}"#,
        ),
    );
    let err = TavilySearch::new(KEY)
        .endpoint(url)
        .search(&args("q"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SearchError::Http { status: 432, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let url = stub().scenario("tavily-503", Reply::new(503, "unavailable"));
    let err = TavilySearch::new(KEY)
        .endpoint(url)
        .search(&args("q"))
        .await
        .unwrap_err();
    assert!(err.is_retryable());

    for (name, body) in [
        ("tavily-html", "<html>gateway</html>"),
        ("tavily-no-results", r#"{"query":"q"}"#),
        (
            "tavily-bad-result",
            r#"{"results":[{"title":"t","url":"u"}]}"#,
        ),
        ("tavily-truncated", r#"{"results":[{"title":"t","#),
    ] {
        let url = stub().scenario(name, Reply::new(200, body));
        let err = TavilySearch::new(KEY)
            .endpoint(url)
            .search(&args("q"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, SearchError::Malformed { .. }),
            "{name}: {err:?}"
        );
        assert!(!err.to_string().contains(KEY));
    }

    let tavily = TavilySearch::new(KEY);
    assert!(!format!("{tavily:?}").contains(KEY));
}

#[tokio::test]
async fn the_tool_in_an_agent() {
    let url = stub().scenario("tavily-agent", Reply::new(200, response()));
    let model = FunctionModel::new(|messages, _| match last_tool_returns(messages).first() {
        Some(ret) => ModelResponse::text(ret.content.to_string()),
        None => ModelResponse::tool_call(
            "tavily_search",
            json!({"query": "rust async runtimes", "topic": "general"}),
        ),
    });
    let agent = Agent::builder(model)
        .tool(TavilySearch::new(KEY).endpoint(url))
        .build();
    let result = agent.run("search").await.unwrap();
    let returned: Value = serde_json::from_str(&result.output).unwrap();
    assert_eq!(returned[0]["url"], "https://tokio.rs/");
    assert_eq!(returned[1]["score"], 0.72);
    // the key is nowhere in the history
    let history = serde_json::to_string(result.all_messages()).unwrap();
    assert!(!history.contains(KEY));

    let tool: Tool<()> = verity_tools::tavily_search_tool(KEY);
    let schema = &tool.definition().parameters_json_schema;
    assert_eq!(schema["required"], json!(["query"]));
    assert!(schema["properties"].get("max_results").is_none());
}

#[tokio::test]
async fn fixed_settings_leave_the_schema_and_win_over_the_model() {
    let url = stub().scenario("tavily-fixed", Reply::new(200, response()));
    // the model asks for news of the last day; the developer fixed the topic
    let model = FunctionModel::new(|messages, info| {
        let props = &info.function_tools[0].parameters_json_schema["properties"];
        assert!(props.get("topic").is_none(), "{props}");
        assert!(props.get("time_range").is_some(), "{props}");
        match last_tool_returns(messages).first() {
            Some(_) => ModelResponse::text("done"),
            None => ModelResponse::tool_call(
                "tavily_search",
                json!({"query": "rust", "time_range": "day"}),
            ),
        }
    });
    // and the tools of a toolset work the same
    let toolset = verity::FunctionToolset::new("web")
        .tool(TavilySearch::new(KEY).endpoint(url).topic(Topic::Finance))
        .tool(verity_tools::DuckDuckGoSearch::new());
    let agent = Agent::builder(model).toolset(toolset).build();
    agent.run("search").await.unwrap();
    let sent = stub().received("tavily-fixed");
    let body: Value = serde_json::from_str(&sent.last().unwrap().body).unwrap();
    assert_eq!(body["topic"], "finance");
    assert_eq!(body["time_range"], "day");
    assert_eq!(body["search_depth"], "basic");
}
