//! AWS Bedrock Converse and ConverseStream, through the official AWS SDK.
//!
//! ```no_run
//! use verity::prelude::*;
//! use verity::models::bedrock::BedrockConverseModel;
//!
//! # async fn demo() -> verity::Result<()> {
//! // the provider comes from the standard AWS configuration on first use
//! let model = BedrockConverseModel::new("us.anthropic.claude-sonnet-4-20250514-v1:0");
//! let agent = Agent::builder(model).build();
//! println!("{}", agent.run("Hello!").await?.output);
//! # Ok(()) }
//! ```
//!
//! Bedrock-specific request fields go in [`ModelSettings::extra_body`] in the Converse
//! JSON shape: `additionalModelRequestFields`, `guardrailConfig`, `performanceConfig`,
//! `serviceTier`, `requestMetadata`.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_bedrockruntime::operation::RequestId;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types as bt;
use aws_smithy_types::{Document, Number};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::messages::{
    BinaryContent, FileUrl, FinishReason, ModelMessage, ModelRequestPart, ModelResponse,
    ModelResponsePart, RetryRendering, ThinkingPart, ToolCallArgs, ToolCallPart, UserContent,
    UserPrompt, frame_for_wire, system_tagged,
};
use crate::model::{Model, ModelProfile, ModelRequestParameters};
use crate::output::OutputMode;
use crate::profiles::ThinkingStyle;
use crate::providers::bedrock::{BedrockProvider, sdk_error};
use crate::settings::{ModelSettings, Thinking, ThinkingEffort, ToolChoice};
use crate::stream::{
    ModelStreamEvent, PartsManager, ResponseAccumulator, ResponseMetadata, ResponseStream,
};
use crate::usage::RequestUsage;

/// A Bedrock model id: any string, with the latest known ids as constants in
/// [`LATEST_BEDROCK_MODEL_NAMES`]. Cross-region inference profiles (`us.`, `eu.`,
/// `apac.`, `global.` prefixes) work as ids too.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BedrockModelName(pub String);

impl<S: Into<String>> From<S> for BedrockModelName {
    fn from(s: S) -> Self {
        BedrockModelName(s.into())
    }
}

impl BedrockModelName {
    /// The model family: the vendor part of the id, region prefix removed
    /// (`us.anthropic.claude-…` → `anthropic`).
    pub fn family(&self) -> &str {
        let id = self.0.as_str();
        let id = [
            "us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.",
        ]
        .iter()
        .find_map(|p| id.strip_prefix(p))
        .unwrap_or(id);
        id.split('.').next().unwrap_or(id)
    }
}

/// The latest Bedrock model ids known to Verity (any other id works too).
pub const LATEST_BEDROCK_MODEL_NAMES: &[&str] = &[
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "anthropic.claude-sonnet-4-20250514-v1:0",
    "anthropic.claude-opus-4-20250514-v1:0",
    "anthropic.claude-opus-4-1-20250805-v1:0",
    "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "anthropic.claude-haiku-4-5-20251001-v1:0",
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "apac.anthropic.claude-sonnet-4-20250514-v1:0",
    "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "amazon.nova-micro-v1:0",
    "amazon.nova-lite-v1:0",
    "amazon.nova-pro-v1:0",
    "us.amazon.nova-premier-v1:0",
    "amazon.nova-2-lite-v1:0",
    "meta.llama3-3-70b-instruct-v1:0",
    "us.meta.llama4-maverick-17b-instruct-v1:0",
    "mistral.mistral-large-2407-v1:0",
    "us.mistral.pixtral-large-2502-v1:0",
    "cohere.command-r-plus-v1:0",
    "us.deepseek.r1-v1:0",
    "deepseek.v3-v1:0",
    "openai.gpt-oss-120b-1:0",
    "openai.gpt-oss-20b-1:0",
    "qwen.qwen3-32b-v1:0",
];

/// The profile of a Bedrock model family.
pub fn bedrock_profile(model_id: &str) -> ModelProfile {
    let family = BedrockModelName::from(model_id).family().to_owned();
    ModelProfile {
        supports_tool_choice_required: supports_tool_choice(&family),
        supports_json_schema_output: true,
        // no mid-conversation system role on Converse: `<system>` blocks, sealed for
        // the Claude models that need it
        system_role: crate::profiles::claude_tagged_system_role(
            model_id.rsplit("anthropic.").next().unwrap_or(model_id),
        ),
        thinking: match family.as_str() {
            "anthropic" => crate::profiles::anthropic_thinking(model_id),
            "openai" => ThinkingStyle::Effort { lowest: "low" },
            _ => ThinkingStyle::Unsupported,
        },
        ..ModelProfile::default()
    }
}

