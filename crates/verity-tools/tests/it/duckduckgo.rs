use serde_json::json;
use verity::messages::last_tool_returns;
use verity::prelude::*;
use verity_tools::{DuckDuckGoSearch, SearchError};

use crate::stub::{Reply, stub};

/// A results page in the shape of `html.duckduckgo.com/html` (trimmed): an ad, then two
/// organic results whose links go through DuckDuckGo's `/l/?uddg=` redirect.
const RESULTS_PAGE: &str = r#"<!DOCTYPE html>
<html><head><title>rust async at DuckDuckGo</title></head>
<body class="body--html">
<div id="links" class="results">
  <div class="result results_links results_links_deep result--ad">
    <div class="links_main links_deep result__body">
      <h2 class="result__title"><a class="result__a" href="https://duckduckgo.com/y.js?ad_domain=ads.example&amp;u3=x">Buy Rust Books</a></h2>
      <a class="result__snippet" href="https://duckduckgo.com/y.js?ad_domain=ads.example">Cheap books.</a>
    </div>
  </div>
  <div class="result results_links results_links_deep web-result">
    <div class="links_main links_deep result__body">
      <h2 class="result__title">
        <a rel="nofollow" class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Frust-lang.github.io%2Fasync-book%2F&amp;rut=0f1e">Asynchronous
          Programming in <b>Rust</b></a>
      </h2>
      <div class="result__extras"><div class="result__extras__url">
        <a class="result__url" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Frust-lang.github.io%2Fasync-book%2F">rust-lang.github.io/async-book</a>
      </div></div>
      <a class="result__snippet" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Frust-lang.github.io%2Fasync-book%2F">This book aims to be a <b>comprehensive</b> guide to async   Rust.</a>
      <div class="clear"></div>
    </div>
  </div>
  <div class="result results_links results_links_deep web-result">
    <div class="links_main links_deep result__body">
      <h2 class="result__title"><a rel="nofollow" class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Ftokio.rs%2Ftokio%2Ftutorial%3Flang%3Den&amp;rut=99">Tutorial | Tokio</a></h2>
      <a class="result__snippet" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Ftokio.rs%2F">Tokio is an asynchronous runtime for the Rust programming language.</a>
    </div>
  </div>
</div>
</body></html>"#;

const NO_RESULTS_PAGE: &str = r#"<html><body><div id="links" class="results">
<div class="no-results">No results.</div></div></body></html>"#;

/// DuckDuckGo's bot challenge, served with HTTP 202 (trimmed).
const ANOMALY_PAGE: &str = r#"<html><body><form id="challenge-form" action="//duckduckgo.com/anomaly.js" method="POST">
<div class="anomaly-modal__mask"><div class="anomaly-modal__modal">
<div class="anomaly-modal__title">Unfortunately, bots use DuckDuckGo too.</div>
</div></div></form></body></html>"#;

fn client(url: String) -> DuckDuckGoSearch {
    DuckDuckGoSearch::new().endpoint(url)
}

