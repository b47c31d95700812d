//! Loading spec files: YAML text → `SpecFile`, item by item, with every problem turned into a
//! located diagnostic, and a locator that finds the line and column of any YAML path (for
//! semantic errors found later).
//!
//! A file that is not YAML at all yields one error and nothing else. Otherwise each item (the
//! provider block, a channel, the method list, an error rule, an object, a tool) is read on its
//! own, so a mistake in one is reported and the others still load; what did not load is listed
//! in `Broken`, so that lowering does not blame correct code for what is missing.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value;

use super::diag::{Diagnostic, Seg, YamlPath};
use super::spec::SpecFile;

/// One spec file as read from disk.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path shown to the author and written into generated headers (`spec/pingpp/charges.yaml`).
    pub path: String,
    pub text: String,
}

/// One file after loading: the items that loaded, and what did not.
#[derive(Debug)]
pub struct Loaded {
    pub source: Source,
    pub spec: SpecFile,
    pub broken: Broken,
}

/// The items of a file that did not load (each already reported).
#[derive(Debug, Default)]
pub struct Broken {
    /// The file is not YAML (or not a mapping): nothing of it is known.
    pub unreadable: bool,
    /// The `provider:` block did not load.
    pub provider: bool,
    /// The `methods:` list did not load.
    pub methods: bool,
    /// An `errors:` entry did not load.
    pub errors: bool,
    /// Objects that did not load, by name.
    pub objects: BTreeSet<String>,
    /// Tools that did not load, by name (when the name itself could be read).
    pub tools: BTreeSet<String>,
    /// A tool without a readable name did not load.
    pub unnamed_tool: bool,
}

/// The folder of a spec path (`spec/pingpp` for `spec/pingpp/charges.yaml`).
pub fn folder_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, _)) => dir.to_owned(),
        None => String::new(),
    }
}

/// Loads one file, reporting every item that does not load.
pub fn load(src: &Source) -> (Loaded, Vec<Diagnostic>) {
    let mut reader = Reader {
        src,
        errors: Vec::new(),
        broken: Broken::default(),
    };
    let spec = reader.file();
    let loaded = Loaded {
        source: src.clone(),
        spec,
        broken: reader.broken,
    };
    (loaded, reader.errors)
}

struct Reader<'a> {
    src: &'a Source,
    errors: Vec<Diagnostic>,
    broken: Broken,
}

