//! Settings → Members (admins): add, change role, disable / enable.

use super::error::WebError;
use super::session::CurrentMember;
use super::views::*;
use super::{html, see_other};
use crate::domain::{Email, MemberId, Password, Role};
use crate::error::Error;
use crate::service::Latchkey;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(page).service(add).service(change);
}

struct Outcome {
    form: NewMemberForm,
    added: Option<(String, String)>,
    notice: Option<String>,
    error: Option<String>,
}

async fn render_page(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
    status: StatusCode,
    outcome: Outcome,
) -> Result<HttpResponse, WebError> {
    let svc = service.clone();
    let org = current.member.org_id;
    let (members, tokens) = web::block(move || {
        Ok::<_, Error>((
            svc.members().list(org)?,
            svc.members().active_token_counts(org)?,
        ))
    })
    .await??;
    let rows = members
        .into_iter()
        .map(|m| MemberRow {
            active_tokens: tokens.get(&m.id).copied().unwrap_or(0),
            id: m.id.0,
            is_self: m.id == current.member.id,
            email: m.email,
            role: m.role.to_string(),
            disabled: m.disabled,
            two_factor: m.two_factor,
            created: m.created_at.date().to_string(),
        })
        .collect();
    Ok(html(
        status,
        render(&MembersPage {
            layout: Layout::for_member(current, "members"),
            members: rows,
            form: outcome.form,
            added: outcome.added,
            notice: outcome.notice,
            error: outcome.error,
        }),
    ))
}

fn empty_form() -> NewMemberForm {
    NewMemberForm {
        email: String::new(),
        role: "developer".into(),
        email_error: None,
        role_error: None,
    }
}

#[get("/settings/members")]
async fn page(
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    current.require_admin("Only admins can manage members.")?;
    let notice = current.take_flash(&service).await?;
    let outcome = Outcome {
        form: empty_form(),
        added: None,
        notice,
        error: None,
    };
    render_page(&service, &current, StatusCode::OK, outcome).await
}

