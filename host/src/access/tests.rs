use http::{HeaderMap, HeaderValue};
use quilt_mcp_policy::tools::{Permission, TOOLS};
use serde_json::{Value, json};

use super::{Access, Narrowing, Permissions, Refusal};
use crate::auth::{Caller, VerifiedToken};
use crate::cli::parse_serve;

fn access(flags: &[&str]) -> Access {
    Access::from_config(&parse_serve(flags).unwrap().access).unwrap()
}

fn caller(claims: Value) -> Caller {
    let Value::Object(claims) = claims else {
        panic!("claims are an object")
    };
    Caller {
        subject: "alice".into(),
        issuer: "https://idp.example".into(),
        claims: Vec::new(),
        token: VerifiedToken::new("t", claims),
        upstream: None,
    }
}

fn reader() -> Caller {
    caller(json!({"scope": "openid quilt:read"}))
}

fn path(path: &str) -> Narrowing {
    Narrowing::of_path(path).unwrap().unwrap()
}

const WRITERS: [&str; 4] = [
    "bucket_objects_put",
    "package_create",
    "package_update",
    "package_delete",
];

#[test]
fn a_read_scope_lists_no_writer_and_is_challenged_for_one() {
    let grant = access(&[]).grant(Some(&reader()), &Narrowing::default());
    let tools = grant.tools();
    assert!(tools.contains(&"bucket_objects_list".to_owned()));
    assert!(tools.contains(&"auth_status".to_owned()));
    for writer in WRITERS {
        assert!(!tools.contains(&writer.to_owned()), "{writer}");
    }
    let needs = match grant.check_call("package_delete") {
        Err(Refusal::InsufficientScope { needs }) => needs,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        needs.iter().collect::<Vec<_>>(),
        [Permission::Read, Permission::Delete],
        "the challenge keeps what the token had"
    );
    assert_eq!(grant.check_call("bucket_objects_list"), Ok(()));
    assert_eq!(
        grant.check_call("no_such_tool"),
        Ok(()),
        "the guest answers unknown tools"
    );
    assert_eq!(
        grant.aws_permissions().iter().collect::<Vec<_>>(),
        [Permission::Read]
    );
}

#[test]
fn scopes_are_read_from_the_configured_claim_and_names() {
    let entra = access(&["--scope-claim", "scp", "--write-scope", "api://quilt/Write"]);
    let token = caller(json!({"scp": ["api://quilt/Write"], "scope": "quilt:read"}));
    let grant = entra.grant(Some(&token), &Narrowing::default());
    assert_eq!(
        grant.aws_permissions().iter().collect::<Vec<_>>(),
        [Permission::Write]
    );
    assert!(grant.tools().contains(&"package_create".to_owned()));
    assert!(!grant.tools().contains(&"bucket_objects_list".to_owned()));
}

#[test]
fn a_token_naming_none_of_our_scopes_gets_the_unscoped_permissions_read_by_default() {
    for claims in [
        json!({}),
        json!({"scope": "openid email"}),
        json!({"scope": ["Read"]}),
        json!({"scope": "QUILT:WRITE"}),
        json!({"scope": 7}),
    ] {
        let unscoped = caller(claims.clone());
        let read = access(&[]).grant(Some(&unscoped), &Narrowing::default());
        assert!(
            !read.tools().contains(&"package_create".to_owned()),
            "{claims}"
        );
        assert!(
            read.tools().contains(&"package_browse".to_owned()),
            "{claims}"
        );
        let everything = access(&["--unscoped-permissions", "read,write,delete"])
            .grant(Some(&unscoped), &Narrowing::default());
        assert_eq!(everything.tools().len(), TOOLS.len(), "{claims}");
        let nothing =
            access(&["--unscoped-permissions", ""]).grant(Some(&unscoped), &Narrowing::default());
        assert_eq!(nothing.tools(), ["auth_status"], "{claims}");
        assert!(nothing.session_policy().allows_nothing());
    }
}

