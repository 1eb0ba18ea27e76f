//! The typed thinking setting mapped onto each wire API's own field, and OpenAI Chat
//! honouring `tool_choice`.

use std::collections::HashMap;

use serde_json::{Value, json};
use verity::messages::{ModelRequest, ModelRequestPart, UserPromptPart};
use verity::model::{ModelRequestParameters, ToolDefinition, ToolKind};
use verity::models::anthropic::AnthropicModel;
use verity::models::gemini::GeminiModel;
use verity::models::openai::OpenAIChatModel;
use verity::prelude::*;
use verity::providers::anthropic::AnthropicProvider;
use verity::providers::google_gla::GoogleGlaProvider;
use verity::providers::openai::OpenAIProvider;
use verity::settings::{Thinking, ThinkingEffort, ToolChoice};

fn hello() -> Vec<ModelMessage> {
    vec![ModelMessage::Request(ModelRequest::new(vec![
        ModelRequestPart::UserPrompt(UserPromptPart::new("Hello")),
    ]))]
}

fn tool(name: &str, kind: ToolKind) -> ToolDefinition {
    ToolDefinition::new(name, json!({"type": "object", "properties": {}})).with_kind(kind)
}

/// Only an output tool may end the run: the run's own forcing applies.
fn output_only() -> ModelRequestParameters {
    ModelRequestParameters {
        output_tools: vec![tool("final_result", ToolKind::Output)],
        allow_text_output: false,
        ..Default::default()
    }
}

fn text_and_tools() -> ModelRequestParameters {
    ModelRequestParameters {
        function_tools: vec![tool("a", ToolKind::Function), tool("b", ToolKind::Function)],
        allow_text_output: true,
        ..Default::default()
    }
}

fn anthropic(name: &str) -> AnthropicModel {
    AnthropicModel::new(
        name,
        AnthropicProvider::builder().api_key("k").build().unwrap(),
    )
}

fn anthropic_body(
    name: &str,
    settings: &ModelSettings,
    params: &ModelRequestParameters,
) -> verity::Result<Value> {
    anthropic(name).build_request_body(&hello(), settings, params, false)
}

#[test]
fn anthropic_budgets_and_adaptive_effort() {
    let high = ModelSettings::new().thinking(Thinking::Effort(ThinkingEffort::High));
    let body = anthropic_body("claude-sonnet-4-5", &high, &output_only()).unwrap();
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 16384})
    );
    // the answer keeps the default on top of the budget
    assert_eq!(body["max_tokens"], json!(16384 + 4096));
    // extended thinking rejects a forced tool choice: the run's forcing becomes auto
    assert_eq!(body["tool_choice"], json!({"type": "auto"}));
    // and the same without thinking is forced
    let plain = anthropic_body("claude-sonnet-4-5", &ModelSettings::new(), &output_only()).unwrap();
    assert_eq!(plain["tool_choice"], json!({"type": "any"}));
    assert!(plain.get("thinking").is_none());

    // a forcing choice asked for explicitly is an error, not silently dropped
    let forced = high.clone().tool_choice(ToolChoice::Required);
    let err = anthropic_body("claude-sonnet-4-5", &forced, &text_and_tools()).unwrap_err();
    assert!(err.to_string().contains("Extended thinking"), "{err}");
    // max_tokens under the budget is an error too
    let small = ModelSettings::new()
        .thinking(Thinking::Budget(8000))
        .max_tokens(1000);
    assert!(anthropic_body("claude-sonnet-4-5", &small, &text_and_tools()).is_err());

    let budget = ModelSettings::new().thinking(Thinking::Budget(3000));
    let body = anthropic_body("claude-sonnet-4-5", &budget, &text_and_tools()).unwrap();
    assert_eq!(body["thinking"]["budget_tokens"], json!(3000));
    let off = ModelSettings::new().thinking(Thinking::Off);
    let body = anthropic_body("claude-sonnet-4-5", &off, &text_and_tools()).unwrap();
    assert_eq!(body["thinking"], json!({"type": "disabled"}));

    // adaptive models: the effort goes in output_config, and forcing stays allowed
    let body = anthropic_body("claude-opus-4-7", &high, &output_only()).unwrap();
    assert_eq!(body["thinking"], json!({"type": "adaptive"}));
    assert_eq!(body["output_config"], json!({"effort": "high"}));
    assert_eq!(body["tool_choice"], json!({"type": "any"}));

    // models without thinking get nothing
    let body = anthropic_body("claude-3-5-haiku-latest", &high, &text_and_tools()).unwrap();
    assert!(body.get("thinking").is_none());

    // Anthropic's own field in extra_body wins
    let own = high
        .clone()
        .extra_body(json!({"thinking": {"type": "enabled", "budget_tokens": 1024}}));
    let body = anthropic_body("claude-sonnet-4-5", &own, &text_and_tools()).unwrap();
    assert_eq!(body["thinking"]["budget_tokens"], json!(1024));
}

