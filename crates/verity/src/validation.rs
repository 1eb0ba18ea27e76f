//! Validating model-supplied JSON and deserializing it into Rust types, with errors in
//! pydantic's shape.
//!
//! A [`Validator`] is compiled once from a type's JSON schema (the schema the model is
//! shown). It checks a value the way pydantic 2.x does in lax mode, collecting *every*
//! error as `{type, loc, msg, input}`: missing and extra fields, wrong types, enum and
//! literal values, numeric bounds, string lengths and patterns, list lengths. Lax mode
//! means the coercions pydantic accepts from JSON are accepted here too (`"42"` for an
//! integer, `1` or `"yes"` for a boolean, `42.0` for an integer). Serde then builds the
//! value; its own error is kept as a fallback for what the schema cannot say.
//!
//! Valid values stay cheap: [`Validator::deserialize`] first deserializes directly and
//! only walks the schema when that fails or when the schema has constraints serde does
//! not check ([`Validator::needs_check`]).

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value, json};

/// Validation errors in PydanticAI's shape: a list of `{type, loc, msg, input}` objects.
/// `loc` is the path of the failing field.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationErrors(pub Vec<Value>);

impl ValidationErrors {
    /// One error with no location.
    pub fn message(kind: &str, msg: impl Into<String>, input: Value) -> Self {
        ValidationErrors(vec![
            json!({"type": kind, "loc": [], "msg": msg.into(), "input": input}),
        ])
    }

    /// The errors as a JSON array, the content of a retry prompt.
    pub fn to_value(&self) -> Value {
        Value::Array(self.0.clone())
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Value::Array(self.0.clone()))
    }
}

/// Deserialize `value` as `T` with serde alone; on failure, say which field failed and
/// why (one error: serde stops at the first). [`Validator::deserialize`] reports every
/// error and applies the schema's constraints.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, ValidationErrors> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut loc: Vec<Value> = Vec::new();
        for seg in e.path().iter() {
            match seg {
                serde_path_to_error::Segment::Seq { index } => loc.push(json!(index)),
                serde_path_to_error::Segment::Map { key } => loc.push(json!(key)),
                serde_path_to_error::Segment::Enum { variant } => loc.push(json!(variant)),
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        let input = locate(value, &loc).cloned().unwrap_or(Value::Null);
        let message = e.inner().to_string();
        let (kind, msg) = if let Some(field) = backticked(&message, "missing field `") {
            loc.push(json!(field));
            ("missing", "Field required".to_owned())
        } else if let Some(field) = backticked(&message, "unknown field `") {
            loc.push(json!(field));
            (
                "extra_forbidden",
                "Extra inputs are not permitted".to_owned(),
            )
        } else if message.starts_with("invalid type") {
            ("invalid_type", strip_position(&message))
        } else {
            ("value_error", strip_position(&message))
        };
        ValidationErrors(vec![
            json!({"type": kind, "loc": loc, "msg": msg, "input": input}),
        ])
    })
}

/// Parse JSON text and deserialize it as `T`, reporting invalid JSON as a validation error.
pub fn from_json_str<T: DeserializeOwned>(text: &str) -> Result<T, ValidationErrors> {
    let value: Value = serde_json::from_str(text).map_err(|e| json_invalid(text, &e))?;
    from_value(&value)
}

/// pydantic's `json_invalid` error for text that is not JSON.
pub fn json_invalid(text: &str, error: &serde_json::Error) -> ValidationErrors {
    ValidationErrors::message(
        "json_invalid",
        format!("Invalid JSON: {error}"),
        json!(text),
    )
}

fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message.get(..i).unwrap_or(message).to_owned(),
        None => message.to_owned(),
    }
}

fn locate<'a>(value: &'a Value, loc: &[Value]) -> Option<&'a Value> {
    let mut cur = value;
    for seg in loc {
        cur = match seg {
            Value::Number(n) => cur.get(usize::try_from(n.as_u64()?).ok()?)?,
            Value::String(k) => cur.get(k.as_str())?,
            _ => return None,
        };
    }
    Some(cur)
}

// ---------------------------------------------------------------------------------------
// The schema validator

const T_NULL: u8 = 1;
const T_BOOL: u8 = 2;
const T_INT: u8 = 4;
const T_NUM: u8 = 8;
const T_STR: u8 = 16;
const T_ARR: u8 = 32;
const T_OBJ: u8 = 64;

/// How deep `$ref`s and nested values are followed before giving up (accepting).
const MAX_DEPTH: usize = 256;

#[derive(Debug, Clone)]
struct Bound {
    value: f64,
    shown: String,
}

impl Bound {
    fn from_value(v: &Value) -> Option<Bound> {
        let n = v.as_number()?;
        Some(Bound {
            value: n.as_f64()?,
            shown: n.to_string(),
        })
    }