#[test]
fn bridge_tokens_are_read_from_scope_whatever_the_claim_flag() {
    let bridged = |claims| {
        let mut bridged = caller(claims);
        bridged.upstream = Some(std::sync::Arc::new(crate::oauth::UpstreamTokens {
            id_token: "id".into(),
            access_token: None,
        }));
        bridged
    };
    let entra = access(&["--scope-claim", "scp"]);
    let grant = entra.grant(
        Some(&bridged(
            json!({"scope": "quilt:read", "scp": ["quilt:write"]}),
        )),
        &Narrowing::default(),
    );
    assert!(grant.tools().contains(&"bucket_list".to_owned()));
    assert!(
        !grant.tools().contains(&"package_create".to_owned()),
        "the bridge's `scope`, not --scope-claim: {:?}",
        grant.tools()
    );
    let none = access(&[]).grant(Some(&bridged(json!({}))), &Narrowing::default());
    assert_eq!(
        none.tools(),
        ["auth_status"],
        "a bridge token without scopes gets nothing"
    );
}

/// Every combination of server flags, path and headers offers a subset of what each of them
/// offers alone: narrowing never widens.
#[test]
fn narrowing_never_widens() {
    let servers: [&[&str]; 4] = [
        &[],
        &["--read-only"],
        &["--toolsets", "packages,search"],
        &[
            "--tools",
            "bucket_list,package_create,search_catalog",
            "--exclude-tools",
            "search_catalog",
        ],
    ];
    let paths = [
        "/mcp",
        "/mcp/readonly",
        "/mcp/x/objects",
        "/mcp/x/packages/readonly",
        "/mcp/b/raw/x/search,objects",
    ];
    let headers: [&[(&str, &str)]; 4] = [
        &[],
        &[("x-mcp-readonly", "true")],
        &[("x-mcp-toolsets", "objects,packages")],
        &[(
            "x-mcp-tools",
            "package_create,bucket_objects_put,auth_status",
        )],
    ];
    let owner = caller(json!({"scope": "quilt:read quilt:write quilt:delete"}));
    for server in servers {
        let access = access(server);
        let alone = access.grant(Some(&owner), &Narrowing::default()).tools();
        assert!(alone.len() > 1, "{server:?} offers something: {alone:?}");
        for path_text in paths {
            let by_path = access.grant(Some(&owner), &path(path_text)).tools();
            for header_set in headers {
                let mut map = HeaderMap::new();
                for (name, value) in header_set {
                    map.append(*name, HeaderValue::from_static(value));
                }
                let by_header = access
                    .grant(
                        Some(&owner),
                        &Narrowing::default().with_headers(&map).unwrap(),
                    )
                    .tools();
                let both = path(path_text).with_headers(&map).unwrap();
                let tools = access.grant(Some(&owner), &both).tools();
                for tool in &tools {
                    let context = format!("{server:?} {path_text} {header_set:?}: {tool}");
                    assert!(
                        alone.contains(tool),
                        "{context} is not offered by the server"
                    );
                    assert!(
                        by_path.contains(tool),
                        "{context} is not offered by the path"
                    );
                    assert!(
                        by_header.contains(tool),
                        "{context} is not offered by the headers"
                    );
                    let writes = super::rule_for(tool)
                        .unwrap()
                        .needs
                        .is_some_and(|p| p != Permission::Read);
                    assert!(
                        !(writes
                            && (server.contains(&"--read-only")
                                || path_text.ends_with("readonly"))),
                        "{context}"
                    );
                }
            }
        }
    }
}

