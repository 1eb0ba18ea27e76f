//! DuckDuckGo web search, from its HTML endpoint (no key needed).
//!
//! DuckDuckGo has no JSON search API. Like the Python `ddgs` package that PydanticAI's
//! tool uses, this posts the query to `https://html.duckduckgo.com/html/` and reads the
//! result list out of the page: each `.result` holds a title link `a.result__a` (whose
//! `href` is a `//duckduckgo.com/l/?uddg=<target>` redirect), the snippet
//! `.result__snippet` and the display URL `.result__url`. Ads (`.result--ad`) are skipped.
//! When DuckDuckGo suspects a bot it answers HTTP 202 with a challenge page (an
//! "anomaly" modal) instead of results: that is a [`SearchError::RateLimited`], as is a 429.

use std::time::Duration;

use schemars::JsonSchema;
use scraper::{ElementRef, Html, Selector};
use serde::{Deserialize, Serialize};
use verity::{IntoTool, RunContext, Tool};

use crate::error::{SearchError, excerpt, retry_after};

const SERVICE: &str = "DuckDuckGo";

/// The HTML endpoint's address.
pub const DUCKDUCKGO_HTML_URL: &str = "https://html.duckduckgo.com/html/";

/// One DuckDuckGo search result (the fields PydanticAI's tool returns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DuckDuckGoResult {
    /// The title of the result.
    pub title: String,
    /// The URL of the result.
    pub href: String,
    /// The snippet shown under the title.
    pub body: String,
}

/// The tool's arguments, as the model fills them in.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct DuckDuckGoSearchArgs {
    /// The search query.
    pub query: String,
}

/// A DuckDuckGo search client, and (through [`IntoTool`]) the `duckduckgo_search` tool.
///
/// ```
/// use verity::prelude::*;
/// use verity_tools::DuckDuckGoSearch;
///
/// let agent = Agent::builder(TestModel::new())
///     .tool(DuckDuckGoSearch::new().max_results(5))
///     .build();
/// # let _ = agent;
/// ```
#[derive(Debug, Clone)]
pub struct DuckDuckGoSearch {
    client: reqwest::Client,
    endpoint: String,
    max_results: Option<usize>,
    region: String,
    user_agent: String,
}

impl Default for DuckDuckGoSearch {
    fn default() -> Self {
        Self::new()
    }
}

impl DuckDuckGoSearch {
    /// A client of DuckDuckGo's HTML endpoint with a 20-second timeout, all results of
    /// the first page, worldwide (`wt-wt`).
    pub fn new() -> Self {
        DuckDuckGoSearch {
            client: default_client(),
            endpoint: DUCKDUCKGO_HTML_URL.to_owned(),
            max_results: None,
            region: "wt-wt".to_owned(),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
                .to_owned(),
        }
    }

    /// Send searches to another address (a proxy, or a test server).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self
    }

    /// Return at most this many results.
    pub fn max_results(mut self, n: usize) -> Self {
        self.max_results = Some(n);
        self
    }

    /// The region code (`kl`): `wt-wt` (no region), `us-en`, `uk-en`, `de-de`, ...
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Use this HTTP client (proxies, timeouts, ...).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    /// The `User-Agent` header sent.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Search for `query`.
    pub async fn search(&self, query: &str) -> Result<Vec<DuckDuckGoResult>, SearchError> {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("q", query)
            .append_pair("b", "")
            .append_pair("kl", &self.region)
            .finish();
        let response = self
            .client
            .post(&self.endpoint)
            .header(reqwest::header::USER_AGENT, &self.user_agent)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await
            .map_err(|e| SearchError::transport(SERVICE, &e))?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let body = response
            .text()
            .await
            .map_err(|e| SearchError::transport(SERVICE, &e))?;
        match status {
            // 202: the bot challenge ("anomaly") page
            202 | 429 => {
                return Err(SearchError::RateLimited {
                    service: SERVICE,
                    retry_after: wait,
                });
            }
            200 => {}
            401 | 403 if is_challenge(&body) => {
                return Err(SearchError::RateLimited {
                    service: SERVICE,
                    retry_after: wait,
                });
            }
            401 | 403 => {
                return Err(SearchError::Unauthorized {
                    service: SERVICE,
                    message: excerpt(&body, 200),
                });
            }
            _ => {
                return Err(SearchError::Http {
                    service: SERVICE,
                    status,
                    body: excerpt(&body, 500),
                });
            }
        }
        if is_challenge(&body) {
            return Err(SearchError::RateLimited {
                service: SERVICE,
                retry_after: wait,
            });
        }
        let mut results = parse_results(&body)?;
        if let Some(max) = self.max_results {
            results.truncate(max);
        }
        Ok(results)
    }

    /// The `duckduckgo_search` tool over this client.
    pub fn into_tool<D: Send + Sync + 'static>(self) -> Tool<D> {
        Tool::new(
            "duckduckgo_search",
            "Searches DuckDuckGo for the given query and returns the results.",
            move |_ctx: RunContext<D>, args: DuckDuckGoSearchArgs| {
                let search = self.clone();
                async move {
                    search
                        .search(&args.query)
                        .await
                        .map_err(SearchError::into_tool_error)
                }
            },
        )
    }
}

