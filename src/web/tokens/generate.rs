//! The generate form and the one-time reveal.

use super::super::error::WebError;
use super::super::format;
use super::super::forms::FormData;
use super::super::html;
use super::super::session::CurrentMember;
use super::super::views::*;
use crate::domain::bytes::random_hex;
use crate::domain::{
    Expiry, FieldError, IpAllowList, MemberKind, PRESETS, Scope, ScopeSet, TokenName, parse_date,
    parse_description,
};
use crate::error::{Conflict, Error};
use crate::service::{Latchkey, Member, NewToken, OrgPolicy};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use time::{Date, Duration};

/// Whom a token is generated for: the member at the console, or a service
/// account of theirs (admins).
pub(in crate::web) struct Target {
    pub owner: Member,
}

impl Target {
    pub fn me(current: &CurrentMember) -> Target {
        Target {
            owner: current.member.clone(),
        }
    }

    fn service_account(&self) -> Option<String> {
        (self.owner.kind == MemberKind::Service).then(|| self.owner.email.clone())
    }

    /// Where the form posts.
    fn action(&self) -> String {
        match self.owner.kind {
            MemberKind::Service => format!("/settings/service-accounts/{}/tokens", self.owner.id),
            MemberKind::Person => "/settings/api-tokens".to_owned(),
        }
    }

    /// The page the form and the reveal lead back to.
    fn back(&self) -> String {
        match self.owner.kind {
            MemberKind::Service => format!("/settings/service-accounts/{}", self.owner.id),
            MemberKind::Person => "/settings/api-tokens".to_owned(),
        }
    }

    fn nav(&self) -> &'static str {
        match self.owner.kind {
            MemberKind::Service => "service-accounts",
            MemberKind::Person => "tokens",
        }
    }
}

/// What the one-time reveal shows; the plaintext leaves `created` here and
/// `created` is dropped.
fn reveal(
    created: crate::service::CreatedToken,
    now: time::PrimitiveDateTime,
    target: &Target,
) -> Reveal {
    Reveal {
        service_account: target.service_account(),
        back: target.back(),
        token: created.secret.expose().to_owned(),
        name: created.token.name,
        scopes: created.token.scopes.names(),
        allowed_ips: created.token.allowed_ips,
        replaces: None,
        expires: format::expiry(created.token.expires_at, now),
        expires_machine: created
            .token
            .expires_at
            .map(format::machine)
            .unwrap_or_default(),
    }
}

fn new_nonce() -> Result<String, WebError> {
    random_hex(16).map_err(|_| WebError::internal())
}

/// What the member typed, kept when the form comes back with errors.
struct Submitted {
    name: String,
    expires_in: String,
    expires_on: String,
    scopes: Vec<String>,
    allowed_ips: String,
    description: String,
    canary: bool,
    nonce: String,
}

/// The scopes the owner's role may grant, by group, the submitted ones
/// ticked.
fn scope_groups(
    policy: &OrgPolicy,
    role: crate::domain::Role,
    ticked: &[String],
) -> Vec<ScopeGroupView> {
    policy
        .scopes
        .groups()
        .into_iter()
        .map(|(label, entries)| ScopeGroupView {
            label: label.to_owned(),
            scopes: entries
                .into_iter()
                .filter(|e| role >= e.min_role)
                .map(|e| ScopeOption {
                    name: e.scope.as_str().to_owned(),
                    description: e.description.clone(),
                    checked: ticked.iter().any(|c| c == e.scope.as_str()),
                })
                .collect(),
        })
        .filter(|g| !g.scopes.is_empty())
        .collect()
}

