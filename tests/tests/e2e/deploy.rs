//! The Kubernetes recipe (`deploy/kubernetes`): every resource valid against the schemas of
//! the Kubernetes version it targets (kubernetes-validate, strict, from PyPI), locked down as
//! docs/deploying.md says, its pieces naming one another, and the host serving with exactly
//! its configuration — signed in through the bridge with the Secret's keys, probed where the
//! probes look, scraped where the metrics port is, and stopping within the grace period.
//! And the MCP Registry entry (`deploy/server.json`): valid against the registry's schema, held
//! to the registry's rules for OCI images, and naming the image's label and this version.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use quilt_mcp_tests::artifacts::path_from_env;
use quilt_mcp_tests::bridge_sign_in::register;
use quilt_mcp_tests::host_process::{HostLaunch, HostProcess};
use quilt_mcp_tests::mcp::McpClient;
use quilt_mcp_tests::ports::free_port;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::sign_in::{ALICE, ALPHA, Bridged, CLIENT_ID, CLIENT_REDIRECT, access_token};
use crate::support::{Scenario, crate_dir};

// Every trial of this module; one left out fails the build (see `support::trials!`).
crate::support::trials![
    kubernetes_recipe_is_locked_down_and_serves,
    registry_entry_matches_the_image,
];

/// The version the recipe is written for (its HorizontalPodAutoscaler and
/// PodDisruptionBudget APIs are stable there).
const KUBERNETES_VERSION: &str = "1.37";

pub async fn kubernetes_recipe_is_locked_down_and_serves(scenario: &Scenario<'_>) -> Result<()> {
    let recipe = Recipe::load().await?;
    let pod = recipe.pod()?;
    locked_down(pod)?;
    names_agree(&recipe, pod)?;
    let config = recipe.config()?;
    let secret_keys = secret_example_keys()?;
    every_key_is_a_host_setting(config.keys().chain(&secret_keys)).await?;
    stops_within_the_grace_period(pod, &config)?;
    memory_fits(pod, &config)?;
    serves_as_configured(scenario, pod, config, &secret_keys).await
}

/// deploy/kubernetes as the validator printed it: every resource, images applied.
struct Recipe {
    resources: Vec<Value>,
}

impl Recipe {
    async fn load() -> Result<Self> {
        let root = crate_dir().join("..");
        let recipe = root.join("deploy/kubernetes");
        let printed = validate(
            "validate_kubernetes.py",
            &[recipe.as_os_str(), KUBERNETES_VERSION.as_ref()],
        )
        .await?;
        let printed: Value = serde_json::from_slice(&printed)?;
        let resources = printed["resources"].as_array().context("no resources")?;
        Ok(Self {
            resources: resources.clone(),
        })
    }

    fn one(&self, kind: &str) -> Result<&Value> {
        let mut found = self.resources.iter().filter(|r| r["kind"] == kind);
        match (found.next(), found.next()) {
            (Some(resource), None) => Ok(resource),
            _ => bail!("the recipe should hold exactly one {kind}"),
        }
    }

    fn pod(&self) -> Result<&Value> {
        Ok(&self.one("Deployment")?["spec"]["template"])
    }

    /// The ConfigMap's data: the host's environment.
    fn config(&self) -> Result<BTreeMap<String, String>> {
        Ok(serde_json::from_value(
            self.one("ConfigMap")?["data"].clone(),
        )?)
    }
}

/// Non-root as the image's own user, no capabilities, no privilege escalation, a read-only
/// root with only /tmp writable, no service-account token, resources bounded.
fn locked_down(pod: &Value) -> Result<()> {
    let spec = &pod["spec"];
    let security = &spec["securityContext"];
    let image_user = image_user()?;
    ensure!(
        security["runAsNonRoot"] == true && security["runAsUser"] == json!(image_user),
        "the pod should run as the image's non-root user {image_user}: {security}"
    );
    ensure!(
        security["seccompProfile"]["type"] == "RuntimeDefault",
        "{security}"
    );
    ensure!(spec["automountServiceAccountToken"] == false, "{spec}");
    let container = only_container(pod)?;
    let own = &container["securityContext"];
    ensure!(
        own["readOnlyRootFilesystem"] == true
            && own["allowPrivilegeEscalation"] == false
            && own["privileged"] != true
            && own["capabilities"]["drop"] == json!(["ALL"])
            && own["capabilities"].get("add").is_none(),
        "the container should be read-only with no capabilities: {own}"
    );
    let mounts = container["volumeMounts"].as_array().context("no mounts")?;
    ensure!(
        mounts.len() == 1 && mounts[0]["mountPath"] == "/tmp",
        "only /tmp (the image's HOME) should be writable: {mounts:?}"
    );
    let resources = &container["resources"];
    for (bound, what) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "memory"),
    ] {
        ensure!(
            resources[bound][what].is_string(),
            "no {bound}.{what}: {resources}"
        );
    }
    Ok(())
}

