//! One new revision from a list of changes — objects added by URI, files given inline,
//! entries removed and renamed, over a base revision (or none) — planned first, so the
//! bucket's workflow can judge the result before anything is hashed, copied or written.

use std::collections::{BTreeMap, HashSet};

use super::sources::{Source, check_duplicates, package_entries, pin_sources};
use super::{ManifestLimits, PackageError, PackageLocation};
use crate::package::content_hash::{HashType, Hasher};
use crate::package::json::Json;
use crate::package::links;
use crate::package::manifest::{self, ContentHash, Manifest, validate_logical_key, walk_order};
use crate::s3::S3;
use crate::s3::client::Upload;
use crate::s3::uri::validate_key;

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

/// A manifest's folder lines (`data/` and its metadata).
pub type Folders = Vec<(String, Json)>;

/// What a revision will hold, before anything is hashed, copied or written.
pub struct Plan {
    /// Entries of the base kept (renamed ones under their new key).
    kept: Vec<manifest::Entry>,
    /// The base's folder lines, after removes and renames.
    folders: Folders,
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
/// (a removed or renamed key must exist; two entries may not end with one key, nor one be a
/// folder of another; every object written gets a key S3 takes) before any object is asked
/// about.
pub fn plan(
    s3: &S3<'_>,
    package: &PackageLocation,
    base: Option<&Manifest>,
    edit: Edit,
    limits: ManifestLimits,
) -> Result<Plan, PackageError> {
    for file in &edit.files {
        check_written_key(package, &file.logical_key)?;
    }
    let mut kept: Vec<manifest::Entry> = base.map(|m| m.entries.clone()).unwrap_or_default();
    let mut folders: Folders = base.map(|m| m.folders.clone()).unwrap_or_default();
    for key in &edit.remove {
        let before = kept.len();
        kept.retain(|e| !covers(key, &e.logical_key));
        if kept.len() == before {
            return Err(PackageError::PathNotFound { path: key.clone() });
        }
        folders.retain(|(folder, _)| !covers(key, folder));
    }
    for (from, to) in &edit.rename {
        rename(&mut kept, &mut folders, from, to)?;
    }
    check_duplicates(kept.iter().map(|e| e.logical_key.as_str()))?;
    let sources = pin_sources(s3, &edit.s3_uris, edit.flatten, limits)?;
    if edit.copy {
        for source in &sources {
            check_written_key(package, &source.logical_key)?;
        }
    }
    let added: Vec<&str> = sources
        .iter()
        .map(|s| s.logical_key.as_str())
        .chain(edit.files.iter().map(|f| f.logical_key.as_str()))
        .collect();
    check_duplicates(added.iter().copied())?;
    // A renamed entry is never silently replaced by new content given in the same call.
    let renamed: Vec<&str> = edit.rename.iter().map(|(_, to)| to.as_str()).collect();
    if let Some(both) = added
        .iter()
        .find(|key| renamed.iter().any(|to| covers(to, key)))
    {
        return Err(PackageError::BadEdit(format!(
            "'{both}' is both a rename's target and new content; do one or the other"
        )));
    }
    // New content replaces a kept entry of the same key, as package_update always has.
    kept.retain(|e| !added.contains(&e.logical_key.as_str()));
    let count = kept.len() + sources.len() + edit.files.len();
    if count > limits.entries {
        return Err(PackageError::TooManyEntries {
            count,
            limit: limits.entries,
        });
    }
    let keys = kept
        .iter()
        .map(|e| e.logical_key.as_str())
        .chain(added.iter().copied());
    check_no_entry_is_a_folder(keys, &folders)?;
    Ok(Plan {
        kept,
        folders,
        sources,
        files: edit.files,
        copy: edit.copy,
    })
}

/// A logical key the package's bucket gets an object at: a valid logical key whose data key
/// (`<namespace>/<name>/<key>`) S3 takes, checked before anything is written.
fn check_written_key(package: &PackageLocation, logical_key: &str) -> Result<(), PackageError> {
    validate_logical_key(logical_key).map_err(|e| PackageError::BadEdit(e.to_string()))?;
    validate_key(&package.name.data_key(logical_key))
        .map_err(|e| PackageError::BadEdit(e.to_string()))
}

/// quilt3 cannot load a package where one entry's key is a folder of another (`data` and
/// `data/a.txt`), nor an entry where a folder line is.
fn check_no_entry_is_a_folder<'k>(
    keys: impl Iterator<Item = &'k str> + Clone,
    folders: &[(String, Json)],
) -> Result<(), PackageError> {
    let mut parents: HashSet<&str> = HashSet::new();
    for key in keys.clone() {
        parents.extend(key.match_indices('/').map(|(i, _)| &key[..i]));
    }
    parents.extend(folders.iter().map(|(f, _)| f.trim_end_matches('/')));
    match keys.into_iter().find(|key| parents.contains(key)) {
        Some(key) => Err(PackageError::BadEdit(format!(
            "'{key}' would be both an entry and a folder of other entries, which quilt3 cannot load"
        ))),
        None => Ok(()),
    }
}

