//! [`TestModel`]: calls every tool with schema-valid arguments, then answers. For tests
//! and examples that run offline.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::error::Result;
use crate::messages::{
    ModelMessage, ModelRequestPart, ModelResponse, ModelResponsePart, TextPart, ToolCallArgs,
    ToolCallPart, ToolOutcome, UserContent, UserPrompt,
};
use crate::model::{Model, ModelProfile, ModelRequestParameters, ToolDefinition};
use crate::output::OutputMode;
use crate::settings::ModelSettings;
use crate::usage::RequestUsage;

/// Which function tools [`TestModel`] calls.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CallTools {
    /// Every tool offered.
    #[default]
    All,
    /// Only these tools.
    Only(Vec<String>),
}

/// A model for tests: on its first response it calls every function tool with arguments
/// generated from the tool's JSON schema; then it answers with an output generated from
/// the output schema (or the one you give), or text summarising the tool results.
#[derive(Debug, Clone)]
pub struct TestModel {
    call_tools: CallTools,
    custom_output_text: Option<String>,
    custom_output_args: Option<Value>,
    model_name: String,
    profile: ModelProfile,
}

impl Default for TestModel {
    fn default() -> Self {
        Self::new()
    }
}

impl TestModel {
    /// A test model that calls all tools and generates its output.
    pub fn new() -> Self {
        TestModel {
            call_tools: CallTools::All,
            custom_output_text: None,
            custom_output_args: None,
            model_name: "test".to_owned(),
            profile: ModelProfile {
                supports_json_schema_output: true,
                supports_json_object_output: true,
                ..ModelProfile::default()
            },
        }
    }

    /// Choose which tools to call.
    pub fn call_tools(mut self, which: CallTools) -> Self {
        self.call_tools = which;
        self
    }

    /// Answer with this text when text output is allowed.
    pub fn with_output_text(mut self, text: impl Into<String>) -> Self {
        self.custom_output_text = Some(text.into());
        self
    }

    /// Answer with these output arguments (or this JSON, for native/prompted output).
    pub fn with_output_args(mut self, args: Value) -> Self {
        self.custom_output_args = Some(args);
        self
    }

    /// The custom output (wrapped like the schema when the output type is not an
    /// object), or one generated from the schema.
    fn output_args(&self, schema: &Value) -> Value {
        match &self.custom_output_args {
            Some(a)
                if schema.get("required") == Some(&json!(["response"]))
                    && a.get("response").is_none() =>
            {
                json!({ "response": a })
            }
            Some(a) => a.clone(),
            None => generate_args(schema),
        }
    }

    fn tools_to_call<'a>(&self, params: &'a ModelRequestParameters) -> Vec<&'a ToolDefinition> {
        params
            .function_tools
            .iter()
            .filter(|t| match &self.call_tools {
                CallTools::All => true,
                CallTools::Only(names) => names.contains(&t.name),
            })
            .collect()
    }

    fn respond(&self, messages: &[ModelMessage], params: &ModelRequestParameters) -> ModelResponse {
        let last_parts: &[ModelRequestPart] = match messages.last() {
            Some(ModelMessage::Request(r)) => &r.parts,
            _ => &[],
        };
        let retried: Vec<&str> = last_parts
            .iter()
            .filter_map(|p| match p {
                ModelRequestPart::ToolReturn(t) if t.outcome == ToolOutcome::Retried => {
                    Some(t.tool_name.as_str())
                }
                ModelRequestPart::RetryPrompt(r) => r.tool_name.as_deref(),
                _ => None,
            })
            .collect();
        let first_response = !messages
            .iter()
            .any(|m| matches!(m, ModelMessage::Response(_)));
        let tools = self.tools_to_call(params);

        let calls: Vec<&ToolDefinition> = if first_response {
            tools
        } else {
            tools
                .into_iter()
                .filter(|t| retried.contains(&t.name.as_str()))
                .collect()
        };
        if !calls.is_empty() {
            return ModelResponse::new(
                calls
                    .into_iter()
                    .map(|t| tool_call(&t.name, generate_args(&t.parameters_json_schema)))
                    .collect(),
            );
        }

        if let Some(out) = params.output_tools.first() {
            let args = self.output_args(&out.parameters_json_schema);
            return ModelResponse::new(vec![tool_call(&out.name, args)]);
        }

        let text = match (&params.output_mode, &params.output_object) {
            (OutputMode::Native | OutputMode::Prompted, Some(obj)) => {
                self.output_args(&obj.json_schema).to_string()
            }
            _ => match &self.custom_output_text {
                Some(t) => t.clone(),
                None => summarise_tool_returns(messages),
            },
        };
        ModelResponse::new(vec![ModelResponsePart::Text(TextPart::new(text))])
    }
}

