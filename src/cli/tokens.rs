//! `latchkey token …`: tokens from the command line. A new token is
//! printed alone on standard output, once.

use super::members::find_member;
use super::{Failure, TokenCommand};
use crate::domain::{Expiry, IpAllowList, RevokeReason, ScopeSet, TokenId, TokenStatus};
use crate::error::Error;
use crate::service::{
    Actor, Latchkey, NewToken, OwnerFilter, RevokeAllTarget, StatusFilter, TokenQuery,
};
use std::io::Write;

pub(super) fn run(service: &Latchkey, cmd: TokenCommand) -> Result<(), Failure> {
    let actor = Actor::cli();
    match cmd {
        TokenCommand::Create {
            email,
            service_account,
            name,
            expires_on,
            scopes,
            allow_ips,
            description,
            canary,
        } => {
            let owner = match (email, service_account) {
                (Some(email), _) => find_member(service, &email)?,
                (None, Some(name)) => super::service_accounts::find(service, &name)?,
                (None, None) => {
                    return Err(Failure::Usage(
                        "give --email or --service-account: whose token is it?".into(),
                    ));
                }
            };
            let request = NewToken {
                name,
                expiry: Expiry::On(expires_on),
                scopes: known_scopes(service, scopes)?,
                nonce: None,
                allowed_ips: IpAllowList::from_ranges(allow_ips)
                    .map_err(|e| Failure::Usage(format!("--allow-ip: {}", e.message)))?,
                description,
                canary,
            };
            print_secret(&service.tokens().create(&actor, &owner, request)?)
        }
        TokenCommand::Expiring { within_days, json } => {
            let status = StatusFilter::ExpiringWithin(within_days);
            print_tokens(all_tokens(service, &actor, status, OwnerFilter::All)?, json)
        }
        TokenCommand::List {
            email,
            status,
            json,
        } => {
            let owner = match email {
                Some(email) => OwnerFilter::Member(find_member(service, &email)?.id),
                None => OwnerFilter::All,
            };
            print_tokens(all_tokens(service, &actor, status, owner)?, json)
        }
        TokenCommand::Rotate {
            id,
            overlap_minutes,
        } => {
            let created = service
                .rotation()
                .rotate(&actor, id, time::Duration::minutes(overlap_minutes))
                .map_err(|e| no_such_token(e, id))?;
            print_secret(&created)
        }
        TokenCommand::Revoke { ids } => revoke(service, &actor, &ids),
        TokenCommand::Suspend { id } => suspend(service, &actor, id),
        TokenCommand::PruneInactive {
            days,
            dry_run,
            json,
        } => {
            let idle = service.tokens().prune_inactive(&actor, days, !dry_run)?;
            print_idle(&idle, days, dry_run, json)
        }
        TokenCommand::RevokeAll {
            email,
            service_account,
            org,
        } => revoke_all(service, &actor, email, service_account, org),
        TokenCommand::Resume { id } => resume(service, &actor, id),
    }
}

fn suspend(service: &Latchkey, actor: &Actor, id: TokenId) -> Result<(), Failure> {
    let done = service
        .tokens()
        .set_suspended(actor, id, true)
        .map_err(|e| no_such_token(e, id))?;
    let said = if done.changed {
        "is suspended: it is refused until resumed"
    } else {
        "was already suspended; nothing changed"
    };
    println!("Token {id} {said}.");
    Ok(())
}

fn resume(service: &Latchkey, actor: &Actor, id: TokenId) -> Result<(), Failure> {
    let done = service
        .tokens()
        .set_suspended(actor, id, false)
        .map_err(|e| no_such_token(e, id))?;
    if !done.changed {
        println!("Token {id} was not suspended; nothing changed.");
        return Ok(());
    }
    // Resumed, but something else may still refuse it: say what.
    let token = service.tokens().detail(actor, id)?.token;
    if done.status == TokenStatus::Expired {
        let on = token
            .expires_at
            .map_or(String::new(), |at| format!(" on {}", at.date()));
        println!("Token {id} is resumed, but still refused: it expired{on}.");
        return Ok(());
    }
    match token.stopped_by_policy {
        Some(why) => println!("Token {id} is resumed, but still refused. {why}"),
        None if token.owner_disabled => {
            println!("Token {id} is resumed, but still refused while its owner is disabled.")
        }
        None => println!("Token {id} is resumed: it works again."),
    }
    Ok(())
}

/// What `prune-inactive` revoked (or would).
fn print_idle(
    idle: &[crate::service::IdleToken],
    days: u32,
    dry_run: bool,
    json: bool,
) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let written = if json {
        let body = serde_json::json!({ "days": days, "dry_run": dry_run, "tokens": idle });
        writeln!(out, "{body}")
    } else {
        let verb = if dry_run { "Would revoke" } else { "Revoked" };
        let mut text = format!(
            "{verb} {} token(s) unused for {days} days or more.\n",
            idle.len()
        );
        for t in idle {
            let last = t.last_used_at.map_or_else(
                || "never used".to_owned(),
                |at| format!("last used {}", at.date()),
            );
            text.push_str(&format!(
                "{}\t{}\t…{}\t{}\t{last}\n",
                t.id, t.name, t.hint, t.owner_email
            ));
        }
        write!(out, "{text}")
    };
    written.map_err(|e| Failure::Failed(e.to_string()))
}

