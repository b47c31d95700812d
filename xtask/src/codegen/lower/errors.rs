//! Each provider's error catalogue (`errors:` in its provider file): entries expanded into one
//! rule per matched value, in order; the fields a match may use for the provider's protocol;
//! the placeholders and names its advice may use; an order in which every entry can apply and
//! the last one matches every error; and every tool's `reference_conflict` code in it.

use std::collections::{BTreeMap, BTreeSet};

use super::super::diag::{YamlPath, closest};
use super::super::load::{Loaded, folder_of};
use super::super::model::{
    ErrorMatch, ErrorRule, Model, PLACEHOLDERS, Protocol, is_snake, placeholders_of,
};
use super::super::spec::{ErrorSpec, MatchSpec, OneOrMany};
use super::pagination::pagination_params;
use super::tool::Seen;
use super::{Ctx, Failed, set};

/// Lowers the catalogue of every provider into `model.providers[..].errors`.
pub(super) fn lower_catalogues(
    files: &[Loaded],
    folders: &BTreeMap<String, String>,
    seen: &Seen,
    failed: &Failed,
    model: &mut Model,
    errors: &mut Vec<super::Diagnostic>,
) {
    for l in files {
        let folder = folder_of(&l.source.path);
        let Some(p) = &l.spec.provider else { continue };
        if folders.get(&folder) != Some(&p.name) {
            continue;
        }
        let Some(provider) = model.providers.get_mut(&p.name) else {
            continue;
        };
        let mut ctx = Ctx {
            src: &l.source,
            errors,
        };
        let entries_broke = failed.errors.contains(&folder);
        let Some(entries) = &l.spec.errors else {
            let d = ctx.error(
                &YamlPath::root().key("provider"),
                format!("provider `{}` has no `errors` catalogue", p.name),
            );
            set(
                d,
                "add `errors:`, a list of entries (`when`, `outcome`, `retry`, `next_step`); the last one, without `when`, applies to every other error",
            );
            continue;
        };
        let folder_tools = seen.by_folder.get(&folder).cloned().unwrap_or_default();
        let vocabulary = vocabulary(files, &folder, &folder_tools);
        // Names are unsure only where a tool or object did not load at all: one that loaded but
        // has an error still declares its names.
        let names_unsure = files
            .iter()
            .filter(|f| folder_of(&f.source.path) == folder)
            .any(|f| {
                let b = &f.broken;
                b.unreadable || b.unnamed_tool || !b.tools.is_empty() || !b.objects.is_empty()
            });
        let catalogue = Catalogue {
            protocol: provider.protocol,
            vocabulary: &vocabulary,
            names_unsure,
            provider: &p.name,
        };
        let rules = catalogue.lower(&mut ctx, entries, entries_broke);
        provider.errors = rules;
        if !entries_broke {
            check_reference_conflicts(files, &folder, &provider.errors, errors);
        }
    }
}

/// Every name the advice of a provider may mention: its tools, their arguments and result
/// fields, and the fields of its objects.
fn vocabulary(files: &[Loaded], folder: &str, tools: &BTreeSet<String>) -> BTreeSet<String> {
    let mut words: BTreeSet<String> = tools.clone();
    for l in files.iter().filter(|l| folder_of(&l.source.path) == folder) {
        for o in l.spec.objects.iter().flat_map(|m| m.values()) {
            words.extend(o.fields.keys().cloned());
        }
        for (_, t) in l.spec.tools.iter().flatten() {
            words.insert(t.name.clone());
            words.extend(t.params.iter().map(|p| p.name.clone()));
            words.extend(pagination_params(t.pagination).into_iter().map(|p| p.name));
            if let Some(fields) = &t.response.fields {
                words.extend(fields.keys().cloned());
            }
        }
    }
    words
}

/// A tool's `reference_conflict` that is a code (no spaces) must be the `code` or `sub_code` of
/// an entry, so that the advice for it is written down.
fn check_reference_conflicts(
    files: &[Loaded],
    folder: &str,
    rules: &[ErrorRule],
    errors: &mut Vec<super::Diagnostic>,
) {
    let codes: BTreeSet<&str> = rules
        .iter()
        .flat_map(|r| [r.when.code.as_deref(), r.when.sub_code.as_deref()])
        .flatten()
        .collect();
    for l in files.iter().filter(|l| folder_of(&l.source.path) == folder) {
        let mut ctx = Ctx {
            src: &l.source,
            errors: &mut *errors,
        };
        for (i, t) in l.spec.tools.iter().flatten() {
            let Some(rc) = &t.reference_conflict else {
                continue;
            };
            let is_code = !rc.is_empty() && !rc.contains(char::is_whitespace);
            if is_code && !codes.contains(rc.as_str()) {
                let d = ctx.error(
                    &YamlPath::root()
                        .key("tools")
                        .index(*i)
                        .key("reference_conflict"),
                    format!("reference_conflict `{rc}` has no entry in the provider's `errors` catalogue"),
                );
                set(
                    d,
                    format!(
                        "add an entry `when: {{ sub_code: {rc} }}` whose next_step says what to do about a reused reference"
                    ),
                );
            }
        }
    }
}