/// The `additionalModelRequestFields` the unified thinking setting asks for (Claude's
/// `thinking`, as on Anthropic; `reasoning_effort` for OpenAI models), laid under the
/// ones `extra_body` gives. `Off` sends nothing: Converse rejects disabling it.
fn thinking_fields(profile: &ModelProfile, settings: &ModelSettings) -> Option<Value> {
    let thinking = settings.thinking?;
    match (profile.thinking, thinking) {
        (_, Thinking::Off) => None,
        (ThinkingStyle::Budget, t) => t
            .budget(10_000)
            .map(|b| json!({"thinking": {"type": "enabled", "budget_tokens": b}})),
        (ThinkingStyle::Adaptive, t) => {
            let mut fields = Map::new();
            fields.insert("thinking".into(), json!({"type": "adaptive"}));
            if let Some(e) = t.effort() {
                let effort = match e {
                    ThinkingEffort::Minimal | ThinkingEffort::Low => "low",
                    ThinkingEffort::Medium => "medium",
                    ThinkingEffort::High => "high",
                    _ => "max",
                };
                fields.insert("output_config".into(), json!({"effort": effort}));
            }
            Some(Value::Object(fields))
        }
        (ThinkingStyle::Effort { .. }, t) => Some(json!({
            "reasoning_effort": match t.effort() {
                None => "medium",
                Some(ThinkingEffort::Minimal | ThinkingEffort::Low) => "low",
                Some(ThinkingEffort::Medium) => "medium",
                Some(_) => "high",
            }
        })),
        _ => None,
    }
}

/// Whether the request thinks with a budget (Claude's extended thinking), which rejects
/// a forced tool choice.
fn extended_thinking(request_fields: Option<&Value>) -> bool {
    request_fields
        .and_then(|f| f.pointer("/thinking/type"))
        .and_then(Value::as_str)
        == Some("enabled")
}

/// A tool configuration without the run's forced choice (extended thinking rejects
/// one); a forcing choice in the settings is an error, as on Anthropic.
fn unforced(
    config: bt::ToolConfiguration,
    settings: &ModelSettings,
) -> Result<bt::ToolConfiguration> {
    let forced = matches!(
        config.tool_choice(),
        Some(bt::ToolChoice::Any(_) | bt::ToolChoice::Tool(_))
    );
    if !forced {
        return Ok(config);
    }
    if matches!(
        settings.tool_choice,
        Some(ToolChoice::Required | ToolChoice::Tools(_))
    ) {
        return Err(Error::User(
            "Extended thinking doesn't support forcing tool use. Disable thinking or use `tool_choice='auto'`."
                .into(),
        ));
    }
    bt::ToolConfiguration::builder()
        .set_tools(Some(config.tools().to_vec()))
        .tool_choice(bt::ToolChoice::Auto(bt::AutoToolChoice::builder().build()))
        .build()
        .map_err(build_error)
}

/// Whether a family's models take `toolChoice` in Converse.
fn supports_tool_choice(family: &str) -> bool {
    matches!(family, "anthropic" | "amazon" | "moonshot" | "moonshotai")
}

/// A model on AWS Bedrock, spoken to with Converse / ConverseStream.
#[derive(Debug, Clone)]
pub struct BedrockConverseModel {
    model_id: String,
    provider: Arc<tokio::sync::OnceCell<BedrockProvider>>,
    profile: ModelProfile,
    settings: Option<ModelSettings>,
}

impl BedrockConverseModel {
    /// `model_id` with a provider from the standard AWS configuration, loaded on first use.
    pub fn new(model_id: impl Into<BedrockModelName>) -> Self {
        let model_id = model_id.into().0;
        BedrockConverseModel {
            profile: bedrock_profile(&model_id),
            model_id,
            provider: Arc::new(tokio::sync::OnceCell::new()),
            settings: None,
        }
    }

    /// `model_id` on this provider.
    pub fn with_provider(model_id: impl Into<BedrockModelName>, provider: BedrockProvider) -> Self {
        let model = Self::new(model_id);
        let _ = model.provider.set(provider);
        model
    }

