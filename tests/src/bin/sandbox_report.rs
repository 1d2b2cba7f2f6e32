//! `make sandbox-report`: prints the table of sandbox attempts the trials recorded in the file
//! named by `QUILT_MCP_SANDBOX_REPORT`; exits non-zero when any guarantee did not hold.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use quilt_mcp_tests::sandbox_report::{REPORT_VARIABLE, read, table};

fn main() -> Result<ExitCode> {
    let path = std::env::var_os(REPORT_VARIABLE)
        .map(PathBuf::from)
        .with_context(|| format!("{REPORT_VARIABLE} must name the report file the trials wrote"))?;
    let observations = read(&path)?;
    print!("{}", table(&observations));
    let broken = observations.iter().filter(|o| !o.held).count();
    if broken > 0 {
        eprintln!(
            "{broken} of {} sandbox guarantees did not hold",
            observations.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    println!("\nAll {} attempts ended as expected.", observations.len());
    Ok(ExitCode::SUCCESS)
}