fn token_form(
    target: &Target,
    policy: &OrgPolicy,
    today: time::Date,
    input: &Submitted,
    errors: &[FieldError],
) -> TokenForm {
    let error = |field: &str| {
        errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.clone())
    };
    let expiry = policy.expiry_for(target.owner.kind);
    let mut expiry_options: Vec<ExpiryOption> = PRESETS
        .iter()
        .filter(|days| **days <= expiry.max_lifetime_days)
        .map(|days| {
            let date = today + Duration::days(i64::from(*days));
            ExpiryOption {
                value: days.to_string(),
                label: format!("{days} days ({})", format::day(date)),
                selected: input.expires_in == days.to_string(),
            }
        })
        .collect();
    if expiry.allow_no_expiry {
        expiry_options.push(ExpiryOption {
            value: "never".into(),
            label: "Never (not recommended)".into(),
            selected: input.expires_in == "never",
        });
    }
    let groups = scope_groups(policy, target.owner.role, &input.scopes);
    TokenForm {
        action: target.action(),
        back: target.back(),
        back_label: match target.owner.kind {
            MemberKind::Service => format!("Service account {}", target.owner.email),
            MemberKind::Person => "API Tokens".to_owned(),
        },
        service_account: target.service_account(),
        name: input.name.clone(),
        expiry_options,
        custom_selected: input.expires_in == "custom",
        expires_on: input.expires_on.clone(),
        min_date: expiry.earliest(today).to_string(),
        max_date: expiry.latest(today).to_string(),
        min_day: format::day(expiry.earliest(today)),
        max_day: format::day(expiry.latest(today)),
        groups,
        nonce: input.nonce.clone(),
        role: target.owner.role.to_string(),
        name_error: error("name"),
        expires_in_error: error("expires_in"),
        expires_on_error: error("expires_on"),
        scopes_error: error("scopes"),
        allowed_ips: input.allowed_ips.clone(),
        allowed_ips_error: error("allowed_ips"),
        description: input.description.clone(),
        description_error: error("description"),
        canary: input.canary,
        form_error: error("form"),
    }
}

async fn policy_of(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
) -> Result<OrgPolicy, WebError> {
    let svc = service.clone();
    let org = current.member.org_id;
    Ok(web::block(move || svc.policy().current(org)).await??)
}

#[get("/settings/api-tokens/new")]
pub(super) async fn new_form(
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    let target = Target::me(&current);
    blank_form(&service, &current, &target).await
}

/// The form as it first appears, for `target`.
pub(in crate::web) async fn blank_form(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
    target: &Target,
) -> Result<HttpResponse, WebError> {
    let policy = policy_of(service, current).await?;
    let today = service.clock().today();
    let expiry = policy.expiry_for(target.owner.kind);
    // The organisation's preset; when none fits the maximum lifetime
    // (under 7 days), the date of the maximum, chosen.
    let default_is_preset = PRESETS.contains(&policy.default_expiry_days)
        && policy.default_expiry_days <= expiry.max_lifetime_days;
    let (expires_in, expires_on) = if default_is_preset {
        (policy.default_expiry_days.to_string(), String::new())
    } else {
        ("custom".to_owned(), expiry.latest(today).to_string())
    };
    let input = Submitted {
        name: String::new(),
        expires_in,
        expires_on,
        scopes: Vec::new(),
        allowed_ips: String::new(),
        description: String::new(),
        canary: false,
        nonce: new_nonce()?,
    };
    let form = token_form(target, &policy, today, &input, &[]);
    Ok(html(
        StatusCode::OK,
        render(&NewTokenPage {
            layout: Layout::for_member(current, target.nav()),
            form,
        }),
    ))
}

fn form_response(
    current: &CurrentMember,
    target: &Target,
    status: StatusCode,
    form: TokenForm,
) -> HttpResponse {
    let layout = Layout::for_member(current, target.nav());
    let body = if current.htmx {
        render(&TokenFormPartial { layout, form })
    } else {
        render(&NewTokenPage { layout, form })
    };
    html(status, body)
}

impl From<&FormData> for Submitted {
    fn from(form: &FormData) -> Submitted {
        Submitted {
            name: form.text("name").to_owned(),
            expires_in: form.text("expires_in").to_owned(),
            expires_on: form.text("expires_on").to_owned(),
            scopes: form.all("scopes").into_iter().map(str::to_owned).collect(),
            allowed_ips: form.text("allowed_ips").to_owned(),
            description: form.text("description").to_owned(),
            canary: form.get("canary") == Some("on"),
            nonce: form.text("form_nonce").to_owned(),
        }
    }
}

/// How the member chose the expiry: one radio group.
#[derive(Debug, Clone, Copy)]
enum ExpiryChoice {
    InDays(u32),
    On(Date),
    Never,
}

