//! `GET /settings/audit.csv` and `.jsonl`: the audit log with the page's
//! filters, streamed page by page so memory stays flat however long the
//! log is.

use super::audit::filters;
use super::error::WebError;
use super::session::CurrentMember;
use crate::service::{AuditEvent, AuditQuery, Latchkey};
use actix_web::body::{BodySize, MessageBody};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use std::pin::Pin;
use std::task::{Context, Poll};
use time::format_description::well_known::Rfc3339;

/// Events read per query; the stream holds at most a few such pages.
const EXPORT_PAGE: i64 = 500;
const CHANNEL_PAGES: usize = 4;

#[derive(Clone, Copy)]
enum Format {
    Csv,
    JsonLines,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::JsonLines => "application/jsonl; charset=utf-8",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
        }
    }

    fn header(self) -> &'static str {
        match self {
            Format::Csv => "id,time,action,actor,token_id,member_id,ip,detail\r\n",
            Format::JsonLines => "",
        }
    }

    fn write(self, out: &mut String, e: &AuditEvent) {
        let time = e.at.assume_utc().format(&Rfc3339).unwrap_or_default();
        match self {
            Format::Csv => {
                let id = e.id.to_string();
                let token = e.token_id.map(|t| t.to_string()).unwrap_or_default();
                let member = e.member_id.map(|m| m.to_string()).unwrap_or_default();
                let fields = [
                    id.as_str(),
                    time.as_str(),
                    e.action.as_str(),
                    e.actor_email.as_deref().unwrap_or_default(),
                    token.as_str(),
                    member.as_str(),
                    e.ip.as_deref().unwrap_or_default(),
                    e.detail.as_str(),
                ];
                for (n, field) in fields.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    out.push_str(&csv_field(field));
                }
                out.push_str("\r\n");
            }
            Format::JsonLines => {
                let line = serde_json::json!({
                    "id": e.id,
                    "time": time,
                    "action": e.action,
                    "actor": e.actor_email,
                    "token_id": e.token_id,
                    "member_id": e.member_id,
                    "ip": e.ip,
                    "detail": e.detail,
                });
                out.push_str(&line.to_string());
                out.push('\n');
            }
        }
    }
}

/// Quoted, quotes doubled; a leading `= + - @` (or tab, CR) is defused
/// with `'` so a spreadsheet shows the text instead of running it.
pub fn csv_field(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

/// A response body fed by the thread that reads the log.
struct Streamed(tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl MessageBody for Streamed {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.get_mut().0.poll_recv(cx)
    }
}

#[get("/settings/audit.csv")]
async fn csv(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    export(&req, &current, &service, Format::Csv)
}

#[get("/settings/audit.jsonl")]
async fn jsonl(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    export(&req, &current, &service, Format::JsonLines)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(csv).service(jsonl);
}

fn export(
    req: &HttpRequest,
    current: &CurrentMember,
    service: &web::Data<Latchkey>,
    format: Format,
) -> Result<HttpResponse, WebError> {
    current.require_admin("Only admins can export the audit log.")?;
    let (action, actor, _) = filters(req)?;
    let query = AuditQuery {
        action: (!action.is_empty()).then_some(action),
        actor,
        page: 1,
    };
    let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_PAGES);
    let svc = service.get_ref().clone();
    let viewer = current.member.clone();
    // A thread of its own: a long export must not hold one of the few
    // threads that answer database work for every other request.
    std::thread::Builder::new()
        .name("audit-export".into())
        .spawn(move || {
            let mut before = None;
            let mut chunk = String::from(format.header());
            loop {
                let events = match svc
                    .audit()
                    .export_page(&viewer, &query, before, EXPORT_PAGE)
                {
                    Ok(events) => events,
                    Err(e) => {
                        tracing::error!(error = %e, "audit export stopped");
                        // The client sees a broken transfer, not a short file.
                        let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
                        return;
                    }
                };
                for e in &events {
                    format.write(&mut chunk, e);
                }
                let done = events.len() < usize::try_from(EXPORT_PAGE).unwrap_or(usize::MAX);
                before = events.last().map(|e| e.id);
                if !chunk.is_empty()
                    && tx
                        .blocking_send(Ok(Bytes::from(std::mem::take(&mut chunk))))
                        .is_err()
                {
                    return; // The client went away.
                }
                if done {
                    return;
                }
            }
        })
        .map_err(|_| WebError::internal())?;
    let filename = format!(
        "latchkey-audit-{}.{}",
        service.clock().today(),
        format.extension()
    );
    Ok(HttpResponse::build(StatusCode::OK)
        .content_type(format.content_type())
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(Streamed(rx)))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "\"plain\"");
        assert_eq!(csv_field("say \"hi\", ok"), "\"say \"\"hi\"\", ok\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1+2"), "\"'-1+2\"");
        assert_eq!(csv_field("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
    }
}
