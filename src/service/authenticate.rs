//! Authentication: the one use case every door that sees a token calls
//! (the bearer extractor, introspection). It judges a presented token and
//! decides what the judgement calls for — counting a use, writing last use,
//! revoking the chain of a rotated-away token that came back, auditing a
//! refusal — so no door can forget a rule.
//!
//! Order of work: shape and checksum in memory (no database), SHA-256, one
//! indexed lookup that brings the owner (the caller picks the thread or the
//! batch), then revoked / expired / disabled, then effective scopes and the
//! allow-list. A token is read from memory only at a mark that no change
//! committed before the request arrived can have passed (SQLite: the file's
//! header read now; PostgreSQL: this instance's lease, whose writers wait
//! for it, or an epoch read after the request arrived), so a revoke
//! committed by any instance is seen by the next request.

use super::Checks;
use super::Member;
use super::audit::{self, NewEvent};
use super::lease::LeasedMark;
use crate::db::changes::Mark as ChangeMark;
use crate::db::credentials::{self, Credential};
use crate::db::{self, DbConnection};
use crate::domain::{
    Catalogue, IpAllowList, MemberId, OrgId, RevokeReason, ScopeSet, TokenHash, TokenId,
    TokenStatus, rate_limit_key, status_at,
};
use crate::error::Result;
use diesel::QueryResult;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use time::{Duration, PrimitiveDateTime};

/// Last use is written at most this often per token.
const LAST_USED_INTERVAL: Duration = Duration::seconds(60);
/// Reuse and allow-list refusals are acted on and audited at most this
/// often per token and address: a client stuck in a retry loop costs no
/// writes.
const REFUSAL_AUDIT_INTERVAL: Duration = Duration::seconds(60);

/// A token that passed every check, with what it may do now.
#[derive(Debug, Clone)]
pub struct Verified {
    pub token_id: TokenId,
    pub name: String,
    pub owner: Member,
    /// Effective scopes: stored ∩ what the owner's current role allows
    /// (shared with the cached token: no copy per request).
    pub scopes: Arc<ScopeSet>,
    pub expires_at: Option<PrimitiveDateTime>,
    pub created_at: PrimitiveDateTime,
    /// Where the token may be used from (empty: anywhere).
    pub allowed_ips: IpAllowList,
}

/// Why a token was refused. For logs and metrics only: every door answers
/// all of them alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Unknown,
    Revoked,
    Expired,
    OwnerDisabled,
    /// A token replaced by rotation, presented after its overlap window.
    Reused,
    /// A valid token used from outside its IP allow-list.
    OutsideAllowList,
    /// Suspended until resumed.
    Suspended,
    /// Created before its owner's or organisation's "revoke every token
    /// issued before" watermark.
    RevokedBefore,
    /// Lives longer than the policy's maximum, applied to existing tokens.
    PolicyBlocked,
}

impl Refusal {
    /// Every refusal, in declaration order (`refusal as usize` is its
    /// place here), for whoever counts them.
    pub const ALL: [Refusal; 10] = [
        Refusal::Malformed,
        Refusal::Unknown,
        Refusal::Revoked,
        Refusal::Expired,
        Refusal::OwnerDisabled,
        Refusal::Reused,
        Refusal::OutsideAllowList,
        Refusal::Suspended,
        Refusal::RevokedBefore,
        Refusal::PolicyBlocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Unknown => "unknown",
            Refusal::Revoked => "revoked",
            Refusal::Expired => "expired",
            Refusal::OwnerDisabled => "owner_disabled",
            Refusal::Reused => "reused",
            Refusal::OutsideAllowList => "outside_allow_list",
            Refusal::Suspended => "suspended",
            Refusal::RevokedBefore => "revoked_before",
            Refusal::PolicyBlocked => "policy_blocked",
        }
    }
}

/// Which door a token came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// `Authorization: Bearer` on a request: the token's own use, from the
    /// client's address.
    Bearer,
    /// A resource server asking about a token: not the token's own use;
    /// the address is the resource server's (the token's client is not
    /// known here, so its allow-list is the resource server's to apply).
    Introspection,
}

