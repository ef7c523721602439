//! The values an evaluation works on: borrowed JSON from the input and the bindings, or values
//! the expression built, behind reference counts so copies cost nothing.
//!
//! Input documents are never converted: a `V::JObj` or `V::JArr` points into the caller's
//! `serde_json::Value`, and strings read from it stay borrowed. Only what an expression builds
//! (arrays, objects, strings) is owned, and only the final result is written back as JSON.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use indexmap::IndexMap;
use serde_json::{Map, Value as Json};

use super::eval::Func;

/// A string, borrowed from the input or the expression, or built by the evaluation.
#[derive(Clone, Debug)]
pub(crate) enum Str<'a> {
    B(&'a str),
    O(Rc<str>),
}

impl Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Str::B(text) => text,
            Str::O(text) => text,
        }
    }
}

impl PartialEq for Str<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Str<'_> {}

impl Hash for Str<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl std::borrow::Borrow<str> for Str<'_> {
    fn borrow(&self) -> &str {
        self
    }
}

impl From<String> for Str<'_> {
    fn from(text: String) -> Self {
        Str::O(Rc::from(text))
    }
}

/// The hasher of built objects: fast, and fixed so that no evaluation seeds a random state.
pub(crate) type Hasher_ = foldhash::fast::FixedState;

/// An object built by the evaluation, in insertion order.
pub(crate) type Obj<'a> = IndexMap<Str<'a>, V<'a>, Hasher_>;

/// A new, empty built object with room for `n` keys.
pub(crate) fn new_obj<'a>(n: usize) -> Obj<'a> {
    IndexMap::with_capacity_and_hasher(n, Hasher_::default())
}

/// An array built by the evaluation, with JSONata's flags: a *sequence* collapses to its only
/// item (unless `keep`), `cons` marks an array constructor's result, which paths do not flatten,
/// and `outer` the wrapper JSONata puts around an array input.
#[derive(Clone, Debug, Default)]
pub(crate) struct Arr<'a> {
    pub(crate) items: Vec<V<'a>>,
    pub(crate) seq: bool,
    pub(crate) keep: bool,
    pub(crate) cons: bool,
    pub(crate) outer: bool,
}

