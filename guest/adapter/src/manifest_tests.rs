//! The deployment manifests (guest/deploy) against the keys the adapter reads: a
//! misspelt key is ignored like any other unknown one, leaving its setting at the
//! default, so the manifests are checked here instead.

use toml_edit::DocumentMut;
use yaml_rust2::{Yaml, YamlLoader};

use crate::config::{
    ACCESS_KEY_ID, KEYS, REGISTRY_URL, S3_ENDPOINT, SECRET_ACCESS_KEY, SESSION_TOKEN,
};

#[test]
fn spin_hands_every_key_to_the_component_and_allows_only_s3_and_the_registry() {
    let manifest: DocumentMut = include_str!("../../deploy/spin.toml")
        .parse()
        .expect("spin.toml parses");
    let declared = manifest["variables"].as_table().expect("[variables]");
    let component = &manifest["component"]["quilt-mcp"];
    let handed = component["variables"]
        .as_table()
        .expect("[component.quilt-mcp.variables]");
    let mut keys: Vec<&str> = handed.iter().map(|(key, _)| key).collect();
    keys.sort_unstable();
    let mut expected = KEYS;
    expected.sort_unstable();
    assert_eq!(
        keys, expected,
        "the component's variables are not the adapter's keys"
    );
    for (key, value) in handed.iter() {
        assert_eq!(
            value.as_str(),
            Some(format!("{{{{ {key} }}}}").as_str()),
            "{key}"
        );
        assert!(
            declared.contains_key(key),
            "{key} is not declared in [variables]"
        );
    }
    for secret in [ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN] {
        assert_eq!(
            declared[secret]["secret"].as_bool(),
            Some(true),
            "{secret} is not marked secret"
        );
    }
    let allowed: Vec<&str> = component["allowed_outbound_hosts"]
        .as_array()
        .expect("allowed_outbound_hosts")
        .iter()
        .filter_map(|host| host.as_str())
        .collect();
    assert_eq!(
        allowed,
        [
            format!("{{{{ {S3_ENDPOINT} }}}}"),
            format!("{{{{ {REGISTRY_URL} }}}}")
        ]
    );
}

#[test]
fn wadm_configures_known_keys_and_keeps_the_key_pair_out_of_the_manifest() {
    let documents = YamlLoader::load_from_str(include_str!("../../deploy/wadm.yaml"))
        .expect("wadm.yaml parses");
    let components = documents[0]["spec"]["components"]
        .as_vec()
        .expect("spec.components");
    let component = components
        .iter()
        .find(|component| component["name"].as_str() == Some("quilt-mcp"))
        .expect("the quilt-mcp component");
    let configs = component["properties"]["config"]
        .as_vec()
        .expect("its config");
    let mut inline = Vec::new();
    for config in configs {
        if let Yaml::Hash(properties) = &config["properties"] {
            inline.extend(properties.keys().filter_map(Yaml::as_str));
        }
    }
    for key in &inline {
        assert!(
            KEYS.contains(key),
            "wadm.yaml configures {key:?}, which the adapter does not read"
        );
    }
    for key in [S3_ENDPOINT, REGISTRY_URL] {
        assert!(inline.contains(&key), "wadm.yaml does not configure {key}");
    }
    for secret in [ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN] {
        assert!(
            !inline.contains(&secret),
            "wadm.yaml carries {secret} inline"
        );
    }
}
