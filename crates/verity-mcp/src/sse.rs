//! The legacy HTTP+SSE transport (protocol 2024-11-05), client side: a `GET` opens an
//! event stream whose first `endpoint` event names the URL to `POST` messages to; the
//! server's messages arrive as `message` events on the stream. rmcp no longer ships it;
//! servers that only speak it are still about.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use rmcp::RoleClient;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use sse_stream::SseStream;
use tokio::sync::mpsc;

/// Why the SSE transport failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SseError {
    /// The HTTP request failed, or the server answered with an error status.
    #[error("{0}")]
    Http(String),
    /// The stream broke its protocol (no `endpoint` event, a bad URL).
    #[error("{0}")]
    Protocol(String),
}

/// A connected legacy SSE transport.
pub(crate) struct SseTransport {
    http: reqwest::Client,
    headers: reqwest::header::HeaderMap,
    endpoint: reqwest::Url,
    incoming: mpsc::Receiver<RxJsonRpcMessage<RoleClient>>,
    reader: tokio::task::JoinHandle<()>,
}

impl SseTransport {
    /// Opens the event stream at `url` and waits (within `timeout`) for the `endpoint`
    /// event.
    pub(crate) async fn connect(
        url: &str,
        headers: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<Self, SseError> {
        let base = reqwest::Url::parse(url)
            .map_err(|e| SseError::Protocol(format!("bad SSE URL `{url}`: {e}")))?;
        let mut header_map = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| SseError::Protocol(format!("header name `{k}`: {e}")))?;
            let value = reqwest::header::HeaderValue::from_str(v)
                .map_err(|_| SseError::Protocol(format!("header `{k}`: the value is not valid")))?;
            header_map.insert(name, value);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .build()
            .map_err(|e| SseError::Http(e.to_string()))?;
        let response = http
            .get(base.clone())
            .headers(header_map.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|e| SseError::Http(format!("GET {base}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(SseError::Http(format!("GET {base}: HTTP {status}: {body}")));
        }
        let mut events = SseStream::from_bytes_stream(response.bytes_stream());
        // the first event says where to post
        let endpoint = tokio::time::timeout(timeout, async {
            while let Some(event) = events.next().await {
                let event = event.map_err(|e| SseError::Http(e.to_string()))?;
                if event.event.as_deref() == Some("endpoint") {
                    let path = event.data.unwrap_or_default();
                    return base.join(path.trim()).map_err(|e| {
                        SseError::Protocol(format!("bad endpoint `{path}` from {base}: {e}"))
                    });
                }
            }
            Err(SseError::Protocol(format!(
                "{base} closed its event stream before sending the `endpoint` event"
            )))
        })
        .await
        .map_err(|_| {
            SseError::Protocol(format!(
                "no `endpoint` event from {base} within {timeout:?}"
            ))
        })??;
        let (tx, incoming) = mpsc::channel(64);
        let reader = tokio::spawn(async move {
            while let Some(Ok(event)) = events.next().await {
                if !matches!(event.event.as_deref(), None | Some("message")) {
                    continue;
                }
                let Some(data) = event.data else { continue };
                // a message that does not parse is skipped, as a stream of garbage would be
                match serde_json::from_str::<RxJsonRpcMessage<RoleClient>>(&data) {
                    Ok(message) => {
                        if tx.send(message).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "MCP SSE: a message that does not parse"),
                }
            }
            // dropping `tx` ends `receive`: the connection is closed
        });
        Ok(SseTransport {
            http,
            headers: header_map,
            endpoint,
            incoming,
            reader,
        })
    }
}

impl Transport<RoleClient> for SseTransport {
    type Error = SseError;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let request = self
            .http
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .json(&item);
        let endpoint = self.endpoint.clone();
        async move {
            let response = request
                .send()
                .await
                .map_err(|e| SseError::Http(format!("POST {endpoint}: {e}")))?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else {
                let body = response.text().await.unwrap_or_default();
                Err(SseError::Http(format!(
                    "POST {endpoint}: HTTP {status}: {body}"
                )))
            }
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        self.incoming.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.reader.abort();
        Ok(())
    }
}

impl Drop for SseTransport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
