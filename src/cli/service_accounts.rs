//! `latchkey service-account …`: identities for machines.

use super::{Failure, ServiceAccountCommand};
use crate::domain::ServiceName;
use crate::error::Error;
use crate::service::{Actor, Latchkey, Member};

pub(super) fn find(service: &Latchkey, name: &ServiceName) -> Result<Member, Failure> {
    service
        .members()
        .service_account(name)
        .map_err(|e| match e {
            Error::NotFound(_) => Failure::Failed(format!("no service account named {name}")),
            other => other.into(),
        })
}

pub(super) fn run(service: &Latchkey, cmd: ServiceAccountCommand) -> Result<(), Failure> {
    let actor = Actor::cli();
    match cmd {
        ServiceAccountCommand::Add { name, role } => {
            let account = service
                .members()
                .add_service_account(&actor, &name, role)
                .map_err(|e| match e {
                    // A name already taken is the operator's input to fix.
                    Error::Invalid(f) => Failure::Usage(format!("--name: {}", f.message)),
                    other => other.into(),
                })?;
            println!(
                "Added service account {} as {}. Give it a token: latchkey token create --service-account {} …",
                account.email, account.role, account.email
            );
            Ok(())
        }
        ServiceAccountCommand::List { json } => list(service, json),
        ServiceAccountCommand::Disable { name } => {
            let account = find(service, &name)?;
            if account.disabled {
                println!("{name} was already disabled.");
                return Ok(());
            }
            service.members().set_disabled(&actor, account.id, true)?;
            println!("Disabled {name}: its tokens stopped working.");
            Ok(())
        }
    }
}

fn list(service: &Latchkey, json: bool) -> Result<(), Failure> {
    let org = service.default_org()?;
    let accounts = service.members().list_service_accounts(org)?;
    let tokens = service.members().active_token_counts(org)?;
    if json {
        let rows: Vec<serde_json::Value> = accounts
            .iter()
            .map(|a| {
                serde_json::json!({
                    "id": a.id,
                    "name": a.email,
                    "role": a.role,
                    "disabled": a.disabled,
                    "active_tokens": tokens.get(&a.id).copied().unwrap_or(0),
                    "created_at": a.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                })
            })
            .collect();
        let out =
            serde_json::to_string_pretty(&rows).map_err(|e| Failure::Failed(e.to_string()))?;
        println!("{out}");
        return Ok(());
    }
    println!(
        "{:<6} {:<40} {:<10} {:<9} {:>6}",
        "ID", "NAME", "ROLE", "STATUS", "TOKENS"
    );
    for a in accounts {
        let status = if a.disabled { "disabled" } else { "active" };
        let count = tokens.get(&a.id).copied().unwrap_or(0);
        println!(
            "{:<6} {:<40} {:<10} {:<9} {:>6}",
            a.id, a.email, a.role, status, count
        );
    }
    Ok(())
}
