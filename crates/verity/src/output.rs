//! How a run's output is produced and validated: through an output tool, the provider's
//! native JSON-schema mode, prompted JSON, or plain text.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::messages::ToolCallArgs;
use crate::profiles::ModelProfile;
use crate::request::{OutputObjectDefinition, ToolDefinition, ToolKind};
use crate::schema::parameters_schema;
use crate::validation::{ValidationErrors, Validator, from_value, json_invalid};

pub use crate::request::OutputMode;

/// The name of the output tool when there is one.
pub const DEFAULT_OUTPUT_TOOL_NAME: &str = "final_result";

/// Description of the output tool when the output type has no doc comment.
pub const DEFAULT_OUTPUT_TOOL_DESCRIPTION: &str = "The final response which ends this conversation";

#[derive(Debug, Clone)]
struct Variant {
    tag: String,
    tool_name: String,
    description: Option<String>,
    schema: Value,
    wrapped: bool,
    validator: Arc<Validator>,
}

type ParseFn<O> = dyn Fn(&Value) -> Result<O, ValidationErrors> + Send + Sync;
type ParseJsonFn<O> = dyn Fn(&str) -> Option<O> + Send + Sync;
type PlainFn<O> = dyn Fn(String) -> O + Send + Sync;

/// What output an agent produces and how. Built once per agent: schemas are computed
/// here, not per run.
pub struct OutputSpec<O> {
    mode: Option<OutputMode>,
    text: bool,
    name: String,
    description: Option<String>,
    strict: Option<bool>,
    object_schema: Value,
    wrapped: bool,
    variants: Vec<Variant>,
    parse: Arc<ParseFn<O>>,
    /// Straight from JSON text to `O`, for arguments that are valid: no `Value` tree and
    /// no path tracking. Anything it rejects goes through `parse` for the errors.
    parse_json: Option<Arc<ParseJsonFn<O>>>,
    /// The validator of `object_schema` (structured outputs).
    validator: Option<Arc<Validator>>,
    /// Text answers taken as they are: plain-text output, or the text side of
    /// [`TextOr`].
    plain: Option<Arc<PlainFn<O>>>,
}

impl<O> Clone for OutputSpec<O> {
    fn clone(&self) -> Self {
        OutputSpec {
            mode: self.mode,
            text: self.text,
            name: self.name.clone(),
            description: self.description.clone(),
            strict: self.strict,
            object_schema: self.object_schema.clone(),
            wrapped: self.wrapped,
            variants: self.variants.clone(),
            parse: Arc::clone(&self.parse),
            parse_json: self.parse_json.clone(),
            validator: self.validator.clone(),
            plain: self.plain.clone(),
        }
    }
}

impl<O> std::fmt::Debug for OutputSpec<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputSpec")
            .field("mode", &self.mode)
            .field("text", &self.text)
            .field("name", &self.name)
            .field("variants", &self.variants.len())
            .finish_non_exhaustive()
    }
}

impl OutputSpec<String> {
    /// Plain-text output.
    pub fn text() -> Self {
        OutputSpec {
            mode: Some(OutputMode::Text),
            text: true,
            name: DEFAULT_OUTPUT_TOOL_NAME.to_owned(),
            description: None,
            strict: None,
            object_schema: Value::Null,
            wrapped: false,
            variants: Vec::new(),
            parse: Arc::new(|v: &Value| match v {
                Value::String(s) => Ok(s.clone()),
                other => Ok(other.to_string()),
            }),
            parse_json: None,
            validator: None,
            plain: Some(Arc::new(|s| s)),
        }
    }
}

/// Where a value of the resolved mode comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutputRequest {
    pub mode: OutputMode,
    pub output_tools: Vec<ToolDefinition>,
    pub output_object: Option<OutputObjectDefinition>,
    pub allow_text_output: bool,
    pub instructions: Option<String>,
}

impl OutputRequest {
    /// The request parameters offering `function_tools` with this output, and the
    /// instructions the output mode adds.
    pub(crate) fn into_parameters(
        self,
        function_tools: Vec<ToolDefinition>,
    ) -> (crate::request::ModelRequestParameters, Option<String>) {
        let params = crate::request::ModelRequestParameters {
            function_tools,
            output_tools: self.output_tools,
            output_mode: self.mode,
            output_object: self.output_object,
            allow_text_output: self.allow_text_output,
            native_tools: Vec::new(),
        };
        (params, self.instructions)
    }
}

