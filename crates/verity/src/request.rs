//! The request vocabulary: what a request carries besides the messages and settings
//! (tool definitions, the output mode, the output schema). A leaf module: it imports
//! nothing from the models, the providers or the agent.

use serde_json::Value;

/// How the model is asked for structured output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    /// An output tool (`final_result`) whose arguments are the output; offered beside
    /// the function tools. The default: it works on every model that calls tools.
    #[default]
    Tool,
    /// The provider's native structured output (a JSON schema in the request).
    Native,
    /// The schema in the instructions; the model answers with JSON text.
    Prompted,
    /// Plain text (the output type is `String`).
    Text,
}

/// What kind of tool a definition describes (PydanticAI's `ToolDefinition.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ToolKind {
    /// A function the agent runs and returns the result of.
    #[default]
    Function,
    /// A tool whose arguments are the run's final output.
    Output,
    /// A tool executed outside the run: its calls end the run as deferred
    /// ([`crate::deferred`]).
    External,
    /// A function that needs a person's approval before each call ([`crate::deferred`]).
    Unapproved,
}

/// A tool as the model sees it: name, description, JSON schema of the arguments.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ToolDefinition {
    /// The tool's name.
    pub name: String,
    /// What the tool does.
    pub description: Option<String>,
    /// JSON schema (an object schema) of the arguments.
    pub parameters_json_schema: Value,
    /// Whether to ask the provider for strict schema adherence (when it supports it).
    pub strict: Option<bool>,
    /// Function or output tool.
    pub kind: ToolKind,
    /// Provider-specific fields sent as they are in the tool's wire definition (e.g.
    /// `eager_input_streaming`).
    pub extra_fields: serde_json::Map<String, Value>,
}

/// The schema of a structured output in native or prompted mode.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputObjectDefinition {
    /// Name of the schema.
    pub name: String,
    /// What the output is.
    pub description: Option<String>,
    /// JSON schema of the output (an object schema).
    pub json_schema: Value,
    /// Whether to ask for strict adherence.
    pub strict: Option<bool>,
}

/// Everything a request carries besides messages and settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelRequestParameters {
    /// The agent's function tools.
    pub function_tools: Vec<ToolDefinition>,
    /// The output tools (tool output mode).
    pub output_tools: Vec<ToolDefinition>,
    /// How the output is to be produced.
    pub output_mode: OutputMode,
    /// The output schema for native and prompted modes.
    pub output_object: Option<OutputObjectDefinition>,
    /// Whether plain text is an acceptable final answer.
    pub allow_text_output: bool,
    /// Tools the provider runs itself (web search, code execution, web fetch), offered
    /// next to the function tools. A wire API without them fails with
    /// [`Error::User`](crate::Error::User) rather than dropping them.
    pub native_tools: Vec<NativeTool>,
}

/// A tool the provider runs itself (PydanticAI's native tools): offered with
/// [`AgentBuilder::native_tool`](crate::agent::AgentBuilder::native_tool), next to the
/// agent's own tools. Their calls and results come back as `builtin-tool-call` /
/// `builtin-tool-return` parts, kept in the history and sent back to the same provider.
///
/// | tool | Anthropic | Gemini | OpenAI Responses | Bedrock |
/// |---|---|---|---|---|
/// | [`WebSearch`](Self::WebSearch) | `web_search_20250305` | `googleSearch` | `web_search` | — |
/// | [`CodeExecution`](Self::CodeExecution) | `code_execution_20260120` | `codeExecution` | `code_interpreter` | Nova: `nova_code_interpreter` |
/// | [`WebFetch`](Self::WebFetch) | `web_fetch_20250910` | `urlContext` | — | — |
///
/// OpenAI Chat Completions, Mistral and Cohere have none.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NativeTool {
    /// Search the web.
    WebSearch {
        /// The most searches per request (where the provider takes a limit).
        max_uses: Option<u32>,
        /// Only these domains (where the provider takes a list).
        allowed_domains: Vec<String>,
    },
    /// Run code in the provider's sandbox.
    CodeExecution,
    /// Fetch the pages at URLs in the conversation.
    WebFetch {
        /// The most fetches per request (where the provider takes a limit).
        max_uses: Option<u32>,
        /// Only these domains (where the provider takes a list).
        allowed_domains: Vec<String>,
    },
}

impl NativeTool {
    /// Web search without limits.
    pub fn web_search() -> Self {
        NativeTool::WebSearch {
            max_uses: None,
            allowed_domains: Vec::new(),
        }
    }

    /// Code execution.
    pub fn code_execution() -> Self {
        NativeTool::CodeExecution
    }

    /// Web fetch without limits.
    pub fn web_fetch() -> Self {
        NativeTool::WebFetch {
            max_uses: None,
            allowed_domains: Vec::new(),
        }
    }

    /// The tool's name in messages (`web_search`, `code_execution`, `web_fetch`).
    pub fn name(&self) -> &'static str {
        match self {
            NativeTool::WebSearch { .. } => "web_search",
            NativeTool::CodeExecution => "code_execution",
            NativeTool::WebFetch { .. } => "web_fetch",
        }
    }

    /// The error of a wire API that has no native tools.
    pub fn unsupported(model_name: &str, tools: &[NativeTool]) -> crate::Error {
        let names: Vec<&str> = tools.iter().map(NativeTool::name).collect();
        crate::Error::User(format!(
            "model `{model_name}` does not support native tools ({}); remove them or use a model that runs them",
            names.join(", ")
        ))
    }
}

impl ModelRequestParameters {
    /// Function and output tools together, function tools first.
    pub fn all_tools(&self) -> impl Iterator<Item = &ToolDefinition> {
        self.function_tools.iter().chain(self.output_tools.iter())
    }
}

impl ToolDefinition {
    /// A function tool named `name` whose arguments follow `parameters_json_schema`.
    ///
    /// ```
    /// use verity::model::{ToolDefinition, ToolKind};
    /// let def = ToolDefinition::new("get_weather", serde_json::json!({"type": "object"}))
    ///     .with_description("Weather in a city.")
    ///     .with_kind(ToolKind::Function);
    /// assert_eq!(def.description.as_deref(), Some("Weather in a city."));
    /// ```
    pub fn new(name: impl Into<String>, parameters_json_schema: Value) -> Self {
        ToolDefinition {
            name: name.into(),
            parameters_json_schema,
            ..ToolDefinition::default()
        }
    }

    /// With this description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// With strict schema adherence asked for (`Some(true)`), refused, or left to the
    /// profile (`None`).
    pub fn with_strict(mut self, strict: Option<bool>) -> Self {
        self.strict = strict;
        self
    }

    /// Of this kind (function, output, external, needing approval).
    pub fn with_kind(mut self, kind: ToolKind) -> Self {
        self.kind = kind;
        self
    }

    /// With a provider-specific field sent as it is in the tool's wire definition.
    pub fn with_extra_field(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra_fields.insert(key.into(), value);
        self
    }
}