    /// Settings applied under the agent's and the run's.
    pub fn with_settings(mut self, settings: ModelSettings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Replace the profile.
    pub fn with_profile(mut self, profile: ModelProfile) -> Self {
        self.profile = profile;
        self
    }

    async fn client(&self) -> Result<&aws_sdk_bedrockruntime::Client> {
        let provider = self
            .provider
            .get_or_try_init(BedrockProvider::from_env)
            .await?;
        Ok(provider.client())
    }

    /// Converse takes media by S3 location or as bytes: images, documents and videos at
    /// web URLs are downloaded (under the default [`DownloadPolicy`](crate::http::download::DownloadPolicy):
    /// no private or loopback hosts) and sent as bytes.
    async fn inline_web_media<'a>(
        &self,
        messages: &'a [ModelMessage],
    ) -> Result<std::borrow::Cow<'a, [ModelMessage]>> {
        crate::models::wire::inline_media(
            messages,
            |item| match item {
                UserContent::ImageUrl(u)
                | UserContent::DocumentUrl(u)
                | UserContent::VideoUrl(u) => crate::models::wire::is_web_url(&u.url),
                _ => false,
            },
            &crate::http::download::DownloadPolicy::default(),
        )
        .await
    }

    /// The Converse request Verity sends, as SDK types.
    pub fn build_request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
        stream: bool,
    ) -> Result<ConverseRequest> {
        // Nova runs code as a system tool (`nova_code_interpreter`); nothing else is native
        let family = BedrockModelName::from(self.model_id.as_str())
            .family()
            .to_owned();
        let unsupported: Vec<crate::request::NativeTool> = params
            .native_tools
            .iter()
            .filter(|t| !(family == "amazon" && **t == crate::request::NativeTool::CodeExecution))
            .cloned()
            .collect();
        if !unsupported.is_empty() {
            return Err(crate::request::NativeTool::unsupported(
                &self.model_id,
                &unsupported,
            ));
        }
        let (system, messages) = self.map_messages(messages, settings)?;
        let mut request = ConverseRequest {
            model_id: self.model_id.clone(),
            system,
            messages,
            tool_config: self.tool_config(settings, params, stream)?,
            inference: inference_config(settings),
            output_config: output_config(params)?,
            additional_fields: None,
            performance: None,
            service_tier: None,
            guardrail: None,
            request_metadata: None,
        };
        let own = settings
            .extra_body
            .as_ref()
            .and_then(|b| b.get("additionalModelRequestFields"))
            .cloned();
        let fields = match (thinking_fields(&self.profile, settings), own) {
            (Some(made), Some(own)) => Some(crate::settings::merge_json(made, &own)),
            (made, own) => own.or(made),
        };
        apply_extra_body(&mut request, settings)?;
        if let Some(fields) = &fields {
            request.additional_fields = Some(to_document(fields));
        }
        if extended_thinking(fields.as_ref())
            && let Some(config) = request.tool_config.take()
        {
            request.tool_config = Some(unforced(config, settings)?);
        }
        Ok(request)
    }

    /// The system blocks (system prompts, instructions, a cache point when
    /// `cache_instructions` is set) and the turns, consecutive requests merged.
    fn map_messages(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
    ) -> Result<(Vec<bt::SystemContentBlock>, Vec<bt::Message>)> {
        let framed = frame_for_wire(messages, self.profile.system_role);
        let messages = &*framed;
        let mut system = Vec::new();
        let mut turns: Vec<(bt::ConversationRole, Vec<bt::ContentBlock>)> = Vec::new();
        let mut document_count = 0;
        for message in messages {
            match message {
                ModelMessage::Request(r) => {
                    let blocks = self.request_blocks(r, &mut system, &mut document_count)?;
                    push_turn(&mut turns, bt::ConversationRole::User, blocks);
                }
                ModelMessage::Response(r) => {
                    let blocks = self.assistant_blocks(r)?;
                    push_turn(&mut turns, bt::ConversationRole::Assistant, blocks);
                }
            }
        }
        // the system prompts, then the instructions (PydanticAI 2.68)
        if let Some(ins) = messages
            .iter()
            .rev()
            .find_map(ModelMessage::as_request)
            .and_then(|r| r.instructions.as_deref())
        {
            system.push(bt::SystemContentBlock::Text(ins.to_owned()));
        }
        if settings.cache_instructions.is_some() && !system.is_empty() {
            system.push(bt::SystemContentBlock::CachePoint(cache_point()?));
        }
        let messages = turns
            .into_iter()
            .map(|(role, content)| {
                bt::Message::builder()
                    .role(role)
                    .set_content(Some(content))
                    .build()
                    .map_err(build_error)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((system, messages))
    }

    /// The blocks of a user turn; system prompts go to `system`.
    fn request_blocks(
        &self,
        r: &crate::messages::ModelRequest,
        system: &mut Vec<bt::SystemContentBlock>,
        document_count: &mut usize,
    ) -> Result<Vec<bt::ContentBlock>> {
        let mut blocks = Vec::new();
        for part in &r.parts {
            if let Some(rendering) = part.retry_rendering() {
                blocks.push(match rendering {
                    RetryRendering::ToolError { tool_call_id, .. } => bt::ContentBlock::ToolResult(
                        bt::ToolResultBlock::builder()
                            .tool_use_id(tool_call_id)
                            .content(bt::ToolResultContentBlock::Text(
                                rendering.error_text().unwrap_or_default(),
                            ))
                            .status(bt::ToolResultStatus::Error)
                            .build()
                            .map_err(build_error)?,
                    ),
                    RetryRendering::User(text) => bt::ContentBlock::Text(text),
                    // no mid-conversation system role: `<system>`-tagged user text
                    RetryRendering::System(text) => bt::ContentBlock::Text(system_tagged(&text)),
                });
                continue;
            }
            match part {
                ModelRequestPart::SystemPrompt(p) => {
                    system.push(bt::SystemContentBlock::Text(p.content.clone()));
                }
                ModelRequestPart::UserPrompt(p) => {
                    self.user_blocks(&p.content, &mut blocks, document_count)?;
                }
                ModelRequestPart::ToolReturn(p) => {
                    blocks.push(bt::ContentBlock::ToolResult(
                        bt::ToolResultBlock::builder()
                            .tool_use_id(&p.tool_call_id)
                            .set_content(Some(tool_result_content(&p.content, document_count)?))
                            .status(bt::ToolResultStatus::Success)
                            .build()
                            .map_err(build_error)?,
                    ));
                }
                // retries and retry feedback are rendered above
                ModelRequestPart::RetryPrompt(_) | ModelRequestPart::RetryFeedback(_) => {}
                ModelRequestPart::Unknown(_) => {}
            }
        }
        Ok(blocks)
    }

    /// Tool specs and the tool choice of the model's family; none when there are no
    /// tools or the settings say `none`.
    fn tool_config(
        &self,
        settings: &ModelSettings,
        params: &ModelRequestParameters,
        stream: bool,
    ) -> Result<Option<bt::ToolConfiguration>> {
        let tools = tool_specs(settings, params)?;
        if tools.is_empty() || settings.tool_choice == Some(ToolChoice::None) {
            return Ok(None);
        }
        let family = BedrockModelName::from(self.model_id.as_str())
            .family()
            .to_owned();
        let choice = match &settings.tool_choice {
            _ if !supports_tool_choice(&family) => None,
            Some(ToolChoice::Required) => {
                Some(bt::ToolChoice::Any(bt::AnyToolChoice::builder().build()))
            }
            Some(ToolChoice::Tools(names)) if names.len() == 1 => Some(bt::ToolChoice::Tool(
                bt::SpecificToolChoice::builder()
                    .name(names.first().cloned().unwrap_or_default())
                    .build()
                    .map_err(build_error)?,
            )),
            Some(ToolChoice::Auto) => {
                Some(bt::ToolChoice::Auto(bt::AutoToolChoice::builder().build()))
            }
            _ if !params.allow_text_output
                && !params.output_tools.is_empty()
                && self.profile.supports_tool_choice_required =>
            {
                Some(bt::ToolChoice::Any(bt::AnyToolChoice::builder().build()))
            }
            _ => Some(bt::ToolChoice::Auto(bt::AutoToolChoice::builder().build())),
        };
        // Nova takes no `auto` tool choice in ConverseStream
        let choice = choice
            .filter(|c| !(stream && family == "amazon" && matches!(c, bt::ToolChoice::Auto(_))));
        Ok(Some(
            bt::ToolConfiguration::builder()
                .set_tools(Some(tools))
                .set_tool_choice(choice)
                .build()
                .map_err(build_error)?,
        ))
    }

    fn user_blocks(
        &self,
        prompt: &UserPrompt,
        blocks: &mut Vec<bt::ContentBlock>,
        documents: &mut usize,
    ) -> Result<()> {
        let items = match prompt {
            UserPrompt::Text(t) => {
                blocks.push(bt::ContentBlock::Text(t.clone()));
                return Ok(());
            }
            UserPrompt::Parts(items) => items,
        };
        for item in items {
            match item {
                UserContent::Text(t) => blocks.push(bt::ContentBlock::Text(t.clone())),
                UserContent::CachePoint(_) => {
                    blocks.push(bt::ContentBlock::CachePoint(cache_point()?))
                }
                UserContent::Binary(b) => blocks.push(media_block(
                    &b.media_type,
                    MediaSource::Bytes(b),
                    documents,
                )?),
                UserContent::ImageUrl(u)
                | UserContent::DocumentUrl(u)
                | UserContent::VideoUrl(u) => {
                    let media = u.media_type().unwrap_or_else(|| match item {
                        UserContent::ImageUrl(_) => "image/jpeg".into(),
                        UserContent::VideoUrl(_) => "video/mp4".into(),
                        _ => "application/pdf".into(),
                    });
                    if !u.url.starts_with("s3://") {
                        return Err(Error::User(format!(
                            "Bedrock takes media by S3 location or as bytes, not by URL: {}",
                            u.url
                        )));
                    }
                    blocks.push(media_block(&media, MediaSource::S3(u), documents)?);
                }
                UserContent::AudioUrl(u) => {
                    return Err(Error::User(format!(
                        "Bedrock Converse does not take audio: {}",
                        u.url
                    )));
                }
                UserContent::UploadedFile(_) | UserContent::Unknown(_) => {}
            }
        }
        Ok(())
    }

    fn assistant_blocks(&self, response: &ModelResponse) -> Result<Vec<bt::ContentBlock>> {
        let mut blocks = Vec::new();
        for part in &response.parts {
            match part {
                ModelResponsePart::Text(t) if !t.content.is_empty() => {
                    blocks.push(bt::ContentBlock::Text(t.content.clone()))
                }
                ModelResponsePart::Text(_) => {}
                ModelResponsePart::ToolCall(c) => {
                    let input = c.args.to_value().unwrap_or_else(|_| json!({}));
                    blocks.push(bt::ContentBlock::ToolUse(
                        bt::ToolUseBlock::builder()
                            .tool_use_id(&c.tool_call_id)
                            .name(&c.tool_name)
                            .input(to_document(&input))
                            .build()
                            .map_err(build_error)?,
                    ));
                }
                ModelResponsePart::Thinking(t) if t.provider_name.as_deref() == Some("bedrock") => {
                    let redacted = t
                        .provider_details
                        .as_ref()
                        .and_then(|d| d.get("redacted_content"))
                        .and_then(Value::as_str)
                        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
                    let block = match redacted {
                        Some(bytes) => bt::ReasoningContentBlock::RedactedContent(Blob::new(bytes)),
                        None => bt::ReasoningContentBlock::ReasoningText(
                            bt::ReasoningTextBlock::builder()
                                .text(&t.content)
                                .set_signature(t.signature.clone())
                                .build()
                                .map_err(build_error)?,
                        ),
                    };
                    blocks.push(bt::ContentBlock::ReasoningContent(block));
                }
                // thinking from another provider cannot be sent to Bedrock
                ModelResponsePart::Thinking(_) | ModelResponsePart::Unknown(_) => {}
            }
        }
        Ok(blocks)
    }

    fn finish(&self, mut response: ModelResponse) -> ModelResponse {
        response.provider_name = Some("bedrock".into());
        response.model_name = Some(self.model_id.clone());
        response
    }
}

/// A Converse request built from Verity's messages, ready for either operation.
#[derive(Debug, Clone)]
pub struct ConverseRequest {
    /// The model id.
    pub model_id: String,
    /// System content.
    pub system: Vec<bt::SystemContentBlock>,
    /// The conversation, user and assistant turns alternating.
    pub messages: Vec<bt::Message>,
    /// Tools and tool choice.
    pub tool_config: Option<bt::ToolConfiguration>,
    /// Inference settings.
    pub inference: bt::InferenceConfiguration,
    /// Native structured output.
    pub output_config: Option<bt::OutputConfig>,
    /// `additionalModelRequestFields`.
    pub additional_fields: Option<Document>,
    /// `performanceConfig`.
    pub performance: Option<bt::PerformanceConfiguration>,
    /// `serviceTier`.
    pub service_tier: Option<bt::ServiceTier>,
    /// `guardrailConfig`.
    pub guardrail: Option<bt::GuardrailConfiguration>,
    /// `requestMetadata`.
    pub request_metadata: Option<HashMap<String, String>>,
}

/// The tools: specs, system tools, and a cache point when `cache_tool_definitions`
/// is set.
fn tool_specs(settings: &ModelSettings, params: &ModelRequestParameters) -> Result<Vec<bt::Tool>> {
    let mut tools = Vec::new();
    for t in params.all_tools() {
        if let Some(name) = t
            .extra_fields
            .get("systemTool")
            .and_then(|s| s.get("name"))
            .and_then(Value::as_str)
        {
            tools.push(bt::Tool::SystemTool(
                bt::SystemTool::builder()
                    .name(name)
                    .build()
                    .map_err(build_error)?,
            ));
            continue;
        }
        let spec = bt::ToolSpecification::builder()
            .name(&t.name)
            .set_description(t.description.clone())
            .input_schema(bt::ToolInputSchema::Json(to_document(
                &t.parameters_json_schema,
            )))
            .set_strict(t.strict)
            .build()
            .map_err(build_error)?;
        tools.push(bt::Tool::ToolSpec(spec));
    }
    // native code execution: Nova's system tool, after the agent's tools
    if params
        .native_tools
        .contains(&crate::request::NativeTool::CodeExecution)
    {
        tools.push(bt::Tool::SystemTool(
            bt::SystemTool::builder()
                .name("nova_code_interpreter")
                .build()
                .map_err(build_error)?,
        ));
    }
    if settings.cache_tool_definitions.is_some() && !tools.is_empty() {
        tools.push(bt::Tool::CachePoint(cache_point()?));
    }
    Ok(tools)
}

/// `inferenceConfig` from the settings.
fn inference_config(settings: &ModelSettings) -> bt::InferenceConfiguration {
    bt::InferenceConfiguration::builder()
        .set_max_tokens(
            settings
                .max_tokens
                .map(|v| i32::try_from(v).unwrap_or(i32::MAX)),
        )
        .set_temperature(settings.temperature.map(|v| v as f32))
        .set_top_p(settings.top_p.map(|v| v as f32))
        .set_stop_sequences(settings.stop_sequences.clone())
        .build()
}

/// Native output: `outputConfig.textFormat` with the schema.
fn output_config(params: &ModelRequestParameters) -> Result<Option<bt::OutputConfig>> {
    let (OutputMode::Native, Some(obj)) = (params.output_mode, &params.output_object) else {
        return Ok(None);
    };
    let definition = bt::JsonSchemaDefinition::builder()
        .schema(obj.json_schema.to_string())
        .name(&obj.name)
        .set_description(obj.description.clone())
        .build()
        .map_err(build_error)?;
    let format = bt::OutputFormat::builder()
        .r#type(bt::OutputFormatType::JsonSchema)
        .structure(bt::OutputFormatStructure::JsonSchema(definition))
        .build()
        .map_err(build_error)?;
    Ok(Some(
        bt::OutputConfig::builder().text_format(format).build(),
    ))
}

/// Bedrock's own request fields, taken from `extra_body` in Converse's JSON shape.
fn apply_extra_body(request: &mut ConverseRequest, settings: &ModelSettings) -> Result<()> {
    let extra = settings.extra_body.as_ref().and_then(Value::as_object);
    let field = |name: &str| extra.and_then(|e| e.get(name));
    request.performance = field("performanceConfig")
        .and_then(|p| p.get("latency"))
        .and_then(Value::as_str)
        .map(|latency| {
            bt::PerformanceConfiguration::builder()
                .latency(bt::PerformanceConfigLatency::from(latency))
                .build()
        });
    request.service_tier = match field("serviceTier")
        .and_then(|p| p.get("type"))
        .and_then(Value::as_str)
    {
        Some(t) => Some(
            bt::ServiceTier::builder()
                .r#type(bt::ServiceTierType::from(t))
                .build()
                .map_err(build_error)?,
        ),
        None => None,
    };
    request.guardrail = field("guardrailConfig").map(|g| {
        let text = |k: &str| g.get(k).and_then(Value::as_str).map(str::to_owned);
        bt::GuardrailConfiguration::builder()
            .set_guardrail_identifier(text("guardrailIdentifier"))
            .set_guardrail_version(text("guardrailVersion"))
            .set_trace(text("trace").map(|t| bt::GuardrailTrace::from(t.as_str())))
            .build()
    });
    request.request_metadata = field("requestMetadata")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect::<HashMap<_, _>>()
        });
    request.additional_fields = field("additionalModelRequestFields").map(to_document);
    Ok(())
}