impl<O: DeserializeOwned + JsonSchema + Send + Sync + 'static> OutputSpec<O> {
    /// Structured output of type `O`. Externally tagged enums whose variants all carry
    /// data become union outputs: one output tool per variant.
    pub fn structured() -> Self {
        let schema = parameters_schema::<O>();
        let description = schema
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let variants = union_variants(&schema).unwrap_or_default();
        let (object_schema, wrapped) = object_or_wrapped(schema);
        let validator = Some(Arc::new(Validator::new(&object_schema)));
        OutputSpec {
            mode: None,
            text: false,
            name: DEFAULT_OUTPUT_TOOL_NAME.to_owned(),
            description,
            strict: None,
            object_schema,
            wrapped,
            variants,
            parse: Arc::new(|v: &Value| from_value::<O>(v)),
            parse_json: Some(Arc::new(|text: &str| serde_json::from_str::<O>(text).ok())),
            validator,
            plain: None,
        }
    }
}

/// Whether `A`'s schema is not an object, so a tool takes it wrapped as `{"response": …}`.
pub(crate) fn is_wrapped<A: JsonSchema>() -> bool {
    !is_object_schema(&parameters_schema::<A>())
}

impl<T> OutputSpec<T> {
    /// One output tool `name` with `schema` (wrapped when not an object), parsed by
    /// `parse`.
    fn single_tool(
        name: impl Into<String>,
        description: impl Into<String>,
        schema: Value,
        mode: Option<OutputMode>,
        parse: Arc<ParseFn<T>>,
    ) -> Self {
        let description: String = description.into();
        let (object_schema, wrapped) = object_or_wrapped(schema);
        OutputSpec {
            mode,
            text: false,
            name: name.into(),
            description: (!description.is_empty()).then_some(description),
            strict: None,
            object_schema,
            wrapped,
            variants: Vec::new(),
            parse,
            parse_json: None,
            validator: None,
            plain: None,
        }
    }

    /// The output tool of an output function taking `A`: its schema is `A`'s; the
    /// agent calls the function with the checked arguments, so this spec never parses
    /// an output itself (tool mode only).
    pub(crate) fn for_function<A: JsonSchema>(
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self::single_tool(
            name,
            description,
            parameters_schema::<A>(),
            Some(OutputMode::Tool),
            Arc::new(|v: &Value| {
                Err(ValidationErrors::message(
                    "output_function",
                    "the output comes from the output function",
                    v.clone(),
                ))
            }),
        )
    }
}

impl OutputSpec<Value> {
    /// Structured output whose schema is known only at run time (PydanticAI's
    /// `StructuredDict`): the model is offered an output tool named `name` with this JSON
    /// schema, and its arguments are checked against it (every error in pydantic's
    /// shape) and returned as JSON.
    ///
    /// ```
    /// use verity::prelude::*;
    ///
    /// let spec = OutputSpec::from_schema(
    ///     "person",
    ///     "A person.",
    ///     serde_json::json!({
    ///         "type": "object",
    ///         "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    ///         "required": ["name", "age"]
    ///     }),
    /// );
    /// let agent = Agent::builder(TestModel::new()).output_spec(spec).build();
    /// let person = agent.run("Who?").blocking().unwrap().output;
    /// assert!(person["age"].is_i64());
    /// ```
    pub fn from_schema(
        name: impl Into<String>,
        description: impl Into<String>,
        schema: Value,
    ) -> Self {
        let (object_schema, _) = object_or_wrapped(schema.clone());
        let validator = Arc::new(Validator::new(&object_schema));
        Self::single_tool(
            name,
            description,
            schema,
            None,
            Arc::new(move |v: &Value| match validator.validate(v)? {
                Some(coerced) => Ok(coerced),
                None => Ok(v.clone()),
            }),
        )
    }
}

/// The output of an agent that may answer in plain text or with structured data:
/// PydanticAI's `output_type=str | T`. Made with [`OutputSpec::text_or`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TextOr<T> {
    /// The model answered in text.
    Text(String),
    /// The model called the output tool.
    Structured(T),
}

