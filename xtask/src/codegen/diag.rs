//! Spec diagnostics rendered like compiler errors: message, file:line:column, YAML path, help.

use std::fmt;

/// One problem in the spec, pointing at the file and YAML path where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    /// File as shown to the author, relative to the repository root (`spec/pingpp/charges.yaml`).
    pub file: String,
    /// YAML path of the offending node (`tools[0].params[3].type`); empty for the whole file.
    pub path: String,
    /// 1-based line and column, when known.
    pub location: Option<(usize, usize)>,
    /// A hint that fixes the problem (`did you mean `integer`?`).
    pub help: Option<String>,
    /// Extra context (`first defined at …`).
    pub note: Option<String>,
}

impl Diagnostic {
    /// An error at `path` of `file`; the location is filled in later by the loader.
    pub fn new(file: &str, path: &YamlPath, message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            file: file.to_owned(),
            path: path.to_string(),
            location: None,
            help: None,
            note: None,
        }
    }

    /// Adds a help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a help line "did you mean `x`?" when a candidate is close to `wrong`.
    pub fn did_you_mean<'a>(
        mut self,
        wrong: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        if let Some(best) = closest(wrong, candidates) {
            self.help = Some(format!("did you mean `{best}`?"));
        }
        self
    }

    /// Adds a note line.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    fn sort_key(&self) -> (&str, (usize, usize), &str, &str) {
        (
            &self.file,
            self.location.unwrap_or((usize::MAX, 0)),
            &self.path,
            &self.message,
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        write!(f, "  --> {}", self.file)?;
        if let Some((line, column)) = self.location {
            write!(f, ":{line}:{column}")?;
        }
        if !self.path.is_empty() {
            write!(f, " ({})", self.path)?;
        }
        writeln!(f)?;
        if let Some(note) = &self.note {
            writeln!(f, "  = note: {note}")?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found in a spec; codegen writes nothing when this is non-empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Sorts by file, then position, then path, and drops exact duplicates.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.0.dedup();
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        match self.0.len() {
            1 => write!(f, "error: aborting due to 1 previous error"),
            n => write!(f, "error: aborting due to {n} previous errors"),
        }
    }
}

impl std::error::Error for Diagnostics {}

/// One step of a YAML path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path into a YAML document, displayed as `tools[0].params[3].type`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YamlPath(pub Vec<Seg>);

impl YamlPath {
    /// The document root.
    pub fn root() -> Self {
        YamlPath(Vec::new())
    }

    /// This path plus a mapping key.
    pub fn key(&self, key: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(key.to_owned()));
        YamlPath(v)
    }

    /// This path plus a sequence index.
    pub fn index(&self, index: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(index));
        YamlPath(v)
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Levenshtein distance between two strings, by characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `wrong`, if it is close enough to be a plausible typo.
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (wrong.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(wrong, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(edit_distance("intger", "integer"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn closest_ignores_far_candidates() {
        assert_eq!(closest("typ", ["type", "title"]), Some("type"));
        assert_eq!(closest("zzz", ["type", "title"]), None);
    }

    #[test]
    fn path_displays_like_yaml_selectors() {
        let p = YamlPath::root()
            .key("tools")
            .index(0)
            .key("params")
            .index(3)
            .key("type");
        assert_eq!(p.to_string(), "tools[0].params[3].type");
    }
}
