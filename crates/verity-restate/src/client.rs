//! [`IngressClient`]: calling a [`DurableAgent`](crate::DurableAgent)'s handlers over
//! Restate's HTTP ingress.

use reqwest::Url;
use serde::de::DeserializeOwned;
use serde_json::Value;
use verity::deferred::DeferredToolResults;
use verity::messages::ModelMessage;

use crate::error::DurableError;
use crate::service::{PendingDecision, RunInput, RunOutput};

/// A client of one durable agent (one virtual object) on a Restate ingress.
///
/// ```no_run
/// # async fn demo() -> Result<(), verity_restate::DurableError> {
/// let notes = verity_restate::IngressClient::new("http://localhost:8080", "notes")?;
/// let out = notes.run("alice", "Note that the demo is on Friday.").await?;
/// println!("{}", out.output);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct IngressClient {
    http: reqwest::Client,
    ingress: Url,
    service: String,
}

impl IngressClient {
    /// A client of the object `service` on the ingress at `ingress`
    /// (e.g. `http://localhost:8080`).
    pub fn new(ingress: &str, service: impl Into<String>) -> Result<Self, DurableError> {
        Self::with_client(reqwest::Client::new(), ingress, service)
    }

    /// [`new`](Self::new) with this HTTP client (timeouts, TLS, headers).
    pub fn with_client(
        http: reqwest::Client,
        ingress: &str,
        service: impl Into<String>,
    ) -> Result<Self, DurableError> {
        let ingress = Url::parse(ingress).map_err(|e| DurableError::Ingress {
            status: None,
            message: format!("invalid ingress URL `{ingress}`: {e}"),
        })?;
        Ok(IngressClient {
            http,
            ingress,
            service: service.into(),
        })
    }

    fn url(&self, segments: &[&str]) -> Result<Url, DurableError> {
        let mut url = self.ingress.clone();
        url.path_segments_mut()
            .map_err(|()| DurableError::Ingress {
                status: None,
                message: format!("the ingress URL `{}` cannot take a path", self.ingress),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, DurableError> {
        let transport = |e: reqwest::Error| DurableError::Ingress {
            status: None,
            message: e.to_string(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let body = response.text().await.map_err(transport)?;
        if !status.is_success() {
            // Restate's error body is {"message": ..., "code": ...}
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or(body);
            return Err(DurableError::Ingress {
                status: Some(status.as_u16()),
                message,
            });
        }
        serde_json::from_str(&body).map_err(|e| DurableError::Ingress {
            status: Some(status.as_u16()),
            message: format!("unexpected response body: {e}"),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        key: &str,
        handler: &[&str],
        body: Option<Value>,
    ) -> Result<T, DurableError> {
        let mut segments = vec![self.service.as_str(), key];
        segments.extend_from_slice(handler);
        let request = self.http.post(self.url(&segments)?);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        self.send(request).await
    }

    /// Run the agent on `prompt` in the conversation `key`, and wait for the output.
    pub async fn run(&self, key: &str, prompt: &str) -> Result<RunOutput, DurableError> {
        let input = serde_json::to_value(RunInput::new(prompt)).map_err(DurableError::Output)?;
        self.call(key, &["run"], Some(input)).await
    }

    /// Start a run without waiting: its invocation id (wait with [`attach`](Self::attach)).
    pub async fn send_run(&self, key: &str, prompt: &str) -> Result<String, DurableError> {
        let input = serde_json::to_value(RunInput::new(prompt)).map_err(DurableError::Output)?;
        let accepted: Value = self.call(key, &["run", "send"], Some(input)).await?;
        accepted
            .get("invocationId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| DurableError::Ingress {
                status: None,
                message: format!("no invocation id in {accepted}"),
            })
    }

    /// Wait for the output of the run started as `invocation_id`.
    pub async fn attach(&self, invocation_id: &str) -> Result<RunOutput, DurableError> {
        let url = self.url(&["restate", "invocation", invocation_id, "attach"])?;
        self.send(self.http.get(url)).await
    }

    /// The decision a run of the conversation waits for, if any.
    pub async fn pending(&self, key: &str) -> Result<Option<PendingDecision>, DurableError> {
        self.call(key, &["pending"], None).await
    }

    /// Resume the conversation's waiting run with these decisions.
    pub async fn decide(
        &self,
        key: &str,
        results: &DeferredToolResults,
    ) -> Result<(), DurableError> {
        let body = serde_json::to_value(results).map_err(DurableError::Output)?;
        let _: Value = self.call(key, &["decide"], Some(body)).await?;
        Ok(())
    }

    /// The conversation's messages.
    pub async fn history(&self, key: &str) -> Result<Vec<ModelMessage>, DurableError> {
        self.call(key, &["history"], None).await
    }

    /// Forget the conversation.
    pub async fn clear(&self, key: &str) -> Result<(), DurableError> {
        let _: Value = self.call(key, &["clear"], None).await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_escape_the_conversation_key() {
        let client = IngressClient::new("http://localhost:8080/", "notes").unwrap();
        assert_eq!(
            client.url(&["notes", "a b/c", "run"]).unwrap().as_str(),
            "http://localhost:8080/notes/a%20b%2Fc/run"
        );
        assert!(IngressClient::new("not a url", "notes").is_err());
    }
}
