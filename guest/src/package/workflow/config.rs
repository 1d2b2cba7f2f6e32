//! `.quilt/workflows/config.yml`: the YAML a bucket's owners write, read into types that
//! refuse what quilt3's config schema (`config-1.schema.json`, version 1.1.0) refuses.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

/// Where quilt3 looks for a registry's workflow config.
pub const CONFIG_KEY: &str = ".quilt/workflows/config.yml";

/// The newest config version quilt3 7.2.0 understands.
const SUPPORTED: (u64, u64, u64) = (1, 1, 0);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    version: Version,
    /// Absent means true, as in quilt3: a bucket with a config requires a workflow.
    #[serde(default = "required_by_default")]
    pub is_workflow_required: bool,
    pub default_workflow: Option<String>,
    /// By workflow id, sorted (the error messages list them).
    pub workflows: BTreeMap<String, Workflow>,
    #[serde(default)]
    pub schemas: BTreeMap<String, SchemaRef>,
    /// The catalog's own settings and push destinations: allowed, skipped unread (never
    /// built in memory, so an alias bomb there costs nothing but the events replayed).
    #[serde(default, rename = "catalog")]
    _catalog: Option<IgnoredAny>,
    #[serde(default, rename = "successors")]
    _successors: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    pub name: String,
    pub description: Option<String>,
    /// A regular expression the package name must contain a match of (Python's `re.search`).
    pub handle_pattern: Option<String>,
    pub metadata_schema: Option<String>,
    pub entries_schema: Option<String>,
    #[serde(default)]
    pub is_message_required: bool,
    #[serde(default, rename = "catalog")]
    _catalog: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
pub struct SchemaRef {
    pub url: String,
}

/// `"1.1"` or `{base: "1.1", catalog: ...}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Version {
    Plain(String),
    Compound {
        base: String,
        #[serde(default, rename = "catalog")]
        _catalog: Option<String>,
    },
}

fn required_by_default() -> bool {
    true
}

impl Config {
    /// The config in `yaml`, or what is wrong with it, worded for the bucket's owners.
    pub fn parse(yaml: &str) -> Result<Self, String> {
        let config: Self = serde_saphyr::from_str_with_options(yaml, yaml_options())
            .map_err(|e| first_line(&e.to_string()))?;
        let version = match &config.version {
            Version::Plain(v) | Version::Compound { base: v, .. } => v,
        };
        match parse_version(version) {
            None => {
                return Err(format!(
                    "version '{version}' is not a version such as \"1\" or \"1.1\""
                ));
            }
            Some(v) if v > SUPPORTED => {
                return Err(format!(
                    "version '{version}' is newer than the 1.1.0 quilt3 7.2.0 supports"
                ));
            }
            Some(_) => {}
        }
        if config.workflows.is_empty() {
            return Err("workflows is empty; name at least one workflow".into());
        }
        if let Some(id) = config.workflows.keys().find(|id| !valid_id(id)) {
            return Err(format!(
                "the workflow id '{id}' is not letters, digits, '_' and '-' (at most 64, not starting with a digit)"
            ));
        }
        if let Some((id, _)) = config.workflows.iter().find(|(_, w)| w.name.is_empty()) {
            return Err(format!("workflow '{id}' has an empty name"));
        }
        Ok(config)
    }

    /// The workflows, for messages: `id ("name": description)`, separated by `; `.
    pub fn ids(&self) -> String {
        let described: Vec<String> = self
            .workflows
            .iter()
            .map(|(id, workflow)| match &workflow.description {
                Some(description) => format!("{id} (\"{}\": {description})", workflow.name),
                None => format!("{id} (\"{}\")", workflow.name),
            })
            .collect();
        described.join("; ")
    }
}

/// Aliases are rare in workflow configs, and each one copies what it names: a few thousand
/// replayed events, and each anchor used at most 8 times, bound what a config can expand to
/// (at most 8 times its own size).
fn yaml_options() -> serde_saphyr::Options {
    let mut limits = serde_saphyr::options::AliasLimits::default();
    limits.max_total_replayed_events = 10_000;
    limits.max_alias_expansions_per_anchor = 8;
    let mut options = serde_saphyr::Options::default();
    options.alias_limits = limits;
    options
}

/// `1`, `1.1` or `1.1.0` (no leading zeros), missing parts being 0.
fn parse_version(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = [0u64; 3];
    let pieces: Vec<&str> = version.split('.').collect();
    if pieces.is_empty() || pieces.len() > 3 {
        return None;
    }
    for (slot, piece) in parts.iter_mut().zip(&pieces) {
        let canonical = !piece.is_empty()
            && piece.bytes().all(|b| b.is_ascii_digit())
            && (piece.len() == 1 || !piece.starts_with('0'));
        if !canonical {
            return None;
        }
        *slot = piece.parse().ok()?;
    }
    (parts[0] >= 1).then_some((parts[0], parts[1], parts[2]))
}