#[post("/settings/members")]
async fn add(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = current.form(&req, &body)?;
    current.require_admin("Only admins can manage members.")?;
    let mut input = NewMemberForm {
        email: form.text("email").trim().to_owned(),
        role: form.text("role").to_owned(),
        email_error: None,
        role_error: None,
    };
    let email = Email::parse(&input.email)
        .map_err(|e| input.email_error = Some(e.message))
        .ok();
    let role = input
        .role
        .parse::<Role>()
        .map_err(|_| input.role_error = Some("Choose viewer, developer or admin.".into()))
        .ok();
    let (Some(email), Some(role)) = (email, role) else {
        let outcome = Outcome {
            form: input,
            added: None,
            notice: None,
            error: None,
        };
        return render_page(
            &service,
            &current,
            StatusCode::UNPROCESSABLE_ENTITY,
            outcome,
        )
        .await;
    };
    let password = Password::generate().map_err(|_| WebError::internal())?;
    let svc = service.clone();
    let actor = current.actor();
    let pw = password.clone();
    match web::block(move || svc.members().add(&actor, &email, role, &pw)).await? {
        Ok(member) => {
            let outcome = Outcome {
                form: empty_form(),
                added: Some((member.email, password.expose().to_owned())),
                notice: None,
                error: None,
            };
            render_page(&service, &current, StatusCode::OK, outcome).await
        }
        Err(Error::Invalid(field)) => {
            input.email_error = Some(field.message);
            let outcome = Outcome {
                form: input,
                added: None,
                notice: None,
                error: None,
            };
            render_page(
                &service,
                &current,
                StatusCode::UNPROCESSABLE_ENTITY,
                outcome,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Without `confirm=yes`, disabling answers a page that says what it does.
async fn confirm_disable(
    current: &CurrentMember,
    service: &web::Data<Latchkey>,
    id: MemberId,
) -> Result<HttpResponse, WebError> {
    let (svc, actor) = (service.clone(), current.actor());
    let (member, tokens) = web::block(move || {
        let member = svc.members().by_id(id)?;
        if actor
            .member
            .as_ref()
            .is_some_and(|a| a.org_id != member.org_id)
        {
            return Err(Error::NotFound("member"));
        }
        let query = crate::service::TokenQuery {
            status: crate::service::StatusFilter::Active,
            owner: crate::service::OwnerFilter::Member(member.id),
            search: None,
            page: 1,
        };
        let tokens = svc.tokens().list(&actor, &query)?.total;
        Ok((member, tokens))
    })
    .await??;
    Ok(html(
        StatusCode::OK,
        render(&ConfirmDisablePage {
            layout: Layout::for_member(current, "members"),
            id: member.id.0,
            email: member.email,
            tokens,
        }),
    ))
}

/// What the members page says after `action` on the member `email`.
fn done_message(action: &str, email: &str) -> String {
    match action {
        "role" => format!("Role of {email} changed. Their tokens follow the new role at once."),
        "disable" => {
            format!("Disabled {email}. They cannot sign in and their tokens stop working.")
        }
        "reset-2fa" => format!(
            "Two-factor sign-in of {email} reset: they set it up again after their next sign-in, or may sign in with their password alone."
        ),
        "sign-out" => {
            format!("Every session of {email} ended: they must sign in again, everywhere.")
        }
        _ => format!("Enabled {email}. Their tokens work again until they expire."),
    }
}

#[post("/settings/members/{id}/{action}")]
async fn change(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = current.form(&req, &body)?;
    current.require_admin("Only admins can manage members.")?;
    let (id, action) = path.into_inner();
    let id = id.parse::<MemberId>().map_err(|_| WebError::not_found())?;
    // Service accounts have their own page; here they are no member.
    let svc = service.clone();
    let target = web::block(move || svc.members().by_id(id)).await?;
    if target.is_ok_and(|m| m.kind == crate::domain::MemberKind::Service) {
        return Err(WebError::not_found());
    }
    if action == "disable" && form.get("confirm") != Some("yes") {
        return confirm_disable(&current, &service, id).await;
    }
    if action == "revoke-all" {
        let origin = super::revoke_all::Origin {
            action: format!("/settings/members/{id}/revoke-all"),
            back: "/settings/members".into(),
            nav: "members",
            whose: "this member's".into(),
        };
        let target = crate::service::RevokeAllTarget::Member(id);
        return super::revoke_all::revoke_all(&current, &service, &form, target, origin).await;
    }
    let role = match action.as_str() {
        "role" => Some(
            form.text("role")
                .parse::<Role>()
                .map_err(|e| WebError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?,
        ),
        "disable" | "enable" | "sign-out" | "reset-2fa" => None,
        _ => return Err(WebError::not_found()),
    };
    let svc = service.clone();
    let actor = current.actor();
    let action2 = action.clone();
    let result = web::block(move || match (action2.as_str(), role) {
        ("role", Some(role)) => svc.members().set_role(&actor, id, role).map(|m| m.email),
        ("disable", _) => svc
            .members()
            .set_disabled(&actor, id, true)
            .map(|m| m.email),
        ("reset-2fa", _) => svc.two_factor().reset(&actor, id).map(|m| m.email),
        ("sign-out", _) => {
            svc.sessions().end_all_of(&actor, id)?;
            svc.members().by_id(id).map(|m| m.email)
        }
        _ => svc
            .members()
            .set_disabled(&actor, id, false)
            .map(|m| m.email),
    })
    .await?;
    match result {
        Ok(email) => {
            let done = done_message(&action, &email);
            current.flash(&service, done).await?;
            Ok(see_other("/settings/members"))
        }
        Err(Error::Conflict(conflict)) => {
            let outcome = Outcome {
                form: empty_form(),
                added: None,
                notice: None,
                error: Some(conflict.to_string()),
            };
            render_page(&service, &current, StatusCode::CONFLICT, outcome).await
        }
        Err(e) => Err(e.into()),
    }
}
