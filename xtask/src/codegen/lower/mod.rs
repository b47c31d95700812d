//! Semantic checks over loaded spec files and lowering into `Model`, reporting every independent
//! error once.
//!
//! The stages run in order: providers (with their tables, objects and methods), tools (each on
//! its own), references between tools, and the error catalogues (which name tools and fields).
//! `Failed` records what did not load or lower; a check whose subject is in it stays silent, so
//! a mistake is reported where it is and not again wherever something refers to it.

mod aliases;
mod cross_tool;
mod errors;
mod objects;
mod operation;
mod pagination;
mod params;
mod provider;
mod references;
mod rules;
mod tool;

use std::collections::{BTreeMap, BTreeSet};

use super::diag::{Diagnostic, YamlPath, closest};
use super::load::{self, Loaded, Source, folder_of};
use super::model::Model;

/// Where diagnostics for one file go.
struct Ctx<'a> {
    src: &'a Source,
    errors: &'a mut Vec<Diagnostic>,
}

impl Ctx<'_> {
    /// Records an error at `path`, located at the nearest existing ancestor node.
    fn error(&mut self, path: &YamlPath, message: impl Into<String>) -> &mut Diagnostic {
        let mut d = Diagnostic::new(&self.src.path, path, message);
        d.location = load::locate_nearest(&self.src.text, path);
        self.errors.push(d);
        self.errors.last_mut().expect("just pushed")
    }

    /// Records an error with a did-you-mean help from `candidates`.
    fn unknown<'c>(
        &mut self,
        path: &YamlPath,
        message: impl Into<String>,
        wrong: &str,
        candidates: impl IntoIterator<Item = &'c str> + Clone,
    ) {
        let d = self.error(path, message);
        if let Some(best) = closest(wrong, candidates.clone()) {
            d.help = Some(format!("did you mean `{best}`?"));
        } else {
            let all: Vec<&str> = candidates.into_iter().collect();
            if !all.is_empty() {
                d.help = Some(format!("expected one of: {}", all.join(", ")));
            }
        }
    }

    /// The number of errors so far (to tell whether a step added any).
    fn count(&self) -> usize {
        self.errors.len()
    }
}

fn set(d: &mut Diagnostic, help: impl Into<String>) {
    d.help = Some(help.into());
}

/// What did not load or lower, by spec folder: references to these stay silent.
#[derive(Debug, Default)]
struct Failed {
    /// Folders where some tool names are unknown (a file that is not YAML, a tool without a
    /// readable name): a reference to a tool that does not exist may be to one of those.
    unknown_tools: BTreeSet<String>,
    /// Folders whose provider block did not load.
    providers: BTreeSet<String>,
    /// Tools that did not load or lower.
    tools: BTreeSet<String>,
    /// Objects that did not load or lower, by folder.
    objects: BTreeMap<String, BTreeSet<String>>,
    /// Folders whose method list or error catalogue did not fully load.
    methods: BTreeSet<String>,
    errors: BTreeSet<String>,
}

impl Failed {
    fn from_loaded(files: &[Loaded]) -> Failed {
        let mut f = Failed::default();
        for l in files {
            let folder = folder_of(&l.source.path);
            let b = &l.broken;
            if b.unreadable || b.unnamed_tool {
                f.unknown_tools.insert(folder.clone());
            }
            if b.unreadable || b.provider {
                f.providers.insert(folder.clone());
            }
            f.tools.extend(b.tools.iter().cloned());
            f.objects
                .entry(folder.clone())
                .or_default()
                .extend(b.objects.iter().cloned());
            for (broke, set) in [(b.methods, &mut f.methods), (b.errors, &mut f.errors)] {
                if broke {
                    set.insert(folder.clone());
                }
            }
        }
        f
    }

    /// Whether object `name` of `folder` failed (so a reference to it is not news).
    fn object(&self, folder: &str, name: &str) -> bool {
        self.objects.get(folder).is_some_and(|s| s.contains(name))
    }
}

/// Validates every loaded file and lowers them into one model, or returns every error found.
pub fn lower(files: &[Loaded]) -> Result<Model, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut failed = Failed::from_loaded(files);
    let mut model = Model::default();
    let folders = provider::lower_providers(files, &mut errors, &mut failed, &mut model);
    let refs = tool::lower_tools(files, &folders, &mut errors, &mut failed, &mut model);
    cross_tool::check(files, &refs, &failed, &model, &mut errors);
    for (source, message) in aliases::check_unique(&model.tools) {
        errors.push(Diagnostic::new(
            &source,
            &YamlPath::root().key("tools"),
            message,
        ));
    }
    errors::lower_catalogues(files, &folders, &refs, &failed, &mut model, &mut errors);
    if errors.is_empty() {
        let lost: Vec<&String> = refs
            .names
            .keys()
            .filter(|n| !model.tools.contains_key(*n))
            .collect();
        assert!(
            lost.is_empty(),
            "generator bug: tools {lost:?} failed to lower without an error"
        );
        Ok(model)
    } else {
        Err(errors)
    }
}
