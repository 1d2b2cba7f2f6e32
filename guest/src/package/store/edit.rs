//! One new revision from a list of changes — objects added by URI, files given inline,
//! entries removed and renamed, over a base revision (or none) — planned first, so the
//! bucket's workflow can judge the result before anything is hashed, copied or written.

use std::collections::BTreeMap;

use super::sources::{Source, check_duplicates, package_entries, pin_sources};
use super::{ManifestLimits, PackageError, PackageLocation};
use crate::package::content_hash::{HashType, Hasher};
use crate::package::json::Json;
use crate::package::links;
use crate::package::manifest::{self, ContentHash, Manifest, validate_logical_key, walk_order};
use crate::s3::S3;
use crate::s3::client::Upload;

/// The changes a new revision makes to its base.
pub struct Edit {
    /// Objects as `s3://bucket/key[?versionId=]`; a trailing `/` takes everything under it.
    pub s3_uris: Vec<String>,
    pub flatten: bool,
    /// Copy the objects into the package's bucket rather than referencing them in place.
    pub copy: bool,
    /// Content given in the call, written to `<namespace>/<name>/<logical_key>`.
    pub files: Vec<InlineFile>,
    /// Logical keys to drop; one ending in `/` drops a folder.
    pub remove: Vec<String>,
    /// (from, to); a `from` ending in `/` moves a folder.
    pub rename: Vec<(String, String)>,
}

pub struct InlineFile {
    pub logical_key: String,
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// What a revision will hold, before anything is hashed, copied or written.
pub struct Plan {
    /// Entries of the base kept (renamed ones under their new key).
    kept: Vec<manifest::Entry>,
    sources: Vec<Source>,
    files: Vec<InlineFile>,
    copy: bool,
}

/// An entry as a workflow sees it.
pub struct Facts<'a> {
    pub logical_key: &'a str,
    pub size: u64,
    pub user_meta: Option<&'a Json>,
}

/// The base's entries after `edit`, with the new objects pinned. Every change is checked
/// (a removed or renamed key must exist; two entries may not end with one key) before any
/// object is asked about.
pub fn plan(
    s3: &S3<'_>,
    base: Option<&Manifest>,
    edit: Edit,
    limits: ManifestLimits,
) -> Result<Plan, PackageError> {
    for file in &edit.files {
        validate_logical_key(&file.logical_key)
            .map_err(|e| PackageError::BadEdit(e.to_string()))?;
    }
    let mut kept: Vec<manifest::Entry> = base.map(|m| m.entries.clone()).unwrap_or_default();
    for key in &edit.remove {
        let before = kept.len();
        kept.retain(|e| !covers(key, &e.logical_key));
        if kept.len() == before {
            return Err(PackageError::PathNotFound { path: key.clone() });
        }
    }
    for (from, to) in &edit.rename {
        rename(&mut kept, from, to)?;
    }
    check_duplicates(kept.iter().map(|e| e.logical_key.as_str()))?;
    let sources = pin_sources(s3, &edit.s3_uris, edit.flatten, limits)?;
    let added = sources
        .iter()
        .map(|s| s.logical_key.as_str())
        .chain(edit.files.iter().map(|f| f.logical_key.as_str()));
    check_duplicates(added)?;
    // New content replaces a kept entry of the same key, as package_update always has.
    let replaced: Vec<&str> = sources
        .iter()
        .map(|s| s.logical_key.as_str())
        .chain(edit.files.iter().map(|f| f.logical_key.as_str()))
        .collect();
    kept.retain(|e| !replaced.contains(&e.logical_key.as_str()));
    let count = kept.len() + sources.len() + edit.files.len();
    if count > limits.entries {
        return Err(PackageError::TooManyEntries {
            count,
            limit: limits.entries,
        });
    }
    Ok(Plan {
        kept,
        sources,
        files: edit.files,
        copy: edit.copy,
    })
}

/// Whether `key` (a logical key, or a folder ending in `/`) names `logical_key`.
fn covers(key: &str, logical_key: &str) -> bool {
    if key.ends_with('/') {
        logical_key.starts_with(key)
    } else {
        logical_key == key
    }
}

fn rename(entries: &mut [manifest::Entry], from: &str, to: &str) -> Result<(), PackageError> {
    let bad = |problem: String| PackageError::BadEdit(format!("rename {from} to {to}: {problem}"));
    if from.ends_with('/') != to.ends_with('/') {
        return Err(bad(
            "rename a folder (ending in /) to a folder, or an entry to an entry".into(),
        ));
    }
    let mut moved = 0;
    for entry in entries.iter_mut().filter(|e| covers(from, &e.logical_key)) {
        let renamed = format!("{to}{}", &entry.logical_key[from.len()..]);
        validate_logical_key(&renamed).map_err(|e| bad(e.to_string()))?;
        entry.logical_key = renamed;
        moved += 1;
    }
    if moved == 0 {
        return Err(PackageError::PathNotFound {
            path: from.to_owned(),
        });
    }
    Ok(())
}

