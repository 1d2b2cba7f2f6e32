//! What one request may do: which tools it may list and call, which bucket it is held to,
//! and what the AWS credentials derived for it may do.
//!
//! Three bounds meet here, and each can only take away: the server's flags (`--read-only`,
//! `--toolsets`, `--tools`, `--exclude-tools`), the connection's own narrowing (the path
//! `/mcp/b/{bucket}/x/{toolsets}/readonly`, or the `X-MCP-Readonly`, `X-MCP-Toolsets` and
//! `X-MCP-Tools` headers), and the token's scopes. A tool the token's scopes do not cover is
//! answered with a scope challenge (403) before any guest runs, so the client can ask for
//! more; a tool the connection does not offer is simply not there.

mod config;
mod connection;
mod permissions;
mod scopes;
mod session_policy;

use quilt_mcp_policy::tools::{Permission, Reaches, TOOLS, ToolRule, known_tool, rule_for};

pub use config::{AccessConfig, scope_table};
use connection::intersection;
pub use connection::{ConnectionError, Narrowing};
pub use permissions::Permissions;
pub use scopes::ScopeNames;
pub use session_policy::{ResultsAccess, SessionPolicy, SqlAccess, partition};

use crate::auth::Caller;
use crate::oauth::BridgeScope;

/// The process's access rules: the server's bound and how scopes are named and read.
pub struct Access {
    bound: Narrowing,
    scopes: ScopeNames,
    claim: String,
    unscoped: Permissions,
}

impl Access {
    /// Refuses, naming the flag, tool names outside the scope table and scope names that
    /// could not be told apart.
    pub fn from_config(config: &AccessConfig) -> anyhow::Result<Self> {
        let known = |flag: &str, names: &[String]| -> anyhow::Result<Vec<&'static str>> {
            names
                .iter()
                .map(|name| {
                    known_tool(name).map_err(|unknown| anyhow::anyhow!("{flag}: {unknown}"))
                })
                .collect()
        };
        let bound = Narrowing {
            read_only: config.read_only,
            toolsets: (!config.toolsets.is_empty()).then(|| config.toolsets.clone()),
            tools: (!config.tools.is_empty())
                .then(|| known("--tools", &config.tools))
                .transpose()?,
            excluded: known("--exclude-tools", &config.exclude_tools)?,
            bucket: None,
        };
        let scopes = ScopeNames::new(
            &config.read_scope,
            &config.write_scope,
            &config.delete_scope,
        )?;
        Ok(Self {
            bound,
            scopes,
            claim: config.scope_claim.clone(),
            unscoped: config
                .unscoped_permissions
                .iter()
                .filter_map(|permission| permission.0)
                .collect(),
        })
    }

    pub fn scope_names(&self) -> &ScopeNames {
        &self.scopes
    }

    /// Every scope some tool this server offers needs, for `scopes_supported`.
    pub fn scopes_supported(&self) -> Vec<&str> {
        self.scopes.of(self.bound.permissions_offered())
    }

    /// The scopes the sign-in bridge grants, each with what it lets an application do; a
    /// client that asks for none gets what [`Self::scopes_to_ask`] names for `/mcp`.
    pub fn bridge_scopes(&self) -> Vec<BridgeScope> {
        let by_default = self.scopes_to_ask(&Narrowing::default());
        self.bound
            .permissions_offered()
            .iter()
            .map(|permission| {
                let name = self.scopes.name(permission);
                BridgeScope {
                    by_default: by_default.contains(&name),
                    name: name.to_owned(),
                    meaning: permission.meaning(),
                }
            })
            .collect()
    }

    /// The scopes a client should ask for when it first signs in through `connection`: the
    /// 401 challenge's `scope`. Reading and writing, as far as the connection offers them;
    /// deleting is asked for by the scope challenge of the first call that deletes, so a person
    /// consents to it when it is wanted (least privilege, as the MCP authorization spec
    /// recommends for initial scopes).
    pub fn scopes_to_ask(&self, connection: &Narrowing) -> Vec<&str> {
        let offered = self.bound.and(connection).permissions_offered();
        let mut asked: Permissions = offered
            .iter()
            .filter(|permission| *permission != Permission::Delete)
            .collect();
        if asked.is_empty() {
            asked = offered;
        }
        self.scopes.of(asked)
    }

    /// What `caller` may do through `connection` (already parsed from the request).
    /// `None` as caller: `--no-auth`, where every permission is granted.
    pub fn grant(&self, caller: Option<&Caller>, connection: &Narrowing) -> Grant {
        let permissions = match caller {
            None => Permissions::all(),
            Some(caller) => self.permissions_of(caller),
        };
        Grant {
            permissions,
            offered: self.bound.and(connection),
        }
    }

    /// The token's permissions. The sign-in bridge writes them in `scope`, always. A token
    /// from an external provider names them in `--scope-claim`; one that names none of ours
    /// (no claim, or only the provider's own scopes such as `openid email`, or names spelt
    /// otherwise than configured) gets `--unscoped-permissions`, read-only by default, so a
    /// misconfigured name never grants more than reading.
    fn permissions_of(&self, caller: &Caller) -> Permissions {
        let named = |claim: &str| {
            caller
                .token
                .claim(claim)
                .map_or(Permissions::none(), |claim| self.scopes.read(claim))
        };
        if caller.upstream.is_some() {
            return named("scope");
        }
        match named(&self.claim) {
            none if none.is_empty() => self.unscoped,
            permissions => permissions,
        }
    }
}

