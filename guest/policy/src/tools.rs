//! The scope table: what each tool needs to be called, and which toolsets offer it.
//!
//! The host enforces it (a token without the permission gets a 403 scope challenge before
//! any guest runs; a connection narrowed by path, header or flag never lists the tool), and
//! the guest's own test checks that each tool's MCP annotations agree with its row, so the
//! `readOnlyHint` a client shows and the scope the server demands cannot drift apart.

use std::fmt;
use std::str::FromStr;

/// What a tool does to the caller's data, from least to most. Each is granted by one scope
/// (`quilt:read`, `quilt:write`, `quilt:delete` by default) and implies nothing else: a
/// token that may write but not read lists only writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Lists, reads, links, browses, diffs, searches.
    Read,
    /// Adds objects and package revisions (a put replaces an object at the same key).
    Write,
    /// Removes packages or revisions.
    Delete,
}

impl Permission {
    pub const ALL: [Permission; 3] = [Self::Read, Self::Write, Self::Delete];

    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Delete => "delete",
        }
    }

    /// What it lets an application do, for the person asked to allow it.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::Read => "list, read, link and search your buckets, objects and packages",
            Self::Write => "write objects and add package revisions",
            Self::Delete => "delete packages and package revisions",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Permission {
    type Err = Unknown;

    fn from_str(name: &str) -> Result<Self, Unknown> {
        by_name("permission", name, Self::ALL, Self::name)
    }
}

/// Tools grouped by what people do with them, for `--toolsets`, `X-MCP-Toolsets` and
/// `/mcp/x/{toolset}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Toolset {
    /// Buckets and the objects in them.
    Objects,
    /// Quilt packages: list, browse, diff, create, update, delete, and their addresses.
    Packages,
    /// The catalog's search.
    Search,
    /// SQL over the data lake: Athena, the Glue catalog and Tabulator tables.
    Sql,
}

impl Toolset {
    pub const ALL: [Toolset; 4] = [Self::Objects, Self::Packages, Self::Search, Self::Sql];

    pub fn name(self) -> &'static str {
        match self {
            Self::Objects => "objects",
            Self::Packages => "packages",
            Self::Search => "search",
            Self::Sql => "sql",
        }
    }
}

impl fmt::Display for Toolset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Toolset {
    type Err = Unknown;

    fn from_str(name: &str) -> Result<Self, Unknown> {
        by_name("toolset", name, Self::ALL, Self::name)
    }
}

/// What a tool reaches beyond the request, which decides what the request is handed: AWS
/// credentials only when it may call a tool that uses S3, the caller's registry bearer only
/// when it may call one that uses the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaches {
    /// Nothing: it works on its arguments and the request context (`auth_status` shows whether
    /// credentials would be handed out, without needing them).
    Nothing,
    S3,
    /// Athena and Glue, with the caller's AWS credentials (Athena writes each query's
    /// results to S3 as the caller).
    Athena,
    /// The registry (`bucket_list` falls back to the configured buckets without one).
    Registry,
}

/// The one of `all` whose name is `text`, or an error naming the `kind` and every name.
fn by_name<T: Copy, const N: usize>(
    kind: &str,
    text: &str,
    all: [T; N],
    name: fn(T) -> &'static str,
) -> Result<T, Unknown> {
    all.into_iter()
        .find(|item| name(*item) == text)
        .ok_or_else(|| Unknown::new(kind, text, all.map(name)))
}

/// One row of the scope table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolRule {
    pub name: &'static str,
    /// `None`: offered to every caller in every toolset (it only describes the caller).
    pub needs: Option<Permission>,
    /// `None` with `needs`: in every toolset.
    pub toolset: Option<Toolset>,
    pub reaches: Reaches,
}

const fn rule(
    name: &'static str,
    needs: Permission,
    toolset: Toolset,
    reaches: Reaches,
) -> ToolRule {
    ToolRule {
        name,
        needs: Some(needs),
        toolset: Some(toolset),
        reaches,
    }
}

use Permission::{Delete, Read, Write};
use Reaches::{Athena, Nothing, Registry, S3};
use Toolset::{Objects, Packages, Search, Sql};