/// quilt3's `^[A-Za-z_-][A-Za-z0-9_-]*$`, at most 64 characters.
fn valid_id(id: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    id.len() <= 64
        && id
            .bytes()
            .next()
            .is_some_and(|b| word(b) && !b.is_ascii_digit())
        && id.bytes().all(word)
}

/// saphyr's errors draw the offending line; the message is the first line.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).to_owned()
}

#[cfg(test)]
mod tests {
    use super::{Config, parse_version};

    #[test]
    fn the_fixture_config_reads() {
        let config = Config::parse(include_str!("../testdata/workflow/config.yml")).unwrap();
        assert!(config.is_workflow_required);
        assert_eq!(config.default_workflow.as_deref(), Some("checked"));
        assert_eq!(
            config.ids(),
            "checked (\"Checked\": Metadata names a tissue; the package has a README.md.); loose (\"Loose\")"
        );
        let checked = &config.workflows["checked"];
        assert_eq!(checked.metadata_schema.as_deref(), Some("metadata"));
        assert!(checked.is_message_required);
        assert!(!config.workflows["loose"].is_message_required);
        assert_eq!(config.schemas.len(), 2);
    }

    #[test]
    fn required_unless_it_says_otherwise() {
        let config = Config::parse("version: '1'\nworkflows: {a: {name: A}}\n").unwrap();
        assert!(config.is_workflow_required);
        let config = Config::parse(
            "version: {base: '1.1'}\nis_workflow_required: false\nworkflows: {a: {name: A}}\n",
        )
        .unwrap();
        assert!(!config.is_workflow_required);
    }

    #[test]
    fn refuses_what_quilt3_refuses() {
        for (yaml, says) in [
            ("workflows: {a: {name: A}}\n", "version"),
            ("version: '2'\nworkflows: {a: {name: A}}\n", "newer"),
            (
                "version: '1.01'\nworkflows: {a: {name: A}}\n",
                "not a version",
            ),
            ("version: '1'\nworkflows: {}\n", "empty"),
            ("version: '1'\nworkflows: {1a: {name: A}}\n", "'1a'"),
            ("version: '1'\nworkflows: {a: {name: ''}}\n", "empty name"),
            (
                "version: '1'\nworkflows: {a: {name: A, colour: red}}\n",
                "colour",
            ),
            ("version: '1'\nworkflow: {a: {name: A}}\n", "workflow"),
            ("version: '1'\nworkflows: [a]\n", "mapping"),
            ("- not\n- a map\n", ""),
            ("version: '1'\nworkflows: {a: {name: A}\n", ""),
        ] {
            let error = Config::parse(yaml).unwrap_err();
            assert!(error.contains(says), "{yaml:?}: {error}");
        }
    }

    /// Under `catalog` (allowed, skipped) and under a workflow's name (read): refused by the
    /// alias limits, not expanded.
    #[test]
    fn an_alias_bomb_is_refused_not_expanded() {
        let big = "x".repeat(6000);
        let mut bomb = format!(
            "  a0: &a0 [{big}, {big}, {big}, {big}, {big}, {big}, {big}, {big}, {big}, {big}]\n"
        );
        for i in 1..5 {
            let p = i - 1;
            bomb.push_str(&format!("  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let under_catalog =
            format!("version: '1'\ncatalog:\n{bomb}workflows: {{a: {{name: A}}}}\n");
        let error = Config::parse(&under_catalog).unwrap_err();
        assert!(error.contains("alias"), "{error}");
        let named = format!("version: '1'\ncatalog:\n  s: &s {big}\nworkflows:\n");
        let many: String = (0..20).map(|i| format!("  w{i}: {{name: *s}}\n")).collect();
        assert!(Config::parse(&(named + &many)).is_err());
        // Without aliases the same shape reads.
        assert!(
            Config::parse(&format!(
                "version: '1'\ncatalog: {{s: {big}}}\nworkflows: {{a: {{name: A}}}}\n"
            ))
            .is_ok()
        );
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("1"), Some((1, 0, 0)));
        assert_eq!(parse_version("1.1"), Some((1, 1, 0)));
        assert_eq!(parse_version("1.1.0"), Some((1, 1, 0)));
        for bad in ["", "0", "1.", "1.1.1.1", "01", "1.x", "-1"] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
    }
}
