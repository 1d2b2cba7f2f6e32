//! The one Wasmtime engine: pooling allocation (instances are cheap to make and to throw
//! away) and epoch interruption (a guest that spins is stopped at its deadline).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Pooling limits, chosen for one Rust wasm32-wasip2 component per instance.
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 8;
const KEEP_RESIDENT_BYTES: usize = 2 << 20;

pub struct EngineLimits {
    pub max_instances: u32,
    pub guest_memory_bytes: usize,
}

pub fn new_engine(limits: &EngineLimits) -> anyhow::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(limits.max_instances)
        .total_core_instances(limits.max_instances * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(limits.max_instances * MEMORIES_PER_COMPONENT)
        .total_tables(limits.max_instances * TABLES_PER_COMPONENT)
        .total_stacks(limits.max_instances)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memory_size(limits.guest_memory_bytes)
        // Wiping a small guest's memory with memset is cheaper than returning the pages to
        // the kernel and faulting them back in on the next request.
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("creating the Wasmtime engine")
}

/// Loads the guest: a `.cwasm` made by `quilt-mcp compile` for this engine, or a component to compile now.
pub fn load_component(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    let component = if path.extension().is_some_and(|ext| ext == "cwasm") {
        // SAFETY: a .cwasm is native code, mapped from the file. We only load artifacts our
        // own `compile` subcommand produced (Wasmtime also refuses one built for other engine
        // settings or another version), and `compile` replaces the file by renaming a new one
        // over it, never by rewriting it, so the mapped bytes never change under us.
        unsafe { Component::deserialize_file(engine, path) }
    } else {
        Component::from_file(engine, path)
    };
    component
        .map_err(anyhow::Error::from)
        .with_context(|| format!("loading the guest component {}", path.display()))
}

/// Writes the precompiled form of `guest` for engines configured like ours.
pub fn precompile(guest: &Path, output: &Path) -> anyhow::Result<()> {
    let engine = new_engine(&EngineLimits {
        max_instances: 1,
        guest_memory_bytes: 1 << 20,
    })?;
    let wasm = std::fs::read(guest).with_context(|| format!("reading {}", guest.display()))?;
    let artifact = engine
        .precompile_component(&wasm)
        .map_err(anyhow::Error::from)
        .context("compiling the guest")?;
    // Running hosts map the artifact into memory: rewriting it in place would change their
    // code under them. A new file renamed over the old one leaves their mapping intact.
    let staging = output.with_extension(format!("cwasm.{}.tmp", std::process::id()));
    std::fs::write(&staging, artifact).with_context(|| format!("writing {}", staging.display()))?;
    std::fs::rename(&staging, output).with_context(|| format!("replacing {}", output.display()))
}

/// Advances the engine's epoch forever, from a thread of its own so a busy async runtime
/// cannot delay a deadline.
pub fn start_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker thread");
}