impl ExpiryChoice {
    fn read(expires_in: &str, expires_on: &str) -> Result<ExpiryChoice, FieldError> {
        let choice = expires_in.trim();
        // One choice: a date typed beside a preset is a mistake to point
        // out, never a value to drop in silence.
        if choice != "custom" && !expires_on.trim().is_empty() {
            return Err(FieldError::new(
                "expires_on",
                "You typed a date but chose another expiry: choose “On a date” to use the date, or clear it.",
            ));
        }
        match choice {
            "custom" if expires_on.trim().is_empty() => Err(FieldError::new(
                "expires_on",
                "Pick the date the token stops working (YYYY-MM-DD), or choose one of the other options.",
            )),
            "custom" => parse_date(expires_on)
                .map(ExpiryChoice::On)
                .map_err(|e| FieldError::new("expires_on", e.to_string())),
            "never" => Ok(ExpiryChoice::Never),
            preset => match preset.parse::<u32>() {
                Ok(days) if PRESETS.contains(&days) => Ok(ExpiryChoice::InDays(days)),
                _ => Err(FieldError::new(
                    "expires_in",
                    "Choose 7, 30, 60 or 90 days, or a date.",
                )),
            },
        }
    }

    fn on(self, today: Date) -> Expiry {
        match self {
            ExpiryChoice::InDays(days) => Expiry::On(today + Duration::days(i64::from(days))),
            ExpiryChoice::On(date) => Expiry::On(date),
            ExpiryChoice::Never => Expiry::Never,
        }
    }

    /// The field a policy's refusal of this choice belongs beside.
    fn field(self) -> &'static str {
        match self {
            ExpiryChoice::On(_) => "expires_on",
            _ => "expires_in",
        }
    }
}

/// The form read into a request, before any policy (the service applies
/// the organisation's, once, inside its transaction).
struct GenerateRequest {
    name: TokenName,
    expiry: ExpiryChoice,
    scopes: ScopeSet,
    allowed_ips: IpAllowList,
    description: Option<String>,
    canary: bool,
    nonce: String,
}

/// Why a form is not a request.
enum Unusable {
    /// What no form of ours sends (an unknown scope, no nonce): refused.
    Forged(String),
    /// Mistakes to show beside their fields, all at once.
    Mistakes(Vec<FieldError>),
}

impl TryFrom<&Submitted> for GenerateRequest {
    type Error = Unusable;

    fn try_from(input: &Submitted) -> Result<GenerateRequest, Unusable> {
        if input.nonce.is_empty() {
            return Err(Unusable::Forged(
                "The form is incomplete; reload the page and try again.".into(),
            ));
        }
        let mut scopes = ScopeSet::empty();
        for name in &input.scopes {
            let scope: Scope = name
                .parse()
                .map_err(|_| Unusable::Forged(format!("“{name}” is not a scope you can grant.")))?;
            scopes.insert(scope);
        }
        let mut errors = Vec::new();
        let name = TokenName::parse(&input.name)
            .map_err(|e| errors.push(e))
            .ok();
        let expiry = ExpiryChoice::read(&input.expires_in, &input.expires_on)
            .map_err(|e| errors.push(e))
            .ok();
        if scopes.is_empty() {
            errors.push(FieldError::new("scopes", "Choose at least one scope."));
        }
        let allowed_ips = IpAllowList::parse_input(&input.allowed_ips)
            .map_err(|e| errors.push(e))
            .ok();
        let description = parse_description(&input.description)
            .map_err(|e| errors.push(e))
            .ok();
        match (name, expiry, allowed_ips, description) {
            (Some(name), Some(expiry), Some(allowed_ips), Some(description))
                if errors.is_empty() =>
            {
                Ok(GenerateRequest {
                    name,
                    expiry,
                    scopes,
                    allowed_ips,
                    description,
                    canary: input.canary,
                    nonce: input.nonce.clone(),
                })
            }
            _ => Err(Unusable::Mistakes(errors)),
        }
    }
}

/// The form again, with what the member typed and what is wrong.
async fn form_again(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
    target: &Target,
    input: &Submitted,
    errors: &[FieldError],
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let policy = policy_of(service, current).await?;
    let form = token_form(target, &policy, service.clock().today(), input, errors);
    Ok(form_response(current, target, status, form))
}

fn reveal_response(current: &CurrentMember, target: &Target, reveal: Reveal) -> HttpResponse {
    if current.htmx {
        // The address no longer says "new": reloading shows the list, never
        // a second token.
        let back = reveal.back.clone();
        let mut res = html(StatusCode::OK, render(&RevealPartial { reveal }));
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&back) {
            res.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("hx-replace-url"),
                value,
            );
        }
        return res;
    }
    html(
        StatusCode::OK,
        render(&RevealPage {
            layout: Layout::for_member(current, target.nav()),
            reveal,
        }),
    )
}