/// A value. `None` beside it (in `Option<V>`) is JSONata's *undefined*.
#[derive(Clone, Debug)]
pub(crate) enum V<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(Str<'a>),
    JArr(&'a Vec<Json>),
    JObj(&'a Map<String, Json>),
    Arr(Rc<Arr<'a>>),
    Obj(Rc<Obj<'a>>),
    Func(Rc<Func<'a>>),
    /// A number with more significant digits than a float holds, read from JSON or from a
    /// numeric string: see [`Dec`].
    Dec(Rc<Dec>),
}

/// A number whose decimal text has more significant digits than a float keeps (over 15, such
/// as the amount `12345678901234567.89`). Arithmetic, comparison and `$string` use its float,
/// as JSONata does; passed on unchanged (a field read, a binding, `$number`, an argument of a
/// native function, the result) it keeps its text, so an amount is written out digit for digit.
#[derive(Debug)]
pub(crate) struct Dec {
    pub(crate) value: f64,
    pub(crate) text: Box<str>,
}

/// The value of a JSON number: its float, or a [`Dec`] when the float would lose digits.
#[inline]
pub(crate) fn number_value<'a>(number: &serde_json::Number) -> V<'a> {
    let value = number.as_f64().unwrap_or(f64::NAN);
    let text = number.as_str();
    if crate::native::exceeds_float_digits(text) {
        V::Dec(Rc::new(Dec {
            value,
            text: text.into(),
        }))
    } else {
        V::Num(value)
    }
}

impl<'a> V<'a> {
    /// Views borrowed JSON as a value, without copying it.
    #[inline]
    pub(crate) fn from_json(json: &'a Json) -> V<'a> {
        match json {
            Json::Null => V::Null,
            Json::Bool(flag) => V::Bool(*flag),
            Json::Number(number) => number_value(number),
            Json::String(text) => V::Str(Str::B(text)),
            Json::Array(items) => V::JArr(items),
            Json::Object(fields) => V::JObj(fields),
        }
    }

    pub(crate) fn str_owned(text: String) -> V<'a> {
        V::Str(Str::O(Rc::from(text)))
    }

    pub(crate) fn is_array(&self) -> bool {
        matches!(self, V::JArr(_) | V::Arr(_))
    }

    pub(crate) fn is_object(&self) -> bool {
        matches!(self, V::JObj(_) | V::Obj(_))
    }

    pub(crate) fn is_func(&self) -> bool {
        matches!(self, V::Func(_))
    }

    /// Whether this is a sequence (an array JSONata built while navigating).
    pub(crate) fn is_seq(&self) -> bool {
        matches!(self, V::Arr(arr) if arr.seq)
    }

    pub(crate) fn is_cons(&self) -> bool {
        matches!(self, V::Arr(arr) if arr.cons)
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            V::Str(text) => Some(text),
            _ => None,
        }
    }

    /// The value with a [`Dec`] read as its float: what operators and JSONata's own
    /// functions work on.
    #[inline]
    pub(crate) fn demoted(self) -> V<'a> {
        match self {
            V::Dec(dec) => V::Num(dec.value),
            other => other,
        }
    }

    pub(crate) fn as_num(&self) -> Option<f64> {
        match self {
            V::Num(number) => Some(*number),
            V::Dec(dec) => Some(dec.value),
            _ => None,
        }
    }

    /// The number of items of an array, 1 for anything else.
    pub(crate) fn len_items(&self) -> usize {
        match self {
            V::JArr(items) => items.len(),
            V::Arr(arr) => arr.items.len(),
            _ => 1,
        }
    }

    /// The items of an array (the value itself when it is not one), as values.
    pub(crate) fn items(&self) -> Items<'a, '_> {
        match self {
            V::JArr(items) => Items::Json(items.iter()),
            V::Arr(arr) => Items::Built(arr.items.iter()),
            other => Items::One(Some(other)),
        }
    }

    /// The item at `index` of an array.
    pub(crate) fn item(&self, index: usize) -> Option<V<'a>> {
        match self {
            V::JArr(items) => items.get(index).map(V::from_json),
            V::Arr(arr) => arr.items.get(index).cloned(),
            other if index == 0 => Some(other.clone()),
            _ => None,
        }
    }

    /// The value of `key` in an object.
    #[inline]
    pub(crate) fn field(&self, key: &str) -> Option<V<'a>> {
        match self {
            // A small object is scanned rather than hashed (serde_json's maps hash with
            // SipHash).
            V::JObj(fields) if fields.len() <= 16 => fields
                .iter()
                .find(|(name, _)| name_eq(name, key))
                .map(|(_, value)| V::from_json(value)),
            V::JObj(fields) => fields.get(key).map(V::from_json),
            V::Obj(fields) => fields.get(key).cloned(),
            _ => None,
        }
    }

    /// The value of `key` in an object, looked for first where `hint` says it was last time
    /// (records of one shape keep their fields in one order), and the hint updated.
    #[inline]
    pub(crate) fn field_hinted(&self, key: &str, hint: &AtomicU32) -> Option<V<'a>> {
        match self {
            V::JObj(fields) => json_field(fields, key, hint).map(V::from_json),
            V::Obj(fields) => {
                let at = hint.load(Ordering::Relaxed) as usize;
                if let Some((name, value)) = fields.get_index(at)
                    && name_eq(name, key)
                {
                    return Some(value.clone());
                }
                let (index, _, value) = fields.get_full(key)?;
                hint.store(u32::try_from(index).unwrap_or(0), Ordering::Relaxed);
                Some(value.clone())
            }
            _ => None,
        }
    }

    /// The keys and values of an object.
    pub(crate) fn entries(&self) -> Vec<(Str<'a>, V<'a>)> {
        match self {
            V::JObj(fields) => fields
                .iter()
                .map(|(key, value)| (Str::B(key.as_str()), V::from_json(value)))
                .collect(),
            V::Obj(fields) => fields
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn obj_len(&self) -> usize {
        match self {
            V::JObj(fields) => fields.len(),
            V::Obj(fields) => fields.len(),
            _ => 0,
        }
    }

    /// The one-letter type JSONata signatures use.
    pub(crate) fn symbol(&self) -> u8 {
        match self {
            V::Null => b'l',
            V::Bool(_) => b'b',
            V::Num(_) | V::Dec(_) => b'n',
            V::Str(_) => b's',
            V::JArr(_) | V::Arr(_) => b'a',
            V::JObj(_) | V::Obj(_) => b'o',
            V::Func(_) => b'f',
        }
    }

    /// JSONata's `$type` name.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            V::Null => "null",
            V::Bool(_) => "boolean",
            V::Num(_) | V::Dec(_) => "number",
            V::Str(_) => "string",
            V::JArr(_) | V::Arr(_) => "array",
            V::JObj(_) | V::Obj(_) => "object",
            V::Func(_) => "function",
        }
    }
}

