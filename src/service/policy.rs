//! The organisation's token policy: maximum lifetime, whether "no expiry"
//! is allowed, the preset the generate form starts on.

use super::Policy;
use super::audit::{self, NewEvent};
use super::{Actor, OrgPolicy, load_policy};
use crate::db::{self, DbConnection};
use crate::domain::{
    ExpiryPolicy, FieldError, INACTIVE_DAYS_MAX, INACTIVE_DAYS_MIN, Inactivity, OrgId, PRESETS,
    RevokeReason,
};
use crate::error::{Error, Result};
use time::PrimitiveDateTime;

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
    /// Revoke tokens unused this many days (7–3650; `None`: never).
    pub inactive_after_days: Option<u32>,
    /// The maximum lifetime also stops existing tokens that exceed it.
    pub lifetime_applies_to_existing: bool,
}

/// What a policy change does to what exists, beyond the forms: computed
/// by the code that applies it, so a preview says exactly what a save
/// does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyEffect {
    /// Working tokens that stop now: longer-lived than the new maximum,
    /// which applies to existing tokens.
    pub tokens_stopped: usize,
    /// Working tokens revoked now for being unused longer than the new
    /// inactivity rule allows.
    pub tokens_idle: usize,
    /// People sent to set up two-factor sign-in after their next sign-in.
    pub members_to_enrol: usize,
}

impl PolicyEffect {
    /// Whether the change stops tokens: such a save is confirmed first.
    pub fn stops_tokens(&self) -> bool {
        self.tokens_stopped + self.tokens_idle > 0
    }
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
        if self
            .inactive_after_days
            .is_some_and(|d| !(INACTIVE_DAYS_MIN..=INACTIVE_DAYS_MAX).contains(&d))
        {
            errors.push(FieldError::new(
                "inactive_after_days",
                format!(
                    "Revoke unused tokens after {INACTIVE_DAYS_MIN} to {INACTIVE_DAYS_MAX} days, or leave it empty for never."
                ),
            ));
        }
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

impl Policy<'_> {
    /// The organisation's policy as it stands.
    pub fn current(&self, org: OrgId) -> Result<OrgPolicy> {
        let mut conn = self.conn()?;
        load_policy(&mut conn, org)
    }

    /// Whether password sign-in is off (single sign-on only).
    pub fn passwords_off(&self) -> Result<bool> {
        let mut conn = self.conn()?;
        let org = db::organisations::first_id(&mut conn)?;
        Ok(db::organisations::find(&mut conn, org)?.sso_only)
    }

    /// Changes the policy of the actor's organisation (admins, or the CLI);
    /// it applies at once: the generate form, the CLI and the API follow it.
    /// Unless `confirmed`, a change that stops
    /// tokens is rolled back and its effect returned for the admin to
    /// confirm: one transaction computes what it does and decides.
    pub fn update(
        &self,
        actor: &Actor,
        change: PolicyChange,
        confirmed: bool,
    ) -> Result<PolicySave> {
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
        let keep = |(_, effect): &(OrgPolicy, PolicyEffect)| confirmed || !effect.stops_tokens();
        let ((policy, effect), kept) = super::preview::run_then(&mut conn, keep, |conn| {
            save_policy(conn, actor, org, change, now)
        })?;
        Ok(if kept {
            PolicySave::Saved(policy, effect)
        } else {
            PolicySave::Confirm(effect)
        })
    }
}

/// How a policy save ended.
#[derive(Debug)]
pub enum PolicySave {
    Saved(OrgPolicy, PolicyEffect),
    /// Not saved: it stops tokens, and was not confirmed.
    Confirm(PolicyEffect),
}

/// The whole change, inside the caller's transaction.
fn save_policy(
    conn: &mut DbConnection,
    actor: &Actor,
    org: OrgId,
    change: PolicyChange,
    now: PrimitiveDateTime,
) -> Result<(OrgPolicy, PolicyEffect)> {
    db::lock_organisation(conn, org.0)?;
    let before = load_policy(conn, org)?;
    check_sign_in_rules(conn, actor, org, &before, &change)?;
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
            inactive_after_days: change.inactive_after_days,
            lifetime_applies_to_existing: change.lifetime_applies_to_existing,
        },
    )?;
    let after = load_policy(conn, org)?;
    let tokens_stopped = stop_overlong(conn, actor, org, &before, &after, now)?;
    let tokens_idle = match after.inactive_after_days {
        Some(days) => {
            super::inactivity::revoke_idle(conn, org, Inactivity { days }, now, actor.id())?.len()
        }
        None => 0,
    };
    let members_to_enrol = if after.require_two_factor && !before.require_two_factor {
        usize::try_from(db::members::count_without_two_factor(conn, org)?).unwrap_or(0)
    } else {
        0
    };
    let effect = PolicyEffect {
        tokens_stopped,
        tokens_idle,
        members_to_enrol,
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
            detail: describe_change(&before, &after, &effect),
        },
    )?;
    Ok((after, effect))
}