impl<T: DeserializeOwned + JsonSchema + Send + Sync + 'static> OutputSpec<TextOr<T>> {
    /// Text or structured output of type `T` (PydanticAI's `str | T`): the output tool
    /// of `T` is offered and text is allowed too. A text answer becomes
    /// [`TextOr::Text`], a call of the output tool [`TextOr::Structured`].
    pub fn text_or() -> Self {
        let inner = OutputSpec::<T>::structured();
        let parse = Arc::clone(&inner.parse);
        OutputSpec {
            mode: Some(OutputMode::Tool),
            text: false,
            name: inner.name,
            description: inner.description,
            strict: inner.strict,
            object_schema: inner.object_schema,
            wrapped: inner.wrapped,
            variants: inner.variants,
            parse: Arc::new(move |v: &Value| parse(v).map(TextOr::Structured)),
            parse_json: Some(Arc::new(|text: &str| {
                serde_json::from_str::<T>(text).ok().map(TextOr::Structured)
            })),
            validator: inner.validator,
            plain: Some(Arc::new(TextOr::Text)),
        }
    }
}

impl<O: Send + Sync + 'static> OutputSpec<O> {
    /// The same output, each value passed through `f` (e.g. into a wrapping enum).
    pub(crate) fn map<P: 'static>(self, f: fn(O) -> P) -> OutputSpec<P> {
        let parse = self.parse;
        let parse_json = self.parse_json;
        let plain = self.plain;
        OutputSpec {
            mode: self.mode,
            text: self.text,
            name: self.name,
            description: self.description,
            strict: self.strict,
            object_schema: self.object_schema,
            wrapped: self.wrapped,
            variants: self.variants,
            parse: Arc::new(move |v: &Value| parse(v).map(f)),
            parse_json: parse_json
                .map(|p| Arc::new(move |text: &str| p(text).map(f)) as Arc<ParseJsonFn<P>>),
            validator: self.validator,
            plain: plain.map(|p| Arc::new(move |text: String| f(p(text))) as Arc<PlainFn<P>>),
        }
    }
}

impl<O> OutputSpec<O> {
    /// Choose the mode (structured outputs only; text output stays text).
    pub fn with_mode(mut self, mode: OutputMode) -> Self {
        if !self.text && self.plain.is_none() && mode != OutputMode::Text {
            self.mode = Some(mode);
        }
        self
    }

    /// Rename the output tool / schema.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Describe the output.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Ask for strict schema adherence.
    pub fn with_strict(mut self, strict: bool) -> Self {
        self.strict = Some(strict);
        self
    }

    /// The JSON schema sent for the output (`Null` for text output).
    pub fn json_schema(&self) -> &Value {
        &self.object_schema
    }

    /// Whether the output is plain text.
    pub fn is_text(&self) -> bool {
        self.text
    }

    /// The names of the output tools offered in tool mode: one for a single type,
    /// one per variant for a union (`final_result_<Variant>`), none for text. A
    /// [`FunctionModel`](crate::models::function::FunctionModel) answers with a call
    /// of one of them.
    pub fn tool_names(&self) -> Vec<String> {
        if self.text {
            return Vec::new();
        }
        if self.variants.is_empty() {
            return vec![self.name.clone()];
        }
        self.variants.iter().map(|v| v.tool_name.clone()).collect()
    }

    /// The name of the output tool of the union variant `variant` (as the enum names
    /// it), or `None` when the output has no such variant.
    ///
    /// ```
    /// use verity::OutputSpec;
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// enum Answer { Found { name: String }, NotFound { reason: String } }
    ///
    /// let spec = OutputSpec::<Answer>::structured();
    /// assert_eq!(spec.tool_name_for_variant("Found").as_deref(), Some("final_result_Found"));
    /// assert_eq!(spec.tool_name_for_variant("Missing"), None);
    /// ```
    pub fn tool_name_for_variant(&self, variant: &str) -> Option<String> {
        self.variants
            .iter()
            .find(|v| v.tag == variant)
            .map(|v| v.tool_name.clone())
    }