/// Whether two names are the same: the short names of fields and variables are compared
/// byte by byte in place, without a call to `memcmp`.
#[inline]
pub(crate) fn name_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 24 {
        return a == b;
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// The field `key` of a JSON object, tried first at the position `hint` gives; small objects
/// are scanned rather than hashed (serde_json's maps hash with SipHash).
#[inline]
pub(crate) fn json_field<'j>(
    fields: &'j Map<String, Json>,
    key: &str,
    hint: &AtomicU32,
) -> Option<&'j Json> {
    let at = hint.load(Ordering::Relaxed) as usize;
    if let Some((name, value)) = fields.iter().nth(at)
        && name_eq(name, key)
    {
        return Some(value);
    }
    if fields.len() > 32 {
        return fields.get(key);
    }
    for (index, (name, value)) in fields.iter().enumerate() {
        if name_eq(name, key) {
            hint.store(u32::try_from(index).unwrap_or(0), Ordering::Relaxed);
            return Some(value);
        }
    }
    None
}

/// The items of an array value.
pub(crate) enum Items<'a, 'v> {
    Json(std::slice::Iter<'a, Json>),
    Built(std::slice::Iter<'v, V<'a>>),
    One(Option<&'v V<'a>>),
}

impl<'a> Iterator for Items<'a, '_> {
    type Item = V<'a>;
    #[inline]
    fn next(&mut self) -> Option<V<'a>> {
        match self {
            Items::Json(iter) => iter.next().map(V::from_json),
            Items::Built(iter) => iter.next().cloned(),
            Items::One(item) => item.take().cloned(),
        }
    }
}

/// A built sequence of `items`.
pub(crate) fn seq(items: Vec<V<'_>>) -> V<'_> {
    V::Arr(Rc::new(Arr {
        items,
        seq: true,
        ..Arr::default()
    }))
}

/// A built plain array of `items`.
pub(crate) fn array(items: Vec<V<'_>>) -> V<'_> {
    V::Arr(Rc::new(Arr {
        items,
        ..Arr::default()
    }))
}

/// Collapses a sequence as JSONata does at the end of every evaluation step: empty is
/// undefined, one item is that item, unless the sequence is kept as an array.
pub(crate) fn collapse(value: Option<V<'_>>) -> Option<V<'_>> {
    match value {
        Some(V::Arr(arr)) if arr.seq => match arr.items.len() {
            0 => None,
            1 if !arr.keep => Some(arr.items[0].clone()),
            _ => Some(V::Arr(arr)),
        },
        other => other,
    }
}

/// Deep equality, numbers by value.
pub(crate) fn deep_eq<'a>(a: &V<'a>, b: &V<'a>) -> bool {
    match (a, b) {
        (V::Null, V::Null) => true,
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Num(x), V::Num(y)) => x == y,
        (V::Dec(_), _) | (_, V::Dec(_)) => a.as_num().is_some() && a.as_num() == b.as_num(),
        (V::Str(x), V::Str(y)) => **x == **y,
        (V::Func(x), V::Func(y)) => Rc::ptr_eq(x, y),
        (x, y) if x.is_array() && y.is_array() => {
            x.len_items() == y.len_items() && x.items().zip(y.items()).all(|(p, q)| deep_eq(&p, &q))
        }
        (x, y) if x.is_object() && y.is_object() => {
            x.obj_len() == y.obj_len()
                && x.entries()
                    .iter()
                    .all(|(key, value)| y.field(key).is_some_and(|other| deep_eq(value, &other)))
        }
        _ => false,
    }
}

/// The JSON number for `value`: an integer when it is one.
pub(crate) fn json_number(value: f64) -> Json {
    if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
        #[allow(clippy::cast_possible_truncation)] // integral and below 2^53, so exact
        return Json::from(value as i64);
    }
    serde_json::Number::from_f64(value).map_or(Json::Null, Json::Number)
}