fn openai_body(name: &str, settings: &ModelSettings, params: &ModelRequestParameters) -> Value {
    let model = OpenAIChatModel::new(
        name,
        OpenAIProvider::builder().api_key("k").build().unwrap(),
    );
    let value = model
        .build_request_body(&hello(), settings, params, &HashMap::new(), false)
        .unwrap();
    let sent = model
        .serialize_request_body(&hello(), settings, params, &HashMap::new(), false)
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&sent).unwrap(), value);
    value
}

#[test]
fn openai_chat_reasoning_effort() {
    let params = text_and_tools();
    let effort = |name: &str, t: Thinking| {
        openai_body(name, &ModelSettings::new().thinking(t), &params)
            .get("reasoning_effort")
            .cloned()
    };
    assert_eq!(
        effort("gpt-5", Thinking::Effort(ThinkingEffort::Low)),
        Some(json!("low"))
    );
    assert_eq!(effort("gpt-5", Thinking::On), Some(json!("medium")));
    assert_eq!(effort("gpt-5", Thinking::Off), Some(json!("minimal")));
    assert_eq!(effort("o3-mini", Thinking::Off), Some(json!("low")));
    assert_eq!(
        effort("o4-mini", Thinking::Budget(20_000)),
        Some(json!("high"))
    );
    // a model without reasoning is not sent the field (the API would reject it)
    assert_eq!(effort("gpt-4o", Thinking::On), None);
}

#[test]
fn openai_chat_honours_tool_choice() {
    let params = text_and_tools();
    let choice = |c: Option<ToolChoice>, params: &ModelRequestParameters| {
        let mut settings = ModelSettings::new();
        if let Some(c) = c {
            settings = settings.tool_choice(c);
        }
        openai_body("gpt-4o", &settings, params)["tool_choice"].clone()
    };
    assert_eq!(choice(None, &params), json!("auto"));
    assert_eq!(choice(None, &output_only()), json!("required"));
    assert_eq!(choice(Some(ToolChoice::None), &params), json!("none"));
    assert_eq!(
        choice(Some(ToolChoice::Required), &params),
        json!("required")
    );
    assert_eq!(
        choice(Some(ToolChoice::Tools(vec!["a".into()])), &params),
        json!({"type": "function", "function": {"name": "a"}})
    );
    assert_eq!(
        choice(
            Some(ToolChoice::Tools(vec!["a".into(), "b".into()])),
            &params
        ),
        json!({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [
            {"type": "function", "function": {"name": "a"}},
            {"type": "function", "function": {"name": "b"}},
        ]}})
    );
}

fn gemini_config(name: &str, t: Thinking) -> Value {
    let model = GeminiModel::new(
        name,
        GoogleGlaProvider::builder().api_key("k").build().unwrap(),
    );
    let body = model
        .build_request_body(
            &hello(),
            &ModelSettings::new().thinking(t),
            &text_and_tools(),
        )
        .unwrap();
    body["generationConfig"]["thinkingConfig"].clone()
}

#[test]
fn gemini_budgets_and_levels() {
    assert_eq!(
        gemini_config("gemini-2.5-flash", Thinking::Effort(ThinkingEffort::Medium)),
        json!({"includeThoughts": true, "thinkingBudget": 8192})
    );
    assert_eq!(
        gemini_config("gemini-2.5-flash", Thinking::Off),
        json!({"thinkingBudget": 0})
    );
    assert_eq!(
        gemini_config("gemini-2.5-pro", Thinking::Budget(4000)),
        json!({"includeThoughts": true, "thinkingBudget": 4000})
    );
    assert_eq!(
        gemini_config(
            "gemini-3-pro-preview",
            Thinking::Effort(ThinkingEffort::High)
        ),
        json!({"includeThoughts": true, "thinkingLevel": "HIGH"})
    );
    assert_eq!(
        gemini_config("gemini-3-pro-preview", Thinking::On),
        json!({"includeThoughts": true})
    );
    assert_eq!(gemini_config("gemini-2.0-flash", Thinking::On), Value::Null);
}