/// The user host/Containerfile runs as (`USER uid:gid`).
fn image_user() -> Result<u64> {
    let file = std::fs::read_to_string(crate_dir().join("../host/Containerfile"))?;
    let line = file
        .lines()
        .find_map(|line| line.strip_prefix("USER "))
        .context("host/Containerfile has no USER")?;
    let uid = line.split(':').next().unwrap_or_default();
    uid.parse()
        .with_context(|| format!("USER {line} is not numeric"))
}

fn only_container(pod: &Value) -> Result<&Value> {
    match pod["spec"]["containers"].as_array().map(Vec::as_slice) {
        Some([container]) => Ok(container),
        _ => bail!("the pod should have one container"),
    }
}

/// The Service, the autoscaler, the budget and the envFrom references find what they name.
fn names_agree(recipe: &Recipe, pod: &Value) -> Result<()> {
    let labels = &pod["metadata"]["labels"];
    let service = recipe.one("Service")?;
    let budget = recipe.one("PodDisruptionBudget")?;
    for (what, selector) in [
        ("Service", &service["spec"]["selector"]),
        (
            "PodDisruptionBudget",
            &budget["spec"]["selector"]["matchLabels"],
        ),
    ] {
        let selector = selector.as_object().context("no selector")?;
        ensure!(!selector.is_empty(), "{what} selects every pod");
        for (key, value) in selector {
            ensure!(
                labels[key] == *value,
                "{what} selects {key}={value}, the pods are {labels}"
            );
        }
    }
    let container = only_container(pod)?;
    let ports = container_ports(container)?;
    for port in service["spec"]["ports"].as_array().context("no ports")? {
        let target = port["targetPort"].as_str().unwrap_or_default();
        ensure!(
            ports.contains_key(target),
            "the Service targets port {target}, which the container does not name"
        );
    }
    let deployment = recipe.one("Deployment")?;
    let scaler = recipe.one("HorizontalPodAutoscaler")?;
    ensure!(
        scaler["spec"]["scaleTargetRef"]["kind"] == "Deployment"
            && scaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"],
        "the autoscaler scales something else"
    );
    ensure!(
        deployment["spec"].get("replicas").is_none(),
        "the Deployment should leave the count to the autoscaler: every apply would reset it"
    );
    ensure!(
        scaler["spec"]["minReplicas"].as_u64() >= Some(2),
        "fewer than two replicas leaves a restart nobody to fail over to"
    );
    let sources = container["envFrom"].as_array().context("no envFrom")?;
    ensure!(
        sources[0]["configMapRef"]["name"] == recipe.one("ConfigMap")?["metadata"]["name"],
        "the container reads another ConfigMap"
    );
    ensure!(
        sources[1]["secretRef"]["name"].is_string() && sources[1]["secretRef"]["optional"] != true,
        "the container should require its Secret"
    );
    Ok(())
}

/// Port name to number.
fn container_ports(container: &Value) -> Result<BTreeMap<String, u64>> {
    container["ports"]
        .as_array()
        .context("no ports")?
        .iter()
        .map(|port| {
            let name = port["name"].as_str().context("a port without a name")?;
            let number = port["containerPort"].as_u64().context("no containerPort")?;
            Ok((name.to_owned(), number))
        })
        .collect()
}

/// The keys secret.example.env documents: the Secret the operator creates from it.
fn secret_example_keys() -> Result<Vec<String>> {
    let file =
        std::fs::read_to_string(crate_dir().join("../deploy/kubernetes/secret.example.env"))?;
    let keys: Vec<String> = file
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| line.split('=').next().unwrap_or_default().to_owned())
        .collect();
    ensure!(!keys.is_empty(), "secret.example.env names no key");
    Ok(keys)
}