/// Writes the result as JSON; functions inside arrays and objects are left out, and a
/// function alone gives undefined.
pub(crate) fn to_json(value: &V<'_>) -> Option<Json> {
    Some(match value {
        V::Null => Json::Null,
        V::Bool(flag) => Json::Bool(*flag),
        V::Num(number) => json_number(*number),
        V::Dec(dec) => dec
            .text
            .parse()
            .map_or_else(|_| json_number(dec.value), Json::Number),
        V::Str(text) => Json::String(text.to_string()),
        V::JArr(items) => Json::Array((*items).clone()),
        V::JObj(fields) => Json::Object((*fields).clone()),
        V::Arr(arr) => {
            let mut items = Vec::with_capacity(arr.items.len());
            items.extend(arr.items.iter().filter_map(to_json));
            Json::Array(items)
        }
        V::Obj(fields) => {
            let mut map = Map::with_capacity(fields.len());
            for (key, value) in fields.iter() {
                if let Some(json) = to_json(value) {
                    map.insert(key.to_string(), json);
                }
            }
            Json::Object(map)
        }
        V::Func(_) => return None,
    })
}

/// How many object shapes a [`Shapes`] remembers at one place of a result.
const SHAPES: usize = 4;

/// The most keys, and bytes of keys, of an object whose shape is remembered: with at most
/// [`SHAPES`] shapes at the result and at each place one level below it, what an expression
/// keeps stays small whatever its results are.
const SHAPE_KEYS: usize = 64;
const SHAPE_KEY_BYTES: usize = 2048;

/// The shapes (keys, in order) of the objects an expression's results had at one place (the
/// result itself, or one level below it: under a key of the result, or in an array there),
/// each kept as a JSON object of those keys with null values: an object of the same keys is
/// written as a clone of it, whose key table is copied rather than built again by hashing
/// every key.
#[derive(Debug)]
pub(crate) struct Shapes {
    known: [std::sync::OnceLock<Shape>; SHAPES],
    /// Whether the shapes below this place are remembered too (at the result only).
    nest: bool,
}

impl Default for Shapes {
    /// The shapes of the result itself.
    fn default() -> Self {
        Shapes {
            known: Default::default(),
            nest: true,
        }
    }
}

#[derive(Debug)]
struct Shape {
    /// The keys, their values null.
    template: Map<String, Json>,
    /// The shapes under each key, by position (none below the first level).
    inner: Box<[Shapes]>,
}

impl Shape {
    /// The shape of `fields`, when it is small enough to remember.
    fn of(fields: &Obj<'_>, nest: bool) -> Option<Shape> {
        if fields.len() > SHAPE_KEYS
            || fields.keys().map(|key| key.len()).sum::<usize>() > SHAPE_KEY_BYTES
        {
            return None;
        }
        let mut template = Map::with_capacity(fields.len());
        for key in fields.keys() {
            template.insert(key.to_string(), Json::Null);
        }
        let inner = if nest {
            (0..fields.len())
                .map(|_| Shapes {
                    known: Default::default(),
                    nest: false,
                })
                .collect()
        } else {
            Box::default()
        };
        Some(Shape { template, inner })
    }

