//! Settings → Service accounts (admins): identities for machines. Add one
//! with a role, change its role, disable it, and give it tokens with the
//! usual form and one-time reveal.

use super::error::WebError;
use super::format;
use super::session::CurrentMember;
use super::tokens::generate::{Target, blank_form, generate};
use super::views::{Layout, render};
use super::{html, see_other};
use crate::domain::{MemberId, Role, ServiceName, TokenStatus};
use crate::error::Error;
use crate::service::{Latchkey, Member, OwnerFilter, StatusFilter, TokenQuery};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use std::collections::HashMap;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(page)
        .service(add)
        .service(account_page)
        .service(new_token)
        .service(create_token)
        .service(change);
}

const ADMINS_ONLY: &str = "Only admins can manage service accounts.";

pub struct AccountRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub disabled: bool,
    pub active_tokens: i64,
    pub created: String,
}

#[derive(Default)]
pub struct NewAccountForm {
    pub name: String,
    pub role: String,
    pub name_error: Option<String>,
    pub role_error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/service_accounts.html")]
struct AccountsPage {
    layout: Layout,
    accounts: Vec<AccountRow>,
    form: NewAccountForm,
    notice: Option<String>,
}

pub struct AccountToken {
    pub id: i64,
    pub name: String,
    pub hint: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub expires: String,
    pub created_by: String,
}

#[derive(Template)]
#[template(path = "pages/service_account.html")]
struct AccountPage {
    layout: Layout,
    account: AccountRow,
    tokens: Vec<AccountToken>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/confirm_disable_account.html")]
struct ConfirmDisablePage {
    layout: Layout,
    id: i64,
    name: String,
    tokens: i64,
}

fn row(m: Member, tokens: &HashMap<MemberId, i64>) -> AccountRow {
    AccountRow {
        active_tokens: tokens.get(&m.id).copied().unwrap_or(0),
        id: m.id.0,
        name: m.email,
        role: m.role.to_string(),
        disabled: m.disabled,
        created: m.created_at.date().to_string(),
    }
}

async fn list_page(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
    status: StatusCode,
    form: NewAccountForm,
    notice: Option<String>,
) -> Result<HttpResponse, WebError> {
    let (svc, org) = (service.clone(), current.member.org_id);
    let (accounts, tokens) = web::block(move || {
        Ok::<_, Error>((
            svc.members().list_service_accounts(org)?,
            svc.members().active_token_counts(org)?,
        ))
    })
    .await??;
    Ok(html(
        status,
        render(&AccountsPage {
            layout: Layout::for_member(current, "service-accounts"),
            accounts: accounts.into_iter().map(|m| row(m, &tokens)).collect(),
            form,
            notice,
        }),
    ))
}

#[get("/settings/service-accounts")]
async fn page(
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    current.require_admin(ADMINS_ONLY)?;
    let notice = current.take_flash(&service).await?;
    let form = NewAccountForm {
        role: "developer".into(),
        ..NewAccountForm::default()
    };
    list_page(&service, &current, StatusCode::OK, form, notice).await
}

#[post("/settings/service-accounts")]
async fn add(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = current.form(&req, &body)?;
    current.require_admin(ADMINS_ONLY)?;
    let mut input = NewAccountForm {
        name: form.text("name").trim().to_owned(),
        role: form.text("role").trim().to_owned(),
        ..NewAccountForm::default()
    };
    let name = ServiceName::parse(&input.name)
        .map_err(|e| input.name_error = Some(e.message))
        .ok();
    let role = input
        .role
        .parse::<Role>()
        .map_err(|_| input.role_error = Some("Choose viewer, developer or admin.".into()))
        .ok();
    let refused = StatusCode::UNPROCESSABLE_ENTITY;
    let (Some(name), Some(role)) = (name, role) else {
        return list_page(&service, &current, refused, input, None).await;
    };
    let (svc, actor) = (service.clone(), current.actor());
    match web::block(move || svc.members().add_service_account(&actor, &name, role)).await? {
        Ok(account) => {
            let done = format!(
                "Service account {} added as {}. Generate its first token when you are ready.",
                account.email, account.role
            );
            current.flash(&service, done).await?;
            Ok(see_other(&format!(
                "/settings/service-accounts/{}",
                account.id
            )))
        }
        Err(Error::Invalid(field)) => {
            input.name_error = Some(field.message);
            list_page(&service, &current, refused, input, None).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The service account in the path, if the admin's organisation holds it.
async fn account_in(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
    id: &str,
) -> Result<Member, WebError> {
    current.require_admin(ADMINS_ONLY)?;
    let id = id.parse::<MemberId>().map_err(|_| WebError::not_found())?;
    let (svc, actor) = (service.clone(), current.actor());
    Ok(web::block(move || svc.members().service_account_by_id(&actor, id)).await??)
}

async fn show_account(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
    account: Member,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let (svc, actor, id, org) = (
        service.clone(),
        current.actor(),
        account.id,
        current.member.org_id,
    );
    let (tokens, people) = web::block(move || {
        let query = TokenQuery {
            status: StatusFilter::All,
            owner: OwnerFilter::Member(id),
            search: None,
            page: 1,
        };
        let tokens = svc.tokens().list(&actor, &query)?.tokens;
        let people: HashMap<MemberId, String> = svc
            .members()
            .list(org)?
            .into_iter()
            .map(|m| (m.id, m.email))
            .collect();
        Ok::<_, Error>((tokens, people))
    })
    .await??;
    let now = service.clock().now();
    let active = tokens
        .iter()
        .filter(|t| t.status == TokenStatus::Active)
        .count();
    let tokens = tokens
        .into_iter()
        .map(|t| {
            let (status, status_label) = match t.status {
                TokenStatus::Active if account.disabled => ("disabled", "Account disabled"),
                other => (other.as_str(), other.label()),
            };
            AccountToken {
                id: t.id.0,
                expires: format::expiry(t.expires_at, now),
                created_by: t
                    .created_by
                    .and_then(|by| people.get(&by).cloned())
                    .unwrap_or_else(|| "the command line".to_owned()),
                name: t.name,
                hint: t.hint,
                status,
                status_label,
            }
        })
        .collect();
    let mut counts = HashMap::new();
    counts.insert(account.id, i64::try_from(active).unwrap_or(i64::MAX));
    Ok(html(
        status,
        render(&AccountPage {
            layout: Layout::for_member(current, "service-accounts"),
            account: row(account, &counts),
            tokens,
            notice,
            error,
        }),
    ))
}

#[get("/settings/service-accounts/{id}")]
async fn account_page(
    path: web::Path<String>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    let account = account_in(&service, &current, &path).await?;
    let notice = current.take_flash(&service).await?;
    show_account(&service, &current, account, StatusCode::OK, notice, None).await
}

#[get("/settings/service-accounts/{id}/tokens/new")]
async fn new_token(
    path: web::Path<String>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    let owner = account_in(&service, &current, &path).await?;
    if owner.disabled {
        return Err(WebError::new(
            StatusCode::CONFLICT,
            format!(
                "{} is disabled: enable it before giving it tokens.",
                owner.email
            ),
        ));
    }
    blank_form(&service, &current, &Target { owner }).await
}

#[post("/settings/service-accounts/{id}/tokens")]
async fn create_token(
    req: HttpRequest,
    path: web::Path<String>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = current.form(&req, &body)?;
    let owner = account_in(&service, &current, &path).await?;
    generate(&service, &current, &Target { owner }, &form).await
}

#[post("/settings/service-accounts/{id}/{action}")]
async fn change(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = current.form(&req, &body)?;
    let (id, action) = path.into_inner();
    let account = account_in(&service, &current, &id).await?;
    if action == "revoke-all" {
        let origin = super::revoke_all::Origin {
            action: format!("/settings/service-accounts/{}/revoke-all", account.id),
            back: format!("/settings/service-accounts/{}", account.id),
            nav: "service-accounts",
            whose: "this service account's".into(),
        };
        let target = crate::service::RevokeAllTarget::Member(account.id);
        return super::revoke_all::revoke_all(&current, &service, &form, target, origin).await;
    }
    let role = match action.as_str() {
        "role" => Some(form.text("role").parse::<Role>().map_err(|_| {
            WebError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Choose viewer, developer or admin.",
            )
        })?),
        "disable" | "enable" => None,
        _ => return Err(WebError::not_found()),
    };
    if action == "disable" && form.get("confirm") != Some("yes") {
        let (svc, org) = (service.clone(), current.member.org_id);
        let tokens = web::block(move || svc.members().active_token_counts(org)).await??;
        return Ok(html(
            StatusCode::OK,
            render(&ConfirmDisablePage {
                layout: Layout::for_member(&current, "service-accounts"),
                tokens: tokens.get(&account.id).copied().unwrap_or(0),
                id: account.id.0,
                name: account.email,
            }),
        ));
    }
    let (svc, actor, target) = (service.clone(), current.actor(), account.id);
    let done = web::block(move || match role {
        Some(role) => svc.members().set_role(&actor, target, role).map(|m| {
            format!(
                "{} is now {}. Its tokens follow the new role at once.",
                m.email, m.role
            )
        }),
        None if action == "disable" => svc
            .members()
            .set_disabled(&actor, target, true)
            .map(|m| format!("Disabled {}: its tokens stopped working.", m.email)),
        None => svc.members().set_disabled(&actor, target, false).map(|m| {
            format!(
                "Enabled {}: its tokens work again until they expire.",
                m.email
            )
        }),
    })
    .await??;
    current.flash(&service, done).await?;
    Ok(see_other(&format!("/settings/service-accounts/{}", id)))
}
