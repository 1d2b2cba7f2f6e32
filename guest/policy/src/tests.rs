//! The rules' one test suite: the host and the adapter only pass requests to them.

use url::Url;

use crate::defaults;
use crate::egress::{AllowList, Refusal};
use crate::origin::Origin;
use crate::settings;

const REGISTRY: &str = "https://registry.example.com/api/";

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

/// Local S3, AWS-style S3 spelt in capitals, and the registry.
fn list() -> AllowList {
    AllowList::new(
        &[url("http://127.0.0.1:8333"), url("https://S3.example.com")],
        Some(&url(REGISTRY)),
    )
}

fn allows(list: &AllowList, scheme: &str, authority: &str) -> bool {
    list.check(Some(scheme), Some(authority), false).is_ok()
}

#[test]
fn allows_exact_origins_with_or_without_the_default_port() {
    let list = list();
    assert!(allows(&list, "http", "127.0.0.1:8333"));
    assert!(allows(&list, "https", "s3.example.com"));
    assert!(allows(&list, "https", "s3.example.com:443"));
    assert!(
        allows(&list, "https", "S3.EXAMPLE.com:443"),
        "hosts ignore case"
    );
    assert!(
        allows(&list, "HTTPS", "s3.example.com"),
        "schemes ignore case"
    );
    assert!(
        allows(&list, "https", "registry.example.com"),
        "the registry's origin"
    );
    let aws = AllowList::new([&url("https://s3.us-east-1.amazonaws.com")], None);
    assert!(allows(&aws, "https", "s3.us-east-1.amazonaws.com"));
}

#[test]
fn other_schemes_ports_hosts_and_spellings_are_refused() {
    let list = list();
    for (scheme, authority, why) in [
        ("http", "127.0.0.1:8334", "other port"),
        ("https", "127.0.0.1:8333", "other scheme"),
        ("http", "s3.example.com", "http where https is configured"),
        (
            "http",
            "127.0.0.1",
            "the default port where another is configured",
        ),
        (
            "http",
            "localhost:8333",
            "another name for the same address",
        ),
        ("http", "0x7f.1:8333", "another spelling of the address"),
        ("http", "user@127.0.0.1:8333", "user info"),
        ("http", "127.0.0.1:08333", "a port with a leading zero"),
        ("https", "s3.example.com:", "an empty port"),
        ("https", "registry.example.com.:443", "a trailing dot"),
        ("http", "169.254.169.254", "the metadata service"),
    ] {
        assert_eq!(
            list.check(Some(scheme), Some(authority), false),
            Err(Refusal::OriginNotAllowed),
            "{scheme}://{authority}: {why}"
        );
    }
}

#[test]
fn a_request_must_name_an_http_scheme_and_an_authority() {
    let list = list();
    assert_eq!(
        list.check(None, Some("127.0.0.1:8333"), false),
        Err(Refusal::Unaddressed)
    );
    assert_eq!(
        list.check(Some("ftp"), Some("127.0.0.1:8333"), false),
        Err(Refusal::Unaddressed)
    );
    assert_eq!(
        list.check(Some("http"), None, false),
        Err(Refusal::Unaddressed)
    );
}

#[test]
fn authorization_goes_to_the_registry_only() {
    let list = list();
    assert_eq!(
        list.check(Some("https"), Some("registry.example.com:443"), true),
        Ok(())
    );
    assert_eq!(
        list.check(Some("https"), Some("s3.example.com"), true),
        Err(Refusal::AuthorizationOffRegistry),
        "toward S3"
    );
    assert_eq!(
        list.check(Some("https"), Some("elsewhere.example.com"), true),
        Err(Refusal::OriginNotAllowed),
        "an origin that is not allowed at all says so first"
    );
}

#[test]
fn without_a_registry_no_authorization_leaves() {
    let list = AllowList::new([&url("http://127.0.0.1:8333")], None);
    assert_eq!(
        list.check(Some("http"), Some("127.0.0.1:8333"), false),
        Ok(())
    );
    assert_eq!(
        list.check(Some("http"), Some("127.0.0.1:8333"), true),
        Err(Refusal::AuthorizationOffRegistry)
    );
}

#[test]
fn urls_that_name_no_http_origin_allow_nothing() {
    assert_eq!(Origin::of(&url("ftp://files.example.com")), None);
    assert_eq!(Origin::of(&url("unix:/var/run/registry")), None);
    let list = AllowList::new([&url("ftp://127.0.0.1:21")], None);
    assert_eq!(list.origins().count(), 0);
}

