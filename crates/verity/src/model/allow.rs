//! The switch that keeps tests from reaching real model APIs (PydanticAI's
//! `models.ALLOW_MODEL_REQUESTS`).
//!
//! Every request a provider model sends over HTTP (OpenAI, Anthropic, Gemini and the
//! OpenAI-compatible providers) or through the AWS SDK (Bedrock) first asks
//! [`model_requests_allowed`]; when it says no, the request fails with
//! [`Error::ModelRequestsDisallowed`] before anything leaves the process.
//! [`TestModel`](crate::models::test::TestModel) and
//! [`FunctionModel`](crate::models::function::FunctionModel) send nothing and keep
//! working.
//!
//! The answer comes from, first to last:
//! 1. the innermost [`with_model_requests_allowed`] scope around the current task — the
//!    form for tests, which run in parallel and must not flip each other's switch;
//! 2. [`set_allow_model_requests`], for the whole process;
//! 3. the `VERITY_ALLOW_MODEL_REQUESTS` environment variable (`false`, `0`, `no` or
//!    `off` disallow), read once, the first time a request asks;
//! 4. otherwise requests are allowed.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::{Error, Result};

/// The environment variable read (once) when nothing set the switch from code.
pub const ALLOW_MODEL_REQUESTS_ENV: &str = "VERITY_ALLOW_MODEL_REQUESTS";

const UNSET: u8 = 0;
const ALLOW: u8 = 1;
const DENY: u8 = 2;

static GLOBAL: AtomicU8 = AtomicU8::new(UNSET);

tokio::task_local! {
    static SCOPED: bool;
}

/// Allow or disallow real model requests for the whole process (overrides the
/// environment variable; a [`with_model_requests_allowed`] scope still wins).
pub fn set_allow_model_requests(allow: bool) {
    GLOBAL.store(if allow { ALLOW } else { DENY }, Ordering::Relaxed);
}

/// Run `future` (or a run request) with real model requests allowed (or not), whatever the process-wide
/// switch says. Only requests made on the task that polls `future` are affected:
/// tests running in parallel on other tasks keep their own setting.
///
/// ```
/// use verity::prelude::*;
/// use verity::models::with_model_requests_allowed;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let agent = Agent::builder(TestModel::new()).build();
/// // test models keep working when real requests are disallowed
/// let result = with_model_requests_allowed(false, agent.run("hi")).await.unwrap();
/// assert_eq!(result.output, "success (no tool calls)");
/// # });
/// ```
pub async fn with_model_requests_allowed<F: IntoFuture>(allow: bool, future: F) -> F::Output {
    SCOPED.scope(allow, future.into_future()).await
}

/// The setting of the innermost [`with_model_requests_allowed`] scope, if any.
pub(crate) fn scoped_model_requests_setting() -> Option<bool> {
    SCOPED.try_with(|allow| *allow).ok()
}

/// Whether a real model request may be sent now: a [`with_model_requests_allowed`]
/// scope, else [`set_allow_model_requests`], else `VERITY_ALLOW_MODEL_REQUESTS` (read
/// once), else yes.
pub fn model_requests_allowed() -> bool {
    if let Some(scoped) = scoped_model_requests_setting() {
        return scoped;
    }
    match GLOBAL.load(Ordering::Relaxed) {
        ALLOW => true,
        DENY => false,
        _ => {
            let from_env = if env_disallows() { DENY } else { ALLOW };
            // a concurrent set_allow_model_requests wins over the environment
            match GLOBAL.compare_exchange(UNSET, from_env, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => from_env == ALLOW,
                Err(current) => current != DENY,
            }
        }
    }
}

fn env_disallows() -> bool {
    std::env::var(ALLOW_MODEL_REQUESTS_ENV).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "false" | "0" | "no" | "off"
        )
    })
}

/// `Err(ModelRequestsDisallowed)` when real requests are switched off.
pub(crate) fn check_model_requests_allowed(model: &str) -> Result<()> {
    if model_requests_allowed() {
        Ok(())
    } else {
        Err(Error::ModelRequestsDisallowed {
            model: model.to_owned(),
        })
    }
}
