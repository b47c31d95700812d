//! Loading spec files: YAML text → `SpecFile`, with parse errors turned into diagnostics, and a
//! locator that finds the line and column of any YAML path (for semantic errors found later).

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::diag::{Diagnostic, Seg, YamlPath};
use super::spec::SpecFile;

/// One spec file as read from disk.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path shown to the author and written into generated headers (`spec/pingpp/charges.yaml`).
    pub path: String,
    pub text: String,
}

/// Parses one file, rejecting unknown keys. Parsing stops at the first error in a file.
pub fn parse(src: &Source) -> Result<SpecFile, Box<Diagnostic>> {
    if src.text.trim().is_empty() {
        return Ok(SpecFile::default());
    }
    serde_yaml::from_str::<SpecFile>(&src.text).map_err(|err| Box::new(to_diagnostic(src, &err)))
}

fn to_diagnostic(src: &Source, err: &serde_yaml::Error) -> Diagnostic {
    let location = err.location().map(|l| (l.line(), l.column()));
    let mut text = err.to_string();
    if let Some((line, column)) = location {
        let suffix = format!(" at line {line} column {column}");
        if let Some(stripped) = text.strip_suffix(&suffix) {
            text = stripped.to_owned();
        }
    }
    // yaml_serde prefixes the YAML path: "tools[0].params[1]: unknown field ...".
    let (mut path, message) = match text.split_once(": ") {
        Some((p, m)) if !p.contains(' ') && !p.contains('`') => (p.to_owned(), m.to_owned()),
        _ => (String::new(), text),
    };
    let ticked = backticked(&message);
    let (message, help) = if message.starts_with("unknown field ") {
        let help = if ticked[0].contains(' ') || ticked[0].ends_with(['.', ')']) {
            // `{ description: a, b }` parses `b` as a key: the comma ends the value.
            Some("a comma inside `{ ... }` ends the value; put the value in quotes".to_owned())
        } else {
            suggestion(&ticked)
        };
        path = if path.is_empty() {
            ticked[0].to_owned()
        } else {
            format!("{path}.{}", ticked[0])
        };
        (format!("unknown key `{}`", ticked[0]), help)
    } else if message.starts_with("unknown variant ") {
        (
            format!("unknown value `{}`", ticked[0]),
            suggestion(&ticked),
        )
    } else if message.starts_with("missing field ") {
        (format!("missing key `{}`", ticked[0]), None)
    } else {
        (message, None)
    };
    Diagnostic {
        message,
        file: src.path.clone(),
        path,
        location,
        help,
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
    fn unknown_keys_get_a_suggestion() {
        let src = Source {
            path: "x.yaml".into(),
            text: "tools:\n  - nme: a\n".into(),
        };
        let d = parse(&src).unwrap_err();
        assert_eq!(d.message, "unknown key `nme`");
        assert_eq!(d.help.as_deref(), Some("did you mean `name`?"));
        assert_eq!(d.path, "tools[0].nme");
    }
}
