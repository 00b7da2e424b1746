//! The organisation's token policy: maximum lifetime, whether "no expiry"
//! is allowed, the preset the generate form starts on.

use super::audit::{self, NewEvent};
use super::{Actor, Latchkey, OrgPolicy, load_policy};
use crate::db;
use crate::domain::{FieldError, PRESETS};
use crate::error::{Error, Result};

/// A policy change, already parsed at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyChange {
    pub max_lifetime_days: u32,
    pub allow_no_expiry: bool,
    pub default_expiry_days: u32,
    /// A shorter maximum for service accounts' tokens (`None`: the same).
    pub service_max_lifetime_days: Option<u32>,
    /// Every member must sign in with a second factor.
    pub require_two_factor: bool,
    /// Password sign-in off: single sign-on only. Offered only while
    /// single sign-on is set up.
    pub sso_only: bool,
}

impl PolicyChange {
    /// A maximum lifetime shorter than every preset (1–6 days) leaves no
    /// preset to start the generate form on: it then starts on the
    /// maximum itself, as a date.
    ///
    /// The other way round, a default left at such a maximum (say 5 days)
    /// is no preset once the maximum is raised to 7 days or more: the form
    /// then starts on 30 days, or 7 when 30 is too long.
    pub fn adapted(mut self) -> Self {
        let shortest = PRESETS.iter().copied().min().unwrap_or(7);
        if (1..shortest).contains(&self.max_lifetime_days) {
            self.default_expiry_days = self.max_lifetime_days;
        } else if self.max_lifetime_days >= shortest
            && !PRESETS.contains(&self.default_expiry_days)
            && self.default_expiry_days < shortest
        {
            self.default_expiry_days = if self.max_lifetime_days >= 30 {
                30
            } else {
                shortest
            };
        }
        self
    }

    /// Every rule at once, so a form can show each message by its field.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !(1..=3650).contains(&self.max_lifetime_days) {
            errors.push(FieldError::new(
                "max_lifetime_days",
                "The maximum lifetime must be from 1 to 3650 days.",
            ));
        }
        if self
            .service_max_lifetime_days
            .is_some_and(|d| !(1..=3650).contains(&d))
        {
            errors.push(FieldError::new(
                "service_max_lifetime_days",
                "The maximum lifetime for service accounts must be from 1 to 3650 days, or empty for the same as everyone's.",
            ));
        }
        let fits_no_preset = self.default_expiry_days == self.max_lifetime_days
            && PRESETS.iter().all(|p| *p > self.max_lifetime_days);
        if fits_no_preset {
            // Adapted: see `adapted`.
        } else if !PRESETS.contains(&self.default_expiry_days) {
            errors.push(FieldError::new(
                "default_expiry_days",
                "Choose 7, 30, 60 or 90 days.",
            ));
        } else if self.default_expiry_days > self.max_lifetime_days {
            errors.push(FieldError::new(
                "default_expiry_days",
                "The default cannot be longer than the maximum lifetime.",
            ));
        }
        errors
    }
}

impl Latchkey {
    /// Changes the policy of the actor's organisation (admins, or the CLI).
    /// It applies at once: the generate form, the CLI and the API follow it.
    /// Whether password sign-in is off (single sign-on only).
    pub fn passwords_off(&self) -> Result<bool> {
        let mut conn = self.conn()?;
        let org = db::organisations::first_id(&mut conn)?;
        Ok(db::organisations::find(&mut conn, org)?.sso_only)
    }

    pub fn update_policy(&self, actor: &Actor, change: PolicyChange) -> Result<OrgPolicy> {
        if let Some(m) = &actor.member
            && !m.is_admin()
        {
            return Err(Error::Forbidden(
                "Only admins can change the policy.".into(),
            ));
        }
        if let Some(first) = change.check().into_iter().next() {
            return Err(Error::Invalid(first));
        }
        let org = match &actor.member {
            Some(m) => m.org_id,
            None => self.default_org()?,
        };
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            let before = load_policy(conn, org)?;
            // Requiring what the admin lacks would lock them out at once.
            if change.require_two_factor && !before.require_two_factor {
                let admin_has_it = match &actor.member {
                    Some(m) => {
                        db::members::find(conn, m.id)?.is_some_and(|r| r.totp_secret.is_some())
                    }
                    None => true,
                };
                if !admin_has_it {
                    return Err(Error::invalid(
                        "require_two_factor",
                        "Turn on two-factor sign-in for your own account first (Settings → Account).",
                    ));
                }
            }
            // Passwords go off only once single sign-on has worked for
            // the admin turning them off.
            if change.sso_only && !before.sso_only {
                let proven = match &actor.member {
                    Some(m) => {
                        let filter = db::audit::Filter {
                            org,
                            action: Some("login.sso_succeeded"),
                            actor: Some(m.id),
                            before: None,
                        };
                        db::audit::count(conn, &filter)? > 0
                    }
                    None => true,
                };
                if !proven {
                    return Err(Error::invalid(
                        "sso_only",
                        "Sign in with single sign-on yourself first, so you know it works before passwords stop.",
                    ));
                }
            }
            db::organisations::set_policy(
                conn,
                org,
                &db::organisations::PolicyFields {
                    max_lifetime_days: change.max_lifetime_days,
                    allow_no_expiry: change.allow_no_expiry,
                    default_expiry_days: change.default_expiry_days,
                    service_max_lifetime_days: change.service_max_lifetime_days,
                    require_two_factor: change.require_two_factor,
                    sso_only: change.sso_only,
                },
            )?;
            let after = load_policy(conn, org)?;
            let describe = |p: &OrgPolicy| {
                format!(
                    "max lifetime {} days, no expiry {}, default {} days, service accounts {}",
                    p.expiry.max_lifetime_days,
                    if p.expiry.allow_no_expiry {
                        "allowed"
                    } else {
                        "not allowed"
                    },
                    p.default_expiry_days,
                    match p.service_max_lifetime_days {
                        Some(days) => format!("at most {days} days"),
                        None => "as everyone".to_owned(),
                    }
                )
            };
            audit::record(
                conn,
                now,
                NewEvent {
                    org,
                    actor: actor.id(),
                    action: "policy.changed",
                    token: None,
                    member: None,
                    ip: actor.ip.as_deref(),
                    detail: format!(
                        "{} → {}{}{}",
                        describe(&before),
                        describe(&after),
                        match (before.require_two_factor, after.require_two_factor) {
                            (false, true) => "; two-factor sign-in now required",
                            (true, false) => "; two-factor sign-in no longer required",
                            _ => "",
                        },
                        match (before.sso_only, after.sso_only) {
                            (false, true) => "; password sign-in off (single sign-on only)",
                            (true, false) => "; password sign-in on again",
                            _ => "",
                        }
                    ),
                },
            )?;
            Ok(after)
        })
    }
}
