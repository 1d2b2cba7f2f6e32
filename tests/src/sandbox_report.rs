//! The sandbox report: each sandbox trial names every attempt it makes — what it tried, what
//! the guarantee says must happen, what happened — and `make sandbox-report` prints them as a
//! table. Recording is on when `QUILT_MCP_SANDBOX_REPORT` names a file: each observation is one
//! JSON line appended to it (the host's unit tests append to the same file, in the same shape).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

pub const REPORT_VARIABLE: &str = "QUILT_MCP_SANDBOX_REPORT";

/// The longest `observed` cell: an error's first line says enough.
const OBSERVED_CHARS: usize = 160;

#[derive(Debug, Serialize, Deserialize)]
pub struct Observation {
    /// What kind of escape: resources, egress, filesystem, …
    pub area: String,
    pub attempt: String,
    pub expected: String,
    pub observed: String,
    /// Whether the guarantee held (the trial's checks passed).
    pub held: bool,
}

/// One attempt a trial makes, named before it is made.
pub struct Attempt {
    area: &'static str,
    attempt: String,
    expected: &'static str,
}

impl Attempt {
    pub fn new(area: &'static str, attempt: impl Into<String>, expected: &'static str) -> Self {
        Self {
            area,
            attempt: attempt.into(),
            expected,
        }
    }

    /// Records `outcome` — the checks' own account of what happened, or why they failed — and
    /// passes a failure on, so the trial fails exactly as it would without the report.
    pub fn record(self, outcome: Result<String>) -> Result<()> {
        let observed = match &outcome {
            Ok(observed) => observed.clone(),
            Err(error) => format!("{error:#}"),
        };
        let observation = Observation {
            area: self.area.into(),
            observed: first_line(&observed, OBSERVED_CHARS),
            held: outcome.is_ok(),
            attempt: self.attempt,
            expected: self.expected.into(),
        };
        append(&observation)?;
        outcome
            .map(drop)
            .with_context(|| format!("{}: {}", observation.area, observation.attempt))
    }
}

fn append(observation: &Observation) -> Result<()> {
    let Some(path) = std::env::var_os(REPORT_VARIABLE) else {
        return Ok(());
    };
    let mut line = serde_json::to_string(observation)?;
    line.push('\n');
    // One write of a whole line in append mode: trials running in parallel do not interleave.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .with_context(|| format!("appending to the sandbox report {}", path.display()))
}

fn first_line(text: &str, max_chars: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// Every observation in the report file at `path`, grouped by area.
pub fn read(path: &Path) -> Result<Vec<Observation>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the sandbox report {}", path.display()))?;
    let mut observations = text
        .lines()
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not an observation", path.display(), index + 1))
        })
        .collect::<Result<Vec<Observation>>>()?;
    if observations.is_empty() {
        bail!(
            "{} holds no observations: run the sandbox trials with {REPORT_VARIABLE} set (`make sandbox-report` does)",
            path.display()
        );
    }
    observations.sort_by(|a, b| (&a.area, &a.attempt).cmp(&(&b.area, &b.attempt)));
    Ok(observations)
}

/// The report as a Markdown table.
pub fn table(observations: &[Observation]) -> String {
    let mut table =
        String::from("| area | attempt | expected | observed | held |\n|---|---|---|---|---|\n");
    for o in observations {
        let held = if o.held { "yes" } else { "**NO**" };
        let cells =
            [&o.area, &o.attempt, &o.expected, &o.observed].map(|cell| cell.replace('|', "\\|"));
        let _ = writeln!(table, "| {} | {held} |", cells.join(" | "));
    }
    table
}
