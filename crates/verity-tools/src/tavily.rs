//! Tavily web search (`POST https://api.tavily.com/search`, a paid API with free credits).
//!
//! The request is JSON (`query`, `search_depth`, `topic`, `max_results`, `time_range`,
//! `include_domains`, `exclude_domains`) with the key as `Authorization: Bearer`; the
//! answer holds `results`, each `{title, url, content, score}`. The key lives in a
//! [`SecretString`]: it is redacted in `Debug`, marked sensitive in the header, and never
//! part of an error.

use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use verity::{IntoTool, RunContext, Tool};

use crate::duckduckgo::default_client;
use crate::error::{SearchError, excerpt, retry_after};

const SERVICE: &str = "Tavily";

/// Tavily's search endpoint.
pub const TAVILY_SEARCH_URL: &str = "https://api.tavily.com/search";

/// One Tavily search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TavilySearchResult {
    /// The title of the result.
    pub title: String,
    /// The URL of the result.
    pub url: String,
    /// The most relevant content of the page for the query.
    pub content: String,
    /// How relevant the result is to the query (0 to 1).
    pub score: f64,
}

/// How thorough a search is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchDepth {
    /// Faster, one snippet per source.
    #[default]
    Basic,
    /// Slower, more relevant content (costs more credits).
    Advanced,
}

/// What kind of search.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Topic {
    /// Any kind of page.
    #[default]
    General,
    /// Recent news.
    News,
    /// Finance.
    Finance,
}

/// How far back results may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TimeRange {
    /// The last day.
    Day,
    /// The last week.
    Week,
    /// The last month.
    Month,
    /// The last year.
    Year,
}

/// The tool's arguments, as the model fills them in.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct TavilySearchArgs {
    /// The search query.
    pub query: String,
    /// The depth of the search: `basic` (default) or `advanced`.
    #[serde(default)]
    pub search_depth: SearchDepth,
    /// The category of the search: `general` (default), `news` or `finance`.
    #[serde(default)]
    pub topic: Topic,
    /// Only results from this far back (from today).
    #[serde(default)]
    pub time_range: Option<TimeRange>,
}

/// A Tavily search client, and (through [`IntoTool`]) the `tavily_search` tool.
///
/// The factory settings (the number of results, domains to include or exclude) are the
/// developer's; the model chooses the query, depth, topic and time range.
///
/// ```
/// use verity::prelude::*;
/// use verity_tools::TavilySearch;
///
/// let tavily = TavilySearch::new("tvly-...").max_results(5).include_domains(["arxiv.org"]);
/// assert!(!format!("{tavily:?}").contains("tvly-..."));
/// let agent = Agent::builder(TestModel::new()).tool(tavily).build();
/// # let _ = agent;
/// ```
#[derive(Debug, Clone)]
pub struct TavilySearch {
    client: reqwest::Client,
    endpoint: String,
    api_key: SecretString,
    max_results: Option<u32>,
    include_domains: Vec<String>,
    exclude_domains: Vec<String>,
    search_depth: Option<SearchDepth>,
    topic: Option<Topic>,
    time_range: Option<TimeRange>,
}

impl TavilySearch {
    /// A client with this API key and a 20-second timeout.
    pub fn new(api_key: impl Into<String>) -> Self {
        TavilySearch {
            client: default_client(),
            endpoint: TAVILY_SEARCH_URL.to_owned(),
            api_key: SecretString::from(api_key.into()),
            max_results: None,
            include_domains: Vec::new(),
            exclude_domains: Vec::new(),
            search_depth: None,
            topic: None,
            time_range: None,
        }
    }

    /// A client with the key in `TAVILY_API_KEY`.
    pub fn from_env() -> Result<Self, SearchError> {
        match std::env::var("TAVILY_API_KEY") {
            Ok(key) if !key.trim().is_empty() => Ok(Self::new(key)),
            _ => Err(SearchError::Unauthorized {
                service: SERVICE,
                message: "TAVILY_API_KEY is not set".to_owned(),
            }),
        }
    }