    pub(crate) fn resolve(&self, profile: &ModelProfile) -> OutputRequest {
        if self.text {
            return OutputRequest {
                mode: OutputMode::Text,
                output_tools: Vec::new(),
                output_object: None,
                allow_text_output: true,
                instructions: None,
            };
        }
        let mode = match self.plain {
            Some(_) => OutputMode::Tool,
            None => self.mode.unwrap_or(profile.default_structured_output_mode),
        };
        match mode {
            OutputMode::Tool | OutputMode::Text => OutputRequest {
                mode: OutputMode::Tool,
                output_tools: self.output_tools(),
                output_object: None,
                allow_text_output: self.plain.is_some(),
                instructions: None,
            },
            OutputMode::Native => OutputRequest {
                mode,
                output_tools: Vec::new(),
                output_object: Some(self.output_object()),
                allow_text_output: true,
                instructions: None,
            },
            OutputMode::Prompted => {
                let schema = serde_json::to_string(&self.object_schema).unwrap_or_default();
                OutputRequest {
                    mode,
                    output_tools: Vec::new(),
                    output_object: Some(self.output_object()),
                    allow_text_output: true,
                    instructions: Some(
                        profile
                            .prompted_output_template
                            .replace("{schema}", &schema),
                    ),
                }
            }
        }
    }

    fn output_object(&self) -> OutputObjectDefinition {
        OutputObjectDefinition {
            name: self.name.clone(),
            description: self.description.clone(),
            json_schema: self.object_schema.clone(),
            strict: self.strict,
        }
    }

    fn output_tools(&self) -> Vec<ToolDefinition> {
        if self.variants.is_empty() {
            return vec![ToolDefinition {
                name: self.name.clone(),
                description: Some(
                    self.description
                        .clone()
                        .unwrap_or_else(|| DEFAULT_OUTPUT_TOOL_DESCRIPTION.to_owned()),
                ),
                parameters_json_schema: self.object_schema.clone(),
                strict: self.strict,
                kind: ToolKind::Output,
                extra_fields: Default::default(),
            }];
        }
        self.variants
            .iter()
            .map(|v| ToolDefinition {
                name: v.tool_name.clone(),
                description: Some(
                    v.description.clone().unwrap_or_else(|| {
                        format!("{DEFAULT_OUTPUT_TOOL_DESCRIPTION} ({})", v.tag)
                    }),
                ),
                parameters_json_schema: v.schema.clone(),
                strict: self.strict,
                kind: ToolKind::Output,
                extra_fields: Default::default(),
            })
            .collect()
    }

    /// Whether `tool_name` is one of this output's tools.
    pub(crate) fn is_output_tool(&self, tool_name: &str) -> bool {
        if self.text {
            return false;
        }
        if self.variants.is_empty() {
            tool_name == self.name
        } else {
            self.variants.iter().any(|v| v.tool_name == tool_name)
        }
    }

    /// The output of an output-tool call whose arguments are JSON text that is valid as
    /// they are (no union tag, no `response` wrapper). `None`: check them with
    /// [`parse_tool_args`](Self::parse_tool_args), which also says what is wrong.
    pub(crate) fn parse_valid_json_args(&self, tool_name: &str, args: &ToolCallArgs) -> Option<O> {
        let (ToolCallArgs::Json(text), Some(parse)) = (args, &self.parse_json) else {
            return None;
        };
        if self.wrapped
            || self.validator.as_ref().is_some_and(|v| v.needs_check())
            || self.variants.iter().any(|v| v.tool_name == tool_name)
        {
            return None;
        }
        parse(text)
    }

    /// Validate the arguments of an output-tool call: every error pydantic would report
    /// (missing and extra fields, types, constraints), with its lax coercions.
    pub(crate) fn parse_tool_args(
        &self,
        tool_name: &str,
        args: &Value,
    ) -> Result<O, ValidationErrors> {
        if let Some(variant) = self.variants.iter().find(|v| v.tool_name == tool_name) {
            return checked(Some(&variant.validator), args, |args| {
                let inner = if variant.wrapped {
                    unwrap_response(args)?
                } else {
                    args.clone()
                };
                let mut tagged = Map::new();
                tagged.insert(variant.tag.clone(), inner);
                (self.parse)(&Value::Object(tagged)).map_err(|e| {
                    let e = strip_loc_prefix(e, &variant.tag);
                    if variant.wrapped {
                        add_loc_prefix(e, "response")
                    } else {
                        e
                    }
                })
            });
        }
        self.parse_object(args)
    }

