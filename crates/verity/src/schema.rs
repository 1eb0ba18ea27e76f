//! JSON-schema helpers: the schema rewrites model families need (OpenAI's strict mode,
//! Gemini's JSON-schema fields and older OpenAPI subset). A leaf module: it imports
//! nothing from the models, the providers or the agent.

use schemars::JsonSchema;
use serde_json::{Map, Value, json};

/// A rewrite of JSON schemas a model family needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaTransform {
    /// OpenAI strict mode: closed objects, every property required.
    OpenAIStrict,
}

impl SchemaTransform {
    /// Rewrite `schema`.
    pub fn apply(self, schema: &Value) -> Value {
        match self {
            SchemaTransform::OpenAIStrict => openai_strict_schema(schema),
        }
    }
}

/// A schema for Gemini's JSON-schema fields (`parametersJsonSchema`,
/// `responseJsonSchema`), which take `$defs`/`$ref`: only `$schema` and `$id` are removed.
pub fn gemini_schema(schema: &Value) -> Value {
    let mut out = schema.clone();
    if let Value::Object(map) = &mut out {
        map.remove("$schema");
        map.remove("$id");
    }
    out
}

/// A schema for Gemini's older OpenAPI-subset fields (`parameters`, `responseSchema`):
/// `$ref`s into `$defs` inlined where that terminates (recursive schemas keep their
/// `$defs`), `$schema` and `$id` removed.
pub fn gemini_inline_refs(schema: &Value) -> Value {
    let mut out = schema.clone();
    let defs = out.get("$defs").cloned();
    if let Some(defs) = &defs
        && !is_recursive(defs)
    {
        inline_refs(&mut out, defs, 0);
        if let Value::Object(map) = &mut out {
            map.remove("$defs");
        }
    }
    if let Value::Object(map) = &mut out {
        map.remove("$schema");
        map.remove("$id");
    }
    out
}

fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
}

fn refs_in(v: &Value, out: &mut Vec<String>) {
    if let Some(name) = ref_name(v) {
        out.push(name.to_owned());
    }
    match v {
        Value::Object(m) => m.values().for_each(|c| refs_in(c, out)),
        Value::Array(a) => a.iter().for_each(|c| refs_in(c, out)),
        _ => {}
    }
}

/// Whether following `$ref`s from any definition can come back to it.
fn is_recursive(defs: &Value) -> bool {
    let Some(defs) = defs.as_object() else {
        return false;
    };
    fn reaches(
        defs: &Map<String, Value>,
        from: &str,
        target: &str,
        seen: &mut Vec<String>,
    ) -> bool {
        let mut refs = Vec::new();
        if let Some(d) = defs.get(from) {
            refs_in(d, &mut refs);
        }
        for r in refs {
            if r == target {
                return true;
            }
            if !seen.contains(&r) {
                seen.push(r.clone());
                if reaches(defs, &r, target, seen) {
                    return true;
                }
            }
        }
        false
    }
    defs.keys().any(|k| reaches(defs, k, k, &mut Vec::new()))
}

fn inline_refs(v: &mut Value, defs: &Value, depth: usize) {
    if depth > 32 {
        return;
    }
    if let Some(name) = ref_name(v).map(str::to_owned)
        && let Some(target) = defs.get(&name)
    {
        let mut replacement = target.clone();
        if let (Value::Object(r), Value::Object(original)) = (&mut replacement, &*v) {
            for (k, val) in original {
                if k != "$ref" {
                    r.insert(k.clone(), val.clone());
                }
            }
        }
        *v = replacement;
    }
    match v {
        Value::Object(m) => m
            .iter_mut()
            .filter(|(k, _)| *k != "$defs")
            .for_each(|(_, c)| inline_refs(c, defs, depth + 1)),
        Value::Array(a) => a.iter_mut().for_each(|c| inline_refs(c, defs, depth + 1)),
        _ => {}
    }
}

/// The keywords OpenAI's strict mode does not take; they are moved into the
/// description so the model still sees them.
const STRICT_UNSUPPORTED: &[&str] = &[
    "default",
    "examples",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "patternProperties",
    "unevaluatedProperties",
    "propertyNames",
    "contains",
    "minContains",
    "maxContains",
    "uniqueItems",
];