enum MediaSource<'a> {
    Bytes(&'a BinaryContent),
    S3(&'a FileUrl),
}

fn s3_location(u: &FileUrl) -> Result<bt::S3Location> {
    bt::S3Location::builder()
        .uri(&u.url)
        .set_bucket_owner(
            u.extra
                .get("bucket_owner")
                .and_then(Value::as_str)
                .map(str::to_owned),
        )
        .build()
        .map_err(build_error)
}

fn media_block(
    media_type: &str,
    source: MediaSource<'_>,
    documents: &mut usize,
) -> Result<bt::ContentBlock> {
    let subtype = media_type.split('/').nth(1).unwrap_or("bin");
    if media_type.starts_with("image/") {
        let src = match source {
            MediaSource::Bytes(b) => bt::ImageSource::Bytes(Blob::new(b.data.clone())),
            MediaSource::S3(u) => bt::ImageSource::S3Location(s3_location(u)?),
        };
        let format = if subtype == "jpg" { "jpeg" } else { subtype };
        return Ok(bt::ContentBlock::Image(
            bt::ImageBlock::builder()
                .format(bt::ImageFormat::from(format))
                .source(src)
                .build()
                .map_err(build_error)?,
        ));
    }
    if media_type.starts_with("video/") {
        let src = match source {
            MediaSource::Bytes(b) => bt::VideoSource::Bytes(Blob::new(b.data.clone())),
            MediaSource::S3(u) => bt::VideoSource::S3Location(s3_location(u)?),
        };
        let format = match subtype {
            "x-matroska" => "mkv",
            "quicktime" => "mov",
            "x-flv" => "flv",
            "x-ms-wmv" => "wmv",
            "3gpp" => "three_gp",
            other => other,
        };
        return Ok(bt::ContentBlock::Video(
            bt::VideoBlock::builder()
                .format(bt::VideoFormat::from(format))
                .source(src)
                .build()
                .map_err(build_error)?,
        ));
    }
    let format = match media_type {
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/markdown" => "md",
        "text/csv" => "csv",
        "text/html" => "html",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        other => {
            return Err(Error::User(format!(
                "Bedrock does not take documents of type {other}"
            )));
        }
    };
    *documents += 1;
    let src = match source {
        MediaSource::Bytes(b) => bt::DocumentSource::Bytes(Blob::new(b.data.clone())),
        MediaSource::S3(u) => bt::DocumentSource::S3Location(s3_location(u)?),
    };
    Ok(bt::ContentBlock::Document(
        bt::DocumentBlock::builder()
            .format(bt::DocumentFormat::from(format))
            .name(format!("Document {documents}"))
            .source(src)
            .build()
            .map_err(build_error)?,
    ))
}

/// The content of a tool result: text, and the media items (`{"kind": "binary", …}`,
/// `{"kind": "image-url", …}` as PydanticAI writes them) a tool returned.
fn tool_result_content(
    content: &Value,
    documents: &mut usize,
) -> Result<Vec<bt::ToolResultContentBlock>> {
    let items: Vec<&Value> = match content {
        Value::Array(items) if items.iter().any(is_media) || items.iter().all(Value::is_string) => {
            items.iter().collect()
        }
        other if is_media(other) => vec![other],
        Value::String(s) => return Ok(vec![bt::ToolResultContentBlock::Text(s.clone())]),
        other => return Ok(vec![bt::ToolResultContentBlock::Text(other.to_string())]),
    };
    let mut out = Vec::new();
    for item in items {
        if !is_media(item) {
            out.push(bt::ToolResultContentBlock::Text(match item {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }));
            continue;
        }
        let media: UserContent = serde_json::from_value(item.clone())?;
        let block = match &media {
            UserContent::Binary(b) => media_block(&b.media_type, MediaSource::Bytes(b), documents)?,
            UserContent::ImageUrl(u) | UserContent::DocumentUrl(u) | UserContent::VideoUrl(u)
                if u.url.starts_with("s3://") =>
            {
                let mt = u
                    .media_type()
                    .unwrap_or_else(|| "application/octet-stream".into());
                media_block(&mt, MediaSource::S3(u), documents)?
            }
            _ => {
                return Err(Error::User(
                    "Bedrock takes media in tool results as bytes or S3 locations".into(),
                ));
            }
        };
        out.push(match block {
            bt::ContentBlock::Image(i) => bt::ToolResultContentBlock::Image(i),
            bt::ContentBlock::Document(d) => bt::ToolResultContentBlock::Document(d),
            bt::ContentBlock::Video(v) => bt::ToolResultContentBlock::Video(v),
            _ => continue,
        });
    }
    Ok(out)
}

fn is_media(v: &Value) -> bool {
    matches!(
        v.get("kind").and_then(Value::as_str),
        Some("binary" | "image-url" | "document-url" | "video-url" | "audio-url")
    )
}

fn cache_point() -> Result<bt::CachePointBlock> {
    bt::CachePointBlock::builder()
        .r#type(bt::CachePointType::Default)
        .build()
        .map_err(build_error)
}

fn push_turn(
    turns: &mut Vec<(bt::ConversationRole, Vec<bt::ContentBlock>)>,
    role: bt::ConversationRole,
    blocks: Vec<bt::ContentBlock>,
) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some((last, content)) if *last == role => content.extend(blocks),
        _ => turns.push((role, blocks)),
    }
}

