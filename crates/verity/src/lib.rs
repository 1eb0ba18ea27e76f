//! # Verity
//!
//! Typed, validated LLM agents for Rust, in the spirit of PydanticAI: an
//! [`Agent<Deps, Output>`](Agent) turns a prompt into a value of your output type,
//! calling tools that are plain Rust functions, over any model.
//!
//! ```
//! use verity::prelude::*;
//!
//! #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
//! struct CityLocation {
//!     city: String,
//!     country: String,
//! }
//!
//! /// Get the weather in a city.
//! ///
//! /// # Arguments
//! /// * `city` - The city's name.
//! #[tool]
//! async fn get_weather(city: String) -> String {
//!     format!("sunny in {city}")
//! }
//!
//! let agent = Agent::builder(TestModel::new())
//!     .tool(GetWeather)
//!     .output::<CityLocation>()
//!     .build();
//! let result = agent.run("Where were the olympics held in 2012?").blocking().unwrap();
//! println!("{:?} {:?}", result.output, result.usage());
//! ```
//!
//! See `ARCHITECTURE.md` in the repository for how the modules fit together.
#![forbid(clippy::dbg_macro)]

extern crate self as verity;

pub mod agent;
pub mod deferred;
pub mod error;
pub mod history;
pub mod http;
pub mod messages;
pub mod model;
pub mod models;
pub mod output;
mod partial_json;
pub mod profiles;
pub mod providers;
pub mod request;
pub mod run_stream;
pub mod schema;
pub mod settings;
pub mod stream;
pub mod telemetry;
pub mod tools;
pub mod toolsets;
pub mod usage;
pub mod validation;

pub use agent::{
    Agent, AgentBuilder, AgentNode, AgentRun, AgentTools, EndStrategy, FinalResult, MessageCapture,
    RunRequest, RunResult, RunState, load_messages,
};
pub use deferred::{Deferrable, DeferredToolRequests, DeferredToolResults, ToolApproval};
pub use error::{Error, Result};
pub use messages::{
    BinaryContent, FileUrl, FinishReason, ModelMessage, ModelRequest, ModelRequestPart,
    ModelResponse, ModelResponsePart, UserContent, UserPrompt,
};
pub use model::{IntoModel, Model, ModelProfile, ModelRef, ModelRequestParameters, ToolDefinition};
pub use models::infer::{KnownModel, infer_model};
pub use output::{OutputMode, OutputSpec, TextOr};
pub use run_stream::{AgentEvent, StreamedRun};
pub use settings::ModelSettings;
pub use tools::{IntoTool, ModelRetry, RunContext, Tool, ToolCallError, ToolError};
pub use toolsets::{ExternalToolset, FunctionToolset, Toolset, ToolsetExt};
pub use usage::{RequestUsage, RunUsage, UsageLimits};

/// Marks a function as a tool the model can call.
///
/// `#[tool] fn get_weather(..)` keeps the function and adds a unit struct
/// `GetWeather` to pass to [`AgentBuilder::tool`]. The optional first parameter
/// `&RunContext<Deps>` gives access to the run's dependencies; the other parameters
/// become the tool's arguments, with their JSON schema from their types. The function's
/// doc comment is the tool's description; an `# Arguments` section (`* `name` - text`)
/// describes each parameter. The function may be `async`, and may return any
/// `Serialize` value or a `Result` whose error converts into [`ToolError`]
/// (return [`ModelRetry`] to ask the model to try again).
///
/// Options: `#[tool(name = "other_name", retries = 3, strict, requires_approval)]`.
///
/// Mistakes are reported at the offending item. Parameters must be owned types:
///
/// ```compile_fail
/// use verity::prelude::*;
/// /// Greets someone.
/// #[tool]
/// fn greet(name: &str) -> String { format!("hi {name}") } // use String
/// ```
///
/// The run context is taken by reference, as the first parameter:
///
/// ```compile_fail
/// use verity::prelude::*;
/// /// Reads the deps.
/// #[tool]
/// fn by_value(ctx: RunContext<u32>) -> u32 { *ctx.deps() }
/// ```
///
/// ```compile_fail
/// use verity::prelude::*;
/// /// Reads the deps.
/// #[tool]
/// fn not_first(n: u32, ctx: &RunContext<u32>) -> u32 { n + *ctx.deps() }
/// ```
///
/// And a tool needs a doc comment, the description the model reads:
///
/// ```compile_fail
/// use verity::prelude::*;
/// #[tool]
/// fn undocumented() -> u32 { 1 }
/// ```
///
/// The same tools, written as the macro wants them:
///
/// ```
/// use verity::prelude::*;
/// /// Greets someone.
/// #[tool]
/// fn greet(name: String) -> String { format!("hi {name}") }
/// /// Reads the deps.
/// #[tool]
/// fn first(ctx: &RunContext<u32>, n: u32) -> u32 { n + *ctx.deps() }
/// let _agent = Agent::builder(TestModel::new()).deps_type::<u32>().tool(Greet).tool(First).build();
/// ```
pub use verity_macros::tool;

/// What most programs need, in one import.
pub mod prelude {
    pub use crate::agent::{
        Agent, AgentNode, EndStrategy, FinalResult, MessageCapture, RunRequest, RunResult,
    };
    pub use crate::deferred::{Deferrable, DeferredToolRequests, DeferredToolResults};
    pub use crate::error::{Error, Result};
    pub use crate::messages::{ModelMessage, ModelResponse, UserContent};
    pub use crate::model::{IntoModel, Model};
    pub use crate::models::fallback::FallbackModel;
    pub use crate::models::function::{AgentInfo, FunctionModel};
    pub use crate::models::infer::infer_model;
    pub use crate::models::test::TestModel;
    pub use crate::output::{OutputMode, OutputSpec, TextOr};
    pub use crate::run_stream::{AgentEvent, StreamedRun};
    pub use crate::settings::ModelSettings;
    pub use crate::tool;
    pub use crate::tools::{ModelRetry, RunContext, Tool, ToolError};
    pub use crate::usage::UsageLimits;
}

/// The README's code blocks, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// Pieces that are public only so that the fuzz targets and benchmarks can reach them;
/// not part of the API and free to change.
#[doc(hidden)]
pub mod internals {
    pub use crate::http::sse::{SseDecoder, SseEvent};
    pub use crate::partial_json::{parse_partial, strip_open_fence};
}

#[doc(hidden)]
pub mod __private {
    pub use schemars;
    pub use serde;
    pub use serde_json;
}