/// Whether `key` (a logical key, or a folder ending in `/`) names `logical_key`.
fn covers(key: &str, logical_key: &str) -> bool {
    if key.ends_with('/') {
        logical_key.starts_with(key)
    } else {
        logical_key == key
    }
}

/// Renames the entries (and, for a folder, the folder lines) `from` names.
fn rename(
    entries: &mut [manifest::Entry],
    folders: &mut [(String, Json)],
    from: &str,
    to: &str,
) -> Result<(), PackageError> {
    let bad = |problem: String| PackageError::BadEdit(format!("rename {from} to {to}: {problem}"));
    if from.ends_with('/') != to.ends_with('/') {
        return Err(bad(
            "rename a folder (ending in /) to a folder, or an entry to an entry".into(),
        ));
    }
    let renamed = |key: &str| {
        let renamed = format!("{to}{}", &key[from.len()..]);
        validate_logical_key(renamed.trim_end_matches('/'))
            .map(|()| renamed)
            .map_err(|e| bad(e.to_string()))
    };
    let mut moved = 0;
    for entry in entries.iter_mut().filter(|e| covers(from, &e.logical_key)) {
        entry.logical_key = renamed(&entry.logical_key)?;
        moved += 1;
    }
    if moved == 0 {
        return Err(PackageError::PathNotFound {
            path: from.to_owned(),
        });
    }
    for (folder, _) in folders.iter_mut().filter(|(f, _)| covers(from, f)) {
        *folder = renamed(folder)?;
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
    /// package's bucket: the revision's folder lines and entries.
    pub fn write(
        self,
        s3: &S3<'_>,
        package: &PackageLocation,
    ) -> Result<(Folders, Vec<manifest::Entry>), PackageError> {
        let mut entries = self.kept;
        entries.extend(package_entries(s3, package, self.sources, self.copy)?);
        for file in self.files {
            entries.push(put_file(s3, package, file)?);
        }
        Ok((self.folders, entries))
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
    use crate::package::layout::PackageName;
    use crate::package::manifest::Manifest;
    use crate::package::store::{ManifestLimits, PackageError, PackageLocation};
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
        let package = PackageLocation {
            bucket: "reg".into(),
            name: PackageName::parse("team/p").unwrap(),
        };
        let plan = plan(
            &s3,
            &package,
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
            (
                edit(&[], &[("data-z.txt", "data")], &[]),
                "both an entry and a folder",
            ),
            (
                edit(&[], &[], &["data-z.txt/x"]),
                "both an entry and a folder",
            ),
            (
                edit(&[], &[("data-z.txt", "new.txt")], &["new.txt"]),
                "rename's target",
            ),
            (edit(&[], &[], &[&"k".repeat(1020)]), "1024"),
        ] {
            let error = planned(edit).unwrap_err().to_string();
            assert!(error.contains(says), "{says}: {error}");
        }
    }
}