fn build_error(e: aws_sdk_bedrockruntime::error::BuildError) -> Error {
    Error::User(format!("invalid Bedrock request: {e}"))
}

/// A JSON value as a Smithy document.
pub fn to_document(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Document::Number(Number::PosInt(u)),
            (None, Some(i), _) => Document::Number(Number::NegInt(i)),
            (_, _, Some(f)) => Document::Number(Number::Float(f)),
            _ => Document::Null,
        },
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(to_document).collect()),
        Value::Object(o) => {
            Document::Object(o.iter().map(|(k, v)| (k.clone(), to_document(v))).collect())
        }
    }
}

/// A Smithy document as a JSON value.
pub fn from_document(d: &Document) -> Value {
    match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => json!(u),
        Document::Number(Number::NegInt(i)) => json!(i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => Value::Array(a.iter().map(from_document).collect()),
        Document::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .filter_map(|k| o.get(k).map(|v| (k.clone(), from_document(v))))
                    .collect(),
            )
        }
    }
}

fn map_stop_reason(reason: &bt::StopReason) -> FinishReason {
    match reason.as_str() {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "tool_use" => FinishReason::ToolCall,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "content_filtered" | "guardrail_intervened" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

fn map_usage(u: &bt::TokenUsage) -> RequestUsage {
    let n = |v: i32| u64::try_from(v).unwrap_or(0);
    RequestUsage {
        input_tokens: n(u.input_tokens)
            + u.cache_read_input_tokens.map_or(0, n)
            + u.cache_write_input_tokens.map_or(0, n),
        output_tokens: n(u.output_tokens),
        cache_read_tokens: u.cache_read_input_tokens.map_or(0, n),
        cache_write_tokens: u.cache_write_input_tokens.map_or(0, n),
        ..Default::default()
    }
}

/// Events for the content blocks of a complete message: the same events a stream of
/// it would give, so both paths build responses the same way.
fn message_events(message: &bt::Message) -> Vec<ModelStreamEvent> {
    let mut parts = PartsManager::new();
    let mut events = Vec::new();
    for (i, block) in message.content().iter().enumerate() {
        let vendor = i.to_string();
        match block {
            bt::ContentBlock::Text(t) => events.extend(parts.text_delta(Some(&vendor), t)),
            bt::ContentBlock::ToolUse(t) => {
                let args = ToolCallArgs::Object(match from_document(t.input()) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                });
                let part = ToolCallPart::new(t.name(), args, t.tool_use_id());
                events.push(parts.whole_part(Some(&vendor), ModelResponsePart::ToolCall(part)));
            }
            bt::ContentBlock::ReasoningContent(r) => {
                events.push(parts.whole_part(Some(&vendor), reasoning_part(r)))
            }
            _ => {}
        }
    }
    events
}

fn reasoning_part(r: &bt::ReasoningContentBlock) -> ModelResponsePart {
    let mut part = ThinkingPart::new("");
    part.provider_name = Some("bedrock".into());
    match r {
        bt::ReasoningContentBlock::ReasoningText(t) => {
            part.content = t.text().to_owned();
            part.signature = t.signature().map(str::to_owned);
        }
        bt::ReasoningContentBlock::RedactedContent(b) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(b.as_ref());
            part.provider_details = Some(Map::from_iter([(
                "redacted_content".to_owned(),
                json!(encoded),
            )]));
        }
        _ => {}
    }
    ModelResponsePart::Thinking(part)
}