/// A token as found, with the scopes it may use now (stored ∩ what the
/// catalogue offers its owner's role): read together, kept together.
#[derive(Debug)]
pub struct Known {
    pub token: Credential,
    pub usable: Arc<ScopeSet>,
}

/// A token as found: shared by the cache and the requests it answers.
pub type Found = Option<Arc<Known>>;

impl Known {
    pub fn new(token: Credential, catalogue: &Catalogue) -> Known {
        let usable = token
            .scopes
            .intersect(&catalogue.allowed_for(token.owner_role));
        Known {
            token,
            usable: Arc::new(usable),
        }
    }
}

/// The writes a judgement calls for, done off the request path by
/// `record_effects`.
#[derive(Debug, Default)]
pub struct Effects {
    last_use: Option<(TokenId, Option<IpAddr>)>,
    reuse: Option<(TokenId, Option<IpAddr>)>,
    refused_address: Option<(TokenId, OrgId, MemberId, Option<IpAddr>)>,
    /// A canary was presented: report it (with the caller's user agent,
    /// which the door adds).
    canary: Option<(TokenId, OrgId, MemberId, Option<IpAddr>)>,
    user_agent: Option<String>,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.last_use.is_none()
            && self.reuse.is_none()
            && self.refused_address.is_none()
            && self.canary.is_none()
    }

    /// Whether the door should add the caller's user agent.
    pub fn wants_user_agent(&self) -> bool {
        self.canary.is_some()
    }

    pub fn set_user_agent(&mut self, user_agent: &str) {
        self.user_agent = Some(super::super::domain::audit_text(user_agent));
    }

    /// The next request must see these done (a revoked chain): finish them
    /// before answering.
    pub fn urgent(&self) -> bool {
        self.reuse.is_some()
    }
}

/// A judgement and what it calls for.
#[derive(Debug)]
pub struct Authentication {
    pub outcome: std::result::Result<Verified, Refusal>,
    pub effects: Effects,
}

/// What a token that passed every check may do now.
fn verified(token: &Credential, usable: &Arc<ScopeSet>) -> Verified {
    Verified {
        token_id: TokenId(token.id),
        name: token.name.clone(),
        // The catalogue at the moment of use decides.
        scopes: usable.clone(),
        owner: Member {
            id: MemberId(token.owner_id),
            org_id: OrgId(token.org_id),
            email: token.owner_email.clone(),
            role: token.owner_role,
            disabled: false,
            created_at: token.owner_created_at.assume_utc(),
            kind: token.owner_kind,
            // Console sign-in only; a token check never asks.
            must_change_password: false,
            two_factor: false,
            has_password: true,
        },
        // A token in a rotation's overlap stops at its end.
        expires_at: match (token.expires_at, token.revoked_at) {
            (Some(exp), Some(stops)) => Some(exp.min(stops)),
            (exp, stops) => stops.or(exp),
        },
        created_at: token.created_at,
        allowed_ips: token.allowed_ips.clone(),
    }
}

/// A kind of refusal, for one token, from one address (IPv4, or IPv6 /64:
/// a client changes the low bits of its IPv6 address at will).
type RefusalKey = (TokenId, String, &'static str);

/// Remembers when a refusal was last acted on, per token and address.
#[derive(Debug, Default)]
pub(super) struct Dampener {
    seen: Mutex<HashMap<RefusalKey, PrimitiveDateTime>>,
}

impl Dampener {
    /// True the first time in `REFUSAL_AUDIT_INTERVAL` for this key.
    fn first_in_a_while(
        &self,
        kind: &'static str,
        token: TokenId,
        ip: Option<IpAddr>,
        now: PrimitiveDateTime,
    ) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return true;
        };
        if seen.len() > 10_000 {
            seen.retain(|_, at| now - *at < REFUSAL_AUDIT_INTERVAL);
        }
        let key = (token, rate_limit_key(ip), kind);
        match seen.get(&key) {
            Some(at) if now - *at < REFUSAL_AUDIT_INTERVAL => false,
            _ => {
                seen.insert(key, now);
                true
            }
        }
    }
}

impl<'a> Checks<'a> {
    /// The PostgreSQL connection URL (`None` on SQLite), for a door that
    /// takes change marks on its own connection.
    pub fn postgres_url(&self) -> Option<&'a Arc<str>> {
        self.0.listen_url.as_ref()
    }

    /// The epoch this instance's lease holds current, which its lease
    /// holder renews (PostgreSQL).
    pub fn lease(&self) -> &'a Arc<LeasedMark> {
        &self.0.lease
    }
}