#[post("/settings/api-tokens")]
pub(super) async fn create(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = current.form(&req, &body)?;
    let target = Target::me(&current);
    generate(&service, &current, &target, &form).await
}

/// Reads a submitted form and creates the token for `target`, or shows
/// the form again with what is wrong.
pub(in crate::web) async fn generate(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
    target: &Target,
    form: &FormData,
) -> Result<HttpResponse, WebError> {
    let input = Submitted::from(form);
    let request = match GenerateRequest::try_from(&input) {
        Ok(request) => request,
        Err(Unusable::Forged(message)) => return Err(WebError::forbidden(message)),
        Err(Unusable::Mistakes(errors)) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return form_again(service, current, target, &input, &errors, status).await;
        }
    };
    let choice = request.expiry;
    let (svc, actor, owner) = (service.clone(), current.actor(), target.owner.clone());
    let new = NewToken {
        expiry: request.expiry.on(service.clock().today()),
        name: request.name,
        scopes: request.scopes,
        nonce: Some(request.nonce),
        allowed_ips: request.allowed_ips,
        description: request.description,
        canary: request.canary,
    };
    match web::block(move || svc.tokens().create(&actor, &owner, new)).await? {
        Ok(created) => Ok(reveal_response(
            current,
            target,
            reveal(created, service.clock().now(), target),
        )),
        Err(Error::Invalid(mut field)) => {
            // The policy refused the expiry: beside the control used.
            if field.field == "expires_on" {
                field.field = choice.field();
            }
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            form_again(service, current, target, &input, &[field], status).await
        }
        Err(Error::Conflict(duplicate @ Conflict::DuplicateSubmit)) => {
            Err(WebError::new(StatusCode::CONFLICT, duplicate.to_string()))
        }
        Err(Error::Conflict(conflict)) => {
            let errors = [FieldError::new("form", conflict.to_string())];
            form_again(
                service,
                current,
                target,
                &input,
                &errors,
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Rotates a token after a confirmation page that offers the overlap; the
/// new one is revealed once, like a generated one, naming the token it
/// replaces and when that stops.
#[post("/settings/api-tokens/{id}/rotate")]
pub(super) async fn rotate(
    req: HttpRequest,
    path: web::Path<String>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = current.form(&req, &body)?;
    let id = path
        .parse::<crate::domain::TokenId>()
        .map_err(|_| WebError::not_found())?;
    if form.get("confirm") != Some("yes") {
        let (svc, actor) = (service.clone(), current.actor());
        let token = web::block(move || svc.tokens().get(&actor, id)).await??;
        if token.owner_id != current.member.id {
            return Err(WebError::forbidden(
                "Only a token's owner can rotate it; an admin can revoke it instead.",
            ));
        }
        if token.status == crate::domain::TokenStatus::Suspended {
            return Err(WebError::new(
                StatusCode::CONFLICT,
                crate::error::Conflict::Suspended.to_string(),
            ));
        }
        return Ok(html(
            StatusCode::OK,
            render(&ConfirmRotatePage {
                layout: Layout::for_member(&current, "tokens"),
                id: token.id.0,
                name: token.name,
                hint: token.hint,
                allowed_ips: token.allowed_ips,
            }),
        ));
    }
    let minutes = match form.get("overlap_minutes").filter(|m| !m.is_empty()) {
        None => 0,
        Some(m) => m
            .parse::<i64>()
            .ok()
            .filter(|m| [0, 60, 1440].contains(m))
            .ok_or_else(|| {
                WebError::bad_request(
                    "Choose when the old token stops: at once, in 1 hour or in 24 hours.",
                )
            })?,
    };
    let (svc, actor) = (service.clone(), current.actor());
    let (old, created) = web::block(move || {
        let created = svc
            .rotation()
            .rotate(&actor, id, Duration::minutes(minutes))?;
        let old = svc.tokens().get(&actor, id)?;
        Ok::<_, crate::error::Error>((old, created))
    })
    .await??;
    let stops = if minutes == 0 {
        "stopped working just now".to_owned()
    } else {
        let at = service.clock().now() + Duration::minutes(minutes);
        format!("keeps working until {}", format::moment(at))
    };
    let mut reveal = reveal(created, service.clock().now(), &Target::me(&current));
    reveal.replaces = Some(format!("“{}” …{}, which {stops}", old.name, old.hint));
    Ok(html(
        StatusCode::OK,
        render(&RevealPage {
            layout: Layout::for_member(&current, "tokens"),
            reveal,
        }),
    ))
}
