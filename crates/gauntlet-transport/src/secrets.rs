//! Secrets from the environment: `${NAME}` in a header value (or URL) is replaced by the
//! variable's value when a transport is built, and the value is kept out of everything
//! gauntlet prints or records.

use crate::error::{Result, TransportError};

/// Replaces every `${NAME}` in `template` with `lookup(NAME)`. Returns the expanded text and
/// the values that were inserted. `what` names the setting in error messages ("header
/// 'Authorization'"); errors never contain a value.
///
/// `NAME` is letters, digits and `_`, not starting with a digit. A `$` not followed by `{` is
/// kept as it is.
pub(crate) fn expand(
    template: &str,
    what: &str,
    lookup: impl Fn(&str) -> std::result::Result<String, std::env::VarError>,
) -> Result<(String, Vec<String>)> {
    let mut out = String::with_capacity(template.len());
    let mut inserted = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| {
            TransportError::Settings(format!(
                "{what} has a '${{' without a closing '}}'; write environment variables as \
                 ${{NAME}}"
            ))
        })?;
        let name = &after[..end];
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(TransportError::Settings(format!(
                "{what} refers to '${{{name}}}', which is not an environment variable name; use \
                 letters, digits and '_' (e.g. ${{API_TOKEN}})"
            )));
        }
        let value = lookup(name).map_err(|e| {
            TransportError::Settings(match e {
                std::env::VarError::NotPresent => format!(
                    "{what} uses ${{{name}}}, but the environment variable {name} is not set; \
                     export it before running gauntlet (e.g. export {name}=…)"
                ),
                std::env::VarError::NotUnicode(_) => format!(
                    "{what} uses ${{{name}}}, but the environment variable {name} is not valid \
                     UTF-8"
                ),
            })
        })?;
        if value.is_empty() {
            return Err(TransportError::Settings(format!(
                "{what} uses ${{{name}}}, but the environment variable {name} is empty; set it \
                 to the secret the target expects"
            )));
        }
        out.push_str(&value);
        inserted.push(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok((out, inserted))
}

/// Removes known secrets from text before it leaves the transport (error messages, response
/// excerpts that might echo a header).
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    /// Longest first, so a secret containing another is removed whole.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secret(s))", self.secrets.len())
    }
}

impl Redactor {
    pub(crate) fn add(&mut self, secret: &str) {
        if !secret.is_empty() && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for s in &self.secrets {
            if text.contains(s.as_str()) {
                text = text.replace(s.as_str(), "<redacted>");
            }
        }
        text
    }

    pub(crate) fn redact_error(&self, e: TransportError) -> TransportError {
        match e {
            TransportError::Failed(m) => TransportError::Failed(self.redact(&m)),
            TransportError::Settings(m) => TransportError::Settings(self.redact(&m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::env::VarError;

    fn env(name: &str) -> std::result::Result<String, VarError> {
        match name {
            "TOKEN" => Ok("s3cr3t".into()),
            "EMPTY" => Ok(String::new()),
            _ => Err(VarError::NotPresent),
        }
    }

    #[test]
    fn variables_are_expanded_and_errors_name_the_variable() {
        let (v, s) = expand("Bearer ${TOKEN}; cost $5", "header 'A'", env).unwrap();
        assert_eq!(v, "Bearer s3cr3t; cost $5");
        assert_eq!(s, vec!["s3cr3t".to_string()]);
        let e = expand("Bearer ${MISSING_VAR}", "header 'A'", env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("MISSING_VAR is not set") && e.contains("header 'A'"),
            "{e}"
        );
        assert!(expand("${EMPTY}", "h", env)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(expand("${TOKEN", "h", env).is_err());
        assert!(expand("${1X}", "h", env).is_err());
    }

    #[test]
    fn redaction_removes_every_secret() {
        let mut r = Redactor::default();
        r.add("abc");
        r.add("xabcx");
        assert_eq!(r.redact("1 xabcx 2 abc"), "1 <redacted> 2 <redacted>");
    }
}
