//! Settings → Scopes (admins): the catalogue tokens are granted from. Add a
//! scope, change its description, group or minimum role, retire it.

use super::error::WebError;
use super::forms::FormData;
use super::session::CurrentMember;
use super::views::{Layout, render};
use super::{html, see_other};
use crate::domain::{Role, Scope};
use crate::error::{Error, Result};
use crate::service::{Latchkey, ScopeEffect, ScopeFields, ScopeUse};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(page)
        .service(add)
        .service(edit_page)
        .service(save)
        .service(retire);
}

const ADMINS_ONLY: &str = "Only admins can manage scopes.";

pub struct ScopeRow {
    pub name: String,
    pub description: String,
    pub group: String,
    pub min_role: String,
    pub system: bool,
    pub retired: bool,
    pub active_tokens: usize,
}

impl From<ScopeUse> for ScopeRow {
    fn from(u: ScopeUse) -> Self {
        ScopeRow {
            name: u.entry.scope.to_string(),
            description: u.entry.description,
            group: u.entry.group,
            min_role: u.entry.min_role.to_string(),
            system: u.entry.system,
            retired: u.entry.retired_at.is_some(),
            active_tokens: u.active_tokens,
        }
    }
}

/// The add and edit forms: what was typed, and a message per field.
#[derive(Default)]
pub struct ScopeForm {
    pub name: String,
    pub description: String,
    pub group: String,
    pub min_role: String,
    pub name_error: Option<String>,
    pub description_error: Option<String>,
    pub group_error: Option<String>,
    pub role_error: Option<String>,
    /// A system scope: its minimum role is shown, not offered.
    pub role_fixed: bool,
}

impl ScopeForm {
    fn read(form: &FormData) -> ScopeForm {
        ScopeForm {
            name: form.text("name").trim().to_owned(),
            description: form.text("description").trim().to_owned(),
            group: form.text("group").trim().to_owned(),
            min_role: form.text("min_role").trim().to_owned(),
            ..ScopeForm::default()
        }
    }

    /// The fields as the service takes them, or the form with its errors.
    fn fields(&mut self) -> Option<ScopeFields> {
        let role = self
            .min_role
            .parse::<Role>()
            .map_err(|_| self.role_error = Some("Choose viewer, developer or admin.".into()))
            .ok()?;
        match ScopeFields::new(&self.description, &self.group, role) {
            Ok(fields) => Some(fields),
            Err(e) => {
                self.show(e);
                None
            }
        }
    }

    /// Puts a refusal beside its field; false when it belongs to none.
    fn show(&mut self, e: Error) -> bool {
        match e {
            Error::Invalid(f) => {
                let slot = match f.field {
                    "description" => &mut self.description_error,
                    "group" => &mut self.group_error,
                    "min_role" => &mut self.role_error,
                    _ => &mut self.name_error,
                };
                *slot = Some(f.message);
                true
            }
            Error::Conflict(c) => {
                self.name_error = Some(c.to_string());
                true
            }
            _ => false,
        }
    }
}