/// Each key is an environment variable `quilt-mcp serve --help` names: the host ignores any
/// other, so a misspelt one would silently leave its setting at the default.
async fn every_key_is_a_host_setting(keys: impl Iterator<Item = &String>) -> Result<()> {
    let help = Command::new(path_from_env("QUILT_MCP_BIN")?)
        .args(["serve", "--help"])
        .output()
        .await?;
    let help = String::from_utf8(help.stdout)?;
    for key in keys {
        ensure!(
            help.contains(&format!("[env: {key}=")) || help.contains(&format!("[env: {key}]")),
            "{key} is no setting of `quilt-mcp serve`"
        );
    }
    Ok(())
}

/// A numeric setting the ConfigMap must hold.
fn number(config: &BTreeMap<String, String>, key: &str) -> Result<u64> {
    config
        .get(key)
        .with_context(|| format!("the ConfigMap does not set {key}"))?
        .parse()
        .with_context(|| format!("{key} is not a number"))
}

/// The shutdown delay outlasts a readiness probe's period, and the kubelet waits for the delay
/// and the drain before it kills.
fn stops_within_the_grace_period(pod: &Value, config: &BTreeMap<String, String>) -> Result<()> {
    let delay = number(config, "QUILT_MCP_SHUTDOWN_DELAY_SECS")?;
    let drain = number(config, "QUILT_MCP_DRAIN_TIMEOUT_SECS")?;
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .context("no terminationGracePeriodSeconds")?;
    ensure!(
        grace > delay + drain,
        "terminationGracePeriodSeconds {grace} should exceed the delay {delay} plus the drain {drain}"
    );
    let readiness = &only_container(pod)?["readinessProbe"];
    let period = readiness["periodSeconds"].as_u64().unwrap_or(10);
    let detection = period * readiness["failureThreshold"].as_u64().unwrap_or(3);
    ensure!(
        delay >= detection + ENDPOINTS_UPDATE_SECS,
        "the delay {delay} should outlast the readiness probe's detection ({detection} s) and the \
         endpoints' update ({ENDPOINTS_UPDATE_SECS} s)"
    );
    Ok(())
}

/// How long Kubernetes takes to take a terminating pod out of the Service's endpoints
/// everywhere (docs/deploying.md, rolling restarts).
const ENDPOINTS_UPDATE_SECS: u64 = 5;
/// Linear memories an instance may hold (host/src/sandbox/engine.rs, MEMORIES_PER_COMPONENT).
const MEMORIES_PER_INSTANCE: u64 = 2;
/// What the host itself takes besides its instances and answers, in MiB.
const HOST_MIB: u64 = 256;

/// The memory limit holds every instance at its largest and an answer of the largest size for
/// each, so a busy replica is refused work (429/503) rather than killed.
fn memory_fits(pod: &Value, config: &BTreeMap<String, String>) -> Result<()> {
    let instances = number(config, "QUILT_MCP_MAX_INSTANCES")?;
    let memory = number(config, "QUILT_MCP_GUEST_MEMORY_MIB")?;
    let answer = number(config, "QUILT_MCP_MAX_RESPONSE_BYTES")?.div_ceil(1 << 20);
    let needed = instances * (MEMORIES_PER_INSTANCE * memory + answer) + HOST_MIB;
    let limit = only_container(pod)?["resources"]["limits"]["memory"]
        .as_str()
        .and_then(|limit| limit.strip_suffix("Mi"))
        .and_then(|mib| mib.parse::<u64>().ok())
        .context("the memory limit should be given in Mi")?;
    ensure!(
        limit >= needed,
        "a memory limit of {limit}Mi cannot hold {instances} instances of {MEMORIES_PER_INSTANCE} x \
         {memory} MiB with {answer} MiB answers and the host: {needed}Mi needed"
    );
    Ok(())
}

