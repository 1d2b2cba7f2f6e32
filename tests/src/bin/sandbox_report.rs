//! `make sandbox-report`: the table of sandbox attempts the trials recorded in the file named by
//! `QUILT_MCP_SANDBOX_REPORT`, as a Markdown document written to `--output PATH` (the Makefile
//! gives `docs/sandbox.md`; stdout without it); exits non-zero when any guarantee did not hold,
//! after writing the document, whose table marks those rows.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use quilt_mcp_tests::generated_doc;
use quilt_mcp_tests::sandbox_report::{REPORT_VARIABLE, read, table};

fn main() -> Result<ExitCode> {
    let output = generated_doc::output_from_args()?;
    let path = std::env::var_os(REPORT_VARIABLE)
        .map(PathBuf::from)
        .with_context(|| format!("{REPORT_VARIABLE} must name the report file the trials wrote"))?;
    let observations = read(&path)?;
    let broken = observations.iter().filter(|o| !o.held).count();
    let mut document = generated_doc::header("Sandbox report", "make sandbox-report");
    document.push_str(
        "What each guarantee in [`security.md`](security.md) attempted and observed.\n\n",
    );
    document.push_str(&table(&observations));
    document.push('\n');
    let summary = if broken == 0 {
        format!("All {} attempts ended as expected.", observations.len())
    } else {
        format!(
            "**{broken} of {} sandbox guarantees did not hold.**",
            observations.len()
        )
    };
    document.push_str(&summary);
    document.push('\n');
    generated_doc::write(output.as_deref(), &document)?;
    eprintln!("{summary}");
    Ok(if broken == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
