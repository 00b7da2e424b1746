//! `latchkey user …`: members from the command line.

use super::{Failure, UserCommand, describe};
use crate::domain::{Email, Password, Role};
use crate::error::Error;
use crate::service::{Actor, Latchkey, Member};
use std::io::{IsTerminal, Read};

pub(super) fn find_member(service: &Latchkey, email: &Email) -> Result<Member, Failure> {
    service.members().by_email(email).map_err(|e| match e {
        Error::NotFound(_) => Failure::Failed(format!("no member with the email {email}")),
        other => Failure::Failed(describe(other)),
    })
}

/// A new password: asked twice without echo when standard input is a
/// terminal, read whole from it when it is a pipe.
fn read_password(email: &Email) -> Result<Password, Failure> {
    let typed = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("New password for {email}: "))
            .map_err(|e| Failure::Failed(format!("cannot read the password: {e}")))?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| Failure::Failed(format!("cannot read the password: {e}")))?;
        if first != again {
            return Err(Failure::Usage(
                "the two passwords differ; nothing was changed".into(),
            ));
        }
        first
    } else {
        let mut input = String::new();
        std::io::stdin()
            .take(4096)
            .read_to_string(&mut input)
            .map_err(|e| {
                Failure::Failed(format!("cannot read the password from standard input: {e}"))
            })?;
        let line = input.strip_suffix('\n').unwrap_or(&input);
        line.strip_suffix('\r').unwrap_or(line).to_owned()
    };
    Password::parse_new(&typed).map_err(|e| Failure::Failed(e.message))
}

pub(super) fn run(service: &Latchkey, cmd: UserCommand) -> Result<(), Failure> {
    let actor = Actor::cli();
    match cmd {
        UserCommand::Add {
            email,
            role,
            password_stdin,
        } => add(service, &actor, &email, role, password_stdin),
        UserCommand::List { json } => list(service, json),
        UserCommand::SetRole { email, role } => {
            let member = find_member(service, &email)?;
            let from = member.role;
            let member = service.members().set_role(&actor, member.id, role)?;
            println!("{} is now {} (was {from}).", member.email, member.role);
            Ok(())
        }
        UserCommand::Disable { email } => {
            let member = find_member(service, &email)?;
            service.members().set_disabled(&actor, member.id, true)?;
            println!(
                "{} is disabled; their tokens stop working at once.",
                member.email
            );
            Ok(())
        }
        UserCommand::Enable { email } => {
            let member = find_member(service, &email)?;
            service.members().set_disabled(&actor, member.id, false)?;
            println!("{} is enabled.", member.email);
            Ok(())
        }
        UserCommand::SetPassword { email } => {
            let member = find_member(service, &email)?;
            let password = read_password(&email)?;
            service
                .members()
                .set_password(&actor, member.id, &password)?;
            println!("Password of {} changed.", member.email);
            Ok(())
        }
        UserCommand::Reset2fa { email } => {
            let member = find_member(service, &email)?;
            let member = service.two_factor().reset(&actor, member.id)?;
            println!(
                "Two-factor sign-in of {} reset: their authenticator app and recovery codes no longer work.",
                member.email
            );
            Ok(())
        }
    }
}

/// Adds a member; prints the generated password once, unless one was typed.
fn add(
    service: &Latchkey,
    actor: &Actor,
    email: &Email,
    role: Role,
    password_stdin: bool,
) -> Result<(), Failure> {
    let (password, generated) = if password_stdin {
        (read_password(email)?, false)
    } else {
        (
            Password::generate().map_err(|e| Failure::Failed(e.to_string()))?,
            true,
        )
    };
    let member = service.members().add(actor, email, role, &password)?;
    if !generated {
        println!(
            "Added {} as {} (id {}).",
            member.email, member.role, member.id
        );
        return Ok(());
    }
    println!(
        "Added {} as {} (id {}). One-time password: {}",
        member.email,
        member.role,
        member.id,
        password.expose()
    );
    println!(
        "It is shown only this once; set another with `latchkey user set-password --email {}`.",
        member.email
    );
    Ok(())
}

fn list(service: &Latchkey, json: bool) -> Result<(), Failure> {
    let org = service.default_org()?;
    let members = service.members().list(org)?;
    if json {
        let out =
            serde_json::to_string_pretty(&members).map_err(|e| Failure::Failed(e.to_string()))?;
        println!("{out}");
        return Ok(());
    }
    println!("{:<6} {:<40} {:<10} {:<9}", "ID", "EMAIL", "ROLE", "STATUS");
    for m in members {
        let status = if m.disabled { "disabled" } else { "active" };
        println!("{:<6} {:<40} {:<10} {:<9}", m.id, m.email, m.role, status);
    }
    Ok(())
}
