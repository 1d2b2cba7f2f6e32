//! Workflows: the rules a bucket's owners set for the packages pushed to it, applied as
//! quilt3 7.2.0 applies them (`quilt3/workflows`) and recorded in the manifest header the way
//! quilt3 records them, so that quilt3 and the catalog see the same package.
//!
//! The config is `.quilt/workflows/config.yml` in the registry bucket, read with the
//! caller's credentials. With no config there are no rules. With one, a push names a
//! workflow (or gets `default_workflow`); none at all is allowed only where
//! `is_workflow_required` is false. One difference from quilt3: every violation is
//! reported at once (name pattern, message, metadata, entries), not just the first, so a
//! model can fix them in one go.

mod config;
mod schema;

use std::fmt;
use std::rc::Rc;

use serde_json::{Value, json};

use self::config::{CONFIG_KEY, Config, Workflow};
use self::schema::{MAX_SCHEMA_BYTES, Schema};
use super::json::Json;
use super::links::physical_key;
use super::store::Facts;
use crate::s3::error::ErrorKind;
use crate::s3::{Failure, S3, S3Uri};

/// The largest config read.
const MAX_CONFIG_BYTES: usize = 1 << 20;
/// Most violations listed; past it, how many more there are.
const MAX_LISTED: usize = 40;

/// Which workflow a push asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// None named: the config's `default_workflow`, else none.
    Default,
    /// Explicitly none (quilt3's `workflow=None`).
    None,
    Named(String),
}

/// What a workflow judges: the package as it would be written.
pub struct Candidate<'a> {
    pub name: &'a str,
    pub message: Option<&'a str>,
    pub user_meta: Option<&'a Json>,
    pub entries: &'a [Facts<'a>],
}

/// What the bucket's workflow config said about a push.
#[derive(Debug, PartialEq)]
pub struct Verdict {
    /// The header's `workflow` field; none when the bucket has no config.
    pub header: Option<Json>,
    /// The workflow applied, if any.
    pub workflow: Option<String>,
}

#[derive(Debug)]
pub enum WorkflowError {
    /// Reading the config or a schema failed at S3.
    S3(Failure),
    /// The config or a schema it names cannot be used.
    BadConfig { uri: String, problem: String },
    /// A workflow was named and the bucket has no config.
    NoConfig { bucket: String, workflow: String },
    /// The bucket requires a workflow and none was named or defaulted.
    Required { bucket: String, ids: String },
    Unknown {
        bucket: String,
        workflow: String,
        ids: String,
    },
    /// The package breaks the workflow's rules.
    Violations {
        workflow: String,
        bucket: String,
        found: Vec<String>,
    },
}

impl fmt::Display for WorkflowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::S3(failure) => failure.fmt(f),
            Self::BadConfig { uri, problem } => write!(
                f,
                "The workflow config at {uri} cannot be used: {problem}. Nothing was written; the bucket's owners must fix it"
            ),
            Self::NoConfig { bucket, workflow } => write!(
                f,
                "The workflow '{workflow}' was given, but s3://{bucket} has no workflows ({CONFIG_KEY}); leave workflow out"
            ),
            Self::Required { bucket, ids } => write!(
                f,
                "s3://{bucket} requires a workflow and none was given; pass workflow as one of: {ids}"
            ),
            Self::Unknown {
                bucket,
                workflow,
                ids,
            } => write!(
                f,
                "s3://{bucket} has no workflow '{workflow}'; its workflows are: {ids}"
            ),
            Self::Violations {
                workflow,
                bucket,
                found,
            } => {
                write!(
                    f,
                    "The package does not pass the workflow '{workflow}' of s3://{bucket} ({} problem{}); nothing was written:",
                    found.len(),
                    if found.len() == 1 { "" } else { "s" }
                )?;
                for problem in found.iter().take(MAX_LISTED) {
                    write!(f, "\n- {problem}")?;
                }
                if found.len() > MAX_LISTED {
                    write!(f, "\n- and {} more", found.len() - MAX_LISTED)?;
                }
                Ok(())
            }
        }
    }
}