#[derive(Template)]
#[template(path = "pages/scopes.html")]
struct ScopesPage {
    layout: Layout,
    scopes: Vec<ScopeRow>,
    form: ScopeForm,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/confirm_retire.html")]
struct ConfirmRetirePage {
    layout: Layout,
    scope: ScopeRow,
}

#[derive(Template)]
#[template(path = "pages/scope.html")]
struct ScopePage {
    layout: Layout,
    scope: ScopeRow,
    form: ScopeForm,
    /// What saving each other minimum role does now, as sentences.
    effects: Vec<String>,
}

/// "Raised to admin: 412 active tokens lose it …", for the scope's page.
fn describe_effect(scope: &str, current: &str, role: Role, effect: &ScopeEffect) -> String {
    let raised = current.parse::<Role>().is_ok_and(|now| role > now);
    let forms = match effect.forms_change {
        0 => "no member's form changes".to_owned(),
        1 => "1 member's form changes".to_owned(),
        n => format!("{n} members' forms change"),
    };
    if raised {
        let tokens = match effect.tokens_lose {
            0 => "no active token loses it".to_owned(),
            1 => format!("1 active token loses {scope}"),
            n => format!("{n} active tokens lose {scope}"),
        };
        format!("Raised to {role}: {tokens} on its next request; {forms}.")
    } else {
        let may = if effect.forms_change > 0 {
            " (they may grant it)"
        } else {
            ""
        };
        format!("Lowered to {role}: no token loses it; {forms}{may}.")
    }
}

async fn list_page(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
    status: StatusCode,
    form: ScopeForm,
    notice: Option<String>,
) -> Result<HttpResponse, WebError> {
    let svc = service.clone();
    let scopes = web::block(move || svc.scopes().uses()).await??;
    Ok(html(
        status,
        render(&ScopesPage {
            layout: Layout::for_member(current, "scopes"),
            scopes: scopes.into_iter().map(ScopeRow::from).collect(),
            form,
            notice,
        }),
    ))
}

#[get("/settings/scopes")]
async fn page(
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    current.require_admin(ADMINS_ONLY)?;
    let notice = current.take_flash(&service).await?;
    let form = ScopeForm {
        min_role: "developer".into(),
        ..ScopeForm::default()
    };
    list_page(&service, &current, StatusCode::OK, form, notice).await
}

#[post("/settings/scopes")]
async fn add(
    req: HttpRequest,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = current.form(&req, &body)?;
    current.require_admin(ADMINS_ONLY)?;
    let mut input = ScopeForm::read(&form);
    let scope = input
        .name
        .parse::<Scope>()
        .map_err(|e| input.name_error = Some(e.to_string()))
        .ok();
    let fields = input.fields();
    let refused = StatusCode::UNPROCESSABLE_ENTITY;
    let (Some(scope), Some(fields)) = (scope, fields) else {
        return list_page(&service, &current, refused, input, None).await;
    };
    let (svc, actor) = (service.clone(), current.actor());
    match web::block(move || svc.scopes().add(&actor, scope, fields)).await? {
        Ok(entry) => {
            let done = format!(
                "Scope {} added: members from {} up can grant it now.",
                entry.scope, entry.min_role
            );
            current.flash(&service, done).await?;
            Ok(see_other("/settings/scopes"))
        }
        Err(e @ Error::Conflict(_)) => {
            input.show(e);
            list_page(&service, &current, StatusCode::CONFLICT, input, None).await
        }
        Err(e @ Error::Invalid(_)) => {
            input.show(e);
            list_page(&service, &current, refused, input, None).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The scope named in the path; any other name is no page of ours.
fn scope_in(path: &str) -> Result<Scope, WebError> {
    path.parse::<Scope>().map_err(|_| WebError::not_found())
}

async fn one_page(
    service: &web::Data<Latchkey>,
    current: &CurrentMember,
    scope: Scope,
    status: StatusCode,
    form: Option<ScopeForm>,
) -> Result<HttpResponse, WebError> {
    let svc = service.clone();
    let which = scope.clone();
    let found = web::block(move || svc.scopes().use_of(&which)).await??;
    let row = ScopeRow::from(found);
    let mut form = form.unwrap_or_else(|| ScopeForm {
        name: row.name.clone(),
        description: row.description.clone(),
        group: row.group.clone(),
        min_role: row.min_role.clone(),
        ..ScopeForm::default()
    });
    form.role_fixed = row.system;
    let (svc, actor, which) = (service.clone(), current.actor(), scope.clone());
    let effects = web::block(move || svc.scopes().role_effects(&actor, &which))
        .await??
        .iter()
        .map(|(role, effect)| describe_effect(&row.name, &row.min_role, *role, effect))
        .collect();
    Ok(html(
        status,
        render(&ScopePage {
            layout: Layout::for_member(current, "scopes"),
            scope: row,
            form,
            effects,
        }),
    ))
}

#[get("/settings/scopes/{name}")]
async fn edit_page(
    path: web::Path<String>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
) -> Result<HttpResponse, WebError> {
    current.require_admin(ADMINS_ONLY)?;
    let scope = scope_in(&path)?;
    one_page(&service, &current, scope, StatusCode::OK, None).await
}

#[post("/settings/scopes/{name}")]
async fn save(
    req: HttpRequest,
    path: web::Path<String>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = current.form(&req, &body)?;
    current.require_admin(ADMINS_ONLY)?;
    let scope = scope_in(&path)?;
    let mut input = ScopeForm {
        name: scope.to_string(),
        ..ScopeForm::read(&form)
    };
    let refused = StatusCode::UNPROCESSABLE_ENTITY;
    let Some(fields) = input.fields() else {
        return one_page(&service, &current, scope, refused, Some(input)).await;
    };
    let (svc, actor, which) = (service.clone(), current.actor(), scope.clone());
    match web::block(move || svc.scopes().edit(&actor, &which, fields)).await? {
        Ok(entry) => {
            let done = format!(
                "Scope {} saved. Tokens follow its minimum role ({}) from their next request.",
                entry.scope, entry.min_role
            );
            current.flash(&service, done).await?;
            Ok(see_other("/settings/scopes"))
        }
        Err(e @ Error::Invalid(_)) => {
            input.show(e);
            one_page(&service, &current, scope, refused, Some(input)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[post("/settings/scopes/{name}/retire")]
async fn retire(
    req: HttpRequest,
    path: web::Path<String>,
    current: CurrentMember,
    service: web::Data<Latchkey>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = current.form(&req, &body)?;
    current.require_admin(ADMINS_ONLY)?;
    let scope = scope_in(&path)?;
    let svc = service.clone();
    let which = scope.clone();
    let found = web::block(move || svc.scopes().use_of(&which)).await??;
    let retirable = !found.entry.system && found.entry.is_active();
    if retirable && form.get("confirm") != Some("yes") {
        // Without script no dialog asked: a page that does, first, with
        // the count the retiring code computes.
        let (svc, actor, which) = (service.clone(), current.actor(), scope.clone());
        let lose = web::block(move || svc.scopes().preview_retire(&actor, &which)).await??;
        return Ok(html(
            StatusCode::OK,
            render(&ConfirmRetirePage {
                layout: Layout::for_member(&current, "scopes"),
                scope: ScopeRow {
                    active_tokens: lose,
                    ..ScopeRow::from(found)
                },
            }),
        ));
    }
    let (svc, actor, which) = (service.clone(), current.actor(), scope.clone());
    match web::block(move || svc.scopes().retire(&actor, &which)).await? {
        Ok(lost) => {
            let done = match lost {
                0 => format!("Scope {scope} retired. No active token held it."),
                1 => format!("Scope {scope} retired: 1 active token lost it."),
                n => format!("Scope {scope} retired: {n} active tokens lost it."),
            };
            current.flash(&service, done).await?;
            Ok(see_other("/settings/scopes"))
        }
        Err(Error::Invalid(f)) => Err(WebError::new(StatusCode::CONFLICT, f.message)),
        Err(e) => Err(e.into()),
    }
}