#[tokio::test]
async fn results_are_read_from_the_html_page_without_ads() {
    let url = stub().scenario("ddg-results", Reply::new(200, RESULTS_PAGE));
    let results = client(url).search("rust async").await.unwrap();
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(results[0].title, "Asynchronous Programming in Rust");
    assert_eq!(results[0].href, "https://rust-lang.github.io/async-book/");
    assert_eq!(
        results[0].body,
        "This book aims to be a comprehensive guide to async Rust."
    );
    assert_eq!(results[1].href, "https://tokio.rs/tokio/tutorial?lang=en");

    // the query went as a form post, as ddgs sends it
    let sent = stub().received("ddg-results");
    let request = sent.last().unwrap();
    assert!(request.body.contains("q=rust+async"), "{}", request.body);
    assert!(request.body.contains("kl=wt-wt"));
    assert_eq!(
        request.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert!(request.headers.contains_key("user-agent"));
}

#[tokio::test]
async fn max_results_and_empty_pages() {
    let url = stub().scenario("ddg-max", Reply::new(200, RESULTS_PAGE));
    let results = client(url).max_results(1).search("rust").await.unwrap();
    assert_eq!(results.len(), 1);

    let url = stub().scenario("ddg-none", Reply::new(200, NO_RESULTS_PAGE));
    assert!(client(url).search("zzqqxx").await.unwrap().is_empty());
}

#[tokio::test]
async fn rate_limits_are_typed() {
    let url = stub().scenario("ddg-anomaly", Reply::new(202, ANOMALY_PAGE));
    let err = client(url).search("rust").await.unwrap_err();
    assert!(
        matches!(
            err,
            SearchError::RateLimited {
                retry_after: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());

    // the challenge page with a 200 status is a rate limit too
    let url = stub().scenario("ddg-anomaly-200", Reply::new(200, ANOMALY_PAGE));
    let err = client(url).search("rust").await.unwrap_err();
    assert!(matches!(err, SearchError::RateLimited { .. }), "{err:?}");

    let url = stub().scenario(
        "ddg-429",
        Reply::new(429, "Too Many Requests").header("retry-after", "30"),
    );
    let err = client(url).search("rust").await.unwrap_err();
    match err {
        SearchError::RateLimited { retry_after, .. } => {
            assert_eq!(retry_after, Some(std::time::Duration::from_secs(30)));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn malformed_bodies_and_server_errors_are_typed() {
    let url = stub().scenario("ddg-json", Reply::new(200, r#"{"not": "a results page"}"#));
    let err = client(url).search("rust").await.unwrap_err();
    assert!(matches!(err, SearchError::Malformed { .. }), "{err:?}");
    assert!(!err.is_retryable());

    let url = stub().scenario("ddg-500", Reply::new(500, "oops"));
    let err = client(url).search("rust").await.unwrap_err();
    assert!(
        matches!(err, SearchError::Http { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());

    // nothing listens on port 9 of loopback
    let err = client("http://127.0.0.1:9/html".into())
        .search("rust")
        .await
        .unwrap_err();
    assert!(matches!(err, SearchError::Transport { .. }), "{err:?}");
    assert!(!err.to_string().contains("127.0.0.1"), "{err}");
}

/// A model that searches once, then answers with what the tool returned (its result,
/// or the retry prompt of a failed search).
fn searching_model() -> FunctionModel {
    FunctionModel::new(|messages, _| match last_tool_returns(messages).first() {
        Some(ret) => ModelResponse::text(format!("found: {}", ret.content)),
        None => ModelResponse::tool_call("duckduckgo_search", json!({"query": "rust async"})),
    })
}

#[tokio::test]
async fn the_tool_in_an_agent() {
    let url = stub().scenario("ddg-agent", Reply::new(200, RESULTS_PAGE));
    let agent = Agent::builder(searching_model())
        .tool(DuckDuckGoSearch::new().endpoint(url).max_results(1))
        .build();
    let result = agent.run("search for rust async").await.unwrap();
    assert!(
        result
            .output
            .contains("https://rust-lang.github.io/async-book/"),
        "{}",
        result.output
    );
    let tool: Tool<()> = verity_tools::duckduckgo_search_tool();
    assert_eq!(tool.name(), "duckduckgo_search");
    let schema = &tool.definition().parameters_json_schema;
    assert_eq!(schema["required"], json!(["query"]));
}

#[tokio::test]
async fn a_rate_limit_is_a_retry_and_a_malformed_page_ends_the_run() {
    let url = stub().scenario("ddg-agent-429", Reply::new(429, "slow down"));
    let agent = Agent::builder(searching_model())
        .tool(DuckDuckGoSearch::new().endpoint(url))
        .build();
    let result = agent.run("search").await.unwrap();
    assert!(result.output.contains("rate limited"), "{}", result.output);

    let url = stub().scenario("ddg-agent-bad", Reply::new(200, "garbage"));
    let agent = Agent::builder(searching_model())
        .tool(DuckDuckGoSearch::new().endpoint(url))
        .build();
    let err = agent.run("search").await.unwrap_err();
    match err {
        verity::Error::ToolExecution { tool_name, source } => {
            assert_eq!(tool_name, "duckduckgo_search");
            let search = source.downcast_ref::<SearchError>().unwrap();
            assert!(matches!(search, SearchError::Malformed { .. }));
        }
        other => panic!("{other:?}"),
    }
}