impl Checks<'_> {
    /// Shape and checksum, then SHA-256: garbage never reaches the database.
    pub fn token_hash(&self, raw: &str) -> std::result::Result<TokenHash, Refusal> {
        self.format.hash_of(raw).map_err(|_| Refusal::Malformed)
    }

    /// The token with this hash (blocking): from the cache while the
    /// database has not changed, else one query.
    pub fn find_token(&self, hash: &TokenHash) -> Result<Found> {
        if !self.is_sqlite {
            let mut found = self.find_tokens(std::slice::from_ref(hash), None)?;
            return Ok(found.pop().flatten());
        }
        let mark = self.watch.as_ref().and_then(|w| w.mark());
        if let Some(hit) = mark.as_ref().and_then(|m| self.credentials.get(hash, m)) {
            return Ok(Some(hit));
        }
        let mut conn = self.conn()?;
        self.read_credential(&mut conn, hash, mark.as_ref())
    }

    /// A found token from memory, if the database is still at `mark` (the
    /// lease's mark, or one taken after the request arrived: PostgreSQL's
    /// doors take it on their own connection). `None`: ask `find_tokens`.
    pub fn cached_token(&self, hash: &TokenHash, mark: &ChangeMark) -> Option<Arc<Known>> {
        self.credentials.get(hash, mark)
    }

    /// PostgreSQL: the epoch every request arriving now may be judged at,
    /// while this instance's lease holds (`None`: take a mark instead).
    pub fn leased_mark(&self) -> Option<ChangeMark> {
        self.lease.current()
    }

    /// SQLite: the database's state now, from its shared-memory header
    /// (`None` on PostgreSQL, or without WAL).
    pub fn sqlite_mark(&self) -> Option<ChangeMark> {
        self.watch.as_ref()?.mark()
    }

    /// Reads the token on a connection idle this instant (SQLite: an
    /// indexed read takes microseconds, less than a hop to another thread),
    /// kept in memory under `mark`, taken before; the caller has already
    /// looked in memory. `None` when the caller should use another thread.
    pub fn read_token_if_idle(
        &self,
        hash: &TokenHash,
        mark: Option<&ChangeMark>,
    ) -> Option<Result<Found>> {
        let mut conn = self.pool.try_get()?;
        Some(self.read_credential(&mut conn, hash, mark))
    }

    fn read_credential(
        &self,
        conn: &mut DbConnection,
        hash: &TokenHash,
        mark: Option<&db::changes::Mark>,
    ) -> Result<Found> {
        let Some(token) = credentials::find_by_hash(conn, hash.as_bytes())? else {
            return Ok(None);
        };
        let catalogue = self.catalogue_at(conn, mark)?;
        let found = Some(Arc::new(Known::new(token, &catalogue)));
        if let (Some(mark), Some(found)) = (mark, &found) {
            self.credentials.put(*hash, mark, found.clone());
        }
        Ok(found)
    }

    /// Many tokens by hash (the PostgreSQL batch), in the order asked: one
    /// small query says whether the cache still holds, one more reads what
    /// it does not. `at`: a state every request asking was judged at when
    /// it arrived (the lease's), which spares the first query.
    pub fn find_tokens(&self, hashes: &[TokenHash], at: Option<&ChangeMark>) -> Result<Vec<Found>> {
        let mut conn = self.conn()?;
        let mark = match (&mut *conn, at) {
            (_, Some(at)) => Some(*at),
            (DbConnection::Postgres(c), None) => Some(db::changes::postgres_mark(c)?),
            (DbConnection::Sqlite(_), None) => self.watch.as_ref().and_then(|w| w.mark()),
        };
        let mut found: Vec<Found> = hashes
            .iter()
            .map(|h| mark.as_ref().and_then(|m| self.credentials.get(h, m)))
            .collect();
        let missing: Vec<Vec<u8>> = hashes
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(h, _)| h.as_bytes().to_vec())
            .collect();
        if missing.is_empty() {
            return Ok(found);
        }
        let tokens = credentials::find_many(&mut conn, &missing)?;
        let catalogue = self.catalogue_at(&mut conn, mark.as_ref())?;
        let read: HashMap<Vec<u8>, Arc<Known>> = tokens
            .into_iter()
            .map(|c| (c.token_hash.clone(), Arc::new(Known::new(c, &catalogue))))
            .collect();
        for (hash, slot) in hashes.iter().zip(found.iter_mut()) {
            if slot.is_none()
                && let Some(c) = read.get(hash.as_bytes())
            {
                if let Some(mark) = &mark {
                    self.credentials.put(*hash, mark, c.clone());
                }
                *slot = Some(c.clone());
            }
        }
        Ok(found)
    }

    /// The scope catalogue: kept while the database stays at `mark`.
    fn catalogue_at(
        &self,
        conn: &mut DbConnection,
        mark: Option<&db::changes::Mark>,
    ) -> Result<Arc<Catalogue>> {
        if let Some(kept) = mark.and_then(|m| self.credentials.catalogue(m)) {
            return Ok(kept);
        }
        let read = Arc::new(db::scopes::catalogue(conn)?);
        if let Some(mark) = mark {
            self.credentials.put_catalogue(mark, read.clone());
        }
        Ok(read)
    }

    /// Judges a found token for `door`; says what to write afterwards.
    pub fn authenticate(
        &self,
        found: Option<&Known>,
        door: Door,
        client: Option<IpAddr>,
    ) -> Result<Authentication> {
        let now = self.clock.now();
        let mut effects = Effects::default();
        let Some(Known { token, usable }) = found else {
            return Ok(refused(Refusal::Unknown, effects));
        };
        let id = TokenId(token.id);
        // A canary never authorizes: answered as unknown, reported once a
        // minute per address (a flood costs no writes).
        if token.canary {
            if self.dampener.first_in_a_while("canary", id, client, now) {
                let (owner, org) = (MemberId(token.owner_id), OrgId(token.org_id));
                effects.canary = Some((id, org, owner, client));
            }
            return Ok(refused(Refusal::Unknown, effects));
        }
        let revoked = token.revoked_at.is_some_and(|r| r <= now);
        match status_at(revoked, token.expires_at, now) {
            TokenStatus::Revoked if is_replaced(token) => {
                // Acted on once a minute per address: the chain is revoked
                // by the first, later replays cost nothing.
                if self.dampener.first_in_a_while("reuse", id, client, now) {
                    effects.reuse = Some((id, client));
                }
                return Ok(refused(Refusal::Reused, effects));
            }
            TokenStatus::Revoked => return Ok(refused(Refusal::Revoked, effects)),
            TokenStatus::Expired => return Ok(refused(Refusal::Expired, effects)),
            // `status_at` never says so: a suspension is its own column.
            TokenStatus::Suspended | TokenStatus::Active => {}
        }
        if token.suspended_at.is_some() {
            return Ok(refused(Refusal::Suspended, effects));
        }
        if token.issued_before_watermark() {
            return Ok(refused(Refusal::RevokedBefore, effects));
        }
        if token.exceeds_lifetime_policy() {
            return Ok(refused(Refusal::PolicyBlocked, effects));
        }
        if token.owner_disabled {
            return Ok(refused(Refusal::OwnerDisabled, effects));
        }
        let (owner_id, org_id) = (MemberId(token.owner_id), OrgId(token.org_id));
        if door == Door::Bearer && !token.allowed_ips.permits(client) {
            if self
                .dampener
                .first_in_a_while("ip_refused", id, client, now)
            {
                effects.refused_address = Some((id, org_id, owner_id, client));
            }
            return Ok(refused(Refusal::OutsideAllowList, effects));
        }
        if door == Door::Bearer {
            self.usage().count(id, now.date());
            let due = token
                .last_used_at
                .is_none_or(|at| now - at >= LAST_USED_INTERVAL);
            // A cached row may not show our own write yet: once a minute.
            if due && self.dampener.first_in_a_while("last_use", id, None, now) {
                effects.last_use = Some((id, client));
            }
        }
        Ok(Authentication {
            outcome: Ok(verified(token, usable)),
            effects,
        })
    }

    /// Does what a judgement called for.
    pub fn record_effects(&self, effects: Effects) -> Result<()> {
        if let Some((id, ip)) = effects.reuse {
            self.rotation()
                .revoke_chain(id, ip.map(|a| a.to_string()).as_deref())?;
        }
        if let Some((token, org, member, ip)) = effects.refused_address {
            self.record_refused_address(token, org, member, ip)?;
        }
        if let Some((token, org, member, ip)) = effects.canary {
            let ip = ip.map(|a| a.to_canonical().to_string());
            self.record_canary_use(
                token,
                org,
                member,
                ip.as_deref(),
                effects.user_agent.as_deref(),
            )?;
        }
        if let Some((id, ip)) = effects.last_use {
            self.record_use(id, ip.map(|a| a.to_string()).as_deref())?;
        }
        Ok(())
    }

    /// Writes last use (now, and the client's address) unless it was
    /// written less than a minute ago; the condition makes concurrent
    /// requests write once.
    fn record_use(&self, token: TokenId, ip: Option<&str>) -> Result<()> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::tokens::record_use(&mut conn, token, now, now - LAST_USED_INTERVAL, ip)?;
        Ok(())
    }

    /// Audits a valid token presented from outside its allow-list, unless
    /// another instance did within the minute.
    /// A canary was used: audited with where from and what client, and
    /// sent to the webhook at once (its own event, never merged).
    fn record_canary_use(
        &self,
        token: TokenId,
        org: OrgId,
        member: MemberId,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<()> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let webhooks = self.webhooks_enabled();
        db::write_transaction(&mut conn, |conn| {
            audit::record(
                conn,
                now,
                NewEvent {
                    org,
                    actor: None,
                    action: "token.canary_used",
                    token: Some(token),
                    member: Some(member),
                    ip,
                    detail: format!(
                        "canary token #{} used from {} with user agent “{}”",
                        token.0,
                        ip.unwrap_or("an unknown address"),
                        user_agent.unwrap_or("")
                    ),
                },
            )?;
            if webhooks && let Some(row) = db::tokens::find(conn, token)? {
                super::webhooks::enqueue_canary(conn, now, &row, ip)?;
            }
            Ok::<_, crate::error::Error>(())
        })
    }

    fn record_refused_address(
        &self,
        token: TokenId,
        org: OrgId,
        member: MemberId,
        client: Option<IpAddr>,
    ) -> Result<()> {
        let now = self.clock.now();
        let ip = client.map(|a| a.to_string());
        let mut conn = self.conn()?;
        if audited_lately(&mut conn, "token.ip_refused", token, ip.as_deref(), now)? {
            return Ok(());
        }
        audit::record(
            &mut conn,
            now,
            NewEvent {
                org,
                actor: None,
                action: "token.ip_refused",
                token: Some(token),
                member: Some(member),
                ip: ip.as_deref(),
                detail: format!(
                    "token #{} presented from {}, outside its IP allow-list; refused",
                    token.0,
                    ip.as_deref().unwrap_or("an unknown address")
                ),
            },
        )?;
        Ok(())
    }
}

/// A token replaced by rotation whose window has passed (revoked on purpose
/// it is a plain revoked token, not a sign of theft).
fn is_replaced(token: &Credential) -> bool {
    token.replaced_by.is_some()
        && token.revoked_reason.as_deref() == Some(RevokeReason::Rotated.as_str())
}

fn refused(refusal: Refusal, effects: Effects) -> Authentication {
    Authentication {
        outcome: Err(refusal),
        effects,
    }
}

/// Whether `action` was audited for this token and address (IPv4, or
/// IPv6 /64) within the last interval, by any instance.
pub(super) fn audited_lately(
    conn: &mut db::DbConnection,
    action: &str,
    token: TokenId,
    ip: Option<&str>,
    now: PrimitiveDateTime,
) -> QueryResult<bool> {
    let recent =
        db::audit::token_event_addresses_since(conn, token, action, now - REFUSAL_AUDIT_INTERVAL)?;
    let key = |ip: Option<&str>| rate_limit_key(ip.and_then(|i| i.parse::<IpAddr>().ok()));
    let wanted = key(ip);
    Ok(recent.iter().any(|seen| key(seen.as_deref()) == wanted))
}