impl From<Failure> for WorkflowError {
    fn from(failure: Failure) -> Self {
        Self::S3(failure)
    }
}

/// The rules of `bucket` applied to `candidate`: the header field to write, or every way
/// the package breaks them.
pub fn check(
    s3: &S3<'_>,
    bucket: &str,
    choice: &Choice,
    candidate: &Candidate<'_>,
) -> Result<Verdict, WorkflowError> {
    let Some(loaded) = load_config(s3, bucket)? else {
        return match choice {
            Choice::Named(workflow) => Err(WorkflowError::NoConfig {
                bucket: bucket.to_owned(),
                workflow: workflow.clone(),
            }),
            // quilt3 refuses `workflow=None` where there is no config, as it does a name.
            Choice::None => Err(WorkflowError::NoConfig {
                bucket: bucket.to_owned(),
                workflow: "null".into(),
            }),
            Choice::Default => Ok(Verdict {
                header: None,
                workflow: None,
            }),
        };
    };
    let id = match choice {
        Choice::Named(id) => Some(id.clone()),
        Choice::Default => loaded.config.default_workflow.clone(),
        Choice::None => None,
    };
    let Some(id) = id else {
        if loaded.config.is_workflow_required {
            return Err(WorkflowError::Required {
                bucket: bucket.to_owned(),
                ids: loaded.config.ids(),
            });
        }
        return Ok(Verdict {
            header: Some(header(Json::Null, &loaded.uri, &[])),
            workflow: None,
        });
    };
    let Some(workflow) = loaded.config.workflows.get(&id) else {
        return Err(WorkflowError::Unknown {
            bucket: bucket.to_owned(),
            workflow: id,
            ids: loaded.config.ids(),
        });
    };
    let schemas = load_schemas(s3, &loaded, workflow)?;
    let found = violations(workflow, &schemas, candidate, &loaded.uri)?;
    if !found.is_empty() {
        return Err(WorkflowError::Violations {
            workflow: id,
            bucket: bucket.to_owned(),
            found,
        });
    }
    // By id, once each, as quilt3's dict of loaded schemas.
    let mut stored: Vec<(String, String)> = Vec::new();
    for loaded in &schemas {
        if !stored.iter().any(|(id, _)| *id == loaded.id) {
            stored.push((loaded.id.clone(), loaded.stored_as.clone()));
        }
    }
    Ok(Verdict {
        header: Some(header(Json::String(id.clone()), &loaded.uri, &stored)),
        workflow: Some(id),
    })
}

/// A config as read, and where quilt3 would say it came from.
struct Loaded {
    config: Config,
    /// `s3://bucket/.quilt/workflows/config.yml[?versionId=V]`.
    uri: String,
}

fn load_config(s3: &S3<'_>, bucket: &str) -> Result<Option<Loaded>, WorkflowError> {
    let at = S3Uri {
        bucket: bucket.to_owned(),
        key: CONFIG_KEY.to_owned(),
        version_id: None,
    };
    let bad = |problem: String| WorkflowError::BadConfig {
        uri: at.to_string(),
        problem,
    };
    let download = match s3.get_prefix(&at, MAX_CONFIG_BYTES + 1) {
        Ok(download) => download,
        Err(failure) if matches!(failure.kind, ErrorKind::NoSuchKey) => return Ok(None),
        Err(failure) => return Err(failure.into()),
    };
    if download.size > MAX_CONFIG_BYTES as u64 {
        return Err(bad(format!(
            "it is {} bytes, over the {MAX_CONFIG_BYTES} read",
            download.size
        )));
    }
    let text =
        std::str::from_utf8(&download.bytes).map_err(|_| bad("it is not UTF-8 text".into()))?;
    let config = Config::parse(text).map_err(bad)?;
    let uri = physical_key(bucket, CONFIG_KEY, download.version_id.as_deref());
    Ok(Some(Loaded { config, uri }))
}