    /// Whether `fields` (none of them a function) has exactly this shape's keys, in order.
    fn fits(&self, fields: &Obj<'_>) -> bool {
        self.template.len() == fields.len()
            && self
                .template
                .keys()
                .zip(fields.keys())
                .all(|(known, key)| known.as_str() == &**key)
    }
}

/// What is left of the output cap, in bytes of JSON text (each scalar counted as 8).
pub(crate) struct OutputBudget(pub(crate) usize);

/// The result would be larger than the output cap.
pub(crate) struct TooLarge;

impl OutputBudget {
    #[inline]
    fn spend(&mut self, bytes: usize) -> Result<(), TooLarge> {
        if bytes > self.0 {
            return Err(TooLarge);
        }
        self.0 -= bytes;
        Ok(())
    }

    fn json(&mut self, json: &Json) -> Result<(), TooLarge> {
        match json {
            Json::String(text) => self.spend(text.len() + 2),
            Json::Array(items) => {
                self.spend(2 + items.len())?;
                items.iter().try_for_each(|item| self.json(item))
            }
            Json::Object(fields) => self.object(fields),
            _ => self.spend(8),
        }
    }

    fn object(&mut self, fields: &Map<String, Json>) -> Result<(), TooLarge> {
        self.spend(2 + fields.len())?;
        fields.iter().try_for_each(|(key, item)| {
            self.spend(key.len() + 3)?;
            self.json(item)
        })
    }
}

/// Writes the result as JSON as [`to_json`] does, counting its size against `budget` as it
/// goes (functions too, though they are left out), and writing objects through the shapes
/// remembered at this place of the result when there are any (remembering their shapes while
/// there is room).
pub(crate) fn write_result(
    value: &V<'_>,
    shapes: Option<&Shapes>,
    budget: &mut OutputBudget,
) -> Result<Option<Json>, TooLarge> {
    Ok(Some(match value {
        V::Str(text) => {
            budget.spend(text.len() + 2)?;
            Json::String(text.to_string())
        }
        V::JArr(items) => {
            budget.spend(2 + items.len())?;
            items.iter().try_for_each(|item| budget.json(item))?;
            Json::Array((*items).clone())
        }
        V::JObj(fields) => {
            budget.object(fields)?;
            Json::Object((*fields).clone())
        }
        V::Arr(arr) => {
            budget.spend(2 + arr.items.len())?;
            let mut items = Vec::with_capacity(arr.items.len());
            for item in &arr.items {
                if let Some(json) = write_result(item, shapes, budget)? {
                    items.push(json);
                }
            }
            Json::Array(items)
        }
        V::Obj(fields) => {
            budget.spend(2 + fields.len())?;
            if let Some(shapes) = shapes
                && !fields.values().any(V::is_func)
            {
                let mut free = None;
                for (index, known) in shapes.known.iter().enumerate() {
                    match known.get() {
                        Some(shape) if shape.fits(fields) => {
                            let mut map = shape.template.clone();
                            for (index, (slot, (key, value))) in
                                map.values_mut().zip(fields.iter()).enumerate()
                            {
                                budget.spend(key.len() + 3)?;
                                // Not a function, so written.
                                let inner = shape.inner.get(index);
                                if let Some(json) = write_result(value, inner, budget)? {
                                    *slot = json;
                                }
                            }
                            return Ok(Some(Json::Object(map)));
                        }
                        Some(_) => {}
                        None => {
                            free.get_or_insert(index);
                        }
                    }
                }
                if let Some(index) = free
                    && let Some(shape) = Shape::of(fields, shapes.nest)
                {
                    // Another thread may have filled this place meanwhile; either shape serves.
                    let _ = shapes.known[index].set(shape);
                }
            }
            let mut map = Map::with_capacity(fields.len());
            for (key, value) in fields.iter() {
                budget.spend(key.len() + 3)?;
                if let Some(json) = write_result(value, None, budget)? {
                    map.insert(key.to_string(), json);
                }
            }
            Json::Object(map)
        }
        V::Func(_) => {
            budget.spend(8)?;
            return Ok(None);
        }
        scalar => {
            budget.spend(8)?;
            return Ok(to_json(scalar));
        }
    }))
}

