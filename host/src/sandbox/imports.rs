//! The imports a guest may have. Wasmtime already refuses a component whose imports the
//! linker cannot satisfy; this narrower list is checked at start-up so that a guest asking for
//! a capability it has no business with — sockets, above all — is refused outright, by name,
//! instead of being linked to an implementation that merely fails at run time.

use wasmtime::Engine;
use wasmtime::component::Component;

/// Interface prefixes a guest may import (versions are not pinned: WASI 0.2.x minor
/// releases are compatible). `wasi:cli` and `wasi:filesystem` are what Rust's standard
/// library links in; the WASI context gives them no environment, arguments or directories.
const ALLOWED: [&str; 8] = [
    "quilt:mcp/request-context@",
    "wasi:http/types@",
    "wasi:http/outgoing-handler@",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/",
    "wasi:filesystem/",
];

#[derive(Debug, thiserror::Error)]
#[error(
    "the guest component imports {import}, which this server does not provide to guests \
     (allowed: {allowed}); rebuild the guest without it"
)]
pub struct ForbiddenImport {
    import: String,
    allowed: String,
}

pub fn check(engine: &Engine, component: &Component) -> Result<(), ForbiddenImport> {
    let component_type = component.component_type();
    check_names(component_type.imports(engine).map(|(name, _)| name))
}

fn check_names<'a>(mut names: impl Iterator<Item = &'a str>) -> Result<(), ForbiddenImport> {
    match names.find(|name| !ALLOWED.iter().any(|prefix| name.starts_with(prefix))) {
        None => Ok(()),
        Some(import) => Err(ForbiddenImport {
            import: import.to_owned(),
            allowed: ALLOWED.join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::check_names;

    #[test]
    fn accepts_what_the_tools_guest_imports() {
        let imports = [
            "quilt:mcp/request-context@0.1.0",
            "wasi:http/types@0.2.12",
            "wasi:http/outgoing-handler@0.2.12",
            "wasi:io/streams@0.2.4",
            "wasi:cli/environment@0.2.6",
            "wasi:filesystem/preopens@0.2.6",
        ];
        assert!(check_names(imports.into_iter()).is_ok());
    }

    #[test]
    fn refuses_sockets_and_names_them() {
        let imports = [
            "wasi:io/streams@0.2.4",
            "wasi:sockets/tcp@0.2.4",
            "wasi:clocks/wall-clock@0.2.4",
        ];
        let refused = check_names(imports.into_iter()).unwrap_err();
        assert!(
            refused.to_string().contains("wasi:sockets/tcp@0.2.4"),
            "{refused}"
        );
    }

    #[test]
    fn refuses_an_incoming_handler_import_and_look_alike_names() {
        assert!(check_names(["wasi:http/incoming-handler@0.2.12"].into_iter()).is_err());
        assert!(check_names(["quilt:mcp/request-context-extra@0.1.0"].into_iter()).is_err());
    }
}
