//! Request ids, one log line per request, and Prometheus metrics.

use crate::service::Refusal;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tracing::Instrument;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// What became of a bearer check, for `latchkey_token_verifications_total`.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    Valid,
    /// No bearer token at all.
    Missing,
    Refused(Refusal),
}

/// Valid, missing, and every refusal.
const OUTCOMES: usize = 2 + Refusal::ALL.len();

impl Outcome {
    fn index(self) -> usize {
        match self {
            Outcome::Valid => 0,
            Outcome::Missing => 1,
            // `Refusal::ALL` lists the refusals in declaration order.
            Outcome::Refused(why) => 2 + why as usize,
        }
    }

    fn label(index: usize) -> &'static str {
        match index {
            0 => "valid",
            1 => "missing",
            i => Refusal::ALL.get(i - 2).map_or("unknown", |r| r.as_str()),
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    pub webhooks: std::sync::Arc<crate::service::webhooks::delivery::WebhookCounters>,
    /// Route → status → count.
    requests: Mutex<HashMap<String, HashMap<u16, u64>>>,
    /// Bearer checks, by outcome (`OUTCOMES`): counters, not a locked
    /// map, as every API request counts one.
    verifications: [AtomicU64; OUTCOMES],
    /// Token lookups answered from memory, and from the database.
    lookups: [AtomicU64; 2],
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_micros: AtomicU64,
}

impl Metrics {
    pub fn verification(&self, outcome: Outcome) {
        self.verifications[outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn token_lookup(&self, answered: crate::web::api::Answered) {
        let slot = match answered {
            crate::web::api::Answered::Memory => 0,
            crate::web::api::Answered::Database => 1,
        };
        self.lookups[slot].fetch_add(1, Ordering::Relaxed);
    }

    fn request(&self, route: &str, status: u16, seconds: f64) {
        // Look the route up by reference: no allocation once it is known.
        if let Ok(mut map) = self.requests.lock() {
            match map.get_mut(route) {
                Some(by_status) => *by_status.entry(status).or_default() += 1,
                None => {
                    map.insert(route.to_owned(), HashMap::from([(status, 1)]));
                }
            }
        }
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, pool: (u32, u32, u32), lease_held: bool) -> String {
        let mut out = String::new();
        self.write_requests(&mut out);
        self.write_latency(&mut out);
        self.write_verifications(&mut out);
        self.write_lookups(&mut out);
        out.push_str(
            "# HELP latchkey_check_lease_held 1 while this instance's lease lets token checks skip the database (PostgreSQL).\n",
        );
        out.push_str("# TYPE latchkey_check_lease_held gauge\n");
        let _ = writeln!(out, "latchkey_check_lease_held {}", u8::from(lease_held));
        write_pool(&mut out, pool);
        self.write_webhooks(&mut out);
        process_metrics(&mut out);
        out
    }

    /// Requests by route and status.
    fn write_requests(&self, out: &mut String) {
        out.push_str("# HELP latchkey_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE latchkey_http_requests_total counter\n");
        if let Ok(map) = self.requests.lock() {
            let mut rows: Vec<(&String, &u16, &u64)> = map
                .iter()
                .flat_map(|(route, by)| by.iter().map(move |(status, n)| (route, status, n)))
                .collect();
            rows.sort();
            for (route, status, n) in rows {
                let route = route.replace('\\', "\\\\").replace('"', "\\\"");
                let _ = writeln!(
                    out,
                    "latchkey_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
    }

    /// The latency histogram.
    fn write_latency(&self, out: &mut String) {
        out.push_str("# HELP latchkey_http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE latchkey_http_request_duration_seconds histogram\n");
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "latchkey_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "latchkey_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "latchkey_http_request_duration_seconds_sum {}",
            self.latency_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "latchkey_http_request_duration_seconds_count {count}");
    }

    /// Bearer checks by outcome.
    fn write_verifications(&self, out: &mut String) {
        out.push_str("# HELP latchkey_token_verifications_total Bearer token checks by outcome.\n");
        out.push_str("# TYPE latchkey_token_verifications_total counter\n");
        let mut rows: Vec<(&str, u64)> = (0..OUTCOMES)
            .map(|i| {
                (
                    Outcome::label(i),
                    self.verifications[i].load(Ordering::Relaxed),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        rows.sort();
        for (outcome, n) in rows {
            let _ = writeln!(
                out,
                "latchkey_token_verifications_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
    }

    /// Where found tokens came from.
    fn write_lookups(&self, out: &mut String) {
        out.push_str(
            "# HELP latchkey_token_lookups_total Presented tokens found, by where the answer came from.\n",
        );
        out.push_str("# TYPE latchkey_token_lookups_total counter\n");
        for (from, n) in [("memory", &self.lookups[0]), ("database", &self.lookups[1])] {
            let _ = writeln!(
                out,
                "latchkey_token_lookups_total{{answered_from=\"{from}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
    }

    /// Webhook deliveries by outcome.
    fn write_webhooks(&self, out: &mut String) {
        out.push_str(
            "# HELP latchkey_webhook_deliveries_total Webhook delivery attempts by outcome.\n",
        );
        out.push_str("# TYPE latchkey_webhook_deliveries_total counter\n");
        for (outcome, n) in [
            ("delivered", &self.webhooks.delivered),
            ("failed", &self.webhooks.failed),
            ("given_up", &self.webhooks.given_up),
        ] {
            let _ = writeln!(
                out,
                "latchkey_webhook_deliveries_total{{outcome=\"{outcome}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
    }
}

/// The connection pool: (open, idle, size).
fn write_pool(out: &mut String, pool: (u32, u32, u32)) {
    let (connections, idle, max) = pool;
    out.push_str("# HELP latchkey_db_pool_connections Database connections by state.\n");
    out.push_str("# TYPE latchkey_db_pool_connections gauge\n");
    let _ = writeln!(out, "latchkey_db_pool_connections{{state=\"idle\"}} {idle}");
    let _ = writeln!(
        out,
        "latchkey_db_pool_connections{{state=\"in_use\"}} {}",
        connections.saturating_sub(idle)
    );
    out.push_str("# HELP latchkey_db_pool_max_connections Size of the connection pool.\n");
    out.push_str("# TYPE latchkey_db_pool_max_connections gauge\n");
    let _ = writeln!(out, "latchkey_db_pool_max_connections {max}");
}

/// The standard `process_*` metrics, read from /proc (Linux).
fn process_metrics(out: &mut String) {
    const PAGE: u64 = 4096;
    const TICKS_PER_SECOND: f64 = 100.0;
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm")
        && let Some(resident) = statm
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u64>().ok())
    {
        out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n");
        out.push_str("# TYPE process_resident_memory_bytes gauge\n");
        let _ = writeln!(out, "process_resident_memory_bytes {}", resident * PAGE);
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some((_, after_name)) = stat.rsplit_once(')')
    {
        // Fields after the name: state is the 3rd of the line, utime the 14th.
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
            out.push_str(
                "# HELP process_cpu_seconds_total User and system CPU time spent in seconds.\n",
            );
            out.push_str("# TYPE process_cpu_seconds_total counter\n");
            let _ = writeln!(
                out,
                "process_cpu_seconds_total {}",
                (user + system) / TICKS_PER_SECOND
            );
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        out.push_str("# HELP process_open_fds Number of open file descriptors.\n");
        out.push_str("# TYPE process_open_fds gauge\n");
        let _ = writeln!(out, "process_open_fds {}", fds.count());
    }
    out.push_str(
        "# HELP process_start_time_seconds Start time of the process since the Unix epoch.\n",
    );
    out.push_str("# TYPE process_start_time_seconds gauge\n");
    let _ = writeln!(out, "process_start_time_seconds {}", started_at());
}

/// When this process started serving (Unix seconds).
fn started_at() -> i64 {
    static STARTED: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *STARTED.get_or_init(|| time::OffsetDateTime::now_utc().unix_timestamp())
}

/// Gives each request an id (in the `X-Request-Id` header and on every log
/// line it causes), logs one line when it ends, and counts it. Headers are
/// never logged, so neither are tokens.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    // Random: an id tells nothing about the process or how busy it is.
    let request_id = format!("{:016x}", rand::random::<u64>());
    let span = tracing::info_span!(
        "request",
        id = %request_id,
        method = %req.method(),
        path = %req.path(),
    );
    let mut res = next.call(req).instrument(span.clone()).await?;
    let seconds = started.elapsed().as_secs_f64();
    let status = res.status().as_u16();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    if let Some(m) = metrics {
        m.request(&route, status, seconds);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    // A failure of ours is logged here, once, with its whole cause chain.
    let cause = res
        .response()
        .extensions()
        .get::<crate::web::error::FailureCause>()
        .map(|c| c.0.clone());
    span.in_scope(|| match cause {
        Some(cause) => {
            tracing::error!(status, route = %route, ms = seconds * 1000.0, error = %cause, "failed")
        }
        None => tracing::debug!(status, route = %route, ms = seconds * 1000.0, "answered"),
    });
    Ok(res)
}

async fn metrics_page(
    metrics: web::Data<Metrics>,
    service: web::Data<crate::service::Latchkey>,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render(
            service.pool_usage(),
            service.checks().leased_mark().is_some(),
        ))
}

/// The metrics listener's only route (`LATCHKEY_METRICS_BIND`): never on
/// the public one, whose per-outcome counters would tell a stranger why a
/// token was refused.
pub fn routes(cfg: &mut web::ServiceConfig) {
    started_at();
    cfg.service(
        web::resource("/metrics")
            .route(web::get().to(metrics_page))
            .default_service(super::api::only("GET")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_own_counter_and_label() {
        let mut all = vec![Outcome::Valid, Outcome::Missing];
        all.extend(Refusal::ALL.map(Outcome::Refused));
        assert_eq!(all.len(), OUTCOMES);
        let labels: std::collections::HashSet<&str> =
            all.iter().map(|o| Outcome::label(o.index())).collect();
        assert_eq!(labels.len(), OUTCOMES, "{labels:?}");
        for outcome in all {
            if let Outcome::Refused(why) = outcome {
                assert_eq!(Outcome::label(outcome.index()), why.as_str());
            }
        }
    }
}
