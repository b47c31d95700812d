//! Masking secrets in text that came back from a gateway (error messages can echo the signed
//! request, tokens included) before it reaches a tool result, a log line or the audit log.

/// Shortest value masked by [`scrub`]: shorter strings are too common to be told from text.
pub const MIN_SECRET_CHARS: usize = 6;

/// Replaces every occurrence of a known secret value with `***`, and the value of every
/// `name=value` pair whose name is in `names` (the provider's `secret_fields` in the spec; the
/// value ends at `&`, whitespace, a quote or the end) with `***`.
pub fn scrub(text: &str, secrets: &[&str], names: &[&str]) -> String {
    let mut out = text.to_string();
    let mut secrets: Vec<&str> = secrets
        .iter()
        .copied()
        .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
        .collect();
    // Longest first, so a secret that contains another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        if out.contains(secret) {
            out = out.replace(secret, "***");
        }
    }
    mask_params(&out, names)
}

/// Masks the values of `name=value` pairs whose name is in `names`.
fn mask_params(text: &str, names: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let (before, after) = rest.split_at(eq);
        let name_start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let name = &before[name_start..];
        out.push_str(before);
        out.push('=');
        let after = &after[1..];
        if names.contains(&name) {
            let end = after
                .find(|c: char| c == '&' || c.is_whitespace() || c == '"' || c == '\'')
                .unwrap_or(after.len());
            if end > 0 && &after[..end] != "***" {
                out.push_str("***");
            } else {
                out.push_str(&after[..end]);
            }
            rest = &after[end..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &["app_auth_token", "auth_code", "sign"];

    #[test]
    fn masks_known_values_and_secret_params() {
        let echoed = "验签出错，验签字符串为：app_auth_token=202611BBxyz&app_id=2021&auth_code=28763443825664394&biz_content={\"auth_code\":\"28763443825664394\"}&sign_type=RSA2";
        let out = scrub(echoed, &["28763443825664394", "202611BBxyz"], NAMES);
        assert!(!out.contains("28763443825664394"), "{out}");
        assert!(!out.contains("202611BBxyz"), "{out}");
        assert!(out.contains("app_id=2021"), "{out}");
        assert!(out.contains("sign_type=RSA2"), "{out}");
        // An unknown token is still masked by its parameter name.
        let out = scrub("x app_auth_token=SECRETVALUE1&y=1", &[], NAMES);
        assert_eq!(out, "x app_auth_token=***&y=1");
        // Short and empty secrets do not mask ordinary text.
        assert_eq!(scrub("code 40004", &["", "40"], NAMES), "code 40004");
        // A name the provider does not declare is left alone.
        assert_eq!(
            scrub("x other=SECRETVALUE1", &[], NAMES),
            "x other=SECRETVALUE1"
        );
    }
}