fn tool_call(name: &str, args: Value) -> ModelResponsePart {
    let args = match args {
        Value::Object(map) => ToolCallArgs::Object(map),
        other => ToolCallArgs::Json(other.to_string()),
    };
    ModelResponsePart::ToolCall(ToolCallPart::new(
        name,
        args,
        format!("pyd_ai_tool_call_id__{name}"),
    ))
}

fn summarise_tool_returns(messages: &[ModelMessage]) -> String {
    let mut returns: BTreeMap<String, Value> = BTreeMap::new();
    for m in messages {
        if let ModelMessage::Request(r) = m {
            for p in &r.parts {
                if let ModelRequestPart::ToolReturn(t) = p
                    && t.outcome == ToolOutcome::Success
                {
                    returns.insert(t.tool_name.clone(), t.content.clone());
                }
            }
        }
    }
    if returns.is_empty() {
        "success (no tool calls)".to_owned()
    } else {
        Value::Object(returns.into_iter().collect()).to_string()
    }
}

/// Tokens in a text the way PydanticAI's test models count them: the pieces left when
/// the trimmed text is split on runs of whitespace, `"`, `,`, `.` and `:` (blank text is
/// one piece; empty text none).
pub(crate) fn word_count(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    let separator = |c: char| c.is_whitespace() || "\",.:".contains(c);
    // as a regex split of the trimmed text: one piece more than there are separator runs
    // (a run at either end leaves an empty piece there)
    let trimmed = text.trim();
    let mut pieces = 1u64;
    let mut in_run = false;
    for c in trimmed.chars() {
        if separator(c) {
            if !in_run {
                pieces += 1;
                in_run = true;
            }
        } else {
            in_run = false;
        }
    }
    pieces
}

/// Estimate usage the way PydanticAI's test and function models do: 50 tokens of
/// overhead plus the words of every request part as input; the words of every response
/// in the history and of this one as output.
pub fn estimate_usage(messages: &[ModelMessage], response: &ModelResponse) -> RequestUsage {
    let mut input = 50;
    let mut output = 0;
    for m in messages {
        match m {
            ModelMessage::Request(r) => {
                for p in &r.parts {
                    input += match p {
                        ModelRequestPart::SystemPrompt(s) => word_count(&s.content),
                        ModelRequestPart::UserPrompt(u) => user_prompt_words(&u.content),
                        ModelRequestPart::ToolReturn(t) => word_count(&t.model_response_str()),
                        ModelRequestPart::RetryPrompt(r) => word_count(&r.model_response_str()),
                        ModelRequestPart::RetryFeedback(f) => word_count(&f.model_response_str()),
                        ModelRequestPart::Unknown(_) => 0,
                    };
                }
            }
            ModelMessage::Response(r) => output += response_words(r),
        }
    }
    RequestUsage {
        input_tokens: input,
        output_tokens: output + response_words(response),
        ..Default::default()
    }
}

