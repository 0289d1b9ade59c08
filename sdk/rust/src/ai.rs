//! The model, as `permissions { ai }` allows (docs/ai.md): chat with the configured model, and
//! embed texts with the local model. Requests and answers are JSON, as the host ABI defines.

use crate::abi::{self, address, length};
use crate::error::{take_result, Error, Result};
use crate::json::Json;

/// Ask the model: `request` is an OpenAI-style chat request (`{"messages": [...], ...}`,
/// without the model). The answer: `{"text", "finish_reason", "model", "usage", "cached"}`.
pub fn chat(request: &Json) -> Result<Json> {
    call(|text| unsafe { abi::ai_chat(address(text), length(text)) }, request, "ai_chat")
}

/// Embed a JSON string or array of strings: `{"model", "dimensions", "embeddings"}`.
pub fn embed(texts: &Json) -> Result<Json> {
    call(|text| unsafe { abi::ai_embed(address(text), length(text)) }, texts, "ai_embed")
}

fn call(host: impl Fn(&[u8]) -> i64, argument: &Json, name: &str) -> Result<Json> {
    let text = argument.to_string();
    let answer = take_result(host(text.as_bytes()))?;
    Json::parse_bytes(&answer).map_err(|_| Error::internal(format!("{name}: the host sent no JSON")))
}
