//! The HTTP layer every provider shares: one `reqwest` client, retries with exponential
//! backoff and jitter (honouring `Retry-After`), typed errors that keep status and body,
//! and a limit on body size.

pub mod download;
pub(crate) mod sse;

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{Error, Result};

/// When and how often a failed request is sent again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Retries after the first attempt (default 2).
    pub max_retries: u32,
    /// Backoff before the first retry; doubled for each further one (default 500 ms).
    pub initial_backoff: Duration,
    /// Longest backoff (default 8 s).
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; a longer one is not waited for (default 60 s).
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryConfig {
    /// No retries.
    pub fn none() -> Self {
        RetryConfig {
            max_retries: 0,
            ..Default::default()
        }
    }

    /// The wait before retry number `attempt` (from 0): the server's `Retry-After` when
    /// it sent one, otherwise exponential backoff with full jitter.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra;
        }
        let factor = 2u32.saturating_pow(attempt);
        let cap = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        // full jitter: anywhere between half the cap and the cap
        let half = cap / 2;
        half + cap.saturating_sub(half).mul_f64(fastrand::f64())
    }
}

/// Default limit on a non-streamed response body: 32 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The HTTP client of a provider.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    retry: RetryConfig,
    max_body_bytes: usize,
    stream_idle_timeout: Option<Duration>,
    download_policy: download::DownloadPolicy,
}

/// A request about to be sent.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Where to.
    pub url: String,
    /// Headers (auth included; never logged).
    pub headers: HeaderMap,
    /// The JSON body.
    pub body: Bytes,
    /// Timeout of the whole request.
    pub timeout: Option<Duration>,
}

impl HttpClient {
    /// A client with the default settings: rustls, 10 s connect timeout, HTTP/2 when
    /// the server offers it.
    pub fn new() -> Result<Self> {
        Self::with_connect_timeout(Duration::from_secs(10))
    }

    /// A client with the default settings and this connect timeout.
    pub fn with_connect_timeout(timeout: Duration) -> Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .build()
            .map_err(|e| Error::User(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self::from_reqwest(client))
    }

    /// Use a client you built (proxies, certificates, timeouts of your own).
    pub fn from_reqwest(client: reqwest::Client) -> Self {
        HttpClient {
            client,
            retry: RetryConfig::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            stream_idle_timeout: None,
            download_policy: download::DownloadPolicy::default(),
        }
    }

    /// Set the limits of media downloads (see [`download`]).
    pub fn with_download_policy(mut self, policy: download::DownloadPolicy) -> Self {
        self.download_policy = policy;
        self
    }

    /// The limits of media downloads.
    pub fn download_policy(&self) -> &download::DownloadPolicy {
        &self.download_policy
    }

    /// Set the retry policy.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Set the limit on a response body.
    pub fn with_max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// End a stream that sends nothing for this long.
    pub fn with_stream_idle_timeout(mut self, timeout: Duration) -> Self {
        self.stream_idle_timeout = Some(timeout);
        self
    }

    /// The retry policy.
    pub fn retry(&self) -> &RetryConfig {
        &self.retry
    }

    /// The idle timeout of streams.
    pub fn stream_idle_timeout(&self) -> Option<Duration> {
        self.stream_idle_timeout
    }

