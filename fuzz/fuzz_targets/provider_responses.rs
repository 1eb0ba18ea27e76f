//! Every provider's response parser on arbitrary bytes: typed errors, never a panic.
#![no_main]
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use verity::models::anthropic::AnthropicModel;
use verity::models::gemini::GeminiModel;
use verity::models::openai::OpenAIChatModel;
use verity::providers::anthropic::AnthropicProvider;
use verity::providers::google_gla::GoogleGlaProvider;
use verity::providers::openai::OpenAIProvider;

static OPENAI: LazyLock<OpenAIChatModel> = LazyLock::new(|| {
    OpenAIChatModel::new("m", OpenAIProvider::builder().base_url("http://127.0.0.1:1").build().expect("provider"))
});
static ANTHROPIC: LazyLock<AnthropicModel> = LazyLock::new(|| {
    AnthropicModel::new("m", AnthropicProvider::builder().base_url("http://127.0.0.1:1").build().expect("provider"))
});
static GEMINI: LazyLock<GeminiModel> = LazyLock::new(|| {
    GeminiModel::new("m", GoogleGlaProvider::builder().base_url("http://127.0.0.1:1").build().expect("provider"))
});

fuzz_target!(|data: &[u8]| {
    let _ = OPENAI.parse_response(data);
    let _ = ANTHROPIC.parse_response(data);
    let _ = GEMINI.parse_response(data);
});