    fn from_i128(v: i128) -> Bound {
        Bound {
            value: v as f64,
            shown: v.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum EnumKind {
    Enum,
    Literal,
}

#[derive(Debug, Default)]
enum Additional {
    #[default]
    Allow,
    Forbid,
    Schema(Box<Node>),
}

/// One compiled schema.
#[derive(Debug, Default)]
struct Node {
    /// Allowed JSON types (`T_*` bits); 0: any.
    types: u8,
    /// Type order as written, for coercion of multi-type schemas.
    type_order: Vec<u8>,
    choices: Option<(Vec<Value>, EnumKind)>,
    minimum: Option<Bound>,
    maximum: Option<Bound>,
    exclusive_minimum: Option<Bound>,
    exclusive_maximum: Option<Bound>,
    multiple_of: Option<Bound>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<(String, regex::Regex)>,
    items: Option<Box<Node>>,
    prefix_items: Vec<Node>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    properties: Vec<(String, Node)>,
    required: Vec<String>,
    additional: Additional,
    any_of: Vec<Node>,
    all_of: Vec<Node>,
    reference: Option<usize>,
}

impl Node {
    fn is_null_only(&self) -> bool {
        self.types == T_NULL && self.any_of.is_empty() && self.reference.is_none()
    }

    fn accepts_null(&self, v: &Validator, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        if self.types & T_NULL != 0 {
            return true;
        }
        if let Some(r) = self.reference.and_then(|i| v.nodes.get(i)) {
            return r.accepts_null(v, depth + 1);
        }
        self.any_of.iter().any(|a| a.accepts_null(v, depth + 1))
    }

    /// A schema that is only an `enum`/`const`.
    fn choices_only(&self) -> Option<&[Value]> {
        let (values, _) = self.choices.as_ref()?;
        (self.any_of.is_empty() && self.reference.is_none()).then_some(values.as_slice())
    }
}

/// A JSON schema compiled for validation: checks values in pydantic's lax mode and
/// reports every error in pydantic's shape. Build it once per type (it compiles the
/// schema's patterns) and share it.
#[derive(Debug)]
pub struct Validator {
    /// `$defs` then, last, the root.
    nodes: Vec<Node>,
    needs_check: bool,
}

struct Compiler<'a> {
    names: HashMap<&'a str, usize>,
    root: usize,
    constrained: bool,
}

impl Validator {
    /// Compile `schema` (a draft 2020-12 schema as schemars writes it, `$ref`s into
    /// `$defs`). Keywords it does not know are ignored (accepted).
    pub fn new(schema: &Value) -> Self {
        let defs = schema
            .get("$defs")
            .or_else(|| schema.get("definitions"))
            .and_then(Value::as_object);
        let mut names = HashMap::new();
        if let Some(defs) = defs {
            for (i, name) in defs.keys().enumerate() {
                names.insert(name.as_str(), i);
            }
        }
        let root = names.len();
        let mut c = Compiler {
            names,
            root,
            constrained: false,
        };
        let mut nodes: Vec<Node> = defs
            .map(|d| d.values().map(|s| c.compile(s, 0)).collect())
            .unwrap_or_default();
        nodes.push(c.compile(schema, 0));
        Validator {
            nodes,
            needs_check: c.constrained,
        }
    }

    /// The validator of `T`'s schema (as [`parameters_schema`](crate::schema::parameters_schema)
    /// makes it).
    pub fn for_type<T: JsonSchema>() -> Self {
        Self::new(&crate::schema::parameters_schema::<T>())
    }

    /// Whether the schema has constraints serde does not check when deserializing
    /// (bounds, lengths, patterns, closed objects): then valid-looking values must still
    /// go through [`validate`](Self::validate).
    pub fn needs_check(&self) -> bool {
        self.needs_check
    }

    /// Check `value`: `Ok(None)` when it is valid as it is, `Ok(Some(v))` when it is
    /// valid after pydantic's lax coercions (`v` is the coerced value), otherwise every
    /// error found.
    pub fn validate(&self, value: &Value) -> Result<Option<Value>, ValidationErrors> {
        let Some(root) = self.nodes.last() else {
            return Ok(None);
        };
        let mut errors = Vec::new();
        let mut loc = Vec::new();
        let coerced = self.check(root, value, &mut loc, &mut errors, true, 0);
        if errors.is_empty() {
            Ok(coerced)
        } else {
            Err(ValidationErrors(errors))
        }
    }

    /// Validate `value` and deserialize it as `T`. Fast path: when the schema has no
    /// constraints serde leaves unchecked, a value serde takes is returned at once.
    pub fn deserialize<T: DeserializeOwned>(&self, value: &Value) -> Result<T, ValidationErrors> {
        if !self.needs_check
            && let Ok(v) = T::deserialize(value)
        {
            return Ok(v);
        }
        let coerced = self.validate(value)?;
        let value = coerced.as_ref().unwrap_or(value);
        T::deserialize(value).or_else(|_| from_value(value))
    }

    /// [`deserialize`](Self::deserialize) for JSON text; text that is not JSON gives
    /// pydantic's `json_invalid` error.
    pub fn deserialize_json<T: DeserializeOwned>(&self, text: &str) -> Result<T, ValidationErrors> {
        if !self.needs_check
            && let Ok(v) = serde_json::from_str::<T>(text)
        {
            return Ok(v);
        }
        let value: Value = serde_json::from_str(text).map_err(|e| json_invalid(text, &e))?;
        self.deserialize(&value)
    }

    fn node(&self, i: usize) -> Option<&Node> {
        self.nodes.get(i)
    }

    /// Check `value` against `node`, pushing errors; returns the coerced value when a
    /// lax coercion changed it.
    fn check(
        &self,
        node: &Node,
        value: &Value,
        loc: &mut Vec<Value>,
        errors: &mut Vec<Value>,
        lax: bool,
        depth: usize,
    ) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut current: Option<Value> = None;
        let before = errors.len();
        if let Some(target) = node.reference.and_then(|i| self.node(i)) {
            current = self.check(target, value, loc, errors, lax, depth + 1);
            if errors.len() > before {
                return None;
            }
        }
        if !node.any_of.is_empty() {
            let v = current.as_ref().unwrap_or(value);
            if let Some(c) = self.check_union(node, v, loc, errors, lax, depth) {
                current = Some(c);
            }
            if errors.len() > before {
                return None;
            }
        }
        for sub in &node.all_of {
            let v = current.as_ref().unwrap_or(value);
            if let Some(c) = self.check(sub, v, loc, errors, lax, depth + 1) {
                current = Some(c);
            }
        }
        if errors.len() > before {
            return None;
        }
        let value = current.as_ref().unwrap_or(value);
        if let Some((choices, kind)) = &node.choices {
            if choices.iter().any(|c| json_eq(c, value)) {
                return current;
            }
            let kind = match kind {
                EnumKind::Enum => "enum",
                EnumKind::Literal => "literal_error",
            };
            push(errors, loc, kind, expected_msg(choices), value);
            return None;
        }
        let coerced = if node.types != 0 {
            match self.check_type(node, value, loc, errors, lax) {
                Err(()) => return None,
                Ok(c) => c,
            }
        } else {
            None
        };
        let value_now = coerced.as_ref().unwrap_or(value);
        let inner = match value_now {
            Value::Number(n) => {
                check_number(node, n, value_now, loc, errors);
                None
            }
            Value::String(s) => {
                check_string(node, s, value_now, loc, errors);
                None
            }
            Value::Array(items) => {
                self.check_array(node, items, value_now, loc, errors, lax, depth)
            }
            Value::Object(map) => self.check_object(node, map, value_now, loc, errors, lax, depth),
            _ => None,
        };
        inner.or(coerced).or(current)
    }

    fn check_union(
        &self,
        node: &Node,
        value: &Value,
        loc: &mut Vec<Value>,
        errors: &mut Vec<Value>,
        lax: bool,
        depth: usize,
    ) -> Option<Value> {
        if value.is_null() && node.any_of.iter().any(|a| a.accepts_null(self, depth + 1)) {
            return None;
        }
        let alts: Vec<&Node> = node.any_of.iter().filter(|a| !a.is_null_only()).collect();
        if let [only] = alts.as_slice() {
            return self.check(only, value, loc, errors, lax, depth + 1);
        }
        // all literals: one `enum` error listing every allowed value
        let literals: Option<Vec<&Value>> = alts
            .iter()
            .map(|a| a.choices_only().map(|c| c.iter()))
            .collect::<Option<Vec<_>>>()
            .map(|its| its.into_iter().flatten().collect());
        if let Some(literals) = literals.filter(|l| !l.is_empty()) {
            if literals.iter().any(|c| json_eq(c, value)) {
                return None;
            }
            let owned: Vec<Value> = literals.into_iter().cloned().collect();
            push(errors, loc, "enum", expected_msg(&owned), value);
            return None;
        }
        // smart mode: an exact match first, then the first lax match
        let passes: &[bool] = if lax { &[false, true] } else { &[false] };
        // no match: report the alternative the value is closest to in shape (fewest
        // errors about its type or keys, then fewest errors)
        let mut best: Option<((usize, usize), Vec<Value>)> = None;
        for &pass_lax in passes {
            for alt in &alts {
                let mut scratch = Vec::new();
                let c = self.check(alt, value, loc, &mut scratch, pass_lax, depth + 1);
                if scratch.is_empty() {
                    return c;
                }
                let score = (shape_errors(&scratch, loc.len()), scratch.len());
                if pass_lax && best.as_ref().is_none_or(|(b, _)| score < *b) {
                    best = Some((score, scratch));
                }
            }
        }
        match best {
            Some((_, b)) => errors.extend(b),
            None => push(
                errors,
                loc,
                "union_tag_invalid",
                "Input does not match any of the allowed types".to_owned(),
                value,
            ),
        }
        None
    }

    /// The type check, with pydantic's lax coercions. `Err` after pushing an error.
    fn check_type(
        &self,
        node: &Node,
        value: &Value,
        loc: &mut [Value],
        errors: &mut Vec<Value>,
        lax: bool,
    ) -> Result<Option<Value>, ()> {
        let kind = match value {
            Value::Null => T_NULL,
            Value::Bool(_) => T_BOOL,
            Value::Number(n) if n.is_i64() || n.is_u64() => T_INT,
            Value::Number(_) => T_NUM,
            Value::String(_) => T_STR,
            Value::Array(_) => T_ARR,
            Value::Object(_) => T_OBJ,
        };
        if node.types & kind != 0 || (kind == T_INT && node.types & T_NUM != 0) {
            return Ok(None);
        }
        let mut first_err: Option<(&'static str, &'static str)> = None;
        for &t in &node.type_order {
            match coerce(t, value, lax) {
                Ok(c) => return Ok(Some(c)),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        let (kind, msg) = first_err.unwrap_or(("type_error", "Input has the wrong type"));
        push(errors, loc, kind, msg.to_owned(), value);
        Err(())
    }

    #[allow(clippy::too_many_arguments)]
    fn check_array(
        &self,
        node: &Node,
        items: &[Value],
        value: &Value,
        loc: &mut Vec<Value>,
        errors: &mut Vec<Value>,
        lax: bool,
        depth: usize,
    ) -> Option<Value> {
        let len = items.len();
        if node.prefix_items.is_empty()
            && let Some(max) = node.max_items
            && len > max
        {
            let msg = format!(
                "List should have at most {max} item{} after validation, not {len}",
                plural(max)
            );
            push(errors, loc, "too_long", msg, value);
            return None;
        }
        let mut changed: Vec<(usize, Value)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let sub = node.prefix_items.get(i).or(node.items.as_deref());
            let Some(sub) = sub else { continue };
            loc.push(json!(i));
            if let Some(c) = self.check(sub, item, loc, errors, lax, depth + 1) {
                changed.push((i, c));
            }
            loc.pop();
        }
        if node.prefix_items.is_empty()
            && let Some(min) = node.min_items
            && len < min
        {
            let msg = format!(
                "List should have at least {min} item{} after validation, not {len}",
                plural(min)
            );
            push(errors, loc, "too_short", msg, value);
        }
        if changed.is_empty() {
            return None;
        }
        let mut out = items.to_vec();
        for (i, c) in changed {
            if let Some(slot) = out.get_mut(i) {
                *slot = c;
            }
        }
        Some(Value::Array(out))
    }

    #[allow(clippy::too_many_arguments)]
    fn check_object(
        &self,
        node: &Node,
        map: &Map<String, Value>,
        value: &Value,
        loc: &mut Vec<Value>,
        errors: &mut Vec<Value>,
        lax: bool,
        depth: usize,
    ) -> Option<Value> {
        let mut changed: Vec<(&str, Value)> = Vec::new();
        for (name, sub) in &node.properties {
            loc.push(json!(name));
            match map.get(name) {
                Some(v) => {
                    if let Some(c) = self.check(sub, v, loc, errors, lax, depth + 1) {
                        changed.push((name, c));
                    }
                }
                None if node.required.iter().any(|r| r == name) => {
                    push(errors, loc, "missing", "Field required".to_owned(), value);
                }
                None => {}
            }
            loc.pop();
        }
        for name in &node.required {
            if !map.contains_key(name) && !node.properties.iter().any(|(p, _)| p == name) {
                loc.push(json!(name));
                push(errors, loc, "missing", "Field required".to_owned(), value);
                loc.pop();
            }
        }
        if !matches!(node.additional, Additional::Allow) {
            for (key, v) in map {
                if node.properties.iter().any(|(p, _)| p == key) {
                    continue;
                }
                loc.push(json!(key));
                match &node.additional {
                    Additional::Forbid => push(
                        errors,
                        loc,
                        "extra_forbidden",
                        "Extra inputs are not permitted".to_owned(),
                        v,
                    ),
                    Additional::Schema(sub) => {
                        if let Some(c) = self.check(sub, v, loc, errors, lax, depth + 1) {
                            changed.push((key, c));
                        }
                    }
                    Additional::Allow => {}
                }
                loc.pop();
            }
        }
        if changed.is_empty() {
            return None;
        }
        let mut out = map.clone();
        for (k, c) in changed {
            out.insert(k.to_owned(), c);
        }
        Some(Value::Object(out))
    }
}

/// How many of `errors` say the value has the wrong shape for the schema at depth
/// `base`: a wrong type or value there, or a missing or extra key of it.
fn shape_errors(errors: &[Value], base: usize) -> usize {
    errors
        .iter()
        .filter(|e| {
            let len = e.get("loc").and_then(Value::as_array).map_or(0, Vec::len);
            let kind = e.get("type").and_then(Value::as_str).unwrap_or_default();
            len == base || (len == base + 1 && matches!(kind, "missing" | "extra_forbidden"))
        })
        .count()
}

fn push(errors: &mut Vec<Value>, loc: &[Value], kind: &str, msg: String, input: &Value) {
    errors.push(json!({"type": kind, "loc": loc, "msg": msg, "input": input}));
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// JSON equality where `1` and `1.0` are equal.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// pydantic's "Input should be 'a', 'b' or 'c'".
fn expected_msg(choices: &[Value]) -> String {
    let shown: Vec<String> = choices
        .iter()
        .map(|c| match c {
            Value::String(s) => format!("'{s}'"),
            Value::Null => "None".to_owned(),
            Value::Bool(true) => "True".to_owned(),
            Value::Bool(false) => "False".to_owned(),
            other => other.to_string(),
        })
        .collect();
    let list = match shown.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    };
    format!("Input should be {list}")
}

/// pydantic's lax coercion of `value` to JSON type `t`; the error type and message
/// otherwise.
fn coerce(t: u8, value: &Value, lax: bool) -> Result<Value, (&'static str, &'static str)> {
    const INT_TYPE: (&str, &str) = ("int_type", "Input should be a valid integer");
    const INT_PARSING: (&str, &str) = (
        "int_parsing",
        "Input should be a valid integer, unable to parse string as an integer",
    );
    const INT_FROM_FLOAT: (&str, &str) = (
        "int_from_float",
        "Input should be a valid integer, got a number with a fractional part",
    );
    const FLOAT_TYPE: (&str, &str) = ("float_type", "Input should be a valid number");
    const FLOAT_PARSING: (&str, &str) = (
        "float_parsing",
        "Input should be a valid number, unable to parse string as a number",
    );
    const BOOL_TYPE: (&str, &str) = ("bool_type", "Input should be a valid boolean");
    const BOOL_PARSING: (&str, &str) = (
        "bool_parsing",
        "Input should be a valid boolean, unable to interpret input",
    );
    match t {
        T_INT => {
            if !lax {
                return Err(INT_TYPE);
            }
            match value {
                Value::Number(n) => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 => int_value(f).ok_or(INT_FROM_FLOAT),
                    _ => Err(INT_FROM_FLOAT),
                },
                Value::Bool(b) => Ok(json!(u8::from(*b))),
                Value::String(s) => parse_int(s.trim()).ok_or(INT_PARSING),
                _ => Err(INT_TYPE),
            }
        }
        T_NUM => {
            if !lax {
                return Err(FLOAT_TYPE);
            }
            match value {
                Value::Bool(b) => Ok(json!(if *b { 1.0 } else { 0.0 })),
                Value::String(s) => s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .ok_or(FLOAT_PARSING),
                _ => Err(FLOAT_TYPE),
            }
        }
        T_BOOL => {
            if !lax {
                return Err(BOOL_TYPE);
            }
            match value {
                Value::Number(n) => match n.as_f64() {
                    Some(0.0) => Ok(Value::Bool(false)),
                    Some(1.0) => Ok(Value::Bool(true)),
                    _ => Err(BOOL_PARSING),
                },
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "0" | "off" | "f" | "false" | "n" | "no" => Ok(Value::Bool(false)),
                    "1" | "on" | "t" | "true" | "y" | "yes" => Ok(Value::Bool(true)),
                    _ => Err(BOOL_PARSING),
                },
                _ => Err(BOOL_TYPE),
            }
        }
        T_STR => Err(("string_type", "Input should be a valid string")),
        T_ARR => Err(("list_type", "Input should be a valid array")),
        T_OBJ => Err(("model_type", "Input should be an object")),
        T_NULL => Err(("none_required", "Input should be None")),
        _ => Err(("type_error", "Input has the wrong type")),
    }
}

