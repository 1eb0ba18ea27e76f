//! Normalizing the two sides' records and diffing them.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

/// Every field dropped from the message histories before they are compared, and why.
/// `(field, where, reason)`; `where` is `message` (a request or response) or `part`.
/// Nothing else is dropped: any other field one side writes and the other does not shows
/// up in the diff.
pub const DROPPED_FIELDS: &[(&str, &str, &str)] = &[
    ("timestamp", "message", "differs on every run"),
    ("timestamp", "part", "differs on every run"),
    ("run_id", "message", "random per run"),
    (
        "conversation_id",
        "message",
        "random per conversation (PydanticAI 2.x); Verity does not write it yet",
    ),
    (
        "state",
        "message",
        "PydanticAI 2.x message state ('complete' in every scenario); Verity does not write it yet",
    ),
    (
        "metadata",
        "message",
        "PydanticAI 2.x message metadata (null here); Verity does not write it yet",
    ),
    (
        "model_name",
        "message",
        "FunctionModel naming: PydanticAI writes the given name, Verity `function:<name>:`; not the run loop",
    ),
    (
        "model_id",
        "message",
        "PydanticAI 2.x `provider:model` id; Verity does not write it yet",
    ),
    (
        "provider_name",
        "message",
        "null for a FunctionModel on both sides",
    ),
    (
        "provider_url",
        "message",
        "null for a FunctionModel on both sides",
    ),
    (
        "provider_details",
        "message",
        "null for a FunctionModel on both sides",
    ),
    (
        "provider_response_id",
        "message",
        "an id; null for a FunctionModel",
    ),
    (
        "canonical_system",
        "message",
        "PydanticAI 2.x response field (null here); Verity does not write it yet",
    ),
    (
        "failed_attempts",
        "message",
        "PydanticAI 2.x response field (null here); Verity does not write it yet",
    ),
    (
        "history_digest",
        "message",
        "PydanticAI 2.x response field (null here); Verity does not write it yet",
    ),
    (
        "workspace_ref",
        "message",
        "PydanticAI 2.x response field (null here); Verity does not write it yet",
    ),
    ("id", "part", "provider part id, null for a FunctionModel"),
    (
        "provider_name",
        "part",
        "null for a FunctionModel on both sides",
    ),
    (
        "provider_details",
        "part",
        "null for a FunctionModel on both sides",
    ),
    (
        "tool_kind",
        "part",
        "PydanticAI 2.x part field (null here); Verity does not write it yet",
    ),
    (
        "citations",
        "part",
        "PydanticAI 2.x text-part field (null here); Verity does not write it yet",
    ),
    (
        "content_file_digests",
        "part",
        "PydanticAI 2.x tool-return field (empty here: no files); Verity does not write it yet",
    ),
];

fn dropped(scope: &str) -> impl Iterator<Item = &'static str> + '_ {
    DROPPED_FIELDS
        .iter()
        .filter(move |(_, s, _)| *s == scope)
        .map(|(f, _, _)| *f)
}

/// Replace every `tool_call_id` by a placeholder numbered in order of first appearance.
fn map_ids(v: &mut Value, ids: &mut HashMap<String, String>) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if k == "tool_call_id" {
                    // an empty id (a retry prompt answering no call) stays empty
                    if let Value::String(s) = val
                        && !s.is_empty()
                    {
                        let n = ids.len();
                        let placeholder = ids
                            .entry(s.clone())
                            .or_insert_with(|| format!("<id{n}>"))
                            .clone();
                        *val = Value::String(placeholder);
                    }
                } else {
                    map_ids(val, ids);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| map_ids(i, ids)),
        _ => {}
    }
}

fn normalize_messages(messages: &mut Value) {
    let Some(list) = messages.as_array_mut() else {
        return;
    };
    for m in list {
        let Some(map) = m.as_object_mut() else {
            continue;
        };
        for f in dropped("message") {
            map.remove(f);
        }
        // a count of zero (or no cost) is one not reported: PydanticAI writes every
        // counter it has, Verity only those it models
        if let Some(Value::Object(usage)) = map.get_mut("usage") {
            usage.retain(|_, v| !is_unreported(v));
        }
        if let Some(Value::Array(parts)) = map.get_mut("parts") {
            for p in parts {
                if let Some(pm) = p.as_object_mut() {
                    for f in dropped("part") {
                        pm.remove(f);
                    }
                }
            }
        }
    }
}

/// Zero, null or empty: a usage field that reports nothing.
fn is_unreported(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// One side's record of a scenario, normalized for comparison.
pub fn normalize(record: &Value) -> Value {
    let mut record = record.clone();
    if let Some(Value::Array(runs)) = record.get_mut("runs") {
        for run in runs {
            if let Some(messages) = run.get_mut("messages") {
                normalize_messages(messages);
            }
            let mut ids = HashMap::new();
            map_ids(run, &mut ids);
            if let Some(err) = run.pointer_mut("/outcome/error/type") {
                let canonical = canonical_error_type(err.as_str().unwrap_or(""));
                *err = json!(canonical);
            }
        }
    }
    record
}

/// Error types that mean the same on both sides (see DELIBERATE_DIFFERENCES):
/// `(PydanticAI class, Verity variant, canonical name)`.
pub const ERROR_TYPE_EQUIVALENTS: &[(&str, &str, &str)] = &[
    (
        "UnexpectedModelBehavior",
        "UnexpectedModelBehavior",
        "UnexpectedModelBehavior",
    ),
    (
        "UsageLimitExceeded",
        "UsageLimitExceeded",
        "UsageLimitExceeded",
    ),
    // a tool's own error: PydanticAI lets the tool's exception through, Verity wraps it
    ("RuntimeError", "ToolExecution", "<the tool's error>"),
];

fn canonical_error_type(t: &str) -> &str {
    ERROR_TYPE_EQUIVALENTS
        .iter()
        .find(|(py, rs, _)| *py == t || *rs == t)
        .map_or(t, |(_, _, c)| *c)
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 400 {
        format!("{}…", s.chars().take(400).collect::<String>())
    } else {
        s
    }
}

/// The differences between two values, one line per differing path.
pub fn diff(path: &str, py: &Value, rs: &Value, out: &mut Vec<String>) {
    match (py, rs) {
        (Value::Object(a), Value::Object(b)) => diff_maps(path, a, b, out),
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, out);
            }
            if a.len() != b.len() {
                out.push(format!(
                    "{path}: length pydantic-ai={} verity={}",
                    a.len(),
                    b.len()
                ));
                for (i, x) in a.iter().enumerate().skip(b.len()) {
                    out.push(format!("{path}[{i}]: only in pydantic-ai = {}", short(x)));
                }
                for (i, y) in b.iter().enumerate().skip(a.len()) {
                    out.push(format!("{path}[{i}]: only in verity = {}", short(y)));
                }
            }
        }
        _ if py == rs => {}
        _ => out.push(format!(
            "{path}: pydantic-ai={} verity={}",
            short(py),
            short(rs)
        )),
    }
}

fn diff_maps(path: &str, a: &Map<String, Value>, b: &Map<String, Value>, out: &mut Vec<String>) {
    for (k, x) in a {
        match b.get(k) {
            Some(y) => diff(&format!("{path}.{k}"), x, y, out),
            None => out.push(format!("{path}.{k}: only in pydantic-ai = {}", short(x))),
        }
    }
    for (k, y) in b {
        if !a.contains_key(k) {
            out.push(format!("{path}.{k}: only in verity = {}", short(y)));
        }
    }
}