/// "No token with the id N", rather than the service's generic words.
fn no_such_token(e: Error, id: crate::domain::TokenId) -> Failure {
    match e {
        Error::NotFound(_) => Failure::Failed(format!("no token with the id {id}")),
        other => other.into(),
    }
}

/// The scopes asked for, all offered by the catalogue.
fn known_scopes(
    service: &Latchkey,
    scopes: Vec<crate::domain::Scope>,
) -> Result<ScopeSet, Failure> {
    let catalogue = service.scopes().catalogue()?;
    if let Some(unknown) = scopes.iter().find(|s| !catalogue.offers(s)) {
        let known: Vec<&str> = catalogue.active().map(|e| e.scope.as_str()).collect();
        return Err(Failure::Usage(format!(
            "--scope: unknown scope {:?}; known scopes: {}",
            unknown.as_str(),
            known.join(", ")
        )));
    }
    Ok(scopes.into_iter().collect())
}

/// `token revoke-all`: every token of a member, a service account or the
/// organisation issued before now.
fn revoke_all(
    service: &Latchkey,
    actor: &Actor,
    email: Option<crate::domain::Email>,
    service_account: Option<crate::domain::ServiceName>,
    org: bool,
) -> Result<(), Failure> {
    let target = match (email, service_account, org) {
        (Some(email), _, _) => RevokeAllTarget::Member(find_member(service, &email)?.id),
        (None, Some(name), _) => {
            RevokeAllTarget::Member(super::service_accounts::find(service, &name)?.id)
        }
        (None, None, true) => RevokeAllTarget::Organisation,
        (None, None, false) => {
            return Err(Failure::Usage(
                "give --email, --service-account or --org: whose tokens?".into(),
            ));
        }
    };
    let done = service.tokens().revoke_all(actor, target)?;
    println!(
        "Every token of {} issued before now stops: {} token(s) revoked. Tokens made from now on work.",
        done.subject, done.tokens
    );
    Ok(())
}

/// The new token, alone on standard output.
fn print_secret(created: &crate::service::CreatedToken) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", created.secret.expose()).map_err(|e| Failure::Failed(e.to_string()))
}

fn revoke(
    service: &Latchkey,
    actor: &Actor,
    ids: &[crate::domain::TokenId],
) -> Result<(), Failure> {
    // `revoke 20 20 20` is one token, revoked "by hand".
    let mut unique = ids.to_vec();
    unique.sort_unstable_by_key(|id| id.0);
    unique.dedup();
    let reason = if unique.len() == 1 {
        RevokeReason::Manual
    } else {
        RevokeReason::Bulk
    };
    let revoked = service
        .tokens()
        .revoke_many_because(actor, ids, reason)
        .map_err(|e| match e {
            Error::NotFound(_) => Failure::Failed(
                "one or more of these token ids do not exist; nothing was revoked".to_owned(),
            ),
            other => other.into(),
        })?;
    match unique.len().saturating_sub(revoked) {
        0 => println!("Revoked {revoked} token(s)."),
        n => println!("Revoked {revoked} token(s); {n} were already revoked."),
    }
    Ok(())
}

/// Every page of a token listing.
fn all_tokens(
    service: &Latchkey,
    actor: &Actor,
    status: StatusFilter,
    owner: OwnerFilter,
) -> Result<Vec<crate::service::TokenView>, Failure> {
    let mut tokens = Vec::new();
    let mut page = 1;
    loop {
        let result = service.tokens().list(
            actor,
            &TokenQuery {
                status,
                owner,
                search: None,
                page,
            },
        )?;
        tokens.extend(result.tokens);
        if page >= result.pages {
            return Ok(tokens);
        }
        page += 1;
    }
}

fn print_tokens(tokens: Vec<crate::service::TokenView>, json: bool) -> Result<(), Failure> {
    if json {
        let out =
            serde_json::to_string_pretty(&tokens).map_err(|e| Failure::Failed(e.to_string()))?;
        println!("{out}");
        return Ok(());
    }
    println!(
        "{:<6} {:<30} {:<30} {:<10} {:<8} SCOPES",
        "ID", "OWNER", "NAME", "EXPIRES", "STATUS"
    );
    for t in tokens {
        let expires = t
            .expires_at
            .map_or("never".to_owned(), |e| e.date().to_string());
        let from = if t.allowed_ips.is_empty() {
            String::new()
        } else {
            format!(" (only from {})", t.allowed_ips.join(", "))
        };
        println!(
            "{:<6} {:<30} {:<30} {:<10} {:<8} {}{from}",
            t.id, t.owner_email, t.name, expires, t.status, t.scopes
        );
    }
    Ok(())
}