/// A prompt's words: text as text; of a list, its text items and the bytes of inline
/// data (PydanticAI counts nothing for URLs).
fn user_prompt_words(prompt: &UserPrompt) -> u64 {
    match prompt {
        UserPrompt::Text(text) => word_count(text),
        UserPrompt::Parts(parts) => parts
            .iter()
            .map(|p| match p {
                UserContent::Text(text) => word_count(text),
                UserContent::Binary(b) => b.data.len() as u64,
                _ => 0,
            })
            .sum(),
    }
}

fn response_words(r: &ModelResponse) -> u64 {
    r.parts
        .iter()
        .map(|p| match p {
            ModelResponsePart::Text(t) => word_count(&t.content),
            ModelResponsePart::Thinking(t) => word_count(&t.content),
            ModelResponsePart::ToolCall(c) => 1 + word_count(&args_as_json(&c.args)),
            ModelResponsePart::Unknown(_) => 0,
        })
        .sum()
}

/// Arguments as PydanticAI renders them to count them: compact JSON of the object, or
/// `{"INVALID_JSON": text}` for text that is not a JSON object.
fn args_as_json(args: &ToolCallArgs) -> String {
    match args.to_value() {
        Ok(object @ Value::Object(_)) => object.to_string(),
        _ => serde_json::json!({"INVALID_JSON": args.to_json_string()}).to_string(),
    }
}

impl Model for TestModel {
    async fn request(
        &self,
        messages: &[ModelMessage],
        _settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ModelResponse> {
        let mut response = self.respond(messages, params);
        response.usage = estimate_usage(messages, &response);
        response.model_name = Some(self.model_name.clone());
        response.provider_name = Some("test".to_owned());
        Ok(response)
    }

    fn model_name(&self) -> &str {
        &self.model_name
    }

    fn system(&self) -> &str {
        "test"
    }

    fn profile(&self) -> &ModelProfile {
        &self.profile
    }
}

/// Generate a value valid for a JSON schema: strings `"a"`, numbers at their minimum
/// (or 0), one item per array, every property of an object, the first non-null
/// alternative of a union. `$ref`s into `$defs` are followed; recursion stops at null
/// or empty values.
pub fn generate_args(schema: &Value) -> Value {
    Generator { root: schema }.gen_value(schema, 0)
}

struct Generator<'a> {
    root: &'a Value,
}

const MAX_DEPTH: usize = 12;

