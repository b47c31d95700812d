//! MCP prompts: a prompt is a short plan for the model that names the tools to call, in order,
//! under the names this server lists. The prompts themselves (which tools, which workflow) are
//! product data the binary hands over (`src/prompts.rs`), like the tool table; this module lists,
//! describes and renders them.

use rmcp::model::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};
use serde_json::{Map, Value};

/// One prompt: its arguments and the plan it renders.
pub struct PromptDef {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// `(name, description, required)`.
    pub args: &'static [(&'static str, &'static str, bool)],
    /// The tools the plan names; the prompt is offered when any of them is listed.
    pub tools: &'static [&'static str],
    /// The plan, with `{tool_name}` for each tool (replaced by its listed name) and `<arg>` for
    /// each argument (replaced by its value, or by what to do without it).
    pub template: &'static str,
}

/// The prompts of `all` whose tools `listed` (our name → listed name) offers.
pub fn offered<'a>(
    all: &'static [PromptDef],
    listed: &'a impl Fn(&str) -> Option<String>,
) -> impl Iterator<Item = &'static PromptDef> + 'a {
    all.iter()
        .filter(move |p| p.tools.iter().any(|t| listed(t).is_some()))
}

/// The MCP description of a prompt.
pub fn mcp_prompt(p: &PromptDef) -> Prompt {
    let args = p
        .args
        .iter()
        .map(|(name, description, required)| {
            PromptArgument::new(*name)
                .with_description(*description)
                .with_required(*required)
        })
        .collect();
    Prompt::new(p.name, Some(p.description), Some(args)).with_title(p.title)
}

/// The prompt's plan for `args`; `Err` names a missing required argument.
pub fn render(
    p: &PromptDef,
    args: &Map<String, Value>,
    listed: &impl Fn(&str) -> Option<String>,
) -> Result<GetPromptResult, String> {
    let mut text = p.template.to_string();
    for (name, _, required) in p.args {
        let value = args
            .get(*name)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .filter(|v| !v.trim().is_empty());
        let shown = match (value, *required) {
            (Some(v), _) => v,
            (None, true) => return Err(format!("the prompt needs `{name}`")),
            (None, false) => default_text(name).to_string(),
        };
        text = text.replace(&format!("<{name}>"), &shown);
    }
    for tool in p.tools {
        let shown = listed(tool).unwrap_or_else(|| format!("{tool} (not offered here)"));
        text = text.replace(&format!("{{{tool}}}"), &format!("`{shown}`"));
    }
    Ok(
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description(p.description),
    )
}

fn default_text(arg: &str) -> &'static str {
    match arg {
        "date" => "yesterday",
        "amount" => "(the whole remaining amount)",
        _ => "(not given)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static PLAN: PromptDef = PromptDef {
        name: "close",
        title: "Close",
        description: "Close a day.",
        args: &[("day", "The day.", true), ("note", "A note.", false)],
        tools: &["list_things", "get_thing"],
        template: "Close <day> with {list_things}, then {get_thing}; note: <note>.",
    };

    #[test]
    fn fills_arguments_and_listed_names() {
        let listed = |t: &str| (t == "list_things").then(|| format!("p_{t}"));
        let mut args = Map::new();
        args.insert("day".into(), Value::String("2026-11-30".into()));
        let result = render(&PLAN, &args, &listed).unwrap();
        let text = serde_json::to_string(&result.messages).unwrap();
        assert!(
            text.contains("Close 2026-11-30 with `p_list_things`, then `get_thing (not offered here)`; note: (not given)."),
            "{text}"
        );
        assert_eq!(offered(std::slice::from_ref(&PLAN), &listed).count(), 1);
        assert_eq!(
            offered(std::slice::from_ref(&PLAN), &|_: &str| None).count(),
            0
        );
    }

    #[test]
    fn a_missing_required_argument_is_named() {
        let err = render(&PLAN, &Map::new(), &|t: &str| Some(t.to_string())).unwrap_err();
        assert!(err.contains("day"), "{err}");
    }
}
