//! Process logging and tracing: log lines (text or JSON) on stdout filtered by `--log-level`
//! (or `RUST_LOG`), no ANSI colours unless stdout is a terminal; and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, the relay's spans exported over OTLP/HTTP.
//!
//! The spans (`ingest.event` with its `eventlog.append`, `store.batch`, `identity.resolve`,
//! `admin.request`) are at DEBUG level and only the OpenTelemetry layer asks for them, so
//! without an endpoint they are never built and the log lines carry no span prefixes.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::cli::{LogArgs, LogFormat};

/// The environment variable naming the OTLP collector (the OpenTelemetry convention).
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Keeps the trace exporter alive; dropping it flushes the spans not yet sent.
#[must_use = "dropping it stops the trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exports_traces(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("trace export did not shut down cleanly: {error}");
            }
        }
    }
}

/// Installs the global subscriber: the log layer, and the OTLP layer when
/// [`OTLP_ENDPOINT_ENV`] is set. Call it outside any async runtime (the exporter builds a
/// blocking HTTP client). An unparsable `--log-level` is an error, not a silent fallback.
///
/// # Errors
/// The filter does not parse, or the OTLP exporter cannot be built.
pub fn init(args: &LogArgs) -> anyhow::Result<Telemetry> {
    let filter = match &args.log_level {
        Some(directives) => EnvFilter::try_new(directives)
            .map_err(|e| anyhow::anyhow!("--log-level {directives:?}: {e}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let lines = match args.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_filter(filter)
            .boxed(),
    };
    let provider = match std::env::var(OTLP_ENDPOINT_ENV) {
        Ok(endpoint) if !endpoint.trim().is_empty() => Some(otlp_provider()?),
        _ => None,
    };
    let traces = provider.as_ref().map(span_layer);
    tracing_subscriber::registry()
        .with(lines)
        .with(traces)
        .init();
    if provider.is_some() {
        tracing::info!(
            endpoint = %std::env::var(OTLP_ENDPOINT_ENV).unwrap_or_default(),
            "exporting traces over OTLP"
        );
    }
    Ok(Telemetry { provider })
}

/// A tracer provider exporting in batches over OTLP/HTTP to the endpoint the standard
/// `OTEL_EXPORTER_OTLP_*` variables name.
fn otlp_provider() -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the OTLP exporter: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("atrelay")
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The layer turning the relay's spans into OpenTelemetry spans of `provider`, with its own
/// filter: the relay's crates at DEBUG (where its spans are), everything else at INFO.
pub fn span_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    let filter = Targets::new()
        .with_default(Level::INFO)
        .with_target("atrelay", Level::DEBUG)
        .with_target("atrelay_identity", Level::DEBUG);
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("atrelay"))
        .with_filter(filter)
}