    /// A JSON value for the output object (`{"response": …}` when wrapped).
    fn parse_object(&self, args: &Value) -> Result<O, ValidationErrors> {
        checked(self.validator.as_deref(), args, |args| {
            if self.wrapped {
                let inner = unwrap_response(args)?;
                return (self.parse)(&inner).map_err(|e| add_loc_prefix(e, "response"));
            }
            (self.parse)(args)
        })
    }

    /// Validate a text answer: the text itself for text output (and the text side of
    /// [`TextOr`]), JSON otherwise.
    pub(crate) fn parse_text(&self, text: &str) -> Result<O, ValidationErrors> {
        if let Some(plain) = &self.plain {
            return Ok(plain(text.to_owned()));
        }
        let json_text = strip_fences(text);
        let value: Value = serde_json::from_str(json_text).map_err(|e| json_invalid(text, &e))?;
        self.parse_object(&value)
    }
}

/// Deserialize with `finish`; when the schema has constraints serde does not check, or
/// `finish` fails, validate first (every error, lax coercions) and finish on the
/// coerced value.
fn checked<O>(
    validator: Option<&Validator>,
    args: &Value,
    finish: impl Fn(&Value) -> Result<O, ValidationErrors>,
) -> Result<O, ValidationErrors> {
    let Some(validator) = validator else {
        return finish(args);
    };
    if !validator.needs_check()
        && let Ok(o) = finish(args)
    {
        return Ok(o);
    }
    match validator.validate(args)? {
        Some(coerced) => finish(&coerced),
        None => finish(args),
    }
}

impl<O> OutputSpec<O> {
    /// A partial output from the arguments of an output-tool call that is still
    /// arriving; `None` until they deserialize.
    pub(crate) fn parse_partial_tool_args(
        &self,
        tool_name: &str,
        args_text: &str,
    ) -> Option<(Value, O)> {
        let value = crate::partial_json::parse_partial(args_text)?;
        let output = self.parse_tool_args(tool_name, &value).ok()?;
        Some((value, output))
    }

    /// A partial output from text that is still arriving.
    pub(crate) fn parse_partial_text(&self, text: &str) -> Option<(Value, O)> {
        if let Some(plain) = &self.plain {
            let value = Value::String(text.to_owned());
            return Some((value, plain(text.to_owned())));
        }
        let value =
            crate::partial_json::parse_partial(crate::partial_json::strip_open_fence(text))?;
        let output = if self.wrapped {
            (self.parse)(value.get("response")?).ok()?
        } else {
            (self.parse)(&value).ok()?
        };
        Some((value, output))
    }
}

fn unwrap_response(args: &Value) -> Result<Value, ValidationErrors> {
    args.get("response").cloned().ok_or_else(|| {
        ValidationErrors(vec![json!({
            "type": "missing", "loc": ["response"], "msg": "Field required", "input": args
        })])
    })
}

fn add_loc_prefix(mut e: ValidationErrors, prefix: &str) -> ValidationErrors {
    for err in &mut e.0 {
        if let Some(Value::Array(loc)) = err.get_mut("loc") {
            loc.insert(0, json!(prefix));
        }
    }
    e
}

fn strip_loc_prefix(mut e: ValidationErrors, tag: &str) -> ValidationErrors {
    for err in &mut e.0 {
        if let Some(Value::Array(loc)) = err.get_mut("loc")
            && loc.first() == Some(&json!(tag))
        {
            loc.remove(0);
        }
    }
    e
}

/// Remove Markdown code fences around JSON text.
fn strip_fences(text: &str) -> &str {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("```") {
        let rest = rest.split_once('\n').map_or("", |(_, body)| body);
        return rest.trim_end().strip_suffix("```").unwrap_or(rest).trim();
    }
    t
}

fn is_object_schema(schema: &Value) -> bool {
    schema.get("type") == Some(&json!("object")) && schema.get("properties").is_some()
}

