//! Reading the command line: values parsed at the edge into domain types,
//! the settings file merged under flags and environment, and clap's
//! errors made one line that names the setting.

use super::Cli;
use crate::domain::{
    Email, IpRange, Malformed, Role, Scope, ServiceName, TokenFormat, TokenId, TokenName,
};
use crate::service::StatusFilter;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use std::ffi::OsString;
use std::path::Path;

pub fn parse_email(s: &str) -> Result<Email, Malformed> {
    Email::parse(s).map_err(|e| Malformed(e.message))
}

pub fn parse_role(s: &str) -> Result<Role, Malformed> {
    s.parse()
}

pub fn parse_service_name(s: &str) -> Result<ServiceName, Malformed> {
    ServiceName::parse(s).map_err(|e| Malformed(e.message))
}

pub fn parse_scope(s: &str) -> Result<Scope, Malformed> {
    s.parse::<Scope>()
}

/// `--description`: the console's rule; an empty one is none.
pub fn parse_description_flag(s: &str) -> Result<String, Malformed> {
    match crate::domain::parse_description(s) {
        Ok(Some(text)) => Ok(text),
        Ok(None) => Err(Malformed(
            "the description is empty: leave the flag out".into(),
        )),
        Err(e) => Err(Malformed(e.message)),
    }
}

pub fn parse_range(s: &str) -> Result<IpRange, Malformed> {
    if s.contains(',') {
        return Err(Malformed(format!(
            "“{s}” holds several ranges: give one range per --allow-ip and repeat the flag"
        )));
    }
    IpRange::parse(s)
}

pub fn parse_name(s: &str) -> Result<TokenName, Malformed> {
    TokenName::parse(s).map_err(|e| Malformed(e.message))
}

pub fn parse_date(s: &str) -> Result<time::Date, Malformed> {
    crate::domain::parse_date(s).map_err(|e| Malformed(e.to_string()))
}

pub fn parse_status(s: &str) -> Result<StatusFilter, Malformed> {
    StatusFilter::parse(s).ok_or_else(|| {
        Malformed("expected active, expiring, expired, revoked, suspended or all".to_owned())
    })
}

pub fn parse_days(s: &str) -> Result<u32, Malformed> {
    match s.parse::<u32>() {
        Ok(n) if (1..=3650).contains(&n) => Ok(n),
        _ => Err(Malformed(format!(
            "{s:?} is not a number of days from 1 to 3650"
        ))),
    }
}

pub fn parse_overlap(s: &str) -> Result<i64, Malformed> {
    match s.parse::<i64>() {
        Ok(n) if (0..=1440).contains(&n) => Ok(n),
        _ => Err(Malformed(format!(
            "{s:?} is not a number of minutes from 0 to 1440"
        ))),
    }
}

pub fn parse_token_id(s: &str) -> Result<TokenId, Malformed> {
    s.parse::<TokenId>()
        .map_err(|_| Malformed(format!("{s:?} is not a token id (a positive number)")))
}

pub fn parse_prefix(s: &str) -> Result<TokenFormat, Malformed> {
    TokenFormat::new(s)
}

/// What parsing the command line ended with, when not a command to run.
pub enum Parsed {
    /// `--help` or `--version` was printed.
    Shown,
    /// One line to print; exit 2.
    Invalid(String),
}

/// The command line, with `serve` when no command is given and the
/// settings file (`--config`) filling what neither a flag nor the
/// environment set.
pub fn parse(mut argv: Vec<OsString>) -> Result<Cli, Parsed> {
    let mut matches = matches(&argv)?;
    if matches.subcommand_name().is_none() {
        argv.push("serve".into());
        matches = matches_of(&argv)?;
    }
    if let Some(path) = matches.get_one::<std::path::PathBuf>("config").cloned() {
        let from_file = settings_file(&path, &matches)?;
        if !from_file.is_empty() {
            argv.extend(from_file);
            matches = matches_of(&argv)?;
        }
    }
    Cli::from_arg_matches(&matches).map_err(|e| Parsed::Invalid(one_line(&e)))
}