/// Two-factor and single-sign-on rules that would lock the admin out.
fn check_sign_in_rules(
    conn: &mut DbConnection,
    actor: &Actor,
    org: OrgId,
    before: &OrgPolicy,
    change: &PolicyChange,
) -> Result<()> {
    // Requiring what the admin lacks would lock them out at once.
    if change.require_two_factor && !before.require_two_factor {
        let admin_has_it = match &actor.member {
            Some(m) => db::members::find(conn, m.id)?.is_some_and(|r| r.totp_secret.is_some()),
            None => true,
        };
        if !admin_has_it {
            return Err(Error::invalid(
                "require_two_factor",
                "Turn on two-factor sign-in for your own account first (Settings → Account).",
            ));
        }
    }
    // Passwords go off only once single sign-on has worked for the admin
    // turning them off.
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
    Ok(())
}

/// When the maximum lifetime applies to existing tokens: the working
/// tokens it stops now that it did not stop before (the token check
/// refuses them from now on, by the same rule) are audited and announced
/// on the revocation feed. Returns how many.
fn stop_overlong(
    conn: &mut DbConnection,
    actor: &Actor,
    org: OrgId,
    before: &OrgPolicy,
    after: &OrgPolicy,
    now: PrimitiveDateTime,
) -> Result<usize> {
    if !after.lifetime_applies_to_existing {
        return Ok(0);
    }
    let stopped_by = |p: &OrgPolicy, kind, made, ends| {
        p.lifetime_applies_to_existing && p.expiry_for(kind).exceeded_by(made, ends)
    };
    let newly: Vec<(i64, String)> = db::tokens::working_lifetimes(conn, org, now)?
        .into_iter()
        .filter(|(_, made, ends, kind)| {
            stopped_by(after, *kind, *made, *ends) && !stopped_by(before, *kind, *made, *ends)
        })
        .map(|(id, made, ends, kind)| {
            let max = after.expiry_for(kind).max_lifetime_days;
            let why = match ExpiryPolicy::lifetime_days(made, ends) {
                Some(days) => {
                    format!("its lifetime of {days} days is longer than the maximum of {max} days")
                }
                None => "it never expires, which the policy no longer allows".to_owned(),
            };
            (id, why)
        })
        .collect();
    if newly.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = newly.iter().map(|(id, _)| *id).collect();
    db::revocations::announce_ids(conn, &ids, RevokeReason::Policy.as_str(), now)?;
    let per_token = audit::PerToken {
        org,
        actor: actor.id(),
        action: "token.policy_blocked",
        member: None,
        ip: actor.ip.as_deref(),
    };
    let events = newly.iter().map(|(id, why)| (*id, why.as_str()));
    audit::record_per_token(conn, now, per_token, events)?;
    Ok(newly.len())
}

fn describe_change(before: &OrgPolicy, after: &OrgPolicy, effect: &PolicyEffect) -> String {
    let describe = |p: &OrgPolicy| {
        format!(
            "max lifetime {} days{}, no expiry {}, default {} days, service accounts {}{}",
            p.expiry.max_lifetime_days,
            if p.lifetime_applies_to_existing {
                " (existing tokens too)"
            } else {
                ""
            },
            if p.expiry.allow_no_expiry {
                "allowed"
            } else {
                "not allowed"
            },
            p.default_expiry_days,
            match p.service_max_lifetime_days {
                Some(days) => format!("at most {days} days"),
                None => "as everyone".to_owned(),
            },
            match p.inactive_after_days {
                Some(days) => format!(", unused tokens revoked after {days} days"),
                None => String::new(),
            }
        )
    };
    let mut detail = format!("{} → {}", describe(before), describe(after));
    detail.push_str(
        match (before.require_two_factor, after.require_two_factor) {
            (false, true) => "; two-factor sign-in now required",
            (true, false) => "; two-factor sign-in no longer required",
            _ => "",
        },
    );
    detail.push_str(match (before.sso_only, after.sso_only) {
        (false, true) => "; password sign-in off (single sign-on only)",
        (true, false) => "; password sign-in on again",
        _ => "",
    });
    if effect.tokens_stopped > 0 {
        detail.push_str(&format!(
            "; {} working token(s) stopped by the maximum lifetime",
            effect.tokens_stopped
        ));
    }
    if effect.tokens_idle > 0 {
        detail.push_str(&format!("; {} unused token(s) revoked", effect.tokens_idle));
    }
    detail
}
