//! The composed components against what each runtime provides (guest/deploy/runtimes):
//! every import must be one the runtime links, and the runtime must find the export it
//! calls. Spin and wasmCloud cannot run here, so this is what checks their artifacts.

use std::path::{Path, PathBuf};

use quilt_mcp_compose::{Runtime, satisfies, surface};

/// The Makefile exports where it wrote each runtime's component.
fn artifact(runtime: Runtime) -> PathBuf {
    let variable = match runtime {
        Runtime::WasmtimeServe => "QUILT_MCP_STANDALONE_WASM",
        Runtime::Spin => "QUILT_MCP_STANDALONE_SPIN_WASM",
        Runtime::WasmCloud => "QUILT_MCP_STANDALONE_WASMCLOUD_WASM",
    };
    let path = std::env::var_os(variable).unwrap_or_else(|| {
        panic!("{variable} is not set: run this test with `make test`, which composes the components and sets it")
    });
    PathBuf::from(path)
}

struct Provided {
    imports: Vec<String>,
    exports: Vec<String>,
}

fn provided(runtime: Runtime) -> Provided {
    // Read when the test runs, not when it was built: clones sharing one target directory
    // reuse the binary.
    let list =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../deploy/runtimes")
            .join(format!("{}.txt", runtime.name()));
    let text = std::fs::read_to_string(&list)
        .unwrap_or_else(|error| panic!("reading {}: {error}", list.display()));
    let mut provided = Provided {
        imports: Vec::new(),
        exports: Vec::new(),
    };
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(' ') {
            Some(("import", name)) => provided.imports.push(name.to_owned()),
            Some(("export", name)) => provided.exports.push(name.to_owned()),
            _ => panic!(
                "{}: {line:?} is neither `import NAME` nor `export NAME`",
                list.display()
            ),
        }
    }
    provided
}

/// The imports of `imports` that `provided` has nothing for.
fn unprovided<'a>(imports: &'a [String], provided: &Provided) -> Vec<&'a String> {
    imports
        .iter()
        .filter(|wanted| !provided.imports.iter().any(|name| satisfies(name, wanted)))
        .collect()
}

fn check(runtime: Runtime) {
    let path = artifact(runtime);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}; run `make build`", path.display()));
    let surface = surface(&bytes).expect("the composed component parses");
    let provided = provided(runtime);

    let unprovided = unprovided(&surface.imports, &provided);
    assert!(
        unprovided.is_empty(),
        "{} does not provide {unprovided:?}, which {} imports",
        runtime.name(),
        path.display()
    );
    assert!(
        surface.imports.iter().all(|name| name.starts_with("wasi:")),
        "{} imports a non-WASI interface: {:?}",
        path.display(),
        surface.imports
    );
    assert_eq!(surface.exports.len(), 1, "exports: {:?}", surface.exports);
    assert!(
        provided
            .exports
            .iter()
            .any(|name| satisfies(name, &surface.exports[0])),
        "{} calls {:?}, but {} exports {:?}",
        runtime.name(),
        provided.exports,
        path.display(),
        surface.exports
    );
    assert!(
        surface
            .imports
            .iter()
            .any(|name| name == runtime.config_import()),
        "{} should read its configuration through {}: {:?}",
        path.display(),
        runtime.config_import(),
        surface.imports
    );
}

#[test]
fn wasmtime_serve_provides_every_import() {
    check(Runtime::WasmtimeServe);
}

#[test]
fn spin_provides_every_import() {
    check(Runtime::Spin);
}

#[test]
fn wasmcloud_provides_every_import() {
    check(Runtime::WasmCloud);
}

/// The checker itself: Spin's component reads its configuration through an interface
/// version that Wasmtime does not link, and exactly that must come out.
#[test]
fn an_unprovided_import_is_caught() {
    let spin = surface(&std::fs::read(artifact(Runtime::Spin)).unwrap()).unwrap();
    let missing = unprovided(&spin.imports, &provided(Runtime::WasmtimeServe));
    assert_eq!(missing, [Runtime::Spin.config_import()]);
}
