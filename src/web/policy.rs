//! Settings → Policy (admins): maximum lifetime, "no expiry", the default
//! preset.

use super::error::WebError;
use super::forms::FormData;
use super::session::CurrentMember;
use super::sso::SsoDoor;
use super::views::{Layout, PolicyForm, PolicyPage, render};
use super::{html, see_other};
use crate::domain::{FieldError, PRESETS};
use crate::error::Error;
use crate::service::{Latchkey, PolicyChange, PolicyEffect, PolicySave};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

#[derive(Template)]
#[template(path = "pages/confirm_policy.html")]
struct ConfirmPolicyPage {
    layout: Layout,
    effect: PolicyEffect,
    change: PolicyChange,
    /// The change again, as the form that saves it sends it.
    fields: Vec<(&'static str, String)>,
}

/// "This change stops N tokens": the page that asks before saving.
fn confirm(current: &CurrentMember, change: PolicyChange, effect: PolicyEffect) -> HttpResponse {
    let mut fields = vec![
        ("max_lifetime_days", change.max_lifetime_days.to_string()),
        (
            "default_expiry_days",
            change.default_expiry_days.to_string(),
        ),
        (
            "service_max_lifetime_days",
            change
                .service_max_lifetime_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ),
        (
            "inactive_after_days",
            change
                .inactive_after_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ),
    ];
    for (name, on) in [
        ("allow_no_expiry", change.allow_no_expiry),
        ("require_two_factor", change.require_two_factor),
        ("sso_only", change.sso_only),
        (
            "lifetime_applies_to_existing",
            change.lifetime_applies_to_existing,
        ),
    ] {
        if on {
            fields.push((name, "on".to_owned()));
        }
    }
    html(
        StatusCode::OK,
        render(&ConfirmPolicyPage {
            layout: Layout::for_member(current, "policy"),
            effect,
            change,
            fields,
        }),
    )
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(page).service(save);
}

fn view(
    current: &CurrentMember,
    status: StatusCode,
    form: PolicyForm,
    saved: bool,
) -> HttpResponse {
    // A maximum under every preset made the default the maximum itself.
    let mut presets = PRESETS.to_vec();
    if !presets.contains(&form.default_expiry_days) && form.default_expiry_days > 0 {
        presets.insert(0, form.default_expiry_days);
    }
    html(
        status,
        render(&PolicyPage {
            layout: Layout::for_member(current, "policy"),
            form,
            presets,
            saved,
        }),
    )
}

#[get("/settings/policy")]
async fn page(
    current: CurrentMember,
    service: web::Data<Latchkey>,
    sso: web::Data<SsoDoor>,
) -> Result<HttpResponse, WebError> {
    current.require_admin("Only admins can change the policy.")?;
    let svc = service.clone();
    let org = current.member.org_id;
    let policy = web::block(move || svc.policy().current(org)).await??;
    // The notice comes from the session: an address cannot claim a save.
    let saved = current.take_flash(&service).await?.is_some();
    let form = PolicyForm {
        service_max_lifetime_days: policy
            .service_max_lifetime_days
            .map(|d| d.to_string())
            .unwrap_or_default(),
        service_max_error: None,
        max_lifetime_days: policy.expiry.max_lifetime_days.to_string(),
        allow_no_expiry: policy.expiry.allow_no_expiry,
        default_expiry_days: policy.default_expiry_days,
        max_error: None,
        default_error: None,
        require_two_factor: policy.require_two_factor,
        two_factor_error: None,
        sso_configured: sso.0.is_some(),
        sso_only: policy.sso_only,
        sso_only_error: None,
        inactive_after_days: policy
            .inactive_after_days
            .map(|d| d.to_string())
            .unwrap_or_default(),
        inactive_error: None,
        lifetime_applies_to_existing: policy.lifetime_applies_to_existing,
    };
    Ok(view(&current, StatusCode::OK, form, saved))
}

/// The policy form read into a change (adapted as the service would) and
/// every mistake in it, by field.
fn read_change(form: &FormData, sso_configured: bool) -> (PolicyChange, Vec<FieldError>) {
    let mut errors: Vec<FieldError> = Vec::new();
    let max = form
        .text("max_lifetime_days")
        .trim()
        .parse::<u32>()
        .unwrap_or_else(|_| {
            errors.push(FieldError::new(
                "max_lifetime_days",
                "The maximum lifetime must be a number of days from 1 to 3650.",
            ));
            0
        });
    let default = form
        .text("default_expiry_days")
        .trim()
        .parse::<u32>()
        .unwrap_or(0);
    let service_text = form.text("service_max_lifetime_days").trim().to_owned();
    let service_max_lifetime_days = if service_text.is_empty() {
        None
    } else {
        match service_text.parse::<u32>() {
            Ok(days) => Some(days),
            Err(_) => {
                errors.push(FieldError::new(
                    "service_max_lifetime_days",
                    "The maximum lifetime for service accounts must be a number of days from 1 to 3650, or empty for the same as everyone's.",
                ));
                None
            }
        }
    };
    let inactive_after_days = crate::domain::parse_inactive_days(form.text("inactive_after_days"))
        .unwrap_or_else(|e| {
            errors.push(FieldError::new("inactive_after_days", e));
            None
        });
    let change = PolicyChange {
        inactive_after_days,
        lifetime_applies_to_existing: form.get("lifetime_applies_to_existing") == Some("on"),
        max_lifetime_days: max,
        allow_no_expiry: form.get("allow_no_expiry") == Some("on"),
        default_expiry_days: default,
        service_max_lifetime_days,
        require_two_factor: form.get("require_two_factor") == Some("on"),
        sso_only: sso_configured && form.get("sso_only") == Some("on"),
    }
    .adapted();
    if errors.is_empty() {
        errors = change.check();
    }
    (change, errors)
}

#[post("/settings/policy")]
async fn save(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    sso: web::Data<SsoDoor>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form: FormData = current.form(&req, &body)?;
    current.require_admin("Only admins can change the policy.")?;
    let sso_configured = sso.0.is_some();
    let (change, errors) = read_change(&form, sso_configured);
    let message = |field: &str| {
        errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.clone())
    };
    let mut input = PolicyForm {
        service_max_lifetime_days: form.text("service_max_lifetime_days").trim().to_owned(),
        service_max_error: message("service_max_lifetime_days"),
        max_lifetime_days: form.text("max_lifetime_days").trim().to_owned(),
        allow_no_expiry: change.allow_no_expiry,
        default_expiry_days: form.text("default_expiry_days").trim().parse().unwrap_or(0),
        max_error: message("max_lifetime_days"),
        default_error: message("default_expiry_days"),
        require_two_factor: change.require_two_factor,
        two_factor_error: None,
        sso_configured,
        sso_only: change.sso_only,
        sso_only_error: None,
        inactive_after_days: form.text("inactive_after_days").trim().to_owned(),
        inactive_error: message("inactive_after_days"),
        lifetime_applies_to_existing: change.lifetime_applies_to_existing,
    };
    let refused = StatusCode::UNPROCESSABLE_ENTITY;
    if !errors.is_empty() {
        return Ok(view(&current, refused, input, false));
    }
    // A change that stops tokens says so first, by the code that saves.
    let confirmed = form.get("confirm") == Some("yes");
    let (svc, actor) = (service.clone(), current.actor());
    match web::block(move || svc.policy().update(&actor, change, confirmed)).await? {
        Ok(PolicySave::Confirm(effect)) => Ok(confirm(&current, change, effect)),
        Ok(PolicySave::Saved(..)) => {
            current.flash(&service, "Policy saved.".into()).await?;
            Ok(see_other("/settings/policy"))
        }
        Err(Error::Invalid(field)) if field.field == "sso_only" => {
            input.sso_only_error = Some(field.message);
            Ok(view(&current, refused, input, false))
        }
        Err(Error::Invalid(field)) if field.field == "require_two_factor" => {
            input.two_factor_error = Some(field.message);
            Ok(view(&current, refused, input, false))
        }
        Err(Error::Invalid(field)) if field.field == "inactive_after_days" => {
            input.inactive_error = Some(field.message);
            Ok(view(&current, refused, input, false))
        }
        Err(Error::Invalid(field)) if field.field == "service_max_lifetime_days" => {
            input.service_max_error = Some(field.message);
            Ok(view(&current, refused, input, false))
        }
        Err(Error::Invalid(field)) => {
            input.max_error = Some(field.message);
            Ok(view(&current, refused, input, false))
        }
        Err(e) => Err(e.into()),
    }
}