/// Lowers the entries of one catalogue.
struct Catalogue<'a> {
    protocol: Protocol,
    vocabulary: &'a BTreeSet<String>,
    /// Some names of the provider are unknown (a tool or object did not load): do not report
    /// unknown words in advice.
    names_unsure: bool,
    provider: &'a str,
}

impl Catalogue<'_> {
    fn lower(
        &self,
        ctx: &mut Ctx<'_>,
        entries: &[(usize, ErrorSpec)],
        entries_broke: bool,
    ) -> Vec<ErrorRule> {
        let path = YamlPath::root().key("errors");
        if entries.is_empty() && !entries_broke {
            ctx.error(&path, "the `errors` catalogue needs at least one entry");
            return Vec::new();
        }
        let mut rules = Vec::new();
        // Each entry's index, matches and placeholders, for the order checks.
        let mut lowered: Vec<Entry> = Vec::new();
        for (i, e) in entries {
            let epath = path.index(*i);
            let placeholders = self.next_step(ctx, &e.next_step, &epath.key("next_step"));
            let matches = self.matches(ctx, e, &epath);
            for m in &matches {
                rules.push(ErrorRule {
                    when: m.clone(),
                    outcome: e.outcome,
                    retry: e.retry,
                    next_step: e.next_step.trim().to_owned(),
                });
            }
            lowered.push(Entry {
                index: *i,
                matches,
                placeholders,
            });
        }
        if !entries_broke {
            check_order(ctx, &lowered, &path);
        }
        rules
    }

    /// The placeholders the advice uses; reports unknown ones and unknown names.
    fn next_step(&self, ctx: &mut Ctx<'_>, text: &str, path: &YamlPath) -> BTreeSet<String> {
        if text.trim().is_empty() {
            ctx.error(path, "`next_step` must not be empty");
        }
        let mut used = BTreeSet::new();
        match placeholders_of(text) {
            Err(why) => {
                let d = ctx.error(path, format!("next_step has {why}"));
                set(
                    d,
                    "placeholders are `{query_tool}`, `{reference}` and `{param}`",
                );
            }
            Ok(names) => {
                for n in names {
                    if PLACEHOLDERS.contains(&n.as_str()) {
                        used.insert(n);
                    } else {
                        ctx.unknown(
                            path,
                            format!("`{{{n}}}` is not a placeholder the runtime fills"),
                            &n,
                            PLACEHOLDERS,
                        );
                    }
                }
            }
        }
        if !self.names_unsure {
            for word in names_in(text) {
                if !self.vocabulary.contains(word) {
                    let d = ctx.error(
                        path,
                        format!(
                            "`{word}` in next_step is not a tool, argument or result field of provider `{}`",
                            self.provider
                        ),
                    );
                    match closest(word, self.vocabulary.iter().map(String::as_str)) {
                        Some(best) => set(d, format!("did you mean `{best}`?")),
                        None => set(
                            d,
                            "advice may name only what the spec declares, so that a rename cannot leave it stale",
                        ),
                    }
                }
            }
        }
        used
    }

    /// The matches of an entry: one per alternative of `when` and per listed value.
    fn matches(&self, ctx: &mut Ctx<'_>, e: &ErrorSpec, path: &YamlPath) -> Vec<ErrorMatch> {
        let alternatives: Vec<(YamlPath, &MatchSpec)> = match &e.when {
            None => {
                return vec![ErrorMatch {
                    reads: e.reads,
                    ..ErrorMatch::default()
                }];
            }
            Some(super::super::spec::OneOrList::One(m)) => vec![(path.key("when"), m)],
            Some(super::super::spec::OneOrList::List(list)) => {
                if list.is_empty() {
                    ctx.error(&path.key("when"), "list at least one match, or omit `when`");
                }
                list.iter()
                    .enumerate()
                    .map(|(k, m)| (path.key("when").index(k), m))
                    .collect()
            }
        };
        let mut out = Vec::new();
        for (wpath, m) in alternatives {
            out.extend(self.alternative(ctx, m, e.reads, &wpath));
        }
        out
    }

    /// One alternative of `when`, expanded over its listed values.
    fn alternative(
        &self,
        ctx: &mut Ctx<'_>,
        m: &MatchSpec,
        reads: Option<bool>,
        path: &YamlPath,
    ) -> Vec<ErrorMatch> {
        let rest = self.protocol == Protocol::RestJson;
        let misplaced = [
            (
                "http_status",
                m.http_status.is_some() && !rest,
                "an Alipay error has no HTTP status (the gateway answers 200)",
            ),
            (
                "error_type",
                m.error_type.is_some() && !rest,
                "`error_type` is Ping++'s `error.type`",
            ),
            (
                "code",
                m.code.is_some() && rest,
                "a Ping++ error has no `code`; `sub_code` matches its `error.code`",
            ),
        ];
        for (key, wrong, why) in misplaced {
            if wrong {
                let d = ctx.error(
                    &path.key(key),
                    format!("`{key}` does not apply to provider `{}`", self.provider),
                );
                set(d, why);
            }
        }
        let http_status = m.http_status.map(|s| (s.0, s.1));
        if let Some((low, high)) = http_status
            && !(100 <= low && low <= high && high <= 599)
        {
            ctx.error(
                &path.key("http_status"),
                format!("[{low}, {high}] is not an HTTP status range within 100-599"),
            );
        }
        if let Some(words) = &m.message_contains
            && (words.is_empty() || words.iter().any(|w| w.is_empty()))
        {
            ctx.error(
                &path.key("message_contains"),
                "list the non-empty texts the message may contain",
            );
        }
        let values = |ctx: &mut Ctx<'_>, key: &str, v: &Option<OneOrMany>| -> Vec<Option<String>> {
            match v {
                None => vec![None],
                Some(v) => {
                    let names = v.names();
                    if names.is_empty() {
                        ctx.error(&path.key(key), "list at least one value");
                    }
                    names.into_iter().map(|s| Some(s.to_owned())).collect()
                }
            }
        };
        let error_types = values(ctx, "error_type", &m.error_type);
        let codes = values(ctx, "code", &m.code);
        let sub_codes = values(ctx, "sub_code", &m.sub_code);
        for (k, s) in sub_codes.iter().flatten().enumerate() {
            let stars = s.matches('*').count();
            let shape_ok = stars == 0
                || (stars == 1 && (s.starts_with('*') || s.ends_with('*')) && s.len() > 1);
            if !shape_ok {
                let at = match &m.sub_code {
                    Some(OneOrMany::Many(_)) => path.key("sub_code").index(k),
                    _ => path.key("sub_code"),
                };
                let d = ctx.error(&at, format!("`{s}` is not a sub_code pattern"));
                set(
                    d,
                    "one `*` at the start or the end matches any prefix or suffix, e.g. `*_PROCESSING`",
                );
            }
        }
        let mut out = Vec::new();
        for error_type in &error_types {
            for code in &codes {
                for sub_code in &sub_codes {
                    out.push(ErrorMatch {
                        http_status,
                        error_type: error_type.clone(),
                        code: code.clone(),
                        sub_code: sub_code.clone(),
                        message_contains: m.message_contains.clone().unwrap_or_default(),
                        reads,
                    });
                }
            }
        }
        out
    }
}