#[test]
fn origins_print_with_their_port_once_each() {
    let list = AllowList::new(
        &[
            url("https://s3.example.com"),
            url("https://S3.example.com:443/b"),
        ],
        Some(&url("http://[::1]:8090")),
    );
    let printed: Vec<String> = list.origins().map(Origin::to_string).collect();
    assert_eq!(printed, ["https://s3.example.com:443", "http://[::1]:8090"]);
    assert!(allows(&list, "http", "[::1]:8090"));
}

#[test]
fn virtual_host_buckets_need_an_allowed_subdomain() {
    let endpoint = url("http://localhost:8333");
    let path_only = AllowList::new([&endpoint], None);
    assert!(!path_only.allows_a_subdomain_of(&endpoint));
    let bucket = url("http://raw.localhost:8333");
    let other_port = url("http://cooked.localhost:9000");
    let lookalike = url("http://rawlocalhost:8333");
    assert!(AllowList::new([&endpoint, &bucket], None).allows_a_subdomain_of(&endpoint));
    assert!(!AllowList::new([&endpoint, &other_port], None).allows_a_subdomain_of(&endpoint));
    assert!(!AllowList::new([&endpoint, &lookalike], None).allows_a_subdomain_of(&endpoint));
}

#[test]
fn the_default_s3_endpoint_follows_the_region() {
    assert_eq!(
        defaults::s3_endpoint(defaults::REGION).unwrap().as_str(),
        "https://s3.us-east-1.amazonaws.com/"
    );
    assert_eq!(
        defaults::s3_endpoint("eu-west-2").unwrap().as_str(),
        "https://s3.eu-west-2.amazonaws.com/"
    );
    assert!(defaults::s3_endpoint("no such region").is_err());
}

/// The region is spliced into the default endpoint's host name, whose origin is then allowed
/// for egress: anything but a region name could move that origin to another host.
#[test]
fn a_region_that_would_move_the_default_endpoint_is_refused() {
    for hostile in [
        "x@evil.example#",
        "a/b",
        "evil.example/",
        "us-east-1.evil.example",
        "US-EAST-1",
        "",
        "-",
        &"a".repeat(64),
    ] {
        assert!(
            defaults::s3_endpoint(hostile).is_err(),
            "{hostile:?} gave {:?}",
            defaults::s3_endpoint(hostile)
        );
        assert!(defaults::check_region(hostile).is_err(), "{hostile:?}");
    }
    for region in [
        "us-east-1",
        "eu-west-2",
        "us-gov-west-1",
        "cn-north-1",
        "eu-isoe-west-1",
    ] {
        assert_eq!(defaults::check_region(region), Ok(region));
    }
}

#[test]
fn urls_reach_the_guest_without_the_slash_url_adds() {
    let bare = Url::parse("https://catalog.example.com").unwrap();
    assert_eq!(bare.as_str(), "https://catalog.example.com/");
    assert_eq!(
        settings::url_for_guest(&bare),
        "https://catalog.example.com"
    );
    let path = Url::parse("http://127.0.0.1:8333/prefix/").unwrap();
    assert_eq!(
        settings::url_for_guest(&path),
        "http://127.0.0.1:8333/prefix"
    );
}

#[test]
fn only_sigv4_authorization_goes_to_the_signed_origins() {
    let list = AllowList::new(
        [&url("https://s3.example.com")],
        Some(&url("https://registry.example.com")),
    )
    .with_signed([&url("https://athena.us-east-1.amazonaws.com")]);
    let athena = (Some("https"), Some("athena.us-east-1.amazonaws.com"));
    let sigv4 = "AWS4-HMAC-SHA256 Credential=AKIA/20261202/us-east-1/athena/aws4_request, SignedHeaders=host, Signature=00";
    assert_eq!(list.check_request(athena.0, athena.1, Some(sigv4)), Ok(()));
    assert_eq!(list.check_request(athena.0, athena.1, None), Ok(()));
    assert_eq!(
        list.check_request(athena.0, athena.1, Some("Bearer the-callers-token")),
        Err(Refusal::AuthorizationOffRegistry)
    );
    // A SigV4 header toward S3 (presigned only) or anywhere else is still refused.
    assert_eq!(
        list.check_request(Some("https"), Some("s3.example.com"), Some(sigv4)),
        Err(Refusal::AuthorizationOffRegistry)
    );
    assert_eq!(
        list.check_request(
            Some("https"),
            Some("registry.example.com"),
            Some("Bearer t")
        ),
        Ok(())
    );
}