/// The host with the ConfigMap's environment and a Secret made from secret.example.env, only
/// the organization's URLs (the example.com values) and the listen addresses pointed at this
/// stack: a person signs in, lists a bucket, and the call is audited; the probes and the
/// metrics answer on the ports the Deployment names; SIGTERM turns readiness off and the host
/// exits cleanly within the grace period.
async fn serves_as_configured(
    scenario: &Scenario<'_>,
    pod: &Value,
    mut env: BTreeMap<String, String>,
    secret_keys: &[String],
) -> Result<()> {
    let bridged = Bridged::start(scenario, 1).await?;
    let container = only_container(pod)?;
    let ports = container_ports(container)?;
    for (key, port) in [
        ("QUILT_MCP_LISTEN", "http"),
        ("QUILT_MCP_METRICS_LISTEN", "metrics"),
    ] {
        let address = env
            .get(key)
            .with_context(|| format!("the ConfigMap does not set {key}"))?;
        let number = ports
            .get(port)
            .with_context(|| format!("the container has no port {port}"))?;
        ensure!(
            address.ends_with(&format!(":{number}")),
            "{key}={address} is not the container's {port} port {number}"
        );
    }
    let registry = bridged
        .registry
        .url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let listen = format!("127.0.0.1:{}", bridged.ports[0]);
    let metrics = format!("127.0.0.1:{}", free_port());
    let organization = [
        ("QUILT_MCP_PUBLIC_URL", bridged.public_url()),
        ("QUILT_MCP_OAUTH_UPSTREAM_ISSUER", bridged.idp.issuer()),
        ("QUILT_MCP_REGISTRY_URL", registry),
        ("QUILT_MCP_CATALOG_URL", bridged.public_url()),
    ];
    let example_keys: Vec<&str> = env
        .iter()
        .filter(|(_, value)| value.contains("example.com"))
        .map(|(key, _)| key.as_str())
        .collect();
    let mut replaced: Vec<&str> = organization.iter().map(|(key, _)| *key).collect();
    replaced.sort_unstable();
    ensure!(
        example_keys == replaced,
        "the trial replaces {replaced:?}; the recipe's example.com values are {example_keys:?}"
    );
    let here = [
        ("QUILT_MCP_LISTEN", listen.clone()),
        ("QUILT_MCP_METRICS_LISTEN", metrics.clone()),
        ("QUILT_MCP_OAUTH_UPSTREAM_CLIENT_ID", CLIENT_ID.to_owned()),
    ];
    for (key, value) in organization.into_iter().chain(here) {
        env.insert(key.to_owned(), value);
    }
    // What only this stack needs: SeaweedFS instead of AWS's S3, and the test client's
    // loopback redirect.
    let s3 = bridged.seaweed.s3_endpoint.as_str().trim_end_matches('/');
    env.insert("QUILT_MCP_S3_ENDPOINT".into(), s3.to_owned());
    env.insert(
        "QUILT_MCP_OAUTH_ALLOW_LOOPBACK_CLIENTS".into(),
        "true".into(),
    );
    let secret = [
        (
            "QUILT_MCP_OAUTH_UPSTREAM_CLIENT_SECRET",
            bridged.secret.clone(),
        ),
        (
            "QUILT_MCP_OAUTH_KEYS",
            format!("{},{}", bridged.key, STANDARD.encode([7u8; 32])),
        ),
    ];
    ensure!(
        secret
            .iter()
            .map(|(key, _)| *key)
            .eq(secret_keys.iter().map(String::as_str)),
        "secret.example.env documents {secret_keys:?}"
    );
    for (key, value) in secret {
        env.insert(key.to_owned(), value);
    }
    let home = tempfile::tempdir()?;
    env.insert("HOME".into(), home.path().display().to_string());
    let env: Vec<(String, String)> = env.into_iter().collect();
    let mut host = HostProcess::start(HostLaunch {
        host_bin: &scenario.stack.artifacts.host_bin,
        guest: &scenario.stack.artifacts.guest,
        listen: &listen,
        args: &[],
        env: &env,
        echo_logs: false,
    })
    .await?;

    let probe = |path: &str| format!("{}{path}", host.base_url());
    let readiness = container["readinessProbe"]["httpGet"]["path"]
        .as_str()
        .context("no readiness path")?;
    let liveness = container["livenessProbe"]["httpGet"]["path"]
        .as_str()
        .context("no liveness path")?;
    let web = reqwest::Client::new();
    ensure!(
        web.get(probe(liveness)).send().await?.status() == 200,
        "{liveness} is not live"
    );
    ensure!(
        web.get(probe(readiness)).send().await?.status() == 200,
        "{readiness} is not ready"
    );

    let client = register(&bridged.public_url(), CLIENT_REDIRECT, "Kubernetes Trial").await?;
    let token = access_token(&bridged.sign_in(&client, ALICE).await?)?;
    let alice = McpClient::new(&host.mcp_url(), Some(token));
    let listing = alice
        .call_tool("bucket_objects_list", json!({"bucket": ALPHA}))
        .await?
        .success()?;
    ensure!(listing.to_string().contains("hello.txt"), "{listing}");
    host.wait_for_log(r#""tool":"bucket_objects_list""#).await?;

    let scraped = web.get(format!("http://{metrics}/metrics")).send().await?;
    ensure!(
        scraped.status() == 200,
        "metrics: HTTP {}",
        scraped.status()
    );
    ensure!(
        scraped
            .text()
            .await?
            .contains("quilt_mcp_tool_calls_total{"),
        "no tool calls in the metrics"
    );

    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap_or_default();
    // The readiness probe's path answered 200 above: it is /readyz, which turns 503 now.
    host.sigterm()?;
    host.wait_until_not_ready().await?;
    let status = host.wait_for_exit(Duration::from_secs(grace)).await?;
    ensure!(status.success(), "the host exited with {status}");
    Ok(())
}

/// deploy/server.json: the registry's schema (tests/deploy/server.schema.json), and what the
/// registry checks beyond it for an OCI image — the full reference with host and tag and no
/// separate version, the image's `io.modelcontextprotocol.server.name` label equal to the
/// name — and the settings it asks for being the host's.
pub async fn registry_entry_matches_the_image(_scenario: &Scenario<'_>) -> Result<()> {
    let root = crate_dir().join("..");
    let path = root.join("deploy/server.json");
    validate("validate_server_json.py", &[path.as_os_str()]).await?;
    let server: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    let name = server["name"].as_str().context("no name")?;
    ensure!(
        image_label("io.modelcontextprotocol.server.name")? == name,
        "host/Containerfile's label should be {name}"
    );
    let version = workspace_version()?;
    ensure!(
        server["version"] == version,
        "server.json's version is not {version}"
    );
    let packages = server["packages"].as_array().context("no packages")?;
    let oci: Vec<&Value> = packages
        .iter()
        .filter(|p| p["registryType"] == "oci")
        .collect();
    ensure!(oci.len() == 1, "one OCI image expected");
    let image = oci[0];
    let identifier = image["identifier"].as_str().unwrap_or_default();
    let (host, _) = identifier.split_once('/').unwrap_or_default();
    ensure!(
        ["docker.io", "ghcr.io"].contains(&host) || host.ends_with(".pkg.dev"),
        "the registry takes images from docker.io, ghcr.io or *.pkg.dev, not {identifier}"
    );
    ensure!(
        identifier.ends_with(&format!(":{version}")),
        "the image's tag should be the version: {identifier}"
    );
    for refused in ["version", "registryBaseUrl", "fileSha256"] {
        ensure!(
            image.get(refused).is_none(),
            "the registry refuses {refused} on an OCI image"
        );
    }
    let settings: Vec<String> = image["environmentVariables"]
        .as_array()
        .context("no environmentVariables")?
        .iter()
        .filter_map(|variable| variable["name"].as_str().map(str::to_owned))
        .collect();
    every_key_is_a_host_setting(settings.iter()).await?;
    for remote in server["remotes"].as_array().context("no remotes")? {
        let url = remote["url"].as_str().unwrap_or_default();
        ensure!(
            url.ends_with("/mcp"),
            "a remote should name the MCP endpoint: {url}"
        );
    }
    Ok(())
}

/// Runs tests/deploy/`script` with `args` in the validators' venv; its stdout, or why it refused.
async fn validate(script: &str, args: &[&std::ffi::OsStr]) -> Result<Vec<u8>> {
    let output = Command::new(path_from_env("QUILT_MCP_KUBERNETES_VALIDATE_PYTHON")?)
        .arg(crate_dir().join("../tests/deploy").join(script))
        .args(args)
        .output()
        .await?;
    ensure!(
        output.status.success(),
        "{script} {args:?} refused: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output.stdout)
}

/// A `LABEL key="value"` of host/Containerfile.
fn image_label(key: &str) -> Result<String> {
    let file = std::fs::read_to_string(crate_dir().join("../host/Containerfile"))?;
    let prefix = format!("LABEL {key}=");
    let value = file
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .with_context(|| format!("host/Containerfile has no LABEL {key}"))?;
    Ok(value.trim_matches('"').to_owned())
}

/// `[workspace.package]`'s version in Cargo.toml.
fn workspace_version() -> Result<String> {
    let manifest = std::fs::read_to_string(crate_dir().join("../Cargo.toml"))?;
    let line = manifest
        .lines()
        .find_map(|line| line.strip_prefix("version = "))
        .context("Cargo.toml has no version")?;
    Ok(line.trim_matches('"').to_owned())
}