/// What one request may do.
#[derive(Debug, Clone)]
pub struct Grant {
    /// What the token's scopes allow.
    permissions: Permissions,
    /// What the server and the connection offer.
    offered: Narrowing,
}

/// Why a tool call may not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The connection offers the tool, the token's scopes do not cover it: `needs` is every
    /// permission a token must carry to call it and keep what it could already do.
    InsufficientScope { needs: Permissions },
}

impl Grant {
    /// Every tool, with the credentials' own rights: for measurements and tests that
    /// exercise no limit.
    pub fn unrestricted() -> Self {
        Self {
            permissions: Permissions::all(),
            offered: Narrowing::default(),
        }
    }

    /// The tools this request lists and may call, by name, in the listing's order.
    pub fn tools(&self) -> Vec<String> {
        self.callable().map(|rule| rule.name.to_owned()).collect()
    }

    /// Whether a call of `tool` may go to the guest. Tools the connection does not offer, or
    /// that no one knows, do go: the guest answers that they are not there.
    pub fn check_call(&self, tool: &str) -> Result<(), Refusal> {
        match rule_for(tool) {
            Some(rule) if self.offered.offers(rule) && !self.permits(rule) => {
                let mut needs = self.permissions;
                needs.extend(rule.needs);
                Err(Refusal::InsufficientScope { needs })
            }
            _ => Ok(()),
        }
    }

    /// What the AWS credentials of this request need to allow: the permissions of the tools
    /// that use S3 it may call, so a read-only request gets credentials that cannot write,
    /// and one that may call no S3 tool gets none.
    pub fn aws_permissions(&self) -> Permissions {
        self.callable()
            .filter(|rule| matches!(rule.reaches, Reaches::S3 | Reaches::Athena))
            .filter_map(|rule| rule.needs)
            .collect()
    }

    /// Whether the request may call a tool that runs SQL, so its credentials must reach
    /// Athena and Glue, and write query results.
    pub fn uses_athena(&self) -> bool {
        self.callable().any(|rule| rule.reaches == Reaches::Athena)
    }

    /// Whether the token may change data (its write scope): SQL other than queries needs it.
    pub fn may_write(&self) -> bool {
        self.permissions.contains(Permission::Write)
    }

    /// Whether the request may call a tool that uses the registry as the caller, and so may
    /// be handed the caller's registry bearer. On a connection held to one bucket,
    /// `bucket_list` answers without the registry.
    pub fn uses_registry(&self) -> bool {
        self.callable().any(|rule| {
            rule.reaches == Reaches::Registry
                && !(self.bucket().is_some() && rule.name == "bucket_list")
        })
    }

    /// The rows of the tools this request may call.
    fn callable(&self) -> impl Iterator<Item = &'static ToolRule> {
        TOOLS
            .iter()
            .filter(|rule| self.offered.offers(rule) && self.permits(rule))
    }

    /// The one bucket this request is held to, when its connection names one.
    pub fn bucket(&self) -> Option<&str> {
        self.offered.bucket.as_deref()
    }

    /// The session policy for credentials derived for this request.
    pub fn session_policy(&self) -> SessionPolicy {
        SessionPolicy::new(self.aws_permissions(), self.bucket())
    }

    fn permits(&self, rule: &ToolRule) -> bool {
        rule.needs
            .is_none_or(|needed| self.permissions.contains(needed))
    }
}

impl Narrowing {
    /// Whether a tool is offered under this narrowing.
    fn offers(&self, rule: &ToolRule) -> bool {
        let writes = rule.needs.is_some_and(|needed| needed != Permission::Read);
        !(self.read_only && writes)
            && self.toolsets.as_ref().is_none_or(|toolsets| {
                rule.toolset
                    .is_none_or(|toolset| toolsets.contains(&toolset))
            })
            && self
                .tools
                .as_ref()
                .is_none_or(|tools| tools.contains(&rule.name))
            && !self.excluded.contains(&rule.name)
    }

    /// The permissions the tools offered here need.
    fn permissions_offered(&self) -> Permissions {
        TOOLS
            .iter()
            .filter(|rule| self.offers(rule))
            .filter_map(|rule| rule.needs)
            .collect()
    }

    /// What both allow: never more than either.
    fn and(&self, other: &Narrowing) -> Narrowing {
        Narrowing {
            read_only: self.read_only || other.read_only,
            toolsets: intersection(&self.toolsets, &other.toolsets),
            tools: intersection(&self.tools, &other.tools),
            excluded: self
                .excluded
                .iter()
                .chain(&other.excluded)
                .copied()
                .collect(),
            // The server has no bucket of its own; a connection names at most one.
            bucket: other.bucket.clone().or_else(|| self.bucket.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
