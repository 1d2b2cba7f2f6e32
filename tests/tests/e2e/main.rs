//! End-to-end tests of quilt-mcp: the real host binary over HTTP, real guests, real
//! SeaweedFS, real RS256 tokens checked against a real JWKS endpoint. Run by `make test`.
//!
//! Each module lists its own trials (`support::trials!`, next to its tests); this file only
//! declares the modules and joins their lists. Nothing can be left out silently: a test fn
//! missing from its module's list, or a module whose list is not joined, is dead code, which
//! this crate denies; a `.rs` file or directory here that is not declared below, or a trial
//! listed twice, fails the run at start.
#![deny(dead_code)]

mod support;

use std::process::ExitCode;
use std::sync::Arc;

use libtest_mimic::Trial;
use support::{SharedStack, TrialList};
use tokio::runtime::Handle;

/// Declares the trial modules and joins their lists, in this order.
macro_rules! modules {
    ($($module:ident),* $(,)?) => {
        $(mod $module;)*

        /// Every module's name, to compare with the files in this directory.
        const MODULES: &[&str] = &[$(stringify!($module)),*];

        fn all_trials(runtime: &Handle, stack: &Arc<SharedStack>) -> Vec<Trial> {
            let lists: &[TrialList] = &[$($module::trials),*];
            lists.iter().flat_map(|list| list(runtime, stack)).collect()
        }
    };
}

modules![
    auth,
    http_surface,
    sandbox,
    sandbox_read_only,
    mcp_protocol,
    conformance,
    resource_server,
    tools,
    tool_errors,
    guest_limits,
    web_identity,
    catalog,
    packages,
    workflows,
    previews,
    sql,
    hostile_keys,
    catalog_access,
    registry_standin,
    standalone,
    replicas,
    clients,
    hardening,
    local_idp,
    sign_in,
    browser,
    sign_in_clients,
    hostile_upstream,
    access,
    operations,
    deploy,
    faults,
];

/// The files of this directory that are not modules of it (main.rs, support.rs).
const NOT_TRIAL_MODULES: &[&str] = &["main", "support"];

/// Fails when a `.rs` file or a directory (`name/mod.rs`) next to this one is not declared in
/// `modules!`: the compiler never sees it, so its tests would silently not exist.
fn every_file_is_a_module() -> Result<(), String> {
    let dir = support::crate_dir().join("tests/e2e");
    let entries =
        std::fs::read_dir(&dir).map_err(|error| format!("reading {}: {error}", dir.display()))?;
    let mut undeclared: Vec<String> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            if entry.file_type().ok()?.is_dir() {
                return Some(name);
            }
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .filter(|stem| {
            !MODULES.contains(&stem.as_str()) && !NOT_TRIAL_MODULES.contains(&stem.as_str())
        })
        .collect();
    undeclared.sort();
    if undeclared.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: not declared in modules![..] in tests/e2e/main.rs, so its trials would never run: {}",
            dir.display(),
            undeclared.join(", ")
        ))
    }
}

/// Fails when two trials share a name (one listed twice, say): a filter could then never run
/// just one of them, and a count of trials would overstate what is tested.
fn no_trial_is_listed_twice(trials: &[Trial]) -> Result<(), String> {
    let mut names: Vec<&str> = trials.iter().map(Trial::name).collect();
    names.sort_unstable();
    let mut twice: Vec<&str> = names
        .windows(2)
        .filter(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
        .collect();
    twice.dedup();
    if twice.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "trials listed more than once: {}",
            twice.join(", ")
        ))
    }
}

fn main() -> ExitCode {
    if let Err(error) = every_file_is_a_module() {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    let arguments = libtest_mimic::Arguments::from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let stack = Arc::new(SharedStack::default());
    let trials = all_trials(runtime.handle(), &stack);
    if let Err(error) = no_trial_is_listed_twice(&trials) {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    // Start the shared stack from this thread, which outlives every trial: its processes
    // die with the thread that spawned them (PR_SET_PDEATHSIG), and a trial's thread may
    // end while other trials still need SeaweedFS. A failure to start is reported by each
    // trial that asks for the stack.
    let _ = runtime.block_on(stack.get());
    let conclusion = libtest_mimic::run(&arguments, trials);
    // The trials are consumed by now, so this is the last handle: dropping it kills
    // SeaweedFS and the JWKS server and removes the data directory.
    drop(stack);
    drop(runtime);
    conclusion.exit_code()
}
