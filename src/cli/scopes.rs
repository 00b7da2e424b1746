//! `latchkey scope …`: the scope catalogue from the command line.

use super::{Failure, ScopeCommand};
use crate::error::Error;
use crate::service::{Actor, Latchkey, ScopeFields};

/// A refusal of the operator's input (a bad value, a duplicate, a system
/// scope) is a usage error: exit 2, nothing written.
fn refused(e: Error) -> Failure {
    match e {
        Error::Invalid(f) => Failure::Usage(match f.field {
            "description" => format!("--description: {}", f.message),
            "group" => format!("--group: {}", f.message),
            _ => f.message,
        }),
        Error::Conflict(c) => Failure::Usage(c.to_string()),
        Error::NotFound(_) => Failure::Usage("no such scope".into()),
        other => other.into(),
    }
}

pub(super) fn run(service: &Latchkey, cmd: ScopeCommand) -> Result<(), Failure> {
    let actor = Actor::cli();
    match cmd {
        ScopeCommand::Add {
            name,
            description,
            min_role,
            group,
        } => {
            let fields = ScopeFields::new(&description, &group, min_role).map_err(refused)?;
            let entry = service
                .scopes()
                .add(&actor, name, fields)
                .map_err(refused)?;
            println!(
                "Added {}: members from {} up can grant it.",
                entry.scope, entry.min_role
            );
            Ok(())
        }
        ScopeCommand::List { json } => list(service, json),
        ScopeCommand::Retire { name } => {
            let lost = service
                .scopes()
                .retire(&actor, &name)
                .map_err(|e| match e {
                    Error::NotFound(_) => Failure::Usage(format!("no scope named {name}")),
                    other => refused(other),
                })?;
            println!("Retired {name}: {lost} active token(s) lost it.");
            Ok(())
        }
    }
}

fn list(service: &Latchkey, json: bool) -> Result<(), Failure> {
    let uses = service.scopes().uses()?;
    if json {
        let rows: Vec<serde_json::Value> = uses
            .iter()
            .map(|u| {
                serde_json::json!({
                    "name": u.entry.scope.as_str(),
                    "description": u.entry.description,
                    "group": u.entry.group,
                    "min_role": u.entry.min_role,
                    "system": u.entry.system,
                    "retired": u.entry.retired_at.is_some(),
                    "active_tokens": u.active_tokens,
                })
            })
            .collect();
        let out =
            serde_json::to_string_pretty(&rows).map_err(|e| Failure::Failed(e.to_string()))?;
        println!("{out}");
        return Ok(());
    }
    println!(
        "{:<28} {:<10} {:<8} {:>6}  {:<16} DESCRIPTION",
        "NAME", "MIN ROLE", "STATUS", "TOKENS", "GROUP"
    );
    for u in uses {
        let e = &u.entry;
        let status = if e.retired_at.is_some() {
            "retired"
        } else {
            "active"
        };
        println!(
            "{:<28} {:<10} {:<8} {:>6}  {:<16} {}",
            e.scope, e.min_role, status, u.active_tokens, e.group, e.description
        );
    }
    Ok(())
}