impl Reader<'_> {
    fn file(&mut self) -> SpecFile {
        let mut spec = SpecFile::default();
        if self.src.text.trim().is_empty() {
            return spec;
        }
        let doc: Value = match serde_yaml::from_str(&self.src.text) {
            Ok(v) => v,
            Err(e) => {
                self.errors.push(syntax_error(self.src, &e));
                self.broken.unreadable = true;
                return spec;
            }
        };
        let map = match doc {
            Value::Null => return spec,
            Value::Mapping(m) => m,
            _ => {
                let mut d = Diagnostic::new(
                    &self.src.path,
                    &YamlPath::root(),
                    "a spec file is a mapping of `provider`, `channels`, `methods`, `errors`, `objects` and `tools`",
                );
                d.location = Some((1, 1));
                self.errors.push(d);
                self.broken.unreadable = true;
                return spec;
            }
        };
        for (key, value) in &map {
            let Some(key) = key.as_str() else {
                self.error(
                    &YamlPath::root(),
                    "top-level keys are names".to_owned(),
                    None,
                );
                continue;
            };
            let path = YamlPath::root().key(key);
            match key {
                "provider" => match self.item(value, &path) {
                    Some(p) => spec.provider = Some(p),
                    None => self.broken.provider = true,
                },
                "channels" => {
                    // A row that does not load is reported; the table holds the others.
                    let rows = self.map_items(value, &path, |_, _| {});
                    spec.channels = Some(rows.into_iter().collect());
                }
                "methods" => match self.item(value, &path) {
                    Some(m) => spec.methods = Some(m),
                    None => self.broken.methods = true,
                },
                "errors" => {
                    spec.errors = Some(self.seq_items(value, &path, |r, _| r.broken.errors = true));
                }
                "objects" => {
                    let objects = self.map_items(value, &path, |r, name| {
                        r.broken.objects.insert(name.to_owned());
                    });
                    spec.objects = Some(objects.into_iter().collect());
                }
                "tools" => {
                    spec.tools = Some(self.seq_items(value, &path, |r, item| {
                        match item.get("name").and_then(Value::as_str) {
                            Some(name) => {
                                r.broken.tools.insert(name.to_owned());
                            }
                            None => r.broken.unnamed_tool = true,
                        }
                    }));
                }
                other => {
                    let mut ticked = vec![other];
                    ticked.extend(SpecFile::KEYS);
                    let help = suggestion(&ticked);
                    self.error(&path, format!("unknown key `{other}`"), help);
                    self.locate_key_of_last(&path);
                }
            }
        }
        spec
    }

    /// Reads one item; on failure reports it and returns `None`.
    fn item<'de, T: Deserialize<'de>>(&mut self, value: &'de Value, path: &YamlPath) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(t) => Some(t),
            Err(e) => {
                let mut at = path.clone();
                for seg in e.path().iter() {
                    match seg {
                        serde_path_to_error::Segment::Seq { index } => at = at.index(*index),
                        serde_path_to_error::Segment::Map { key } => at = at.key(key),
                        serde_path_to_error::Segment::Enum { .. }
                        | serde_path_to_error::Segment::Unknown => {}
                    }
                }
                self.serde_error(&at, &e.into_inner().to_string());
                None
            }
        }
    }

    /// Reads every entry of a mapping section; `broke` records an entry that did not load.
    fn map_items<'de, T: Deserialize<'de>>(
        &mut self,
        value: &'de Value,
        path: &YamlPath,
        broke: impl Fn(&mut Self, &str),
    ) -> Vec<(String, T)> {
        let Value::Mapping(m) = value else {
            if !value.is_null() {
                self.error(path, "expected a mapping".to_owned(), None);
                broke(self, "");
            }
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in m {
            let Some(name) = k.as_str() else {
                self.error(path, "keys here are names".to_owned(), None);
                continue;
            };
            match self.item(v, &path.key(name)) {
                Some(t) => out.push((name.to_owned(), t)),
                None => broke(self, name),
            }
        }
        out
    }

    /// Reads every entry of a list section, with its index; `broke` records an entry that did
    /// not load.
    fn seq_items<'de, T: Deserialize<'de>>(
        &mut self,
        value: &'de Value,
        path: &YamlPath,
        broke: impl Fn(&mut Self, &Value),
    ) -> Vec<(usize, T)> {
        let Value::Sequence(items) = value else {
            if !value.is_null() {
                self.error(path, "expected a list (`- ...` items)".to_owned(), None);
                broke(self, &Value::Null);
            }
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, v) in items.iter().enumerate() {
            match self.item(v, &path.index(i)) {
                Some(t) => out.push((i, t)),
                None => broke(self, v),
            }
        }
        out
    }

    /// A serde message about the node at `path`, made friendly: unknown keys and values get a
    /// did-you-mean, and are located at the key itself.
    fn serde_error(&mut self, path: &YamlPath, message: &str) {
        let ticked = backticked(message);
        if message.starts_with("unknown field ") {
            let help = if ticked[0].contains(' ') || ticked[0].ends_with(['.', ')']) {
                // `{ description: a, b }` parses `b` as a key: the comma ends the value.
                Some("a comma inside `{ ... }` ends the value; put the value in quotes".to_owned())
            } else {
                suggestion(&ticked)
            };
            self.error(path, format!("unknown key `{}`", ticked[0]), help);
            self.locate_key_of_last(path);
        } else if message.starts_with("unknown variant ") {
            self.error(
                path,
                format!("unknown value `{}`", ticked[0]),
                suggestion(&ticked),
            );
        } else if message.starts_with("missing field ") {
            self.error(path, format!("missing key `{}`", ticked[0]), None);
        } else {
            self.error(path, message.to_owned(), None);
        }
    }

    fn error(&mut self, path: &YamlPath, message: String, help: Option<String>) {
        let mut d = Diagnostic::new(&self.src.path, path, message);
        d.help = help;
        d.location = locate_nearest(&self.src.text, path);
        self.errors.push(d);
    }

    /// Points the last error at the key its path ends with, rather than at the key's value.
    fn locate_key_of_last(&mut self, path: &YamlPath) {
        if let (Some(d), Some(loc)) = (self.errors.last_mut(), locate_key(&self.src.text, path)) {
            d.location = Some(loc);
        }
    }
}

