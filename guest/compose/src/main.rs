//! `quilt-mcp-compose --adapter ADAPTER.wasm --guest GUEST.wasm --runtime NAME --output OUT.wasm`
//! writes the adapter composed in front of the guest for one runtime (see the library).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use quilt_mcp_compose::{Runtime, compose};

const USAGE: &str = "usage: quilt-mcp-compose --adapter ADAPTER.wasm --guest GUEST.wasm --runtime wasmtime-serve|spin|wasmcloud --output OUT.wasm";

struct Args {
    adapter: PathBuf,
    guest: PathBuf,
    runtime: Runtime,
    output: PathBuf,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args> {
    let (mut adapter, mut guest, mut runtime, mut output) = (None, None, None, None);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value; {USAGE}"))?;
        match flag.as_str() {
            "--adapter" => adapter = Some(PathBuf::from(value)),
            "--guest" => guest = Some(PathBuf::from(value)),
            "--runtime" => {
                runtime = Some(
                    Runtime::from_name(&value)
                        .with_context(|| format!("unknown runtime {value:?}; {USAGE}"))?,
                )
            }
            "--output" => output = Some(PathBuf::from(value)),
            _ => bail!("unknown flag {flag:?}; {USAGE}"),
        }
    }
    match (adapter, guest, runtime, output) {
        (Some(adapter), Some(guest), Some(runtime), Some(output)) => Ok(Args {
            adapter,
            guest,
            runtime,
            output,
        }),
        _ => bail!("{USAGE}"),
    }
}

fn run() -> Result<()> {
    let args = parse(std::env::args().skip(1))?;
    let read = |path: &PathBuf| {
        std::fs::read(path)
            .with_context(|| format!("reading {}: build it with `make build`", path.display()))
    };
    let composed = compose(&read(&args.adapter)?, &read(&args.guest)?, args.runtime)?;
    std::fs::write(&args.output, composed)
        .with_context(|| format!("writing {}", args.output.display()))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("quilt-mcp-compose: {error:#}");
            ExitCode::FAILURE
        }
    }
}
