//! [`MessageCapture`]: the messages of a run, kept even when the run fails
//! (PydanticAI's `capture_run_messages`).

use std::sync::{Arc, Mutex, PoisonError};

use crate::messages::ModelMessage;

/// Where a run leaves its messages when it ends, successfully or not: set it with
/// [`RunRequest::capture_messages`](super::RunRequest::capture_messages). After a failed
/// run (retries exhausted, a usage limit, a tool error) [`messages`](Self::messages)
/// holds the history at the error, the failed step's settled tool returns in a request
/// marked `interrupted`.
///
/// Cloning is cheap and clones share what was captured. A failed run hands its
/// messages over without copying them (a successful one copies them once, into its
/// result); a run without a capture pays nothing.
///
/// ```
/// use verity::prelude::*;
/// use verity::MessageCapture;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let agent = Agent::builder(TestModel::new()).build();
/// let capture = MessageCapture::new();
/// let err = agent
///     .run("hello")
///     .usage_limits(UsageLimits { request_limit: Some(0), ..Default::default() })
///     .capture_messages(&capture)
///     .await
///     .unwrap_err();
/// assert!(matches!(err, Error::UsageLimitExceeded(_)));
/// assert_eq!(capture.messages().len(), 1); // the request that was not sent
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct MessageCapture {
    captured: Arc<Mutex<Option<Arc<Vec<ModelMessage>>>>>,
}

impl MessageCapture {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// The messages of the last run that ended with this capture (empty if none has).
    pub fn messages(&self) -> Vec<ModelMessage> {
        self.lock()
            .as_ref()
            .map(|m| m.as_ref().clone())
            .unwrap_or_default()
    }

    /// Whether a run has ended with this capture.
    pub fn is_captured(&self) -> bool {
        self.lock().is_some()
    }

    pub(super) fn record(&self, messages: &Arc<Vec<ModelMessage>>) {
        *self.lock() = Some(Arc::clone(messages));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<Vec<ModelMessage>>>> {
        self.captured.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