const STRICT_FORMATS: &[&str] = &[
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

/// Make a schema acceptable to OpenAI's strict mode: every object closed
/// (`additionalProperties: false`) with every property required (optional ones become
/// nullable), and unsupported keywords moved into the description. Applying it twice
/// changes nothing more.
pub fn openai_strict_schema(schema: &Value) -> Value {
    let mut out = schema.clone();
    strictify(&mut out);
    out
}

fn strictify(v: &mut Value) {
    let Value::Object(map) = v else { return };
    let mut notes: Vec<String> = Vec::new();
    for key in STRICT_UNSUPPORTED {
        if let Some(value) = map.remove(*key) {
            notes.push(format!("{key}={value}"));
        }
    }
    if let Some(Value::String(f)) = map.get("format")
        && !STRICT_FORMATS.contains(&f.as_str())
    {
        if let Some(value) = map.remove("format") {
            notes.push(format!("format={value}"));
        }
    }
    if !notes.is_empty() {
        let joined = notes.join(", ");
        let description = match map.get("description").and_then(Value::as_str) {
            Some(d) => format!("{d} ({joined})"),
            None => joined,
        };
        map.insert("description".into(), Value::String(description));
    }
    let is_object = map.get("type") == Some(&json!("object")) || map.contains_key("properties");
    if is_object {
        let required: Vec<String> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let props = map
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        let mut all = Vec::new();
        if let Value::Object(props) = props {
            for (name, prop) in props.iter_mut() {
                if !required.contains(name) && !is_nullable(prop) {
                    *prop = json!({"anyOf": [prop.take(), {"type": "null"}]});
                }
                all.push(Value::String(name.clone()));
            }
        }
        map.insert("required".into(), Value::Array(all));
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    for (key, child) in map.iter_mut() {
        match key.as_str() {
            "properties" | "$defs" | "definitions" => {
                if let Value::Object(children) = child {
                    children.values_mut().for_each(strictify);
                }
            }
            "items" | "additionalItems" | "not" => strictify(child),
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => {
                if let Value::Array(items) = child {
                    items.iter_mut().for_each(strictify);
                }
            }
            _ => {}
        }
    }
}

fn is_nullable(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) if t == "null" => return true,
        Some(Value::Array(ts)) if ts.iter().any(|t| t == "null") => return true,
        _ => {}
    }
    ["anyOf", "oneOf"].iter().any(|k| {
        schema
            .get(*k)
            .and_then(Value::as_array)
            .is_some_and(|alts| alts.iter().any(is_nullable))
    })
}

/// The JSON schema of `T` as a tool-parameter schema: `$schema` and `title` removed,
/// an object schema guaranteed.
pub fn parameters_schema<T: JsonSchema>() -> Value {
    let settings = schemars::generate::SchemaSettings::draft2020_12();
    let generator = settings.into_generator();
    let schema = generator.into_root_schema_for::<T>();
    let mut value = schema.to_value();
    if let Value::Object(map) = &mut value {
        map.remove("$schema");
        map.remove("title");
        if !map.contains_key("type") && !map.contains_key("$ref") {
            map.insert("type".into(), Value::String("object".into()));
        }
        if map.get("type") == Some(&Value::String("object".into()))
            && !map.contains_key("properties")
        {
            map.insert("properties".into(), Value::Object(Default::default()));
        }
    }
    value
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn gemini_schema_inlines_refs_unless_recursive() {
        let schema = json!({
            "$schema": "x", "type": "object",
            "properties": {"home": {"$ref": "#/$defs/Address", "description": "Where they live"}},
            "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}}}}
        });
        assert_eq!(gemini_schema(&schema)["$defs"], schema["$defs"]);
        let s = gemini_inline_refs(&schema);
        assert_eq!(
            s["properties"]["home"]["properties"]["city"]["type"],
            "string"
        );
        assert_eq!(s["properties"]["home"]["description"], "Where they live");
        assert!(s.get("$defs").is_none() && s.get("$schema").is_none());
        let recursive = json!({"$ref": "#/$defs/Tree", "$defs": {"Tree": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Tree"}}}}}});
        assert_eq!(gemini_inline_refs(&recursive), recursive);
    }

    #[test]
    fn strict_schema_closes_objects_and_is_idempotent() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 1},
                "zip": {"type": "string"},
                "age": {"type": "integer", "format": "uint8"},
                "inner": {"type": "object", "properties": {"x": {"type": "number"}}}
            },
            "required": ["city", "age", "inner"]
        });
        let s = openai_strict_schema(&schema);
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(s["required"], json!(["age", "city", "inner", "zip"]));
        assert_eq!(
            s["properties"]["zip"],
            json!({"anyOf": [{"type": "string"}, {"type": "null"}]})
        );
        assert_eq!(s["properties"]["city"]["description"], "minLength=1");
        assert_eq!(s["properties"]["age"]["description"], "format=\"uint8\"");
        assert_eq!(s["properties"]["inner"]["additionalProperties"], false);
        assert_eq!(openai_strict_schema(&s), s);
    }
}
