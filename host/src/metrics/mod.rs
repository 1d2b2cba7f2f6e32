//! Prometheus metrics, served at `/metrics` on a listener of their own (`--metrics-listen`),
//! off by default: what the platform engineers who run one server for everyone watch.
//!
//! `prometheus-client` (the Prometheus project's own Rust client) holds and encodes them in
//! the OpenMetrics text format Prometheus scrapes. They live in one process-wide set, as a
//! process has one `/metrics`: each layer records into it where the event happens (the
//! endpoint, admission, the caches, the egress hook).
//!
//! Every label value is one of a fixed set ([`labels`]): a method or tool a client names is
//! counted under its name only when this server knows it, so no client can grow the series.

mod config;
mod endpoint;
pub mod labels;

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use config::MetricsConfig;
pub use endpoint::serve;
use labels::{CacheEvent, Outcome, known_method, known_tool};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// From a millisecond to about half a minute (the default request deadline).
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Everything this process counts.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<RequestLabels>,
    tool_calls: Family<ToolLabels, Counter>,
    tool_call_seconds: Histograms<ToolLabels>,
    instances_in_use: Gauge,
    admission_wait_seconds: Histogram,
    admissions_refused: Family<EventLabels, Counter>,
    jwks: Family<EventLabels, Counter>,
    credentials: Family<EventLabels, Counter>,
    egress_refused: Counter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("quilt_mcp"),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency as fn() -> Histogram),
            tool_calls: Family::default(),
            tool_call_seconds: Family::new_with_constructor(latency as fn() -> Histogram),
            instances_in_use: Gauge::default(),
            admission_wait_seconds: Histogram::new(exponential_buckets(0.0001, 4.0, 10)),
            admissions_refused: Family::default(),
            jwks: Family::default(),
            credentials: Family::default(),
            egress_refused: Counter::default(),
        };
        let registry = &mut metrics.registry;
        registry.register(
            "requests",
            "MCP requests by JSON-RPC method and outcome",
            metrics.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a request's arrival to its response, by method and outcome",
            metrics.request_seconds.clone(),
        );
        registry.register(
            "tool_calls",
            "tools/call requests by tool and outcome",
            metrics.tool_calls.clone(),
        );
        registry.register(
            "tool_call_duration_seconds",
            "Time of tools/call requests, by tool and outcome",
            metrics.tool_call_seconds.clone(),
        );
        registry.register(
            "instances_in_use",
            "Guest instances admitted and not yet done (the pool is --max-instances)",
            metrics.instances_in_use.clone(),
        );
        registry.register(
            "admission_wait_seconds",
            "How long admitted requests waited for a guest instance",
            metrics.admission_wait_seconds.clone(),
        );
        registry.register(
            "admissions_refused",
            "Requests refused admission: caller_busy (429), server_busy (503)",
            metrics.admissions_refused.clone(),
        );
        registry.register(
            "jwks",
            "Signing-key lookups: hit (the cached set); fetches of the set: fetched, failed",
            metrics.jwks.clone(),
        );
        registry.register(
            "credentials",
            "Per-caller credentials: hit (cached), fetched (exchanged anew), failed",
            metrics.credentials.clone(),
        );
        registry.register(
            "egress_refused",
            "Outgoing requests of the guest refused by the egress allow-list",
            metrics.egress_refused.clone(),
        );
        metrics
    }

    /// One MCP request answered: `method` and `tool` as the client sent them.
    pub fn request(
        &self,
        method: Option<&str>,
        tool: Option<&str>,
        outcome: Outcome,
        took: Duration,
    ) {
        let method = known_method(method);
        let labels = RequestLabels {
            method,
            outcome: outcome.name(),
        };
        self.requests.get_or_create(&labels).inc();
        self.request_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if method == "tools/call" {
            let labels = ToolLabels {
                tool: known_tool(tool),
                outcome: outcome.name(),
            };
            self.tool_calls.get_or_create(&labels).inc();
            self.tool_call_seconds
                .get_or_create(&labels)
                .observe(took.as_secs_f64());
        }
    }

    /// A request admitted after waiting `waited`; the returned guard counts its instance
    /// in use until dropped.
    pub fn admitted(&self, waited: Duration) -> InUse {
        self.admission_wait_seconds.observe(waited.as_secs_f64());
        self.instances_in_use.inc();
        InUse(())
    }

    pub fn admission_refused(&self, event: &'static str) {
        self.admissions_refused
            .get_or_create(&EventLabels { event })
            .inc();
    }

    pub fn jwks(&self, event: CacheEvent) {
        self.jwks
            .get_or_create(&EventLabels {
                event: event.name(),
            })
            .inc();
    }

    pub fn credentials(&self, event: CacheEvent) {
        self.credentials
            .get_or_create(&EventLabels {
                event: event.name(),
            })
            .inc();
    }

    pub fn egress_refused(&self) {
        self.egress_refused.inc();
    }

    /// The OpenMetrics text Prometheus scrapes.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Counts one guest instance in use while it lives.
pub struct InUse(());

impl Drop for InUse {
    fn drop(&mut self) {
        metrics().instances_in_use.dec();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::labels::{CacheEvent, Outcome};
    use super::metrics;

    fn line_value(text: &str, prefix: &str) -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(prefix)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// A client's own names never become series: an unknown method or tool is counted as
    /// `other`, and a very long one does not appear at all.
    #[test]
    fn hostile_method_and_tool_names_do_not_grow_the_series() {
        let hostile = "x".repeat(10_000);
        let metric = r#"quilt_mcp_tool_calls_total{tool="other",outcome="refused"}"#;
        let before = line_value(&metrics().render(), metric);
        for name in [hostile.as_str(), "rm_rf", "bucket_list\n"] {
            metrics().request(
                Some("tools/call"),
                Some(name),
                Outcome::Refused,
                Duration::from_millis(3),
            );
            metrics().request(Some(name), None, Outcome::Refused, Duration::ZERO);
        }
        metrics().request(
            Some("tools/call"),
            Some("bucket_list"),
            Outcome::Ok,
            Duration::from_millis(2),
        );
        metrics().jwks(CacheEvent::Hit);
        let text = metrics().render();
        assert_eq!(line_value(&text, metric), before + 3.0, "{text}");
        assert!(!text.contains("rm_rf") && !text.contains(&hostile));
        assert!(text.contains(r#"quilt_mcp_tool_calls_total{tool="bucket_list",outcome="ok"}"#));
        assert!(text.contains(r#"quilt_mcp_requests_total{method="other",outcome="refused"}"#));
        assert!(text.contains(r#"quilt_mcp_jwks_total{event="hit"}"#));
    }
}