impl Plan {
    /// Every entry of the planned revision, in walk order.
    pub fn facts(&self) -> Vec<Facts<'_>> {
        let mut facts: Vec<Facts<'_>> = self
            .kept
            .iter()
            .map(|e| Facts {
                logical_key: &e.logical_key,
                size: e.size,
                user_meta: e.meta.get("user_meta"),
            })
            .chain(self.sources.iter().map(|s| Facts {
                logical_key: &s.logical_key,
                size: s.size,
                user_meta: None,
            }))
            .chain(self.files.iter().map(|f| Facts {
                logical_key: &f.logical_key,
                size: f.bytes.len() as u64,
                user_meta: None,
            }))
            .collect();
        facts.sort_by(|a, b| walk_order(a.logical_key, b.logical_key));
        facts
    }

    /// Hashes (and with `copy`, copies) the new objects and writes the inline files into the
    /// package's bucket: the revision's entries.
    pub fn write(
        self,
        s3: &S3<'_>,
        package: &PackageLocation,
    ) -> Result<Vec<manifest::Entry>, PackageError> {
        let mut entries = self.kept;
        entries.extend(package_entries(s3, package, self.sources, self.copy)?);
        for file in self.files {
            entries.push(put_file(s3, package, file)?);
        }
        Ok(entries)
    }
}

fn put_file(
    s3: &S3<'_>,
    package: &PackageLocation,
    file: InlineFile,
) -> Result<manifest::Entry, PackageError> {
    let size = file.bytes.len() as u64;
    let mut hasher =
        Hasher::new(&HashType::Chunked, size).expect("sha2-256-chunked is computed here");
    hasher.update(&file.bytes);
    let hash = hasher.finish();
    let key = package.name.data_key(&file.logical_key);
    let no_metadata = BTreeMap::new();
    let stored = s3.put(
        &package.bucket,
        Upload {
            key: &key,
            body: file.bytes,
            content_type: &file.content_type,
            metadata: &no_metadata,
        },
    )?;
    Ok(manifest::Entry {
        logical_key: file.logical_key,
        physical_key: links::physical_key(&package.bucket, &key, stored.version_id.as_deref()),
        size,
        hash: ContentHash {
            kind: HashType::Chunked,
            value: hash,
        },
        meta: Json::Object(Vec::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::{Edit, InlineFile, plan};
    use crate::package::manifest::Manifest;
    use crate::package::store::{ManifestLimits, PackageError};
    use crate::s3::S3;
    use crate::testing::{FakeContext, FakeHttp};

    fn base() -> Manifest {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/package/testdata/nested/manifest.jsonl");
        Manifest::parse(&std::fs::read(path).unwrap()).unwrap()
    }

    fn edit(remove: &[&str], rename: &[(&str, &str)], files: &[&str]) -> Edit {
        Edit {
            s3_uris: Vec::new(),
            flatten: true,
            copy: false,
            files: files
                .iter()
                .map(|key| InlineFile {
                    logical_key: (*key).into(),
                    bytes: b"new".to_vec(),
                    content_type: "text/plain".into(),
                })
                .collect(),
            remove: remove.iter().map(|k| (*k).into()).collect(),
            rename: rename
                .iter()
                .map(|(a, b)| ((*a).into(), (*b).into()))
                .collect(),
        }
    }

    /// The planned keys and sizes; no request is sent, since nothing is added by URI.
    fn planned(edit: Edit) -> Result<Vec<(String, u64)>, PackageError> {
        let (context, http) = (FakeContext::default(), FakeHttp::answering(Vec::new()));
        let s3 = S3::connect(&context, &http).unwrap();
        let plan = plan(
            &s3,
            Some(&base()),
            edit,
            ManifestLimits::of(&context.settings),
        )?;
        assert_eq!(http.sends(), 0);
        Ok(plan
            .facts()
            .iter()
            .map(|f| (f.logical_key.to_owned(), f.size))
            .collect())
    }

    fn keys(planned: &[(String, u64)]) -> Vec<&str> {
        planned.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn remove_rename_and_add_in_one_revision() {
        let got = planned(edit(
            &["data-z.txt"],
            &[("data/sub/", "tables/"), ("data/a.txt", "a.txt")],
            &["README.md", "data/empty.bin"],
        ))
        .unwrap();
        assert_eq!(
            keys(&got),
            ["README.md", "a.txt", "data/empty.bin", "tables/b c.csv"]
        );
        // The inline file replaced the entry of its key.
        assert_eq!(got[2], ("data/empty.bin".into(), 3));
    }

    #[test]
    fn a_folder_is_removed_whole() {
        let got = planned(edit(&["data/"], &[], &[])).unwrap();
        assert_eq!(keys(&got), ["data-z.txt"]);
    }

    #[test]
    fn bad_edits_are_refused_before_anything_is_asked() {
        for (edit, says) in [
            (
                edit(&["nope.txt"], &[], &[]),
                "no entry or folder 'nope.txt'",
            ),
            (edit(&[], &[("nope/", "x/")], &[]), "'nope/'"),
            (edit(&[], &[("data/", "x")], &[]), "folder"),
            (
                edit(&[], &[("data/a.txt", "data-z.txt")], &[]),
                "data-z.txt",
            ),
            (edit(&[], &[("data/a.txt", "../escape")], &[]), "'..'"),
            (edit(&[], &[], &["a/../b"]), "'..'"),
            (edit(&[], &[], &["dup", "dup"]), "dup"),
        ] {
            let error = planned(edit).unwrap_err().to_string();
            assert!(error.contains(says), "{says}: {error}");
        }
    }
}