fn int_value(f: f64) -> Option<Value> {
    if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        Some(json!(f as i64))
    } else if (0.0..1.844_674_407_370_955_2e19).contains(&f) {
        Some(json!(f as u64))
    } else {
        None
    }
}

/// An integer from a string the way pydantic reads one: `"42"`, `"-7"`, `"42.0"`.
fn parse_int(s: &str) -> Option<Value> {
    let s = match s.split_once('.') {
        Some((int, frac)) if frac.chars().all(|c| c == '0') => int,
        Some(_) => return None,
        None => s,
    };
    if let Ok(i) = s.parse::<i64>() {
        return Some(json!(i));
    }
    s.parse::<u64>().ok().map(|u| json!(u))
}

fn check_number(node: &Node, n: &Number, value: &Value, loc: &[Value], errors: &mut Vec<Value>) {
    let Some(x) = n.as_f64() else { return };
    if let Some(b) = &node.exclusive_minimum
        && x <= b.value
    {
        let msg = format!("Input should be greater than {}", b.shown);
        push(errors, loc, "greater_than", msg, value);
    }
    if let Some(b) = &node.minimum
        && x < b.value
    {
        let msg = format!("Input should be greater than or equal to {}", b.shown);
        push(errors, loc, "greater_than_equal", msg, value);
    }
    if let Some(b) = &node.exclusive_maximum
        && x >= b.value
    {
        let msg = format!("Input should be less than {}", b.shown);
        push(errors, loc, "less_than", msg, value);
    }
    if let Some(b) = &node.maximum
        && x > b.value
    {
        let msg = format!("Input should be less than or equal to {}", b.shown);
        push(errors, loc, "less_than_equal", msg, value);
    }
    if let Some(b) = &node.multiple_of
        && b.value != 0.0
        && (x / b.value).fract() != 0.0
    {
        let msg = format!("Input should be a multiple of {}", b.shown);
        push(errors, loc, "multiple_of", msg, value);
    }
}