#[test]
fn read_only_connections_get_read_only_credentials_for_their_bucket() {
    let owner = caller(json!({"scope": "quilt:read quilt:write quilt:delete"}));
    let grant = access(&[]).grant(Some(&owner), &path("/mcp/b/raw/readonly"));
    assert_eq!(grant.bucket(), Some("raw"));
    let document: Value = serde_json::from_str(&grant.session_policy().document("aws")).unwrap();
    assert_eq!(
        document["Statement"][0]["Action"],
        json!(["s3:Get*", "s3:List*"])
    );
    assert_eq!(document["Statement"][0]["Resource"][0], "arn:aws:s3:::raw");
    assert_eq!(
        document["Statement"].as_array().map(Vec::len),
        Some(2),
        "reads and their KMS key only"
    );
    let search_only = access(&[]).grant(Some(&owner), &path("/mcp/x/search"));
    assert!(
        search_only.session_policy().allows_nothing(),
        "a request that may only search gets no AWS credentials"
    );
    let links_only =
        access(&["--tools", "catalog_uri,catalog_url"]).grant(Some(&owner), &Narrowing::default());
    assert!(links_only.session_policy().allows_nothing());
}

#[test]
fn the_challenges_ask_for_what_the_connection_offers() {
    let access = access(&[]);
    assert_eq!(
        access.scopes_supported(),
        ["quilt:read", "quilt:write", "quilt:delete"]
    );
    assert_eq!(
        access.scopes_to_ask(&Narrowing::default()),
        ["quilt:read", "quilt:write"],
        "deleting is asked for by its own challenge"
    );
    assert_eq!(access.scopes_to_ask(&path("/mcp/readonly")), ["quilt:read"]);
    let deleting = access.scopes_to_ask(&Narrowing {
        tools: Some(vec!["package_delete"]),
        ..Narrowing::default()
    });
    assert_eq!(
        deleting,
        ["quilt:delete"],
        "unless deleting is all it offers"
    );
    let bridge: Vec<(String, bool)> = access
        .bridge_scopes()
        .into_iter()
        .map(|scope| (scope.name, scope.by_default))
        .collect();
    assert_eq!(
        bridge,
        [
            ("quilt:read".into(), true),
            ("quilt:write".into(), true),
            ("quilt:delete".into(), false)
        ]
    );
    assert_eq!(access.scopes_to_ask(&path("/mcp/x/search")), ["quilt:read"]);
    let read_only =
        super::Access::from_config(&parse_serve(&["--read-only"]).unwrap().access).unwrap();
    assert_eq!(read_only.scopes_supported(), ["quilt:read"]);
}

#[test]
fn only_requests_that_may_search_get_the_registry_bearer() {
    let owner = caller(json!({"scope": "quilt:read"}));
    assert!(
        access(&[])
            .grant(Some(&owner), &Narrowing::default())
            .uses_registry()
    );
    assert!(
        !access(&[])
            .grant(Some(&owner), &path("/mcp/x/packages"))
            .uses_registry()
    );
    assert!(
        !access(&["--tools", "bucket_list,bucket_objects_list"])
            .grant(Some(&owner), &path("/mcp/b/raw"))
            .uses_registry(),
        "a held connection's bucket_list needs no registry"
    );
    let writer = caller(json!({"scope": "quilt:write"}));
    assert!(
        !access(&[])
            .grant(Some(&writer), &Narrowing::default())
            .uses_registry()
    );
}

#[test]
fn unknown_tools_in_flags_stop_the_server() {
    for flag in ["--tools", "--exclude-tools"] {
        let config = parse_serve(&[flag, "bucket_list,rm_rf"]).unwrap().access;
        let refused = Access::from_config(&config).err().unwrap().to_string();
        assert!(
            refused.contains(flag) && refused.contains("rm_rf"),
            "{refused}"
        );
    }
}

#[test]
fn no_auth_grants_every_permission_within_the_flags() {
    let everything = access(&[]).grant(None, &Narrowing::default());
    assert_eq!(everything.aws_permissions(), Permissions::all());
    let grant = access(&["--read-only"]).grant(None, &Narrowing::default());
    assert_eq!(
        grant.aws_permissions(),
        Permissions::from_iter([Permission::Read])
    );
}