impl<D: Send + Sync + 'static> IntoTool<D> for DuckDuckGoSearch {
    fn into_tool(self) -> Tool<D> {
        DuckDuckGoSearch::into_tool(self)
    }
}

/// The `duckduckgo_search` tool with the default client (PydanticAI's
/// `duckduckgo_search_tool()`): `Agent::builder(model).tool(duckduckgo_search_tool())`.
pub fn duckduckgo_search_tool<D: Send + Sync + 'static>() -> Tool<D> {
    DuckDuckGoSearch::new().into_tool()
}

pub(crate) fn default_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_default()
}

/// DuckDuckGo's bot challenge page.
fn is_challenge(body: &str) -> bool {
    body.contains("anomaly-modal") || body.contains("challenge-form")
}

fn selector(css: &str) -> Result<Selector, SearchError> {
    Selector::parse(css).map_err(|e| SearchError::Malformed {
        service: SERVICE,
        message: format!("selector {css}: {e}"),
    })
}

/// The results in a page of `html.duckduckgo.com/html`.
///
/// A page with neither a result list (`#links`) nor a "no results" notice is not a
/// results page: [`SearchError::Malformed`].
pub fn parse_results(html: &str) -> Result<Vec<DuckDuckGoResult>, SearchError> {
    let doc = Html::parse_document(html);
    let links = selector("#links, .results, .no-results, .result")?;
    if doc.select(&links).next().is_none() {
        return Err(SearchError::Malformed {
            service: SERVICE,
            message: format!("no result list in the page: {}", excerpt(html, 200)),
        });
    }
    let result = selector(".result")?;
    let title = selector("a.result__a")?;
    let snippet = selector(".result__snippet")?;
    let mut out = Vec::new();
    for item in doc.select(&result) {
        let classes = item.value().attr("class").unwrap_or_default();
        if classes.split_whitespace().any(|c| c == "result--ad") {
            continue;
        }
        let Some(link) = item.select(&title).next() else {
            continue;
        };
        let Some(href) = link.value().attr("href").and_then(target_url) else {
            continue;
        };
        let body = item.select(&snippet).next().map(text).unwrap_or_default();
        out.push(DuckDuckGoResult {
            title: text(link),
            href,
            body,
        });
    }
    Ok(out)
}

/// An element's text with whitespace collapsed.
fn text(el: ElementRef<'_>) -> String {
    el.text()
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The result's own URL: the `uddg` parameter of DuckDuckGo's redirect link, or the link
/// itself. Ad links (`duckduckgo.com/y.js`) give `None`.
fn target_url(href: &str) -> Option<String> {
    let absolute = if href.starts_with("//") {
        format!("https:{href}")
    } else {
        href.to_owned()
    };
    let parsed = url::Url::parse(&absolute).ok()?;
    let on_ddg = parsed
        .host_str()
        .is_some_and(|h| h == "duckduckgo.com" || h.ends_with(".duckduckgo.com"));
    if on_ddg {
        if parsed.path() == "/y.js" {
            return None;
        }
        if let Some((_, target)) = parsed.query_pairs().find(|(k, _)| k == "uddg") {
            return Some(target.into_owned());
        }
    }
    Some(absolute)
}

#[cfg(test)]
mod tests {
    use super::target_url;

    #[test]
    fn redirect_links_are_unwrapped() {
        assert_eq!(
            target_url("//duckduckgo.com/l/?uddg=https%3A%2F%2Fwww.rust-lang.org%2F&rut=abc")
                .as_deref(),
            Some("https://www.rust-lang.org/")
        );
        assert_eq!(
            target_url("https://example.org/a").as_deref(),
            Some("https://example.org/a")
        );
        assert_eq!(target_url("https://duckduckgo.com/y.js?ad_domain=x"), None);
    }
}