fn check_string(node: &Node, s: &str, value: &Value, loc: &[Value], errors: &mut Vec<Value>) {
    if node.min_length.is_some() || node.max_length.is_some() {
        let len = s.chars().count();
        if let Some(min) = node.min_length
            && len < min
        {
            let msg = format!("String should have at least {min} character{}", plural(min));
            push(errors, loc, "string_too_short", msg, value);
        }
        if let Some(max) = node.max_length
            && len > max
        {
            let msg = format!("String should have at most {max} character{}", plural(max));
            push(errors, loc, "string_too_long", msg, value);
        }
    }
    if let Some((pattern, re)) = &node.pattern
        && !re.is_match(s)
    {
        let msg = format!("String should match pattern '{pattern}'");
        push(errors, loc, "string_pattern_mismatch", msg, value);
    }
}

fn type_bit(name: &str) -> u8 {
    match name {
        "null" => T_NULL,
        "boolean" => T_BOOL,
        "integer" => T_INT,
        "number" => T_NUM,
        "string" => T_STR,
        "array" => T_ARR,
        "object" => T_OBJ,
        _ => 0,
    }
}

/// The bounds an integer format implies, which serde checks itself.
fn format_bounds(format: &str) -> Option<(i128, i128)> {
    Some(match format {
        "int8" => (i8::MIN.into(), i8::MAX.into()),
        "int16" => (i16::MIN.into(), i16::MAX.into()),
        "int32" => (i32::MIN.into(), i32::MAX.into()),
        "int64" | "int" => (i64::MIN.into(), i64::MAX.into()),
        "uint8" => (0, u8::MAX.into()),
        "uint16" => (0, u16::MAX.into()),
        "uint32" => (0, u32::MAX.into()),
        "uint64" | "uint" => (0, u64::MAX.into()),
        "int128" => (i128::MIN, i128::MAX),
        "uint128" => (0, i128::MAX),
        _ => return None,
    })
}