/// A file that is not YAML: one error, at the position the parser gives.
fn syntax_error(src: &Source, err: &serde_yaml::Error) -> Diagnostic {
    let location = err.location().map(|l| (l.line(), l.column()));
    let mut message = err.to_string();
    if let Some((line, column)) = location {
        let suffix = format!(" at line {line} column {column}");
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
    }
    Diagnostic {
        message,
        file: src.path.clone(),
        path: String::new(),
        location,
        help: None,
        note: None,
    }
}

/// Every `` `word` `` in a serde message, in order.
fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// For `[wrong, candidate...]`: a did-you-mean, or the full list when nothing is close.
fn suggestion(ticked: &[&str]) -> Option<String> {
    let (wrong, candidates) = ticked.split_first()?;
    if candidates.is_empty() {
        return Some("no keys are allowed here".to_owned());
    }
    match super::diag::closest(wrong, candidates.iter().copied()) {
        Some(best) => Some(format!("did you mean `{best}`?")),
        None => Some(format!("expected one of: {}", candidates.join(", "))),
    }
}

/// The 1-based line and column where the node at `path` starts, if the path exists.
///
/// NB: yaml_serde has no span API, so this re-reads the document with a seed that walks down
/// `path` and fails on purpose at the target node; yaml_serde stamps that error with the node's
/// position, which is what we want.
pub fn locate(text: &str, path: &YamlPath) -> Option<(usize, usize)> {
    let de = serde_yaml::Deserializer::from_str(text);
    match (Probe { rest: &path.0 }).deserialize(de) {
        Ok(()) => None,
        Err(err) if err.to_string().contains(PROBE_HIT) => {
            err.location().map(|l| (l.line(), l.column()))
        }
        Err(_) => None,
    }
}

/// The location of the node at `path`, or of its nearest ancestor that exists.
pub fn locate_nearest(text: &str, path: &YamlPath) -> Option<(usize, usize)> {
    let mut probe = path.clone();
    loop {
        if let Some(loc) = locate(text, &probe) {
            return Some(loc);
        }
        probe.0.pop()?;
    }
}

/// The 1-based line and column of the key that `path` ends with (`tools[0].nme` → `nme`): the
/// first `nme:` key at or after the start of its mapping.
///
/// NB: yaml_serde stamps errors with the position of the enclosing node, not of a key, so this
/// searches the text from the mapping's start.
pub fn locate_key(text: &str, path: &YamlPath) -> Option<(usize, usize)> {
    let (Seg::Key(key), parent) = path.0.split_last()? else {
        return None;
    };
    let start = match locate(text, &YamlPath(parent.to_vec())) {
        Some((line, column)) => offset_of(text, line, column)?,
        None if parent.is_empty() => 0,
        None => return None,
    };
    let mut from = start;
    while let Some(found) = text[from..].find(key.as_str()) {
        let at = from + found;
        let before = text[..at].chars().next_back();
        let after = text[at + key.len()..].trim_start_matches([' ', '\t']);
        let quoted = before == Some('"') || before == Some('\'');
        let starts_key = before.is_none_or(|c| c.is_whitespace() || c == '{' || c == ',');
        if starts_key && !quoted && after.starts_with(':') {
            return Some(line_column(text, at));
        }
        from = at + key.len();
    }
    None
}