fn matches(argv: &[OsString]) -> Result<ArgMatches, Parsed> {
    Cli::command()
        .try_get_matches_from(argv)
        .map_err(|e| match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = e.print();
                Parsed::Shown
            }
            _ => Parsed::Invalid(one_line(&e)),
        })
}

fn matches_of(argv: &[OsString]) -> Result<ArgMatches, Parsed> {
    matches(argv)
}

/// clap's message as one line; a bad value names both the flag and the
/// environment variable it may have come from.
fn one_line(e: &clap::Error) -> String {
    if matches!(
        e.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) && let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg)
    {
        let first = arg.split_whitespace().next().unwrap_or(arg);
        let Some(long) = first.strip_prefix("--").map(str::to_owned) else {
            // A positional argument, as `<ID>...`.
            let name = first.trim_matches(|c| c == '<' || c == '>' || c == '.');
            let why = std::error::Error::source(e).map_or_else(String::new, |s| s.to_string());
            return format!("error: {name}: {why}");
        };
        let env = env_of(&long);
        let value = match e.get(ContextKind::InvalidValue) {
            Some(ContextValue::String(v)) => v.clone(),
            _ => String::new(),
        };
        let why = std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| format!("“{value}” is not accepted"));
        let setting = match env {
            Some(env) => format!("--{long} ({env})"),
            None => format!("--{long}"),
        };
        return format!("error: {setting}: {why}");
    }
    let rendered = e.render().to_string();
    rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every argument of the grammar, with the command it belongs to.
fn arguments() -> Vec<(Option<String>, clap::Arg)> {
    let cmd = Cli::command();
    let mut all: Vec<(Option<String>, clap::Arg)> =
        cmd.get_arguments().map(|a| (None, a.clone())).collect();
    for sub in cmd.get_subcommands() {
        for a in sub.get_arguments() {
            all.push((Some(sub.get_name().to_owned()), a.clone()));
        }
    }
    all
}

fn env_of(long: &str) -> Option<String> {
    arguments()
        .into_iter()
        .find(|(_, a)| a.get_long() == Some(long))
        .and_then(|(_, a)| a.get_env().map(|e| e.to_string_lossy().into_owned()))
}

/// Flags for the settings the file sets and nothing else did (a flag or
/// the environment win over the file).
fn settings_file(path: &Path, matches: &ArgMatches) -> Result<Vec<OsString>, Parsed> {
    let shown = path.display();
    let invalid = |why: String| Parsed::Invalid(format!("error: config file {shown}: {why}"));
    let text =
        std::fs::read_to_string(path).map_err(|e| invalid(format!("cannot read it: {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| invalid(one_line_text(&e.to_string())))?;
    let command = matches.subcommand_name().unwrap_or("serve").to_owned();
    let settable: Vec<(Option<String>, clap::Arg)> = arguments()
        .into_iter()
        .filter(|(_, a)| a.get_long().is_some_and(|l| l != "config" && l != "help"))
        .collect();
    let mut flags = Vec::new();
    for (key, value) in table {
        let long = key.replace('_', "-");
        let Some((owner, arg)) = settable.iter().find(|(owner, a)| {
            a.get_long() == Some(long.as_str()) && owner.as_deref().is_none_or(|o| o == "serve")
        }) else {
            return Err(invalid(format!("unknown setting “{key}”")));
        };
        let source = match owner {
            None => matches.value_source(arg.get_id().as_str()),
            // Settings of `serve` matter to `serve` only.
            Some(_) if command != "serve" => continue,
            Some(sub) => matches
                .subcommand_matches(sub)
                .and_then(|m| m.value_source(arg.get_id().as_str())),
        };
        if !matches!(source, None | Some(ValueSource::DefaultValue)) {
            continue;
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or(()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|()| invalid(format!("“{key}” must be a list of strings")))?
                .join(","),
            _ => {
                return Err(invalid(format!(
                    "“{key}” must be a string, number or true/false"
                )));
            }
        };
        flags.push(OsString::from(format!("--{long}={text}")));
    }
    Ok(flags)
}

fn one_line_text(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
