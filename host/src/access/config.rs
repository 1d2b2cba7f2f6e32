//! The `serve` flags of `access`: the most any connection may do, and how a token's scopes
//! are read.

use clap::Args;
use quilt_mcp_policy::tools::{Permission, TOOLS, Toolset};

/// What any connection may do at most, and which scopes grant what (the table is
/// [`scope_table`], shown by `serve --help`).
#[derive(Debug, Clone, Args)]
pub struct AccessConfig {
    /// Offer only tools that read: no connection, scope or header can list or call a writer,
    /// and web-identity credentials carry a read-only session policy.
    #[arg(long, env = "QUILT_MCP_READ_ONLY", default_value_t = false)]
    pub read_only: bool,

    /// Toolsets offered (comma list of objects, packages, search, sql); connections may narrow
    /// this further with `X-MCP-Toolsets` or `/mcp/x/{toolset}`. Default: all.
    #[arg(long, env = "QUILT_MCP_TOOLSETS", value_delimiter = ',')]
    pub toolsets: Vec<Toolset>,

    /// Offer only these tools (comma list of names), within --toolsets. Default: all.
    #[arg(long, env = "QUILT_MCP_TOOLS", value_delimiter = ',')]
    pub tools: Vec<String>,

    /// Never offer these tools (comma list of names).
    #[arg(long, env = "QUILT_MCP_EXCLUDE_TOOLS", value_delimiter = ',')]
    pub exclude_tools: Vec<String>,

    /// The token claim that lists its scopes: a space-separated string (`scope`, RFC 9068) or
    /// an array of strings (`scp`, as Entra ID and Okta issue it).
    #[arg(long, env = "QUILT_MCP_SCOPE_CLAIM", default_value = "scope")]
    pub scope_claim: String,

    /// The scope that grants reading.
    #[arg(long, env = "QUILT_MCP_READ_SCOPE", default_value = DEFAULT_SCOPES[0])]
    pub read_scope: String,

    /// The scope that grants writing (objects, new package revisions).
    #[arg(long, env = "QUILT_MCP_WRITE_SCOPE", default_value = DEFAULT_SCOPES[1])]
    pub write_scope: String,

    /// The scope that grants deleting (packages and revisions).
    #[arg(long, env = "QUILT_MCP_DELETE_SCOPE", default_value = DEFAULT_SCOPES[2])]
    pub delete_scope: String,

    /// What a token from an external identity provider may do when it names none of the
    /// three scopes above — no such claim, only the provider's own scopes (`openid email`),
    /// or names spelt otherwise (comma list of read, write, delete; an empty value grants
    /// nothing but auth_status). Read-only by default: to write, have the provider issue the
    /// write scope, or widen this for a provider that issues no scopes. Tokens the sign-in
    /// bridge issues always name their scopes.
    #[arg(
        long,
        env = "QUILT_MCP_UNSCOPED_PERMISSIONS",
        value_delimiter = ',',
        default_value = "read"
    )]
    pub unscoped_permissions: Vec<UnscopedPermission>,
}

/// The default scope names of [`Permission::ALL`], in that order.
const DEFAULT_SCOPES: [&str; 3] = ["quilt:read", "quilt:write", "quilt:delete"];

/// The scope table as `serve --help` ends with it, from the table the host enforces.
pub fn scope_table() -> String {
    let mut text = String::from(
        "Scopes (their default names; --read-scope, --write-scope and --delete-scope rename them):\n",
    );
    let named = Permission::ALL
        .into_iter()
        .zip(DEFAULT_SCOPES)
        .map(|(permission, scope)| (scope, Some(permission)));
    for (scope, permission) in named.chain([("(none)", None)]) {
        let tools: Vec<&str> = TOOLS
            .iter()
            .filter(|rule| rule.needs == permission)
            .map(|rule| rule.name)
            .collect();
        text.push_str(&format!("  {scope:<13} {}\n", tools.join(", ")));
    }
    text.push_str(
        "A connection narrows what it is offered with /mcp/readonly, /mcp/x/{toolset,...}, /mcp/b/{bucket}\n\
         or the X-MCP-Readonly, X-MCP-Toolsets and X-MCP-Tools headers; nothing widens past these flags.",
    );
    text
}

/// A permission, or nothing (so `--unscoped-permissions ''` can grant none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnscopedPermission(pub Option<Permission>);

impl std::str::FromStr for UnscopedPermission {
    type Err = quilt_mcp_policy::tools::Unknown;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim() {
            "" => Ok(Self(None)),
            name => name.parse().map(|permission| Self(Some(permission))),
        }
    }
}

#[cfg(test)]
mod tests {
    use quilt_mcp_policy::tools::{Permission, Toolset};

    use super::UnscopedPermission;
    use crate::cli::parse_serve;

    #[test]
    fn defaults_offer_everything_under_the_quilt_scopes() {
        let config = parse_serve(&[]).unwrap().access;
        assert!(!config.read_only);
        assert!(config.toolsets.is_empty() && config.tools.is_empty());
        assert_eq!(
            [config.read_scope, config.write_scope, config.delete_scope],
            ["quilt:read", "quilt:write", "quilt:delete"]
        );
        assert_eq!(
            config.unscoped_permissions,
            [UnscopedPermission(Some(Permission::Read))]
        );
    }

    #[test]
    fn help_ends_with_the_scope_table() {
        let table = super::scope_table();
        assert!(
            table.contains("quilt:write   bucket_objects_put, package_create, package_update"),
            "{table}"
        );
        assert!(table.contains("quilt:delete  package_delete"), "{table}");
        assert!(table.contains("(none)        auth_status"), "{table}");
    }

    #[test]
    fn toolsets_and_permissions_are_known_names() {
        let config = parse_serve(&["--toolsets", "objects,search"])
            .unwrap()
            .access;
        assert_eq!(config.toolsets, [Toolset::Objects, Toolset::Search]);
        let refused = parse_serve(&["--toolsets", "athena"])
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("the toolsets are objects, packages, search, sql"),
            "{refused}"
        );
        let none = parse_serve(&["--unscoped-permissions", ""]).unwrap().access;
        assert_eq!(none.unscoped_permissions, [UnscopedPermission(None)]);
        assert!(parse_serve(&["--unscoped-permissions", "admin"]).is_err());
    }
}