/// Every tool the guest offers, in its listing's order.
pub const TOOLS: [ToolRule; 27] = [
    ToolRule {
        name: "auth_status",
        needs: None,
        toolset: None,
        reaches: Nothing,
    },
    rule("bucket_objects_list", Read, Objects, S3),
    rule("bucket_object_info", Read, Objects, S3),
    rule("bucket_object_text", Read, Objects, S3),
    rule("bucket_object_fetch", Read, Objects, S3),
    rule("bucket_object_link", Read, Objects, S3),
    rule("bucket_objects_put", Write, Objects, S3),
    rule("bucket_object_preview", Read, Objects, S3),
    rule("packages_list", Read, Packages, S3),
    rule("package_browse", Read, Packages, S3),
    rule("package_diff", Read, Packages, S3),
    rule("package_create", Write, Packages, S3),
    rule("package_update", Write, Packages, S3),
    rule("package_validate", Read, Packages, S3),
    rule("package_delete", Delete, Packages, S3),
    rule("catalog_uri", Read, Packages, Nothing),
    rule("catalog_url", Read, Packages, Nothing),
    rule("search_catalog", Read, Search, Registry),
    rule("bucket_list", Read, Objects, Registry),
    rule("athena_databases_list", Read, Sql, Athena),
    rule("athena_tables_list", Read, Sql, Athena),
    rule("athena_table_schema", Read, Sql, Athena),
    rule("athena_query_execute", Read, Sql, Athena),
    rule("athena_query_results", Read, Sql, Athena),
    rule("athena_query_validate", Read, Sql, Nothing),
    rule("tabulator_tables_list", Read, Sql, Registry),
    rule("tabulator_bucket_query", Read, Sql, Athena),
];

/// The table's own name of the tool called `name`, or why there is none.
pub fn known_tool(name: &str) -> Result<&'static str, Unknown> {
    rule_for(name)
        .map(|rule| rule.name)
        .ok_or_else(|| Unknown::tool(name))
}

/// The row of the tool called `name`.
pub fn rule_for(name: &str) -> Option<&'static ToolRule> {
    TOOLS.iter().find(|rule| rule.name == name)
}

/// A name that is none of the known ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown(String);

impl Unknown {
    fn new<const N: usize>(kind: &str, name: &str, known: [&str; N]) -> Self {
        let shown: String = name.chars().take(64).collect();
        Self(format!(
            "unknown {kind} {shown:?}; the {kind}s are {}",
            known.join(", ")
        ))
    }

    /// A tool name outside the table.
    pub fn tool(name: &str) -> Self {
        let shown: String = name.chars().take(64).collect();
        Self(format!(
            "unknown tool {shown:?}; tools/list names the tools this server offers"
        ))
    }
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unknown {}

/// The response header with which the tools guest tells the host that a tool failed (its
/// result's `isError`), as `TOOL_FAILED`; the host counts it and removes it.
pub const OUTCOME_HEADER: &str = "quilt-mcp-outcome";
pub const TOOL_FAILED: &str = "tool-error";

#[cfg(test)]
mod tests {
    use super::{Permission, TOOLS, Toolset, rule_for};

    #[test]
    fn names_are_unique_and_parse_back() {
        for (i, rule) in TOOLS.iter().enumerate() {
            assert!(
                TOOLS[i + 1..].iter().all(|other| other.name != rule.name),
                "{} twice",
                rule.name
            );
            assert_eq!(rule_for(rule.name), Some(rule));
        }
        for permission in Permission::ALL {
            assert_eq!(permission.name().parse::<Permission>(), Ok(permission));
        }
        for toolset in Toolset::ALL {
            assert_eq!(toolset.name().parse::<Toolset>(), Ok(toolset));
        }
        let unknown = "athena".parse::<Toolset>().unwrap_err().to_string();
        assert_eq!(
            unknown,
            r#"unknown toolset "athena"; the toolsets are objects, packages, search, sql"#
        );
    }

    #[test]
    fn every_toolset_offers_something_and_only_introspection_needs_nothing() {
        for toolset in Toolset::ALL {
            assert!(TOOLS.iter().any(|rule| rule.toolset == Some(toolset)));
        }
        for rule in TOOLS {
            assert_eq!(
                rule.needs.is_none(),
                rule.toolset.is_none(),
                "{}",
                rule.name
            );
        }
    }
}