#[cfg(feature = "bedrock")]
#[tokio::test]
async fn bedrock_claude_thinking_in_additional_fields() {
    use verity::models::bedrock::BedrockConverseModel;
    use verity::providers::bedrock::BedrockProvider;
    let provider = BedrockProvider::builder()
        .region("us-east-1")
        .credentials("AKIDEXAMPLE", "secret", None)
        .build()
        .await
        .unwrap();
    let model =
        BedrockConverseModel::with_provider("us.anthropic.claude-sonnet-4-5-v1:0", provider);
    let settings = ModelSettings::new().thinking(Thinking::Effort(ThinkingEffort::Low));
    let request = model
        .build_request(&hello(), &settings, &output_only(), false)
        .unwrap();
    let fields = format!("{:?}", request.additional_fields);
    assert!(
        fields.contains("budget_tokens") && fields.contains("2048"),
        "{fields}"
    );
    // extended thinking: the run's forcing is dropped
    let choice = request.tool_config.unwrap();
    assert!(
        matches!(
            choice.tool_choice(),
            Some(aws_sdk_bedrockruntime::types::ToolChoice::Auto(_))
        ),
        "{choice:?}"
    );
}

#[test]
fn mistral_and_cohere_thinking() {
    use verity::models::cohere::CohereModel;
    use verity::models::mistral::MistralModel;
    use verity::providers::cohere::CohereProvider;
    use verity::providers::mistral::MistralProvider;
    let params = text_and_tools();
    let mistral = |name: &str, t: Thinking| {
        MistralModel::new(
            name,
            MistralProvider::builder().api_key("k").build().unwrap(),
        )
        .build_request_body(&hello(), &ModelSettings::new().thinking(t), &params)
        .unwrap()
        .get("reasoning_effort")
        .cloned()
    };
    assert_eq!(
        mistral(
            "mistral-small-latest",
            Thinking::Effort(ThinkingEffort::Low)
        ),
        Some(json!("high"))
    );
    assert_eq!(
        mistral("mistral-small-latest", Thinking::Off),
        Some(json!("none"))
    );
    // Magistral always reasons and takes no effort
    assert_eq!(mistral("magistral-medium-latest", Thinking::On), None);

    let cohere = |name: &str, t: Thinking| {
        CohereModel::new(
            name,
            CohereProvider::builder().api_key("k").build().unwrap(),
        )
        .build_request_body(&hello(), &ModelSettings::new().thinking(t), &params)
        .unwrap()
        .get("thinking")
        .cloned()
    };
    assert_eq!(
        cohere(
            "command-a-reasoning-08-2025",
            Thinking::Effort(ThinkingEffort::High)
        ),
        Some(json!({"type": "enabled", "token_budget": 16384}))
    );
    assert_eq!(
        cohere("command-a-reasoning-08-2025", Thinking::Off),
        Some(json!({"type": "disabled"}))
    );
    assert_eq!(cohere("command-r-plus", Thinking::On), None);
}

#[test]
fn openai_responses_reasoning_effort_and_native_tools() {
    use verity::models::openai_responses::OpenAIResponsesModel;
    use verity::request::NativeTool;
    let body = |name: &str, settings: &ModelSettings, params: &ModelRequestParameters| {
        OpenAIResponsesModel::new(
            name,
            OpenAIProvider::builder().api_key("k").build().unwrap(),
        )
        .build_request_body(&hello(), settings, params, &HashMap::new(), false)
    };
    let params = text_and_tools();
    let high = ModelSettings::new().thinking(Thinking::Effort(ThinkingEffort::High));
    assert_eq!(
        body("gpt-5", &high, &params).unwrap()["reasoning"],
        json!({"effort": "high"})
    );
    let off = ModelSettings::new().thinking(Thinking::Off);
    assert_eq!(
        body("gpt-5", &off, &params).unwrap()["reasoning"],
        json!({"effort": "minimal"})
    );
    assert!(
        body("gpt-4o", &high, &params)
            .unwrap()
            .get("reasoning")
            .is_none()
    );

    let mut with_native = text_and_tools();
    with_native.native_tools = vec![NativeTool::web_search(), NativeTool::code_execution()];
    let sent = body("gpt-5", &ModelSettings::new(), &with_native).unwrap();
    let tools = sent["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 4, "{tools:?}");
    assert_eq!(tools[2], json!({"type": "web_search"}));
    assert_eq!(tools[3]["type"], "code_interpreter");
    with_native.native_tools = vec![NativeTool::web_fetch()];
    assert!(body("gpt-5", &ModelSettings::new(), &with_native).is_err());
}