impl Model for BedrockConverseModel {
    async fn request(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ModelResponse> {
        let messages = &*self.inline_web_media(messages).await?;
        let req = self.build_request(messages, settings, params, false)?;
        crate::model::check_model_requests_allowed(&self.model_id)?;
        let client = self.client().await?;
        let output = client
            .converse()
            .model_id(req.model_id)
            .set_system(Some(req.system))
            .set_messages(Some(req.messages))
            .set_tool_config(req.tool_config)
            .inference_config(req.inference)
            .set_output_config(req.output_config)
            .set_additional_model_request_fields(req.additional_fields)
            .set_performance_config(req.performance)
            .set_service_tier(req.service_tier)
            .set_guardrail_config(req.guardrail)
            .set_request_metadata(req.request_metadata)
            .send()
            .await
            .map_err(|e| sdk_error(&self.model_id, e))?;
        let mut acc = ResponseAccumulator::new();
        if let Some(bt::ConverseOutput::Message(message)) = output.output() {
            for e in message_events(message) {
                acc.apply(e)?;
            }
        }
        let mut details = Map::new();
        if let Some(m) = output.metrics() {
            details.insert("latency_ms".into(), json!(m.latency_ms()));
        }
        if let Some(extra) = output.additional_model_response_fields() {
            details.insert(
                "additional_model_response_fields".into(),
                from_document(extra),
            );
        }
        acc.apply(ModelStreamEvent::Metadata(ResponseMetadata {
            provider_response_id: output.request_id().map(str::to_owned),
            finish_reason: Some(map_stop_reason(output.stop_reason())),
            provider_details: Some(details),
            ..Default::default()
        }))?;
        if let Some(u) = output.usage() {
            acc.apply(ModelStreamEvent::Usage(map_usage(u)))?;
        }
        Ok(self.finish(acc.finish()))
    }

    async fn request_stream(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<ResponseStream> {
        let messages = &*self.inline_web_media(messages).await?;
        let req = self.build_request(messages, settings, params, true)?;
        crate::model::check_model_requests_allowed(&self.model_id)?;
        let client = self.client().await?;
        let output = client
            .converse_stream()
            .model_id(req.model_id)
            .set_system(Some(req.system))
            .set_messages(Some(req.messages))
            .set_tool_config(req.tool_config)
            .inference_config(req.inference)
            .set_output_config(req.output_config)
            .set_additional_model_request_fields(req.additional_fields)
            .set_performance_config(req.performance)
            .set_service_tier(req.service_tier)
            .set_guardrail_config(req.guardrail.map(|g| {
                bt::GuardrailStreamConfiguration::builder()
                    .guardrail_identifier(g.guardrail_identifier())
                    .guardrail_version(g.guardrail_version())
                    .build()
            }))
            .set_request_metadata(req.request_metadata)
            .send()
            .await
            .map_err(|e| sdk_error(&self.model_id, e))?;
        let request_id = output.request_id().map(str::to_owned);
        let model_id = self.model_id.clone();
        let mut receiver = output.stream;
        let stream = async_stream::try_stream! {
            let mut parts = PartsManager::new();
            yield ModelStreamEvent::Metadata(ResponseMetadata {
                model_name: Some(model_id.clone()),
                provider_name: Some("bedrock".into()),
                provider_response_id: request_id,
                ..Default::default()
            });
            loop {
                let event = receiver.recv().await.map_err(|e| sdk_error(&model_id, e))?;
                let Some(event) = event else { break };
                match event {
                    bt::ConverseStreamOutput::ContentBlockStart(e) => {
                        let vendor = e.content_block_index().to_string();
                        if let Some(bt::ContentBlockStart::ToolUse(t)) = e.start() {
                            if let Some(ev) = parts.tool_call_delta(Some(&vendor), Some(t.name()), None, Some(t.tool_use_id())) {
                                yield ev;
                            }
                        }
                    }
                    bt::ConverseStreamOutput::ContentBlockDelta(e) => {
                        let vendor = e.content_block_index().to_string();
                        let ev = match e.delta() {
                            Some(bt::ContentBlockDelta::Text(t)) => parts.text_delta(Some(&vendor), t),
                            Some(bt::ContentBlockDelta::ToolUse(t)) => parts.tool_call_delta(Some(&vendor), None, Some(t.input()), None),
                            Some(bt::ContentBlockDelta::ReasoningContent(r)) => match r {
                                bt::ReasoningContentBlockDelta::Text(t) => with_bedrock(parts.thinking_delta(Some(&vendor), Some(t), None)),
                                bt::ReasoningContentBlockDelta::Signature(s) => with_bedrock(parts.thinking_delta(Some(&vendor), None, Some(s))),
                                bt::ReasoningContentBlockDelta::RedactedContent(b) => Some(parts.whole_part(Some(&vendor), reasoning_part(&bt::ReasoningContentBlock::RedactedContent(b.clone())))),
                                _ => None,
                            },
                            _ => None,
                        };
                        if let Some(ev) = ev {
                            yield ev;
                        }
                    }
                    bt::ConverseStreamOutput::MessageStop(e) => {
                        yield ModelStreamEvent::Metadata(ResponseMetadata {
                            finish_reason: Some(map_stop_reason(e.stop_reason())),
                            ..Default::default()
                        });
                    }
                    bt::ConverseStreamOutput::Metadata(e) => {
                        if let Some(u) = e.usage() {
                            yield ModelStreamEvent::Usage(map_usage(u));
                        }
                    }
                    _ => {}
                }
            }
        };
        Ok(Box::pin(stream))
    }

    async fn count_tokens(
        &self,
        messages: &[ModelMessage],
        settings: &ModelSettings,
        params: &ModelRequestParameters,
    ) -> Result<u64> {
        let req = self.build_request(messages, settings, params, false)?;
        let input = bt::ConverseTokensRequest::builder()
            .set_messages(Some(req.messages))
            .set_system(Some(req.system))
            .set_tool_config(req.tool_config)
            .set_additional_model_request_fields(req.additional_fields)
            .build();
        crate::model::check_model_requests_allowed(&self.model_id)?;
        let client = self.client().await?;
        let output = client
            .count_tokens()
            .model_id(&self.model_id)
            .input(bt::CountTokensInput::Converse(input))
            .send()
            .await
            .map_err(|e| sdk_error(&self.model_id, e))?;
        Ok(u64::try_from(output.input_tokens()).unwrap_or(0))
    }

    fn model_name(&self) -> &str {
        &self.model_id
    }

    fn system(&self) -> &str {
        "bedrock"
    }

    fn profile(&self) -> &ModelProfile {
        &self.profile
    }

    fn settings(&self) -> Option<&ModelSettings> {
        self.settings.as_ref()
    }
}

fn with_bedrock(event: Option<ModelStreamEvent>) -> Option<ModelStreamEvent> {
    event.map(|mut e| {
        if let ModelStreamEvent::PartStart {
            part: ModelResponsePart::Thinking(t),
            ..
        } = &mut e
        {
            t.provider_name = Some("bedrock".into());
        }
        e
    })
}
