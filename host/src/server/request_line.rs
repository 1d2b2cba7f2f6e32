//! The request's one log line.
//!
//! Each `POST /mcp` runs in a [`span`] whose fields are recorded as they become known
//! (`Span::current().record(..)`: the subject once the token is verified, the method and tool
//! once the body is read, the status last). When the span closes — when the request is over,
//! also when the client went away first, since the tool it called may still be running —
//! [`RequestLines`] writes those fields as one `quilt_mcp::request` event, with a status of 499
//! if none was recorded and `-` for a field never known.

use std::time::Instant;

use tracing::field::{Empty, Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The target of the request span and of the line written for it.
const TARGET: &str = "quilt_mcp::request";

/// nginx's status for a request whose client closed the connection before the answer.
const CLIENT_CLOSED_REQUEST: u16 = 499;

/// The span of one request. Every field but the id is recorded later, each bounded by whoever
/// records it: a client chooses the method, the tool name and (through its identity provider)
/// the subject.
pub fn span(request_id: &str) -> tracing::Span {
    tracing::info_span!(
        target: TARGET,
        "request",
        request_id,
        method = Empty,
        tool = Empty,
        status = Empty,
        subject = Empty,
    )
}

/// Whether `metadata` is the request span's: the one span the log shows only as its line.
pub fn is_request_span(metadata: &Metadata<'_>) -> bool {
    metadata.is_span() && metadata.target() == TARGET
}

/// Writes each request span's fields as its log line when the span closes.
pub struct RequestLines;

/// What a request span has recorded so far.
struct Fields {
    started: Instant,
    request_id: String,
    method: Option<String>,
    tool: Option<String>,
    status: Option<u16>,
    subject: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        let slot = match field.name() {
            "request_id" => {
                self.request_id = value.to_owned();
                return;
            }
            "method" => &mut self.method,
            "tool" => &mut self.tool,
            "subject" => &mut self.subject,
            _ => return,
        };
        *slot = Some(value.to_owned());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "status" {
            self.status = u16::try_from(value).ok();
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl Fields {
    fn log(&self) {
        tracing::info!(
            target: TARGET,
            request_id = self.request_id,
            method = self.method.as_deref().unwrap_or("-"),
            tool = self.tool.as_deref().unwrap_or("-"),
            status = self.status.unwrap_or(CLIENT_CLOSED_REQUEST),
            duration_ms = (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            subject = self.subject.as_deref().unwrap_or("-"),
        );
    }
}

impl<S> Layer<S> for RequestLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !is_request_span(attributes.metadata()) {
            return;
        }
        let mut fields = Fields {
            started: Instant::now(),
            request_id: String::new(),
            method: None,
            tool: None,
            status: None,
            subject: None,
        };
        attributes.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let fields = ctx
            .span(&id)
            .and_then(|span| span.extensions_mut().remove::<Fields>());
        // Written after the span's extensions are let go: the line is an event of its own.
        if let Some(fields) = fields {
            fields.log();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing::Instrument;
    use tracing_subscriber::Layer;
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::{RequestLines, is_request_span, span};

    /// Everything written, shared with the test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn logged(run: impl FnOnce()) -> String {
        let captured = Captured::default();
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(captured.clone())
            .with_ansi(false)
            .with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
                !is_request_span(metadata)
            }));
        let subscriber = tracing_subscriber::registry().with(RequestLines).with(fmt);
        tracing::subscriber::with_default(subscriber, run);
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn the_line_has_every_recorded_field_and_the_span_prefixes_nothing() {
        let log = logged(|| {
            let request = span("r-1");
            request.in_scope(|| {
                let current = tracing::Span::current();
                current.record("subject", "alice");
                current.record("method", "tools/call");
                tracing::info!(target: "quilt_mcp::guest", "inside");
                current.record("status", 200_u16);
            });
        });
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 2, "{log}");
        assert!(lines[0].ends_with("quilt_mcp::guest: inside"), "{log}");
        let line = lines[1];
        assert!(line.contains(" quilt_mcp::request: request_id=\"r-1\" method=\"tools/call\" tool=\"-\" status=200 duration_ms="), "{line}");
        assert!(line.ends_with(" subject=\"alice\""), "{line}");
    }

    #[test]
    fn a_request_dropped_before_its_status_is_logged_as_499() {
        let log = logged(|| {
            let future = async {}.instrument(span("r-2"));
            drop(future);
        });
        assert!(
            log.contains("request_id=\"r-2\" method=\"-\" tool=\"-\" status=499"),
            "{log}"
        );
    }
}
