//! One token's page: facts, scopes, rotation chain, audit trail and a
//! server-rendered chart of its daily use.

use super::super::error::WebError;
use super::super::format;
use super::super::html;
use super::super::session::CurrentMember;
use super::super::views::{Layout, format_moment, relative, render};
use crate::domain::{TokenId, TokenStatus};
use crate::service::{Latchkey, TokenDetail, USAGE_DAYS};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use time::{Date, PrimitiveDateTime};

// The chart's drawing area, in SVG user units.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 236.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 632.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 196.0;

pub struct Bar {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    pub label: String,
}

pub struct AxisLabel {
    pub x: String,
    pub y: String,
    pub text: String,
    /// `middle`, or `end` for the last date so it is never cut off.
    pub anchor: &'static str,
}

pub struct DayRow {
    pub day: String,
    pub requests: i64,
}

/// A bar chart of requests per day, drawn on the server.
pub struct UsageChart {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub bottom: f64,
    pub bars: Vec<Bar>,
    /// Horizontal grid lines with their values.
    pub y_ticks: Vec<AxisLabel>,
    pub x_labels: Vec<AxisLabel>,
    /// The text alternative: one sentence summing the chart up.
    pub summary: String,
    pub rows: Vec<DayRow>,
}

/// The smallest "round" number (1, 2, 2.5, 5 × 10ⁿ) at least `at_least`.
fn round_up(at_least: i64) -> i64 {
    let mut magnitude = 1_i64;
    loop {
        for step in [magnitude, magnitude * 2, magnitude * 5 / 2, magnitude * 5] {
            if step >= at_least.max(1) {
                return step;
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// Grid lines for a peak: (step, intervals), four or five round steps,
/// whichever reaches the peak with the least room to spare.
fn ticks(peak: i64) -> (i64, i64) {
    [4_i64, 5]
        .into_iter()
        .map(|intervals| (round_up((peak + intervals - 1) / intervals), intervals))
        .min_by_key(|(step, intervals)| step * intervals)
        .unwrap_or((1, 4))
}

fn short_day(day: Date) -> String {
    let month = day.month().to_string();
    format!("{} {}", &month[..3.min(month.len())], day.day())
}

fn unit(n: i64) -> &'static str {
    if n == 1 { "request" } else { "requests" }
}

/// One bar per day, scaled to `top_value` (a day with requests is never
/// drawn flat).
fn bars(usage: &[(Date, i64)], top_value: f64) -> Vec<Bar> {
    let plot_height = BOTTOM - TOP;
    let slot = (RIGHT - LEFT) / usage.len().max(1) as f64;
    let bar_width = slot * 0.7;
    usage
        .iter()
        .enumerate()
        .map(|(i, (day, n))| {
            let mut h = *n as f64 / top_value * plot_height;
            if *n > 0 {
                h = h.max(1.5);
            }
            Bar {
                x: format!("{:.1}", LEFT + i as f64 * slot + (slot - bar_width) / 2.0),
                y: format!("{:.1}", BOTTOM - h),
                width: format!("{bar_width:.1}"),
                height: format!("{h:.1}"),
                label: format!("{day}: {n} {}", unit(*n)),
            }
        })
        .collect()
}

/// A date under every seventh bar, counted back from today.
fn x_labels(usage: &[(Date, i64)]) -> Vec<AxisLabel> {
    let slot = (RIGHT - LEFT) / usage.len().max(1) as f64;
    let last = usage.len().saturating_sub(1);
    usage
        .iter()
        .enumerate()
        .filter(|(i, _)| (last - i).is_multiple_of(7))
        .map(|(i, (day, _))| {
            let (x, anchor) = if i == last {
                (LEFT + (i + 1) as f64 * slot, "end")
            } else {
                (LEFT + i as f64 * slot + slot / 2.0, "middle")
            };
            AxisLabel {
                x: format!("{x:.1}"),
                y: format!("{:.1}", BOTTOM + 18.0),
                text: short_day(*day),
                anchor,
            }
        })
        .collect()
}

pub fn usage_chart(usage: &[(Date, i64)]) -> UsageChart {
    let peak = usage.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let (step, intervals) = ticks(peak);
    let plot_height = BOTTOM - TOP;
    let bars = bars(usage, (step * intervals) as f64);
    let y_ticks = (0..=intervals)
        .map(|k| AxisLabel {
            x: format!("{:.1}", LEFT - 6.0),
            y: format!(
                "{:.1}",
                BOTTOM - (k as f64) / (intervals as f64) * plot_height
            ),
            text: (step * k).to_string(),
            anchor: "end",
        })
        .collect();
    let x_labels = x_labels(usage);
    let total: i64 = usage.iter().map(|(_, n)| n).sum();
    let summary = match usage.iter().rev().find(|(_, n)| *n == peak) {
        Some((day, n)) if *n > 0 => format!(
            "{total} successful {} in the last {USAGE_DAYS} days; the busiest day was {day} with {n}; today so far: {}.",
            unit(total),
            usage.last().map_or(0, |(_, n)| *n)
        ),
        _ => format!("No successful requests in the last {USAGE_DAYS} days."),
    };
    UsageChart {
        width: WIDTH,
        height: HEIGHT,
        left: LEFT,
        right: RIGHT,
        bottom: BOTTOM,
        bars,
        y_ticks,
        x_labels,
        summary,
        rows: usage
            .iter()
            .rev()
            .map(|(day, n)| DayRow {
                day: day.to_string(),
                requests: *n,
            })
            .collect(),
    }
}

pub struct ScopeLine {
    pub name: String,
    pub description: String,
    pub effective: bool,
}

pub struct ChainLink {
    pub id: i64,
    pub name: String,
    pub hint: String,
    pub created: String,
    pub status: &'static str,
    pub current: bool,
}

pub struct TrailLine {
    pub at: String,
    pub action: String,
    pub actor: String,
    pub ip: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "pages/token_detail.html")]
pub struct TokenDetailPage {
    pub layout: Layout,
    pub notice: Option<String>,
    pub id: i64,
    pub name: String,
    pub hint: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub active: bool,
    /// Refused until resumed.
    pub suspended: bool,
    /// Rotation is offered to the owner, on a token not replaced already.
    pub rotatable: bool,
    pub owner_email: String,
    pub owner_role_note: String,
    pub created: String,
    pub created_by: String,
    pub expires: String,
    pub expires_machine: String,
    pub last_used: String,
    pub last_used_ip: String,
    pub revoked: String,
    pub allowed_ips: Vec<String>,
    pub description: Option<String>,
    /// Uses reported, when it is a canary.
    pub canary: Option<i64>,
    /// Why the policy stops it, when it does.
    pub stopped_by_policy: Option<String>,
    pub inactive_soon: bool,
    pub scopes: Vec<ScopeLine>,
    pub chain: Vec<ChainLink>,
    pub trail: Vec<TrailLine>,
    pub chart: UsageChart,
}

/// To the second: the page promises the exact moment.
fn exact(t: PrimitiveDateTime) -> String {
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        t.date(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl From<crate::service::AuditEvent> for TrailLine {
    fn from(e: crate::service::AuditEvent) -> TrailLine {
        TrailLine {
            actor: e.actor_name(),
            at: exact(e.at),
            action: e.action,
            ip: e.ip.unwrap_or_default(),
            detail: e.detail,
        }
    }
}

/// When it stops, in words and as a moment: the end of a rotation's
/// overlap, or its expiry; a revoked token's expiry no longer matters.
fn ending(
    t: &crate::service::TokenView,
    now: PrimitiveDateTime,
) -> (String, Option<PrimitiveDateTime>) {
    match t.status {
        TokenStatus::Revoked => (String::new(), None),
        _ if super::is_replaced(t) => (
            t.revoked_at.map_or_else(String::new, |at| {
                format!(
                    "Stops {} ({}): replaced by rotation",
                    format::moment(at),
                    format::until(at, now)
                )
            }),
            t.revoked_at,
        ),
        _ => (format::expiry(t.expires_at, now), t.expires_at),
    }
}

fn page(current: &CurrentMember, detail: TokenDetail, now: PrimitiveDateTime) -> TokenDetailPage {
    let t = detail.token;
    let scopes = t
        .scopes
        .iter()
        .map(|s| ScopeLine {
            name: s.as_str().to_owned(),
            description: match detail.catalogue.get(s) {
                Some(e) if e.is_active() => e.description.clone(),
                Some(e) => format!("{} (retired: no token can use it)", e.description),
                None => "Not in the scope catalogue: no token can use it".to_owned(),
            },
            effective: detail.effective_scopes.contains(s),
        })
        .collect::<Vec<_>>();
    let owner_role_note = if scopes.iter().all(|s| s.effective) {
        String::new()
    } else {
        "Greyed scopes are retired, or above what the owner's role may use now; the token cannot use them.".to_owned()
    };
    let suspended = t.status == TokenStatus::Suspended;
    // Revocable and suspendable: working, or working but for a suspension.
    let active = t.status == TokenStatus::Active || suspended;
    let replaced = super::is_replaced(&t);
    let (status, status_label) = super::shown_status(&t);
    let (expires, ends_at) = ending(&t, now);
    TokenDetailPage {
        layout: Layout::for_member(current, "tokens"),
        notice: None,
        id: t.id.0,
        hint: t.hint,
        status,
        status_label,
        active,
        suspended,
        rotatable: active && !suspended && !replaced && t.owner_id == current.member.id,
        owner_email: t.owner_email,
        owner_role_note,
        created: format!("{} ({})", exact(t.created_at), relative(t.created_at, now)),
        created_by: detail
            .created_by_email
            .unwrap_or_else(|| "the command line".to_owned()),
        expires,
        expires_machine: ends_at.map(format::machine).unwrap_or_default(),
        last_used: t.last_used_at.map_or("Never used".to_owned(), |at| {
            format!("{} ({})", format_moment(at), relative(at, now))
        }),
        last_used_ip: t.last_used_ip.unwrap_or_default(),
        revoked: super::revoked_note(t.revoked_at, t.revoked_reason, t.revoked_by_email, now)
            .unwrap_or_default(),
        allowed_ips: t.allowed_ips,
        description: t.description,
        canary: t.canary.then_some(detail.canary_uses),
        stopped_by_policy: t.stopped_by_policy,
        inactive_soon: t.inactive_soon,
        scopes,
        chain: detail
            .chain
            .into_iter()
            .map(|c| ChainLink {
                current: c.id == t.id,
                id: c.id.0,
                name: c.name,
                hint: c.hint,
                created: format_moment(c.created_at),
                status: c.status.as_str(),
            })
            .collect(),
        trail: detail.trail.into_iter().map(TrailLine::from).collect(),
        chart: usage_chart(&detail.usage),
        name: t.name,
    }
}

#[get("/settings/api-tokens/{id}")]
pub(super) async fn show(
    path: web::Path<String>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    let id = path.parse::<TokenId>().map_err(|_| WebError::not_found())?;
    let svc = service.clone();
    let actor = current.actor();
    let detail = web::block(move || svc.tokens().detail(&actor, id)).await??;
    let now = service.clock().now();
    let mut page = page(&current, detail, now);
    // What was just done here (a revoke), from the session.
    page.notice = current.take_flash(&service).await?;
    Ok(html(StatusCode::OK, render(&page)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn grid_steps_are_round_and_reach_the_peak_closely() {
        for (peak, grid) in [
            (0, (1, 4)),
            (1, (1, 4)),
            (4, (1, 4)),
            (5, (1, 5)),
            (9, (2, 5)),
            (100, (25, 4)),
            (101, (25, 5)),
            (412, (100, 5)),
            (7_000, (2_000, 4)),
        ] {
            assert_eq!(ticks(peak), grid, "peak {peak}");
            assert!(grid.0 * grid.1 >= peak);
        }
    }

    #[test]
    fn the_chart_has_a_bar_per_day_axes_and_a_summary() {
        let first = date!(2026 - 11 - 01);
        let usage: Vec<(Date, i64)> = (0..30)
            .map(|i| {
                (
                    first + time::Duration::days(i),
                    if i == 10 { 40 } else { i % 3 },
                )
            })
            .collect();
        let chart = usage_chart(&usage);
        assert_eq!(chart.bars.len(), 30);
        assert_eq!(chart.y_ticks.last().map(|t| t.text.as_str()), Some("40"));
        assert_eq!(chart.x_labels.len(), 5);
        assert_eq!(
            chart.x_labels.last().map(|l| l.text.as_str()),
            Some("Nov 30")
        );
        assert!(
            chart
                .summary
                .contains("the busiest day was 2026-11-11 with 40"),
            "{}",
            chart.summary
        );
        assert_eq!(chart.bars[10].height, format!("{:.1}", BOTTOM - TOP));
        assert_eq!(chart.rows[0].day, "2026-11-30");
        let empty = usage_chart(&vec![(first, 0); 30]);
        assert!(empty.summary.starts_with("No successful requests"));
    }
}