/// One lowered entry, for the order checks.
struct Entry {
    /// Index in the file's `errors` list.
    index: usize,
    matches: Vec<ErrorMatch>,
    placeholders: BTreeSet<String>,
}

impl Entry {
    /// Applies to every error whatever the call: no conditions, no placeholder to fill.
    fn always(&self) -> bool {
        self.placeholders.is_empty() && self.matches.iter().any(ErrorMatch::is_catch_all)
    }
}

/// Every entry can apply: only the last matches every error whatever the call (no conditions,
/// no placeholder to fill), and no entry repeats an earlier one's match with advice that
/// applies at least as often.
fn check_order(ctx: &mut Ctx<'_>, entries: &[Entry], path: &YamlPath) {
    let last = entries.len().saturating_sub(1);
    for (k, e) in entries.iter().enumerate() {
        if k < last && e.always() {
            let d = ctx.error(
                &path.index(e.index),
                "this entry matches every error, so the entries after it never apply",
            );
            set(
                d,
                "move it to the end: the first entry that matches applies",
            );
            continue;
        }
        let shadowing = entries[..k].iter().find(|earlier| {
            !e.matches.is_empty()
                && e.matches.iter().all(|m| earlier.matches.contains(m))
                && earlier.placeholders.is_subset(&e.placeholders)
        });
        if let Some(earlier) = shadowing {
            let d = ctx.error(
                &path.index(e.index),
                format!(
                    "this entry never applies: entry {} matches the same errors first",
                    earlier.index
                ),
            );
            set(d, "merge the two, or make the earlier one narrower");
        }
    }
    if let Some(e) = entries.last()
        && !e.always()
    {
        let d = ctx.error(
            &path.index(e.index),
            "the last entry of the catalogue must apply to every error",
        );
        set(
            d,
            "give it no `when` and no `reads`, and no placeholder in its next_step: it is the advice for any error the entries above do not describe",
        );
    }
}

/// The snake_case names (words with `_`) of a text: the words that look like tool, argument or
/// field names. Codes (`ACQ.TRADE_NOT_EXIST`, `isp.bill_not_exist`), placeholders and settings
/// (`ALIPAY_APP_ID`) are not names.
fn names_in(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || "()[],;:!?\"'`/".contains(c))
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| w.contains('_') && is_snake(w))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::names_in;

    #[test]
    fn names_are_snake_case_words_with_underscores() {
        assert_eq!(
            names_in(
                "Call query_trade first (retry with `{reference}`); isp.bill_not_exist, ALIPAY_APP_ID, sub_code."
            ),
            ["query_trade", "sub_code"]
        );
    }
}