/// Reads owned JSON (a native function's result) as a built value, moving its strings.
pub(crate) fn from_json_value<'a>(json: Json) -> V<'a> {
    match json {
        Json::String(text) => V::str_owned(text),
        Json::Array(items) => array(items.into_iter().map(from_json_value).collect()),
        Json::Object(fields) => {
            let mut obj = new_obj(fields.len());
            for (key, value) in fields {
                obj.insert(Str::from(key), from_json_value(value));
            }
            V::Obj(Rc::new(obj))
        }
        other => from_owned_json(&other),
    }
}

/// Reads owned JSON (from a nested evaluation) as a built value.
pub(crate) fn from_owned_json<'a>(json: &Json) -> V<'a> {
    match json {
        Json::Null => V::Null,
        Json::Bool(flag) => V::Bool(*flag),
        Json::Number(number) => number_value(number),
        Json::String(text) => V::str_owned(text.clone()),
        Json::Array(items) => array(items.iter().map(from_owned_json).collect()),
        Json::Object(fields) => {
            let mut obj = new_obj(fields.len());
            for (key, value) in fields {
                obj.insert(Str::from(key.clone()), from_owned_json(value));
            }
            V::Obj(Rc::new(obj))
        }
    }
}

/// A number as JavaScript writes it (`1e+21`, `0.1`, `5`).
pub(crate) fn js_number(value: f64, out: &mut String) {
    if value.fract() == 0.0 && value.abs() < 1e21 {
        if value == 0.0 {
            out.push('0');
        } else if value.abs() < 9_007_199_254_740_992.0 {
            // Integral and below 2^53, so exact as an integer (whose formatting is far
            // cheaper than a float's with a precision).
            #[allow(clippy::cast_possible_truncation)]
            out.push_str(int_text(value as i64, &mut [0; 20]));
        } else {
            let _ = write!(out, "{value:.0}");
        }
        return;
    }
    let mut buffer = ryu_js::Buffer::new();
    out.push_str(buffer.format(value));
}

/// The decimal text of a whole number, written at the end of `buf`.
pub(crate) fn int_text(value: i64, buf: &mut [u8; 20]) -> &str {
    let mut rest = value.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        #[allow(clippy::cast_possible_truncation)] // a digit
        {
            buf[at] = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    std::str::from_utf8(&buf[at..]).unwrap_or_default()
}

/// A number as `$string` writes it: 15 significant digits, then as JavaScript.
pub(crate) fn number_text(value: f64, out: &mut String) {
    let rounded = if value.fract() == 0.0 {
        value
    } else {
        format!("{value:.14e}").parse().unwrap_or(value)
    };
    js_number(rounded, out);
}

/// JSON text of a value as `$string` writes it: numbers to 15 significant digits, functions as
/// `""`, optionally indented by two spaces.
pub(crate) fn stringify(value: &V<'_>, pretty: bool, out: &mut String) {
    write_json(value, pretty, 0, out);
}

fn write_json(value: &V<'_>, pretty: bool, depth: usize, out: &mut String) {
    match value {
        V::Null => out.push_str("null"),
        V::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        V::Num(number) => number_text(*number, out),
        V::Dec(dec) => number_text(dec.value, out),
        V::Str(text) => write_string(text, out),
        V::Func(_) => out.push_str("\"\""),
        array if array.is_array() => {
            if array.len_items() == 0 {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (index, item) in array.items().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                newline(pretty, depth + 1, out);
                write_json(&item, pretty, depth + 1, out);
            }
            newline(pretty, depth, out);
            out.push(']');
        }
        object => {
            let entries = object.entries();
            if entries.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (index, (key, item)) in entries.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                newline(pretty, depth + 1, out);
                write_string(key, out);
                out.push(':');
                if pretty {
                    out.push(' ');
                }
                write_json(item, pretty, depth + 1, out);
            }
            newline(pretty, depth, out);
            out.push('}');
        }
    }
}

fn newline(pretty: bool, depth: usize, out: &mut String) {
    if pretty {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    }
}

/// A JSON string literal.
pub(crate) fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
