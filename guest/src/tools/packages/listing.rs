//! `packages_list`.

use super::revisions::read_pointer;
use super::*;

#[derive(Deserialize, JsonSchema)]
pub struct ListArgs {
    /// The registry bucket, as s3://bucket.
    registry: String,
    /// Only packages whose namespace/name starts with this.
    #[serde(default)]
    prefix: String,
    /// Most packages to return, 1 to 1000.
    #[serde(default = "default_limit")]
    limit: usize,
}

#[derive(Serialize, JsonSchema)]
pub struct PackageList {
    /// The registry listed.
    registry: String,
    /// Packages, most recently updated first.
    packages: Vec<ListedPackage>,
    /// Packages matching, before the limit.
    total: usize,
    /// Whether more packages matched than were returned.
    truncated: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct ListedPackage {
    /// namespace/name.
    name: String,
    /// Top hash of the latest revision.
    top_hash: Option<String>,
    /// When latest was last written (RFC 3339).
    modified: Option<String>,
    /// Number of timestamped revisions.
    revisions: usize,
}

pub(super) fn list(env: &Env<'_>, args: ListArgs) -> Result<PackageList, ToolError> {
    let bucket = parse_bucket(&args.registry)?;
    if !(1..=1000).contains(&args.limit) {
        return Err(ToolError::Argument {
            name: "limit",
            problem: format!("{} is out of range; use 1 to 1000", args.limit),
        });
    }
    let s3 = env.s3()?;
    let prefix = format!("{NAMED_PACKAGES}{}", args.prefix);
    let listed = list_under(&s3, &bucket, &prefix, MAX_POINTERS)?;
    struct Found {
        modified: Option<String>,
        has_latest: bool,
        revisions: usize,
    }
    let mut found = HashMap::<String, Found>::new();
    for object in listed {
        let Some(rest) = object.key.strip_prefix(NAMED_PACKAGES) else {
            continue;
        };
        let Some((name, pointer)) = rest.rsplit_once('/') else {
            continue;
        };
        if PackageName::parse(name).is_err() {
            continue;
        }
        let package = found.entry(name.to_owned()).or_insert(Found {
            modified: None,
            has_latest: false,
            revisions: 0,
        });
        if pointer == LATEST {
            package.has_latest = true;
            package.modified = object.last_modified;
        } else if pointer.parse::<u64>().is_ok() {
            package.revisions += 1;
        }
    }
    let mut packages: Vec<(String, Found)> =
        found.into_iter().filter(|(_, f)| f.has_latest).collect();
    // RFC 3339 UTC times sort as text.
    packages.sort_by(|a, b| b.1.modified.cmp(&a.1.modified).then_with(|| a.0.cmp(&b.0)));
    let total = packages.len();
    let packages = packages
        .into_iter()
        .take(args.limit)
        .map(|(name, found)| {
            let target = Target {
                bucket: bucket.clone(),
                name: PackageName::parse(&name).expect("checked above"),
            };
            Ok(ListedPackage {
                top_hash: Some(read_pointer(&s3, &target, LATEST)?),
                name,
                modified: found.modified,
                revisions: found.revisions,
            })
        })
        .collect::<Result<Vec<_>, ToolError>>()?;
    Ok(PackageList {
        registry: format!("s3://{bucket}"),
        truncated: total > packages.len(),
        total,
        packages,
    })
}