    /// The underlying `reqwest` client.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.client
    }

    /// POST the request, retrying on 408/409/429/5xx and connection failures as the
    /// retry policy allows. Returns the successful response (its body unread), or the
    /// last error: [`Error::ModelHttp`] with status and body, or [`Error::ModelApi`].
    ///
    /// Fails with [`Error::ModelRequestsDisallowed`], sending nothing, when real model
    /// requests are switched off ([`crate::model::model_requests_allowed`]).
    pub async fn post(&self, req: &HttpRequest, model_name: &str) -> Result<reqwest::Response> {
        crate::model::check_model_requests_allowed(model_name)?;
        let mut attempt = 0u32;
        loop {
            let outcome = match reqwest::Url::parse(&req.url) {
                // built directly: the request builder would copy the headers once more
                Ok(url) => {
                    let mut request = reqwest::Request::new(reqwest::Method::POST, url);
                    *request.headers_mut() = req.headers.clone();
                    *request.body_mut() = Some(req.body.clone().into());
                    *request.timeout_mut() = req.timeout;
                    #[cfg(feature = "otel")]
                    crate::telemetry::inject_trace_context(request.headers_mut());
                    self.client.execute(request).await
                }
                // the builder reports the bad URL as reqwest does
                Err(_) => self.client.post(&req.url).send().await,
            };
            let (error, retryable, retry_after) = match outcome {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = retry_after(resp.headers());
                    // error path: boxed so that the request future stays small
                    let body = Box::pin(self.read_text(resp, model_name))
                        .await
                        .unwrap_or_default();
                    let retryable = matches!(status, 408 | 409 | 429 | 500..=599)
                        && !body.contains("insufficient_quota");
                    let error = Error::ModelHttp {
                        status,
                        model_name: model_name.to_owned(),
                        body,
                        retry_after,
                    };
                    (error, retryable, retry_after)
                }
                Err(e) => {
                    let retryable = e.is_connect() || e.is_timeout() || e.is_request();
                    (transport_error(model_name, e), retryable, None)
                }
            };
            let too_long = retry_after.is_some_and(|ra| ra > self.retry.max_retry_after);
            if !retryable || attempt >= self.retry.max_retries || too_long {
                return Err(error);
            }
            let delay = self.retry.delay(attempt, retry_after);
            tracing::debug!(model = model_name, attempt, ?delay, error = %error, "retrying request");
            Box::pin(tokio::time::sleep(delay)).await;
            attempt += 1;
        }
    }

    /// POST the request (with [`post`](Self::post)'s retries) and read the whole answer,
    /// up to the size limit.
    pub async fn post_for_body(&self, req: &HttpRequest, model_name: &str) -> Result<Bytes> {
        let response = self.post(req, model_name).await?;
        self.read_body(response, model_name).await
    }

    /// POST the request (with [`post`](Self::post)'s retries) and read the answer as
    /// server-sent events. `idle_timeout` (else the client's own) bounds the wait for
    /// each chunk.
    pub async fn post_for_events(
        &self,
        req: &HttpRequest,
        model_name: &str,
        idle_timeout: Option<Duration>,
    ) -> Result<impl Stream<Item = Result<sse::SseEvent>> + Send + use<>> {
        let response = self.post(req, model_name).await?;
        Ok(sse::sse_stream(
            response,
            model_name.to_owned(),
            idle_timeout.or(self.stream_idle_timeout),
        ))
    }

    /// Read a whole body, up to the size limit.
    pub async fn read_body(&self, resp: reqwest::Response, model_name: &str) -> Result<Bytes> {
        if let Some(len) = resp.content_length() {
            if len > self.max_body_bytes as u64 {
                return Err(self.too_large(model_name));
            }
            // the length is known and allowed: let reqwest collect it in one go
            return resp
                .bytes()
                .await
                .map_err(|e| transport_error(model_name, e));
        }
        let mut stream = resp.bytes_stream();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| transport_error(model_name, e))?;
            if out.len() + chunk.len() > self.max_body_bytes {
                return Err(self.too_large(model_name));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(out))
    }

    async fn read_text(&self, resp: reqwest::Response, model_name: &str) -> Result<String> {
        let bytes = self.read_body(resp, model_name).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn too_large(&self, model_name: &str) -> Error {
        Error::ModelApi {
            model_name: model_name.to_owned(),
            message: format!(
                "response body larger than the limit of {} bytes",
                self.max_body_bytes
            ),
        }
    }
}

/// A transport error, with the URL (which may carry a key) left out.
pub(crate) fn transport_error(model_name: &str, e: reqwest::Error) -> Error {
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Error::ModelApi {
        model_name: model_name.to_owned(),
        message,
    }
}

/// `Retry-After` (seconds or an HTTP date) or `retry-after-ms`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// Build a header map from name/value pairs; invalid names or values are a user error
/// that does not repeat the value (it may be a key).
pub fn header_map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::User(format!("invalid header name `{name}`")))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| Error::User(format!("invalid value for header `{name}`")))?;
        if is_sensitive(name.as_str()) {
            value.set_sensitive(true);
        }
        map.insert(name, value);
    }
    Ok(map)
}

fn is_sensitive(name: &str) -> bool {
    matches!(
        name,
        "authorization" | "api-key" | "x-api-key" | "x-goog-api-key" | "proxy-authorization"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let r = RetryConfig::default();
        for attempt in 0..10 {
            let d = r.delay(attempt, None);
            let cap = r
                .initial_backoff
                .saturating_mul(2u32.pow(attempt))
                .min(r.max_backoff);
            assert!(d >= cap / 2 && d <= cap, "{attempt}: {d:?}");
        }
        assert_eq!(
            r.delay(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }
}