impl<'a> Generator<'a> {
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let path = reference.strip_prefix("#/")?;
        let mut cur = self.root;
        for seg in path.split('/') {
            cur = cur.get(seg.replace("~1", "/").replace("~0", "~"))?;
        }
        Some(cur)
    }

    fn gen_value(&self, schema: &Value, depth: usize) -> Value {
        let obj = match schema {
            Value::Object(o) => o,
            Value::Bool(_) => return json!("a"),
            _ => return Value::Null,
        };
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            return match self.resolve(reference) {
                Some(target) if depth < MAX_DEPTH => self.gen_value(target, depth + 1),
                _ => Value::Null,
            };
        }
        if let Some(c) = obj.get("const") {
            return c.clone();
        }
        if let Some(first) = obj
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return first.clone();
        }
        if let Some(default) = obj.get("default")
            && obj.get("type").is_none()
        {
            return default.clone();
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(alts) = obj.get(key).and_then(Value::as_array) {
                let is_null = |a: &Value| a.get("type") == Some(&json!("null"));
                let choice = if depth >= MAX_DEPTH {
                    alts.iter().find(|a| is_null(a)).or_else(|| alts.first())
                } else {
                    alts.iter().find(|a| !is_null(a)).or_else(|| alts.first())
                };
                return choice.map_or(Value::Null, |a| self.gen_value(a, depth + 1));
            }
        }
        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            for s in all {
                if let Value::Object(o) = self.gen_value(s, depth + 1) {
                    merged.extend(o);
                }
            }
            return Value::Object(merged);
        }
        let ty = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null" || depth >= MAX_DEPTH)
                .unwrap_or("null"),
            _ if obj.contains_key("properties") => "object",
            _ if obj.contains_key("items") => "array",
            _ => return json!("a"),
        };
        match ty {
            "object" => {
                let mut out = Map::new();
                if let Some(props) = obj.get("properties").and_then(Value::as_object) {
                    let required: Vec<&str> = obj
                        .get("required")
                        .and_then(Value::as_array)
                        .map(|r| r.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    for (name, prop) in props {
                        if depth >= MAX_DEPTH && !required.contains(&name.as_str()) {
                            continue;
                        }
                        out.insert(name.clone(), self.gen_value(prop, depth + 1));
                    }
                }
                Value::Object(out)
            }
            "array" => {
                if let Some(prefix) = obj.get("prefixItems").and_then(Value::as_array) {
                    return Value::Array(
                        prefix
                            .iter()
                            .map(|s| self.gen_value(s, depth + 1))
                            .collect(),
                    );
                }
                let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(0);
                let n = if depth >= MAX_DEPTH { min } else { min.max(1) };
                let item = obj.get("items").cloned().unwrap_or(json!({}));
                Value::Array((0..n).map(|_| self.gen_value(&item, depth + 1)).collect())
            }
            "string" => generate_string(obj),
            "integer" => {
                let lo = number_bound(obj, "minimum", "exclusiveMinimum", 1.0);
                let hi = number_bound(obj, "maximum", "exclusiveMaximum", -1.0);
                let v = match (lo, hi) {
                    (Some(lo), _) => lo.ceil(),
                    (None, Some(hi)) if hi < 0.0 => hi.floor(),
                    _ => 0.0,
                };
                json!(v as i64)
            }
            "number" => {
                let lo = number_bound(obj, "minimum", "exclusiveMinimum", 0.5);
                let hi = number_bound(obj, "maximum", "exclusiveMaximum", -0.5);
                let v = match (lo, hi) {
                    (Some(lo), _) => lo,
                    (None, Some(hi)) if hi < 0.0 => hi,
                    _ => 0.0,
                };
                json!(v)
            }
            "boolean" => json!(false),
            "null" => Value::Null,
            _ => json!("a"),
        }
    }
}

fn number_bound(
    obj: &Map<String, Value>,
    inclusive: &str,
    exclusive: &str,
    step: f64,
) -> Option<f64> {
    obj.get(inclusive)
        .and_then(Value::as_f64)
        .or_else(|| obj.get(exclusive).and_then(Value::as_f64).map(|v| v + step))
}

fn generate_string(obj: &Map<String, Value>) -> Value {
    let by_format = match obj.get("format").and_then(Value::as_str) {
        Some("date-time") => Some("2024-01-01T00:00:00Z"),
        Some("date") => Some("2024-01-01"),
        Some("time") => Some("00:00:00"),
        Some("uuid") => Some("00000000-0000-0000-0000-000000000000"),
        Some("email") => Some("a@example.com"),
        Some("uri") => Some("https://example.com/"),
        Some("ipv4") => Some("127.0.0.1"),
        Some("ipv6") => Some("::1"),
        Some("duration") => Some("P1D"),
        _ => None,
    };
    if let Some(s) = by_format {
        return json!(s);
    }
    let min = obj
        .get("minLength")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1);
    json!("a".repeat(usize::try_from(min).unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::word_count;

    #[test]
    fn words_are_counted_as_pydantic_ai_counts_them() {
        // `len(re.split(r'[\s",.:]+', text.strip()))`, and 0 for empty text
        for (text, n) in [
            ("", 0),
            ("   ", 1),
            ("Let me check.", 4),
            ("{\"city\":", 3),
            (" \"Paris\"}", 3),
            ("It is ", 2),
            ("What is the weather in Paris?", 6),
            ("a,,b  c", 3),
        ] {
            assert_eq!(word_count(text), n, "{text:?}");
        }
    }
}