/// The byte offset of a 1-based line and column (columns count characters).
fn offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let line_start = if line == 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let rest = &text[line_start..];
    let col = rest
        .char_indices()
        .nth(column - 1)
        .map_or(rest.len(), |(i, _)| i);
    Some(line_start + col)
}

/// The 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

const PROBE_HIT: &str = "__zhifu_probe_hit__";

struct Probe<'p> {
    rest: &'p [Seg],
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.rest.split_first() else {
            return Err(de::Error::custom(PROBE_HIT));
        };
        while let Some(key) = map.next_key::<KeyString>()? {
            match first {
                Seg::Key(k) if *k == key.0 => return map.next_value_seed(Probe { rest }),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.rest.split_first() else {
            return Err(de::Error::custom(PROBE_HIT));
        };
        let mut i = 0;
        loop {
            if matches!(first, Seg::Index(n) if *n == i) {
                return seq.next_element_seed(Probe { rest }).map(|_| ());
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
}

impl Probe<'_> {
    fn scalar<E: de::Error>(self) -> Result<(), E> {
        if self.rest.is_empty() {
            Err(E::custom(PROBE_HIT))
        } else {
            Ok(())
        }
    }
}

/// A mapping key read as text whatever its YAML type (`200:` and `true:` included).
struct KeyString(String);

impl<'de> de::Deserialize<'de> for KeyString {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyString, E> {
                Ok(KeyString("null".to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "tools:\n  - name: a\n    params:\n      - name: x\n        type: intger\n      - { name: y, type: string }\n";

    #[test]
    fn locates_nested_scalars() {
        let p = YamlPath::root()
            .key("tools")
            .index(0)
            .key("params")
            .index(0)
            .key("type");
        assert_eq!(locate(DOC, &p), Some((5, 15)));
        let p = YamlPath::root()
            .key("tools")
            .index(0)
            .key("params")
            .index(1)
            .key("type");
        assert_eq!(locate(DOC, &p), Some((6, 26)));
    }

    #[test]
    fn missing_paths_have_no_location() {
        let p = YamlPath::root().key("tools").index(3);
        assert_eq!(locate(DOC, &p), None);
    }

    #[test]
    fn locates_keys() {
        let p = YamlPath::root()
            .key("tools")
            .index(0)
            .key("params")
            .index(0)
            .key("type");
        assert_eq!(locate_key(DOC, &p), Some((5, 9)));
    }

    fn load_text(text: &str) -> (Loaded, Vec<Diagnostic>) {
        load(&Source {
            path: "x.yaml".into(),
            text: text.into(),
        })
    }

    #[test]
    fn unknown_keys_get_a_suggestion_at_the_key() {
        let (loaded, errors) = load_text("tools:\n  - nme: a\n");
        assert_eq!(errors.len(), 1, "{errors:?}");
        let d = &errors[0];
        assert_eq!(d.message, "unknown key `nme`");
        assert_eq!(d.help.as_deref(), Some("did you mean `name`?"));
        assert_eq!(d.path, "tools[0].nme");
        assert_eq!(d.location, Some((2, 5)));
        assert!(loaded.broken.unnamed_tool);
    }

    #[test]
    fn a_broken_item_does_not_hide_the_others() {
        let text = "tools:\n  - name: a\n    nme: x\n  - name: b\n    titel: y\nobjects:\n  o: { description: d, fields: {}, extra: 1 }\n";
        let (loaded, errors) = load_text(text);
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "unknown key `nme`",
                "unknown key `titel`",
                "unknown key `extra`"
            ]
        );
        assert_eq!(
            loaded
                .broken
                .tools
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(loaded.broken.objects.contains("o"));
    }

    #[test]
    fn unknown_top_level_keys_are_reported() {
        let (_, errors) = load_text("tols: []\n");
        assert_eq!(errors[0].message, "unknown key `tols`");
        assert_eq!(errors[0].help.as_deref(), Some("did you mean `tools`?"));
        assert_eq!(errors[0].location, Some((1, 1)));
    }
}