/// A workflow's schema, compiled, with the address quilt3 stores for it.
struct LoadedSchema {
    id: String,
    /// `metadata` or `entries`: what it checks.
    checks: Checks,
    schema: Rc<Schema>,
    stored_as: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Checks {
    Metadata,
    Entries,
}

/// The metadata schema then the entries schema, in the order quilt3 loads (and records)
/// them; one schema named by both is loaded once.
fn load_schemas(
    s3: &S3<'_>,
    loaded: &Loaded,
    workflow: &Workflow,
) -> Result<Vec<LoadedSchema>, WorkflowError> {
    let mut schemas: Vec<LoadedSchema> = Vec::new();
    let wanted = [
        (workflow.metadata_schema.as_ref(), Checks::Metadata),
        (workflow.entries_schema.as_ref(), Checks::Entries),
    ];
    for (id, checks) in wanted
        .into_iter()
        .filter_map(|(id, c)| id.map(|id| (id, c)))
    {
        let bad = |problem: String| WorkflowError::BadConfig {
            uri: loaded.uri.clone(),
            problem: format!("schema '{id}': {problem}"),
        };
        if let Some(same) = schemas.iter().find(|s| s.id == *id) {
            let (schema, stored_as) = (same.schema.clone(), same.stored_as.clone());
            schemas.push(LoadedSchema {
                id: id.clone(),
                checks,
                schema,
                stored_as,
            });
            continue;
        }
        let url = &loaded
            .config
            .schemas
            .get(id)
            .ok_or_else(|| bad("it is not listed under schemas".into()))?
            .url;
        let at = schema::location(url).map_err(&bad)?;
        let download = s3
            .get_prefix(&at, MAX_SCHEMA_BYTES + 1)
            .map_err(|failure| bad(format!("it cannot be read: {failure}")))?;
        if download.size > MAX_SCHEMA_BYTES as u64 {
            return Err(bad(format!("it is over the {MAX_SCHEMA_BYTES} bytes read")));
        }
        let schema = Rc::new(Schema::compile(&download.bytes).map_err(&bad)?);
        let version = download.version_id.as_deref().or(at.version_id.as_deref());
        let stored_as = physical_key(&at.bucket, &at.key, version);
        schemas.push(LoadedSchema {
            id: id.clone(),
            checks,
            schema,
            stored_as,
        });
    }
    Ok(schemas)
}

/// Every way `candidate` breaks `workflow`, in quilt3's order of checks: message, name,
/// metadata, entries.
fn violations(
    workflow: &Workflow,
    schemas: &[LoadedSchema],
    candidate: &Candidate<'_>,
    config_uri: &str,
) -> Result<Vec<String>, WorkflowError> {
    let mut found = Vec::new();
    if workflow.is_message_required && candidate.message.is_none_or(str::is_empty) {
        found.push("a commit message is required: pass message".to_owned());
    }
    if let Some(pattern) = &workflow.handle_pattern {
        let regex = fancy_regex::Regex::new(pattern).map_err(|e| WorkflowError::BadConfig {
            uri: config_uri.to_owned(),
            problem: format!("handle_pattern {pattern} is not a regular expression ({e})"),
        })?;
        match regex.is_match(candidate.name) {
            Ok(true) => {}
            Ok(false) => found.push(format!(
                "the package name '{}' does not match the pattern {pattern}",
                candidate.name
            )),
            Err(_) => found.push(format!(
                "the package name '{}' could not be checked: the pattern {pattern} takes too long to match (the bucket's owners must simplify it)",
                candidate.name
            )),
        }
    }
    for loaded in schemas {
        match loaded.checks {
            Checks::Metadata => {
                let meta = candidate
                    .user_meta
                    .cloned()
                    .map_or_else(|| json!({}), Value::from);
                for (path, problem) in loaded.schema.violations(&meta) {
                    found.push(format!("metadata{path}: {}", bounded(&problem)));
                }
            }
            Checks::Entries => {
                let entries = entries_instance(candidate.entries);
                for (path, problem) in loaded.schema.violations(&entries) {
                    let at = name_entry(&path, candidate.entries);
                    found.push(format!("entries{}: {}", bounded(&at), bounded(&problem)));
                }
            }
        }
    }
    Ok(found)
}

/// A violation's words, short enough that one long value cannot crowd out the rest.
fn bounded(text: &str) -> String {
    crate::echo::bounded(text, MAX_VIOLATION_CHARS)
}

/// The longest a problem is quoted.
const MAX_VIOLATION_CHARS: usize = 300;

/// What quilt3 validates an entries schema against: `[{logical_key, size, meta}]` in walk
/// order, `meta` being the entry's user metadata.
fn entries_instance(entries: &[Facts<'_>]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|e| {
                let meta = e.user_meta.cloned().map_or_else(|| json!({}), Value::from);
                json!({"logical_key": e.logical_key, "size": e.size, "meta": meta})
            })
            .collect(),
    )
}

