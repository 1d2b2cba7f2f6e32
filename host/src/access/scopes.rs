//! The scope strings that grant each permission, and reading them from a token.

use anyhow::bail;
use quilt_mcp_policy::tools::Permission;
use serde_json::Value;

use super::Permissions;

/// The scope string of each permission, in [`Permission::ALL`] order.
#[derive(Debug, Clone)]
pub struct ScopeNames([String; 3]);

impl ScopeNames {
    /// Refuses names a scope list could not carry (RFC 6749 §3.3: printable ASCII, no
    /// space, quote or backslash) and names used twice.
    pub fn new(read: &str, write: &str, delete: &str) -> anyhow::Result<Self> {
        let names = [read, write, delete];
        for (name, flag) in names
            .iter()
            .zip(["--read-scope", "--write-scope", "--delete-scope"])
        {
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
            if !token {
                bail!(
                    "{flag} {name:?} is not a scope: printable ASCII without spaces, quotes or backslashes"
                );
            }
        }
        if names[0] == names[1] || names[1] == names[2] || names[0] == names[2] {
            bail!(
                "--read-scope, --write-scope and --delete-scope must differ, or a token could not say which it grants"
            );
        }
        Ok(Self(names.map(str::to_owned)))
    }

    pub fn name(&self, permission: Permission) -> &str {
        &self.0[permission as usize]
    }

    /// The scope strings of `permissions`, from least to most.
    pub fn of(&self, permissions: Permissions) -> Vec<&str> {
        permissions.iter().map(|p| self.name(p)).collect()
    }

    /// The permission a scope string grants, if it is one of ours.
    pub fn permission(&self, scope: &str) -> Option<Permission> {
        Permission::ALL
            .into_iter()
            .find(|permission| self.name(*permission) == scope)
    }

    /// The permissions a scope claim (a space-separated string, or an array of strings)
    /// names: exact strings only; other scopes, and a claim of another shape, grant nothing.
    pub fn read(&self, claim: &Value) -> Permissions {
        match claim {
            Value::String(list) => list.split(' ').filter_map(|s| self.permission(s)).collect(),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|s| self.permission(s))
                .collect(),
            _ => Permissions::none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use quilt_mcp_policy::tools::Permission;
    use serde_json::json;

    use super::ScopeNames;

    fn quilt() -> ScopeNames {
        ScopeNames::new("quilt:read", "quilt:write", "quilt:delete").unwrap()
    }

    #[test]
    fn reads_string_and_array_claims_ignoring_foreign_scopes() {
        let names = quilt();
        let read = names.read(&json!("openid quilt:read email"));
        assert_eq!(read.iter().collect::<Vec<_>>(), [Permission::Read]);
        let both = names.read(&json!(["quilt:write", "quilt:delete", 7]));
        assert_eq!(
            both.iter().collect::<Vec<_>>(),
            [Permission::Write, Permission::Delete]
        );
        for nothing in [
            json!("openid profile"),
            json!({"quilt:read": true}),
            json!("QUILT:READ quilt:read2"),
            json!(null),
        ] {
            assert!(names.read(&nothing).is_empty(), "{nothing}");
        }
    }

    #[test]
    fn scope_names_must_be_distinct_scope_tokens() {
        assert!(ScopeNames::new("api://x/read", "w", "d").is_ok());
        for (read, write, delete) in [
            ("a b", "w", "d"),
            ("", "w", "d"),
            ("r\"", "w", "d"),
            ("r", "r", "d"),
        ] {
            assert!(
                ScopeNames::new(read, write, delete).is_err(),
                "{read:?} {write:?} {delete:?}"
            );
        }
    }
}
