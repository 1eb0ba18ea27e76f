//! The typed errors of the search tools, and how an agent's model sees them.

use std::time::Duration;

use verity::ToolError;

/// Why a search failed.
///
/// As a tool error ([`SearchError::into_tool_error`], what the tools return), failures that another try may fix (a rate limit, a server error, a timeout, a
/// connection failure) ask the model to try again; the others (a bad key, a body the
/// tool cannot read) end the run with this error, which callers can downcast to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The service is rate limiting us: HTTP 429, or DuckDuckGo's "anomaly" page.
    #[error("{service} rate limited the search{}", retry_after_text(*.retry_after))]
    RateLimited {
        /// Which service (`"DuckDuckGo"`, `"Tavily"`).
        service: &'static str,
        /// How long the service asked us to wait (`Retry-After`), when it said.
        retry_after: Option<Duration>,
    },
    /// The service refused the credentials (HTTP 401/403), or none were given.
    #[error("{service} refused the request: {message}")]
    Unauthorized {
        /// Which service.
        service: &'static str,
        /// What the service said (never the key).
        message: String,
    },
    /// Any other unsuccessful HTTP status.
    #[error("{service} answered HTTP {status}: {body}")]
    Http {
        /// Which service.
        service: &'static str,
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The request did not complete (connection refused, timeout, TLS, ...).
    #[error("{service} could not be reached: {message}")]
    Transport {
        /// Which service.
        service: &'static str,
        /// What went wrong (without the URL).
        message: String,
        /// Whether it was a timeout.
        timeout: bool,
    },
    /// The response body was not in the service's format.
    #[error("{service} sent a response the tool cannot read: {message}")]
    Malformed {
        /// Which service.
        service: &'static str,
        /// What did not fit.
        message: String,
    },
}

fn retry_after_text(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (retry after {} s)", d.as_secs()),
        None => String::new(),
    }
}

impl SearchError {
    /// Whether another try later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SearchError::RateLimited { .. } | SearchError::Transport { .. } => true,
            SearchError::Http { status, .. } => *status >= 500 || *status == 408,
            SearchError::Unauthorized { .. } | SearchError::Malformed { .. } => false,
        }
    }

    pub(crate) fn transport(service: &'static str, e: &reqwest::Error) -> Self {
        // `without_url`: the URL never reaches an error message
        let timeout = e.is_timeout();
        let message = match std::error::Error::source(e) {
            Some(source) => format!("{}: {source}", kind_of(e)),
            None => kind_of(e).to_owned(),
        };
        SearchError::Transport {
            service,
            message,
            timeout,
        }
    }
}

fn kind_of(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reading the body failed"
    } else {
        "request failed"
    }
}

impl SearchError {
    /// The error as a tool error: a retry prompt for the model when another try may
    /// succeed ([`is_retryable`](Self::is_retryable)), else a failure ending the run with
    /// this error (downcast it from [`verity::Error`]'s source).
    pub fn into_tool_error(self) -> ToolError {
        if self.is_retryable() {
            ToolError::Retry(format!(
                "The search failed: {self}. Try again later, or with a different query."
            ))
        } else {
            ToolError::Failed(Box::new(self))
        }
    }
}

/// The first `max` characters of a body, for error messages.
pub(crate) fn excerpt(body: &str, max: usize) -> String {
    let mut out: String = body.chars().take(max).collect();
    if body.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// `Retry-After` in seconds (the HTTP-date form is rare for these services and ignored).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