/// `/3/size` with the entry's logical key: `/3/size (entry 'data/a.csv')`.
fn name_entry(path: &str, entries: &[Facts<'_>]) -> String {
    let index = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .and_then(|i| i.parse::<usize>().ok());
    match index.and_then(|i| entries.get(i)) {
        Some(entry) => format!("{path} (entry '{}')", entry.logical_key),
        None => path.to_owned(),
    }
}

/// The header's `workflow` field as quilt3 writes it: `id`, `config`, then `schemas` when
/// the workflow used any.
fn header(id: Json, config_uri: &str, schemas: &[(String, String)]) -> Json {
    let mut members = vec![
        ("id".to_owned(), id),
        ("config".to_owned(), Json::String(config_uri.to_owned())),
    ];
    if !schemas.is_empty() {
        let stored = schemas
            .iter()
            .map(|(id, uri)| (id.clone(), Json::String(uri.clone())))
            .collect();
        members.push(("schemas".to_owned(), Json::Object(stored)));
    }
    Json::Object(members)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Candidate, Choice, Verdict, WorkflowError, check};
    use crate::package::json::Json;
    use crate::package::manifest::Manifest;
    use crate::package::store::Facts;
    use crate::s3::S3;
    use crate::testing::{FakeContext, FakeHttp, response};

    /// A file of `testdata/workflow`, which quilt3 made (`make_fixture.py`).
    pub(super) fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/package/testdata/workflow")
            .join(name);
        std::fs::read(path).unwrap()
    }

    /// S3 answering the config, then the metadata and entries schemas, as quilt3 reads them.
    fn bucket_with_workflows(config: &[u8]) -> FakeHttp {
        FakeHttp::answering(vec![
            response(
                200,
                &[("content-length", &config.len().to_string())],
                config,
            ),
            response(200, &[], &fixture("metadata.schema.json")),
            response(200, &[], &fixture("entries.schema.json")),
        ])
    }

    fn no_config() -> FakeHttp {
        FakeHttp::answering(vec![response(
            404,
            &[],
            b"<Error><Code>NoSuchKey</Code><Message>x</Message></Error>",
        )])
    }

    fn run(
        http: &FakeHttp,
        choice: Choice,
        candidate: &Candidate<'_>,
    ) -> Result<Verdict, WorkflowError> {
        let context = FakeContext::default();
        let s3 = S3::connect(&context, http).unwrap();
        check(&s3, "workflow-fixture", &choice, candidate)
    }

    fn facts<'a>(entries: &'a [(&'a str, u64)]) -> Vec<Facts<'a>> {
        entries
            .iter()
            .map(|(key, size)| Facts {
                logical_key: key,
                size: *size,
                user_meta: None,
            })
            .collect()
    }

    /// The package quilt3 7.2.0 pushed under the `checked` workflow (testdata/workflow,
    /// make_fixture.py): the same inputs give the same header, byte for byte, and so the
    /// same manifest and top hash.
    #[test]
    fn reproduces_the_header_quilt3_wrote() {
        let written = fixture("manifest.jsonl");
        let quilt3 = Manifest::parse(&written).unwrap();
        // In the order quilt3 was given it (serde_json's maps would sort it).
        let meta = quilt3.user_meta().cloned().unwrap();
        let entries = facts(&[("README.md", 9), ("data.csv", 8)]);
        let candidate = Candidate {
            name: "team/checked",
            message: Some("under a workflow"),
            user_meta: Some(&meta),
            entries: &entries,
        };
        let http = bucket_with_workflows(&fixture("config.yml"));
        let verdict = run(&http, Choice::Named("checked".into()), &candidate).unwrap();
        assert_eq!(verdict.workflow.as_deref(), Some("checked"));
        let header = Manifest::new_header(
            Some(meta.clone()),
            verdict.header,
            Some("under a workflow".into()),
        );
        let ours = Manifest::new(header, Vec::new(), quilt3.entries.clone()).unwrap();
        assert_eq!(ours.to_jsonl().as_bytes(), written.as_slice());
        assert_eq!(
            ours.top_hash(),
            String::from_utf8(fixture("top_hash")).unwrap().trim()
        );
        // The default workflow is the same one.
        let http = bucket_with_workflows(&fixture("config.yml"));
        assert_eq!(
            run(&http, Choice::Default, &candidate)
                .unwrap()
                .workflow
                .as_deref(),
            Some("checked")
        );
    }

    #[test]
    fn every_violation_is_named_at_once() {
        let meta = Json::from(json!({"tissue": "skin"}));
        let entries = facts(&[("data.csv", 8), ("huge.bin", 2_000_000)]);
        let candidate = Candidate {
            name: "other/pkg",
            message: None,
            user_meta: Some(&meta),
            entries: &entries,
        };
        let http = bucket_with_workflows(&fixture("config.yml"));
        let Err(WorkflowError::Violations {
            workflow, found, ..
        }) = run(&http, Choice::Default, &candidate)
        else {
            panic!("refused");
        };
        assert_eq!(workflow, "checked");
        let all = found.join("\n");
        for expected in [
            "commit message is required",
            "'other/pkg' does not match the pattern ^team/",
            "metadata/tissue",
            "metadata: \"samples\" is a required property",
            "entries/1/size (entry 'huge.bin')",
            "entries:",
        ] {
            assert!(all.contains(expected), "{expected} not in:\n{all}");
        }
        assert_eq!(found.len(), 6, "{all}");
    }

    #[test]
    fn a_required_workflow_cannot_be_skipped() {
        let entries = facts(&[("README.md", 9)]);
        let candidate = Candidate {
            name: "team/p",
            message: Some("m"),
            user_meta: None,
            entries: &entries,
        };
        let no_default = String::from_utf8(fixture("config.yml"))
            .unwrap()
            .replace("default_workflow: checked\n", "");
        let http = bucket_with_workflows(no_default.as_bytes());
        let refused = run(&http, Choice::Default, &candidate).unwrap_err();
        assert!(
            matches!(refused, WorkflowError::Required { .. }),
            "{refused}"
        );
        assert!(
            refused.to_string().contains("checked (\"Checked\"")
                && refused.to_string().contains("; loose"),
            "{refused}"
        );
        let http = bucket_with_workflows(&fixture("config.yml"));
        assert!(matches!(
            run(&http, Choice::None, &candidate),
            Err(WorkflowError::Required { .. })
        ));
        let http = bucket_with_workflows(&fixture("config.yml"));
        let unknown = run(&http, Choice::Named("nope".into()), &candidate).unwrap_err();
        assert!(
            matches!(unknown, WorkflowError::Unknown { .. }),
            "{unknown}"
        );
    }

    #[test]
    fn skipping_an_optional_workflow_records_none_as_quilt3_does() {
        let entries = facts(&[("x", 1)]);
        let candidate = Candidate {
            name: "any/p",
            message: None,
            user_meta: None,
            entries: &entries,
        };
        let optional = "version: '1'\nis_workflow_required: false\nworkflows: {a: {name: A}}\n";
        let http = bucket_with_workflows(optional.as_bytes());
        let verdict = run(&http, Choice::Default, &candidate).unwrap();
        let mut out = String::new();
        verdict.header.unwrap().write_quilt3(&mut out);
        assert_eq!(
            out,
            r#"{"id": null, "config": "s3://workflow-fixture/.quilt/workflows/config.yml"}"#
        );
        // A workflow without schemas records no `schemas`, and reads none.
        let http = bucket_with_workflows(optional.as_bytes());
        let verdict = run(&http, Choice::Named("a".into()), &candidate).unwrap();
        let mut out = String::new();
        verdict.header.unwrap().write_quilt3(&mut out);
        assert_eq!(
            out,
            r#"{"id": "a", "config": "s3://workflow-fixture/.quilt/workflows/config.yml"}"#
        );
        assert_eq!(http.sends(), 1);
    }

    #[test]
    fn a_versioned_config_is_recorded_with_its_version() {
        let entries = facts(&[("x", 1)]);
        let candidate = Candidate {
            name: "any/p",
            message: None,
            user_meta: None,
            entries: &entries,
        };
        let optional = b"version: '1'\nis_workflow_required: false\nworkflows: {a: {name: A}}\n";
        let http = FakeHttp::answering(vec![response(
            200,
            &[("x-amz-version-id", "v/1 2")],
            optional,
        )]);
        let verdict = run(&http, Choice::None, &candidate).unwrap();
        let mut out = String::new();
        verdict.header.unwrap().write_quilt3(&mut out);
        assert!(
            out.ends_with(r#"config.yml?versionId=v%2F1%202"}"#),
            "{out}"
        );
    }

    #[test]
    fn without_a_config_there_are_no_rules_and_no_header() {
        let entries = facts(&[("x", 1)]);
        let candidate = Candidate {
            name: "any/p",
            message: None,
            user_meta: None,
            entries: &entries,
        };
        assert_eq!(
            run(&no_config(), Choice::Default, &candidate).unwrap(),
            Verdict {
                header: None,
                workflow: None
            }
        );
        let named = run(&no_config(), Choice::Named("a".into()), &candidate).unwrap_err();
        assert!(matches!(named, WorkflowError::NoConfig { .. }), "{named}");
        let none = run(&no_config(), Choice::None, &candidate).unwrap_err();
        assert!(matches!(none, WorkflowError::NoConfig { .. }), "{none}");
    }

    #[test]
    fn a_broken_config_or_schema_refuses_with_where_it_is() {
        let entries = facts(&[("x", 1)]);
        let candidate = Candidate {
            name: "team/p",
            message: Some("m"),
            user_meta: None,
            entries: &entries,
        };
        for (config, says) in [
            (
                "version: '1'\nworkflows: {a: {name: A, metadata_schema: missing}}\n",
                "not listed under schemas",
            ),
            (
                "version: '1'\nworkflows: {a: {name: A, metadata_schema: m}}\nschemas: {m: {url: 'https://example.com/s.json'}}\n",
                "s3://",
            ),
            (
                "version: '1'\nworkflows: {a: {name: A, handle_pattern: '('}}\n",
                "not a regular expression",
            ),
            ("version: [\n", "config.yml"),
        ] {
            let http = bucket_with_workflows(config.as_bytes());
            let error = run(&http, Choice::Named("a".into()), &candidate).unwrap_err();
            assert!(
                matches!(error, WorkflowError::BadConfig { .. }),
                "{config}: {error}"
            );
            assert!(error.to_string().contains(says), "{config}: {error}");
        }
    }
}
