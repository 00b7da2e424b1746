//! Row types: how records look in the database.

use super::schema::*;
use crate::domain::{IpAllowList, MemberKind, Role, ScopeSet};
use diesel::prelude::*;
use time::PrimitiveDateTime;

#[derive(Debug, Clone, Queryable)]
pub struct OrganisationRow {
    pub id: i64,
    pub name: String,
    pub max_lifetime_days: i64,
    pub allow_no_expiry: bool,
    pub default_expiry_days: i64,
    pub max_active_tokens: i64,
    pub created_at: PrimitiveDateTime,
    /// Before scopes were data: `scope=role` overrides, folded into the
    /// `scopes` table once (see `db::scopes::seed`).
    pub scope_min_roles: String,
    pub service_max_lifetime_days: Option<i64>,
    pub require_two_factor: bool,
    pub sso_only: bool,
    /// Tokens created before this stop ("revoke every token issued before").
    pub tokens_valid_after: Option<PrimitiveDateTime>,
    pub inactive_after_days: Option<i64>,
    pub lifetime_applies_to_existing: bool,
}

#[derive(Insertable)]
#[diesel(table_name = organisations)]
pub struct NewOrganisationRow<'a> {
    pub name: &'a str,
    pub created_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable)]
pub struct MemberRow {
    pub id: i64,
    pub org_id: i64,
    pub email: String,
    pub password_hash: String,
    #[diesel(deserialize_as = String)]
    pub role: Role,
    pub disabled: bool,
    pub created_at: PrimitiveDateTime,
    #[diesel(deserialize_as = String)]
    pub kind: MemberKind,
    /// Latchkey generated the password: the member must replace it.
    pub password_must_change: bool,
    pub totp_secret: Option<String>,
    pub totp_pending: Option<String>,
    pub totp_last_step: Option<i64>,
    /// This member's tokens created before this stop.
    pub tokens_valid_after: Option<PrimitiveDateTime>,
}

#[derive(Insertable)]
#[diesel(table_name = members)]
pub struct NewMemberRow<'a> {
    pub org_id: i64,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub disabled: bool,
    pub created_at: PrimitiveDateTime,
    pub kind: &'a str,
    pub password_must_change: bool,
}

#[derive(Debug, Clone, Queryable)]
pub struct TokenRow {
    pub id: i64,
    pub org_id: i64,
    pub owner_id: i64,
    pub name: String,
    pub token_hash: Vec<u8>,
    pub hint: String,
    #[diesel(deserialize_as = String)]
    pub scopes: ScopeSet,
    pub expires_at: Option<PrimitiveDateTime>,
    pub created_at: PrimitiveDateTime,
    pub created_by: Option<i64>,
    pub last_used_at: Option<PrimitiveDateTime>,
    pub last_used_ip: Option<String>,
    /// A revoke time in the future is the end of a rotation's overlap.
    pub revoked_at: Option<PrimitiveDateTime>,
    pub revoked_by: Option<i64>,
    pub rotated_from: Option<i64>,
    pub replaced_by: Option<i64>,
    /// Empty allows any address.
    #[diesel(deserialize_as = String)]
    pub allowed_ips: IpAllowList,
    /// The first token of this token's rotation chain (`None`: this one).
    pub chain_id: Option<i64>,
    /// Why it was revoked (`RevokeReason::as_str`).
    pub revoked_reason: Option<String>,
    /// The name case-folded for search (`domain::fold`).
    pub name_folded: String,
    /// What it is for, when its maker said (the management API).
    pub description: Option<String>,
    /// Made to be found: never authorizes, every use is reported.
    pub canary: bool,
    /// Stopped until resumed.
    pub suspended_at: Option<PrimitiveDateTime>,
}

impl TokenRow {
    /// The id every token of this one's rotation chain shares.
    pub fn chain_root(&self) -> i64 {
        self.chain_id.unwrap_or(self.id)
    }
}

#[derive(Insertable)]
#[diesel(table_name = api_tokens)]
pub struct NewTokenRow<'a> {
    pub org_id: i64,
    pub owner_id: i64,
    pub name: &'a str,
    pub token_hash: &'a [u8],
    pub hint: &'a str,
    pub scopes: &'a str,
    pub expires_at: Option<PrimitiveDateTime>,
    pub created_at: PrimitiveDateTime,
    pub created_by: Option<i64>,
    pub rotated_from: Option<i64>,
    pub allowed_ips: &'a str,
    pub chain_id: Option<i64>,
    pub name_folded: &'a str,
    pub description: Option<&'a str>,
    pub canary: bool,
}

#[derive(Debug, Clone, Queryable)]
pub struct AuditRow {
    pub id: i64,
    pub org_id: i64,
    pub actor_id: Option<i64>,
    pub action: String,
    pub token_id: Option<i64>,
    pub member_id: Option<i64>,
    pub ip: Option<String>,
    pub detail: String,
    pub created_at: PrimitiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditRow<'a> {
    pub org_id: i64,
    pub actor_id: Option<i64>,
    pub action: &'a str,
    pub token_id: Option<i64>,
    pub member_id: Option<i64>,
    pub ip: Option<&'a str>,
    pub detail: &'a str,
    pub created_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable)]
pub struct WebhookEventRow {
    pub id: i64,
    pub org_id: i64,
    pub dedupe_key: String,
    pub event_type: String,
    pub token_id: Option<i64>,
    pub payload: String,
    pub created_at: PrimitiveDateTime,
    pub attempts: i64,
    pub next_attempt_at: PrimitiveDateTime,
    pub claimed_until: Option<PrimitiveDateTime>,
    pub delivered_at: Option<PrimitiveDateTime>,
    pub failed_at: Option<PrimitiveDateTime>,
    pub last_error: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = webhook_events)]
pub struct NewWebhookEventRow<'a> {
    pub org_id: i64,
    pub dedupe_key: &'a str,
    pub event_type: &'a str,
    pub token_id: Option<i64>,
    pub payload: &'a str,
    pub created_at: PrimitiveDateTime,
    pub next_attempt_at: PrimitiveDateTime,
}