    /// Send searches to another address (a proxy, or a test server).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self
    }

    /// Return at most this many results (Tavily's default is 5).
    pub fn max_results(mut self, n: u32) -> Self {
        self.max_results = Some(n);
        self
    }

    /// Only search these domains.
    pub fn include_domains<S: Into<String>>(
        mut self,
        domains: impl IntoIterator<Item = S>,
    ) -> Self {
        self.include_domains = domains.into_iter().map(Into::into).collect();
        self
    }

    /// Never return results from these domains.
    pub fn exclude_domains<S: Into<String>>(
        mut self,
        domains: impl IntoIterator<Item = S>,
    ) -> Self {
        self.exclude_domains = domains.into_iter().map(Into::into).collect();
        self
    }

    /// Always search at this depth: the model is no longer offered the choice.
    pub fn search_depth(mut self, depth: SearchDepth) -> Self {
        self.search_depth = Some(depth);
        self
    }

    /// Always search this topic: the model is no longer offered the choice.
    pub fn topic(mut self, topic: Topic) -> Self {
        self.topic = Some(topic);
        self
    }

    /// Always limit results to this time range: the model is no longer offered the choice.
    pub fn time_range(mut self, range: TimeRange) -> Self {
        self.time_range = Some(range);
        self
    }

    /// Use this HTTP client (proxies, timeouts, ...).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    /// The arguments the developer fixed, which the model's schema leaves out.
    fn fixed_arguments(&self) -> Vec<&'static str> {
        [
            ("search_depth", self.search_depth.is_some()),
            ("topic", self.topic.is_some()),
            ("time_range", self.time_range.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, fixed)| fixed.then_some(name))
        .collect()
    }

    /// The JSON body of a search (fixed settings win over the model's arguments).
    fn body(&self, args: &TavilySearchArgs) -> Value {
        let mut body = json!({
            "query": args.query,
            "search_depth": self.search_depth.unwrap_or(args.search_depth),
            "topic": self.topic.unwrap_or(args.topic),
        });
        if let Value::Object(map) = &mut body {
            if let Some(n) = self.max_results {
                map.insert("max_results".into(), n.into());
            }
            if let Some(range) = self.time_range.or(args.time_range) {
                map.insert("time_range".into(), json!(range));
            }
            if !self.include_domains.is_empty() {
                map.insert("include_domains".into(), json!(self.include_domains));
            }
            if !self.exclude_domains.is_empty() {
                map.insert("exclude_domains".into(), json!(self.exclude_domains));
            }
        }
        body
    }

    /// Search with the given arguments.
    pub async fn search(
        &self,
        args: &TavilySearchArgs,
    ) -> Result<Vec<TavilySearchResult>, SearchError> {
        let mut auth = reqwest::header::HeaderValue::from_str(&format!(
            "Bearer {}",
            self.api_key.expose_secret()
        ))
        .map_err(|_| SearchError::Unauthorized {
            service: SERVICE,
            message: "the API key is not a valid header value".to_owned(),
        })?;
        auth.set_sensitive(true);
        let body = serde_json::to_vec(&self.body(args)).map_err(|e| SearchError::Malformed {
            service: SERVICE,
            message: format!("the request body: {e}"),
        })?;
        let response = self
            .client
            .post(&self.endpoint)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| SearchError::transport(SERVICE, &e))?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let text = response
            .text()
            .await
            .map_err(|e| SearchError::transport(SERVICE, &e))?;
        match status {
            200..=299 => parse_response(&text),
            429 => Err(SearchError::RateLimited {
                service: SERVICE,
                retry_after: wait,
            }),
            401 | 403 => Err(SearchError::Unauthorized {
                service: SERVICE,
                message: error_message(&text),
            }),
            _ => Err(SearchError::Http {
                service: SERVICE,
                status,
                body: error_message(&text),
            }),
        }
    }

    /// The `tavily_search` tool over this client. Arguments the developer fixed
    /// ([`search_depth`](Self::search_depth), [`topic`](Self::topic),
    /// [`time_range`](Self::time_range)) are left out of the schema the model sees.
    pub fn into_tool<D: Send + Sync + 'static>(self) -> Tool<D> {
        let fixed = self.fixed_arguments();
        let tool = Tool::new(
            "tavily_search",
            "Searches Tavily for the given query and returns the results.",
            move |_ctx: RunContext<D>, args: TavilySearchArgs| {
                let search = self.clone();
                async move {
                    search
                        .search(&args)
                        .await
                        .map_err(SearchError::into_tool_error)
                }
            },
        );
        if fixed.is_empty() {
            return tool;
        }
        // the schema is derived from `TavilySearchArgs`: drop what the model may not set
        // (in a prepare hook; those arguments have defaults, so the validator still
        // accepts calls without them)
        tool.with_prepare(move |_ctx, mut def| {
            if let Some(Value::Object(props)) = def.parameters_json_schema.get_mut("properties") {
                for name in &fixed {
                    props.remove(*name);
                }
            }
            Some(def)
        })
    }
}

impl<D: Send + Sync + 'static> IntoTool<D> for TavilySearch {
    fn into_tool(self) -> Tool<D> {
        TavilySearch::into_tool(self)
    }
}

/// The `tavily_search` tool with this API key (PydanticAI's `tavily_search_tool(api_key)`).
pub fn tavily_search_tool<D: Send + Sync + 'static>(api_key: impl Into<String>) -> Tool<D> {
    TavilySearch::new(api_key).into_tool()
}

#[derive(Deserialize)]
struct SearchResponse {
    results: Vec<TavilySearchResult>,
}

/// The results of a successful response body.
pub fn parse_response(body: &str) -> Result<Vec<TavilySearchResult>, SearchError> {
    serde_json::from_str::<SearchResponse>(body)
        .map(|r| r.results)
        .map_err(|e| SearchError::Malformed {
            service: SERVICE,
            message: format!("{e} in {}", excerpt(body, 200)),
        })
}

/// Tavily's error text (`{"detail": {"error": "..."}}`), else the start of the body.
fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/detail/error")
                .or_else(|| v.get("detail"))
                .or_else(|| v.get("error"))
                .map(|e| match e {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
        })
        .unwrap_or_else(|| excerpt(body, 300))
}