fn as_usize(v: Option<&Value>) -> Option<usize> {
    v.and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
}

impl Compiler<'_> {
    fn compile(&mut self, schema: &Value, depth: usize) -> Node {
        let mut node = Node::default();
        let Value::Object(s) = schema else {
            // `false` accepts nothing; `true` (or anything else) accepts everything
            if schema == &Value::Bool(false) {
                node.choices = Some((Vec::new(), EnumKind::Literal));
            }
            return node;
        };
        if depth > MAX_DEPTH {
            return node;
        }
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            node.reference = if r == "#" {
                Some(self.root)
            } else {
                r.strip_prefix("#/$defs/")
                    .or_else(|| r.strip_prefix("#/definitions/"))
                    .and_then(|n| self.names.get(n).copied())
            };
        }
        match s.get("type") {
            Some(Value::String(t)) => {
                node.types = type_bit(t);
                node.type_order = vec![node.types];
            }
            Some(Value::Array(ts)) => {
                for t in ts.iter().filter_map(Value::as_str) {
                    let bit = type_bit(t);
                    node.types |= bit;
                    node.type_order.push(bit);
                }
            }
            _ => {}
        }
        if let Some(c) = s.get("const") {
            node.choices = Some((vec![c.clone()], EnumKind::Literal));
        } else if let Some(Value::Array(e)) = s.get("enum") {
            let kind = if e.len() == 1 {
                EnumKind::Literal
            } else {
                EnumKind::Enum
            };
            node.choices = Some((e.clone(), kind));
        }
        let format = s
            .get("format")
            .and_then(Value::as_str)
            .and_then(format_bounds);
        node.minimum = s.get("minimum").and_then(Bound::from_value);
        node.maximum = s.get("maximum").and_then(Bound::from_value);
        if node.types & T_INT != 0
            && let Some((lo, hi)) = format
        {
            // tighter than the integer type's own range: serde will not check it
            if node.minimum.as_ref().is_some_and(|b| b.value > lo as f64)
                || node.maximum.as_ref().is_some_and(|b| b.value < hi as f64)
            {
                self.constrained = true;
            }
            node.minimum.get_or_insert_with(|| Bound::from_i128(lo));
            node.maximum.get_or_insert_with(|| Bound::from_i128(hi));
        } else if node.minimum.is_some() || node.maximum.is_some() {
            self.constrained = true;
        }
        node.exclusive_minimum = s.get("exclusiveMinimum").and_then(Bound::from_value);
        node.exclusive_maximum = s.get("exclusiveMaximum").and_then(Bound::from_value);
        node.multiple_of = s.get("multipleOf").and_then(Bound::from_value);
        node.min_length = as_usize(s.get("minLength"));
        node.max_length = as_usize(s.get("maxLength"));
        node.pattern = s
            .get("pattern")
            .and_then(Value::as_str)
            .and_then(|p| Some((p.to_owned(), regex::Regex::new(p).ok()?)));
        node.min_items = as_usize(s.get("minItems"));
        node.max_items = as_usize(s.get("maxItems"));
        if node.exclusive_minimum.is_some()
            || node.exclusive_maximum.is_some()
            || node.multiple_of.is_some()
            || node.min_length.is_some()
            || node.max_length.is_some()
            || node.pattern.is_some()
        {
            self.constrained = true;
        }
        if let Some(Value::Array(prefix)) = s.get("prefixItems") {
            node.prefix_items = prefix.iter().map(|p| self.compile(p, depth + 1)).collect();
        } else if node.min_items.is_some() || node.max_items.is_some() {
            self.constrained = true;
        }
        if let Some(items) = s.get("items").filter(|i| i.is_object()) {
            node.items = Some(Box::new(self.compile(items, depth + 1)));
        }
        if let Some(Value::Object(props)) = s.get("properties") {
            node.properties = props
                .iter()
                .map(|(k, p)| (k.clone(), self.compile(p, depth + 1)))
                .collect();
        }
        if let Some(Value::Array(req)) = s.get("required") {
            node.required = req
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
        }
        node.additional = match s.get("additionalProperties") {
            Some(Value::Bool(false)) => {
                self.constrained = true;
                Additional::Forbid
            }
            Some(sub @ Value::Object(_)) => {
                Additional::Schema(Box::new(self.compile(sub, depth + 1)))
            }
            _ => Additional::Allow,
        };
        if let Some(Value::Array(alts)) = s.get("anyOf").or_else(|| s.get("oneOf")) {
            node.any_of = alts.iter().map(|a| self.compile(a, depth + 1)).collect();
        }
        if let Some(Value::Array(all)) = s.get("allOf") {
            node.all_of = all.iter().map(|a| self.compile(a, depth + 1)).collect();
        }
        node
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }
    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        items: Vec<Inner>,
    }

    #[test]
    fn serde_errors_name_the_field_path() {
        let e = from_value::<Outer>(&json!({"name": "x", "items": [{"n": 1}, {"n": "two"}]}))
            .unwrap_err();
        assert_eq!(e.0[0]["loc"], json!(["items", 1, "n"]));
        assert_eq!(e.0[0]["input"], json!("two"));
        let e = from_value::<Outer>(&json!({"items": []})).unwrap_err();
        assert_eq!(e.0[0]["loc"], json!(["name"]));
        assert_eq!(e.0[0]["type"], "missing");
        let e = from_json_str::<Outer>("{not json").unwrap_err();
        assert_eq!(e.0[0]["type"], "json_invalid");
    }

    #[derive(Debug, Default, PartialEq, serde::Deserialize, schemars::JsonSchema)]
    enum Color {
        #[default]
        Red,
        Green,
        Blue,
    }

    #[derive(Debug, Default, PartialEq, serde::Deserialize, schemars::JsonSchema)]
    enum OnlyA {
        #[default]
        #[serde(rename = "a")]
        A,
    }

    #[derive(Debug, Default, PartialEq, serde::Deserialize, schemars::JsonSchema)]
    struct Nested {
        n: i64,
    }

    /// pydantic's `M` in the side-by-side script: every field has a default.
    #[derive(Debug, Default, PartialEq, serde::Deserialize, schemars::JsonSchema)]
    #[serde(default, deny_unknown_fields)]
    struct M {
        i: i64,
        f: f64,
        b: bool,
        s: String,
        lit1: OnlyA,
        color: Color,
        #[schemars(length(min = 3, max = 5))]
        short: String,
        #[schemars(length(min = 1))]
        one: String,
        #[schemars(length(min = 2, max = 3))]
        lst: Vec<i64>,
        #[schemars(length(min = 1))]
        lst1: Vec<i64>,
        #[schemars(extend("exclusiveMinimum" = 0, "exclusiveMaximum" = 10))]
        gt: i64,
        #[schemars(range(min = 0.5, max = 10))]
        ge: f64,
        #[schemars(pattern(r"^a+$"))]
        pat: String,
        inner: Nested,
        d: BTreeMap<String, i64>,
        opt: Option<i64>,
        #[schemars(extend("multipleOf" = 3))]
        mul: i64,
    }

    fn base() -> Value {
        json!({"short": "abc", "one": "x", "lst": [1, 2], "lst1": [1], "gt": 1, "ge": 1, "pat": "a", "inner": {"n": 1}, "mul": 3})
    }

    fn errors_for(v: &Validator, patch: Value) -> Vec<Value> {
        let mut input = base();
        for (k, val) in patch.as_object().unwrap() {
            input[k] = val.clone();
        }
        match v.validate(&input) {
            Ok(_) => Vec::new(),
            Err(e) => e.0,
        }
    }

    /// Each case: the input and the errors pydantic 2.14 reports for it (its
    /// `model_validate_json`, `errors(include_url=False, include_context=False)`).
    #[test]
    fn errors_match_pydantic() {
        let v = Validator::for_type::<M>();
        assert!(v.needs_check());
        let e = |ty: &str, loc: Value, msg: &str, input: Value| json!({"type": ty, "loc": loc, "msg": msg, "input": input});
        let cases: Vec<(Value, Vec<Value>)> = vec![
            (json!({"i": "42"}), vec![]),
            (json!({"i": " 42 "}), vec![]),
            (json!({"i": "42.0"}), vec![]),
            (json!({"i": 42.0}), vec![]),
            (json!({"i": true}), vec![]),
            (
                json!({"i": "4e2"}),
                vec![e(
                    "int_parsing",
                    json!(["i"]),
                    "Input should be a valid integer, unable to parse string as an integer",
                    json!("4e2"),
                )],
            ),
            (
                json!({"i": null}),
                vec![e(
                    "int_type",
                    json!(["i"]),
                    "Input should be a valid integer",
                    json!(null),
                )],
            ),
            (
                json!({"i": [1]}),
                vec![e(
                    "int_type",
                    json!(["i"]),
                    "Input should be a valid integer",
                    json!([1]),
                )],
            ),
            (
                json!({"i": 1.5}),
                vec![e(
                    "int_from_float",
                    json!(["i"]),
                    "Input should be a valid integer, got a number with a fractional part",
                    json!(1.5),
                )],
            ),
            (json!({"f": "1.5"}), vec![]),
            (json!({"f": true}), vec![]),
            (
                json!({"f": "x"}),
                vec![e(
                    "float_parsing",
                    json!(["f"]),
                    "Input should be a valid number, unable to parse string as a number",
                    json!("x"),
                )],
            ),
            (
                json!({"f": [1]}),
                vec![e(
                    "float_type",
                    json!(["f"]),
                    "Input should be a valid number",
                    json!([1]),
                )],
            ),
            (
                json!({"f": null}),
                vec![e(
                    "float_type",
                    json!(["f"]),
                    "Input should be a valid number",
                    json!(null),
                )],
            ),
            (json!({"b": "yes"}), vec![]),
            (json!({"b": 1}), vec![]),
            (json!({"b": 1.0}), vec![]),
            (
                json!({"b": 2}),
                vec![e(
                    "bool_parsing",
                    json!(["b"]),
                    "Input should be a valid boolean, unable to interpret input",
                    json!(2),
                )],
            ),
            (
                json!({"b": "maybe"}),
                vec![e(
                    "bool_parsing",
                    json!(["b"]),
                    "Input should be a valid boolean, unable to interpret input",
                    json!("maybe"),
                )],
            ),
            (
                json!({"b": null}),
                vec![e(
                    "bool_type",
                    json!(["b"]),
                    "Input should be a valid boolean",
                    json!(null),
                )],
            ),
            (
                json!({"s": 5}),
                vec![e(
                    "string_type",
                    json!(["s"]),
                    "Input should be a valid string",
                    json!(5),
                )],
            ),
            (
                json!({"s": null}),
                vec![e(
                    "string_type",
                    json!(["s"]),
                    "Input should be a valid string",
                    json!(null),
                )],
            ),
            (
                json!({"lit1": "z"}),
                vec![e(
                    "literal_error",
                    json!(["lit1"]),
                    "Input should be 'a'",
                    json!("z"),
                )],
            ),
            (
                json!({"color": "Pink"}),
                vec![e(
                    "enum",
                    json!(["color"]),
                    "Input should be 'Red', 'Green' or 'Blue'",
                    json!("Pink"),
                )],
            ),
            (
                json!({"color": 1}),
                vec![e(
                    "enum",
                    json!(["color"]),
                    "Input should be 'Red', 'Green' or 'Blue'",
                    json!(1),
                )],
            ),
            (
                json!({"short": "ab"}),
                vec![e(
                    "string_too_short",
                    json!(["short"]),
                    "String should have at least 3 characters",
                    json!("ab"),
                )],
            ),
            (
                json!({"short": "abcdef"}),
                vec![e(
                    "string_too_long",
                    json!(["short"]),
                    "String should have at most 5 characters",
                    json!("abcdef"),
                )],
            ),
            (
                json!({"one": ""}),
                vec![e(
                    "string_too_short",
                    json!(["one"]),
                    "String should have at least 1 character",
                    json!(""),
                )],
            ),
            (
                json!({"lst": [1]}),
                vec![e(
                    "too_short",
                    json!(["lst"]),
                    "List should have at least 2 items after validation, not 1",
                    json!([1]),
                )],
            ),
            (
                json!({"lst": [1, 2, 3, 4]}),
                vec![e(
                    "too_long",
                    json!(["lst"]),
                    "List should have at most 3 items after validation, not 4",
                    json!([1, 2, 3, 4]),
                )],
            ),
            (
                json!({"lst1": []}),
                vec![e(
                    "too_short",
                    json!(["lst1"]),
                    "List should have at least 1 item after validation, not 0",
                    json!([]),
                )],
            ),
            (
                json!({"lst": [1, "x", 3, 4]}),
                vec![e(
                    "too_long",
                    json!(["lst"]),
                    "List should have at most 3 items after validation, not 4",
                    json!([1, "x", 3, 4]),
                )],
            ),
            (
                json!({"lst": "x"}),
                vec![e(
                    "list_type",
                    json!(["lst"]),
                    "Input should be a valid array",
                    json!("x"),
                )],
            ),
            (
                json!({"gt": 0, "ge": 0.1}),
                vec![
                    e(
                        "greater_than",
                        json!(["gt"]),
                        "Input should be greater than 0",
                        json!(0),
                    ),
                    e(
                        "greater_than_equal",
                        json!(["ge"]),
                        "Input should be greater than or equal to 0.5",
                        json!(0.1),
                    ),
                ],
            ),
            (
                json!({"gt": 10, "ge": 11}),
                vec![
                    e(
                        "less_than",
                        json!(["gt"]),
                        "Input should be less than 10",
                        json!(10),
                    ),
                    e(
                        "less_than_equal",
                        json!(["ge"]),
                        "Input should be less than or equal to 10",
                        json!(11),
                    ),
                ],
            ),
            (
                json!({"pat": "b"}),
                vec![e(
                    "string_pattern_mismatch",
                    json!(["pat"]),
                    "String should match pattern '^a+$'",
                    json!("b"),
                )],
            ),
            (
                json!({"inner": 5}),
                vec![e(
                    "model_type",
                    json!(["inner"]),
                    "Input should be an object",
                    json!(5),
                )],
            ),
            (
                json!({"inner": {}}),
                vec![e(
                    "missing",
                    json!(["inner", "n"]),
                    "Field required",
                    json!({}),
                )],
            ),
            (
                json!({"d": {"a": "x"}}),
                vec![e(
                    "int_parsing",
                    json!(["d", "a"]),
                    "Input should be a valid integer, unable to parse string as an integer",
                    json!("x"),
                )],
            ),
            (
                json!({"opt": "x"}),
                vec![e(
                    "int_parsing",
                    json!(["opt"]),
                    "Input should be a valid integer, unable to parse string as an integer",
                    json!("x"),
                )],
            ),
            (
                json!({"mul": 4}),
                vec![e(
                    "multiple_of",
                    json!(["mul"]),
                    "Input should be a multiple of 3",
                    json!(4),
                )],
            ),
            (
                json!({"yy": 1, "zz": 2}),
                vec![
                    e(
                        "extra_forbidden",
                        json!(["yy"]),
                        "Extra inputs are not permitted",
                        json!(1),
                    ),
                    e(
                        "extra_forbidden",
                        json!(["zz"]),
                        "Extra inputs are not permitted",
                        json!(2),
                    ),
                ],
            ),
        ];
        // (errors come in the schema's property order, which is alphabetical; pydantic's
        // is the field order)
        let by_loc = |mut v: Vec<Value>| {
            v.sort_by_key(|e| e["loc"].to_string());
            v
        };
        for (patch, expected) in cases {
            assert_eq!(
                by_loc(errors_for(&v, patch.clone())),
                by_loc(expected),
                "for {patch}"
            );
        }
        // dicts: pydantic's dict_type for a map that is not an object
        let e = errors_for(&v, json!({"d": 5}));
        assert_eq!(e[0]["msg"], "Input should be an object");
    }

    #[test]
    fn coerced_values_deserialize() {
        let v = Validator::for_type::<M>();
        let mut input = base();
        input["i"] = json!("42");
        input["b"] = json!("yes");
        input["f"] = json!("1.5");
        input["lst"] = json!(["1", 2.0]);
        input["opt"] = json!(" 7 ");
        let m: M = v.deserialize(&input).unwrap();
        assert_eq!(
            (m.i, m.b, m.f, m.lst, m.opt),
            (42, true, 1.5, vec![1, 2], Some(7))
        );
        let m: M = v.deserialize_json(&base().to_string()).unwrap();
        assert_eq!(m.short, "abc");
        let e = v.deserialize_json::<M>("{\"i\": ").unwrap_err();
        assert_eq!(
            e.0,
            vec![
                json!({"type": "json_invalid", "loc": [], "msg": "Invalid JSON: EOF while parsing a value at line 1 column 6", "input": "{\"i\": "})
            ]
        );
    }

    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Weather {
        city: String,
        days: i64,
    }

    #[test]
    fn every_error_is_reported() {
        let mut schema = crate::schema::parameters_schema::<Weather>();
        schema["additionalProperties"] = json!(false);
        let v = Validator::new(&schema);
        // pydantic: get_weather(city: str, days: int) called with these arguments
        let e = v
            .deserialize::<Weather>(&json!({"days": "two", "extra": 1}))
            .unwrap_err();
        assert_eq!(
            e.0,
            vec![
                json!({"type": "missing", "loc": ["city"], "msg": "Field required", "input": {"days": "two", "extra": 1}}),
                json!({"type": "int_parsing", "loc": ["days"], "msg": "Input should be a valid integer, unable to parse string as an integer", "input": "two"}),
                json!({"type": "extra_forbidden", "loc": ["extra"], "msg": "Extra inputs are not permitted", "input": 1}),
            ]
        );
        let w: Weather = v
            .deserialize(&json!({"city": "London", "days": "42"}))
            .unwrap();
        assert_eq!(w.days, 42);
    }

    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Scored {
        #[schemars(range(min = 0, max = 10))]
        score: u8,
        small: u8,
        count: u32,
    }

    #[test]
    fn constraints_and_integer_bounds_are_enforced() {
        let v = Validator::for_type::<Scored>();
        assert!(v.needs_check());
        let e = v
            .deserialize::<Scored>(&json!({"score": 42, "small": 300, "count": -1}))
            .unwrap_err();
        assert_eq!(
            e.0,
            vec![
                json!({"type": "greater_than_equal", "loc": ["count"], "msg": "Input should be greater than or equal to 0", "input": -1}),
                json!({"type": "less_than_equal", "loc": ["score"], "msg": "Input should be less than or equal to 10", "input": 42}),
                json!({"type": "less_than_equal", "loc": ["small"], "msg": "Input should be less than or equal to 255", "input": 300}),
            ]
        );
        // the integer types' own bounds alone need no schema walk: serde checks them
        assert!(!Validator::for_type::<Inner>().needs_check());
        let e = Validator::for_type::<Inner>()
            .deserialize::<Inner>(&json!({"n": 5_000_000_000u64}))
            .unwrap_err();
        assert_eq!(e.0[0]["type"], "less_than_equal");
        assert_eq!(
            e.0[0]["msg"],
            "Input should be less than or equal to 4294967295"
        );
    }

    #[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
    enum Shape {
        Circle { r: f64 },
        Square(u32),
        Dot,
    }

    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Drawing {
        shapes: Vec<Shape>,
        label: Option<String>,
        next: Option<Box<Drawing>>,
    }

    #[test]
    fn unions_options_and_recursion() {
        let v = Validator::for_type::<Drawing>();
        let d: Drawing = v
            .deserialize(&json!({"shapes": [{"Circle": {"r": "1.5"}}, {"Square": "2"}, "Dot"], "label": null, "next": {"shapes": []}}))
            .unwrap();
        assert_eq!(d.shapes[0], Shape::Circle { r: 1.5 });
        assert_eq!(d.shapes[1], Shape::Square(2));
        let e = v
            .validate(&json!({"shapes": [{"Circle": {"r": "x"}}, "Blob"], "label": 3, "next": {"shapes": 1}}))
            .unwrap_err();
        let kinds: Vec<_> =
            e.0.iter()
                .map(|x| (x["type"].clone(), x["loc"].clone()))
                .collect();
        assert_eq!(
            kinds,
            vec![
                (json!("string_type"), json!(["label"])),
                (json!("list_type"), json!(["next", "shapes"])),
                (json!("float_parsing"), json!(["shapes", 0, "Circle", "r"])),
                (json!("literal_error"), json!(["shapes", 1])),
            ]
        );
    }
}