fn object_or_wrapped(schema: Value) -> (Value, bool) {
    if is_object_schema(&schema) {
        return (schema, false);
    }
    let mut inner = schema;
    let defs = match &mut inner {
        Value::Object(map) => map.remove("$defs"),
        _ => None,
    };
    if let Value::Object(map) = &mut inner {
        map.remove("description");
    }
    let mut wrapped = json!({
        "type": "object",
        "properties": {"response": inner},
        "required": ["response"],
        "additionalProperties": false,
    });
    if let (Some(defs), Value::Object(map)) = (defs, &mut wrapped) {
        map.insert("$defs".into(), defs);
    }
    (wrapped, true)
}

fn resolve_ref<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(name) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        && let Some(def) = root.get("$defs").and_then(|d| d.get(name))
    {
        return def;
    }
    schema
}

/// The variants of an externally tagged enum whose variants all carry data, each with
/// the schema of its payload; `None` for any other schema.
fn union_variants(root: &Value) -> Option<Vec<Variant>> {
    let alts = root
        .get("oneOf")
        .or_else(|| root.get("anyOf"))
        .and_then(Value::as_array)?;
    let defs = root.get("$defs").cloned();
    let mut variants = Vec::with_capacity(alts.len());
    for alt in alts {
        let alt = resolve_ref(root, alt);
        let props = alt.get("properties")?.as_object()?;
        let required = alt.get("required")?.as_array()?;
        if props.len() != 1 || required.len() != 1 {
            return None;
        }
        let (tag, payload) = props.iter().next()?;
        if required.first()?.as_str()? != tag {
            return None;
        }
        let mut payload = resolve_ref(root, payload).clone();
        // a field-less struct: an object with no properties, not a value to wrap
        if let Value::Object(map) = &mut payload
            && map.get("type") == Some(&json!("object"))
            && !map.contains_key("properties")
            && !map
                .get("additionalProperties")
                .is_some_and(Value::is_object)
        {
            map.insert("properties".into(), Value::Object(Map::new()));
        }
        let description = alt
            .get("description")
            .or_else(|| payload.get("description"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let (mut schema, wrapped) = object_or_wrapped(payload);
        if let (Some(defs), Value::Object(map)) = (&defs, &mut schema) {
            map.entry("$defs").or_insert_with(|| defs.clone());
        }
        let validator = Arc::new(Validator::new(&schema));
        variants.push(Variant {
            tag: tag.clone(),
            tool_name: format!("{DEFAULT_OUTPUT_TOOL_NAME}_{tag}"),
            description,
            schema,
            wrapped,
            validator,
        });
    }
    (!variants.is_empty()).then_some(variants)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
    struct City {
        city: String,
        country: String,
    }

    /// The answer.
    #[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
    enum Answer {
        /// A city was found.
        Found(City),
        /// Nothing was found.
        NotFound {
            reason: String,
        },
        Count(u32),
    }

    #[test]
    fn union_output_makes_one_tool_per_variant() {
        let spec = OutputSpec::<Answer>::structured();
        let req = spec.resolve(&ModelProfile::default());
        let names: Vec<_> = req.output_tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "final_result_Found",
                "final_result_NotFound",
                "final_result_Count"
            ]
        );
        assert_eq!(
            req.output_tools[0].description.as_deref(),
            Some("A city was found.")
        );
        assert_eq!(
            spec.parse_tool_args(
                "final_result_Found",
                &json!({"city": "London", "country": "UK"})
            )
            .unwrap(),
            Answer::Found(City {
                city: "London".into(),
                country: "UK".into()
            })
        );
        assert_eq!(
            spec.parse_tool_args("final_result_Count", &json!({"response": 3}))
                .unwrap(),
            Answer::Count(3)
        );
        let err = spec
            .parse_tool_args("final_result_NotFound", &json!({}))
            .unwrap_err();
        assert_eq!(err.0[0]["loc"], json!(["reason"]));
    }

    #[test]
    fn scalar_outputs_are_wrapped() {
        let spec = OutputSpec::<Vec<u32>>::structured();
        assert_eq!(spec.json_schema()["required"], json!(["response"]));
        assert_eq!(
            spec.parse_tool_args("final_result", &json!({"response": [1, 2]}))
                .unwrap(),
            vec![1, 2]
        );
        assert_eq!(
            spec.parse_text("```json\n{\"response\": [3]}\n```")
                .unwrap(),
            vec![3]
        );
    }
}
