//! Checking a presented token: the hot path of every API request.
//!
//! Order of work: shape and checksum in memory (no database), SHA-256, one
//! indexed lookup that brings the owner, then revoked / expired / disabled,
//! then effective scopes. Every check reads the database after the request
//! arrived, so a revoke committed by any instance is seen by the next
//! request; nothing is cached.

use super::{Latchkey, Member};
use crate::db::{self, schema::api_tokens as t};
use crate::domain::{
    IpAllowList, ScopeRoles, ScopeSet, TokenHash, TokenId, TokenStatus, status_at,
};
use crate::error::{Error, Result};
use diesel::prelude::*;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use time::{Duration, PrimitiveDateTime};

/// Last use is written at most this often per token.
const LAST_USED_INTERVAL: Duration = Duration::seconds(60);
/// Most lookups answered by one PostgreSQL query.
const MAX_BATCH: usize = 256;

/// A token that passed every check, with what it may do now.
#[derive(Debug, Clone)]
pub struct Verified {
    pub token_id: TokenId,
    pub name: String,
    pub owner: Member,
    /// Effective scopes: stored ∩ what the owner's current role allows.
    pub scopes: ScopeSet,
    pub expires_at: Option<PrimitiveDateTime>,
    pub created_at: PrimitiveDateTime,
    /// Last use was recorded more than a minute ago (or never).
    pub use_is_stale: bool,
    /// Where the token may be used from (empty: anywhere).
    pub allowed_ips: IpAllowList,
}

/// Why a token was refused. Kept for logs and metrics; callers must not
/// tell the client which one it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyFailure {
    Malformed,
    Unknown,
    Revoked,
    Expired,
    OwnerDisabled,
}

impl VerifyFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyFailure::Malformed => "malformed",
            VerifyFailure::Unknown => "unknown",
            VerifyFailure::Revoked => "revoked",
            VerifyFailure::Expired => "expired",
            VerifyFailure::OwnerDisabled => "owner_disabled",
        }
    }
}

/// The result of a failed verification: refused (the client's token is
/// bad) or an error of ours (the database is down).
#[derive(Debug)]
pub enum VerifyOutcome {
    Refused(VerifyFailure),
    /// A token replaced by rotation, presented after its overlap window:
    /// refused like any revoked token, and a sign of theft — the caller
    /// revokes its chain (`revoke_chain`).
    Reused(TokenId),
    /// A valid token used from outside its IP allow-list: refused like any
    /// invalid token, and worth an audit entry.
    OutsideAllowList(Box<Verified>),
    Error(Error),
}

type Found = Option<(db::TokenRow, db::MemberRow, String)>;
type Reply = tokio::sync::oneshot::Sender<std::result::Result<Found, String>>;

/// Coalesces concurrent lookups into one `token_hash = ANY($1)` query.
///
/// On PostgreSQL a lookup costs a network round trip and a backend wake-up,
/// far more than the query itself. Requests that arrive while a query is in
/// flight wait for the next one, which answers all of them together. Each
/// query is sent after its requests arrived, so it sees every revoke
/// committed before them.
pub struct Batcher {
    queue: Mutex<mpsc::Sender<(TokenHash, Reply)>>,
}

impl Batcher {
    pub fn start(service: &Latchkey, threads: usize) -> Arc<Batcher> {
        let (tx, rx) = mpsc::channel::<(TokenHash, Reply)>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads {
            let (rx, svc) = (rx.clone(), service.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("token-lookups-{n}"))
                .spawn(move || batch_loop(&svc, &rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a token lookup thread");
            }
        }
        Arc::new(Batcher {
            queue: Mutex::new(tx),
        })
    }

    async fn lookup(&self, hash: TokenHash) -> std::result::Result<Found, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sent = self
            .queue
            .lock()
            .map_err(|_| "lookup queue poisoned".to_owned())?
            .send((hash, reply));
        sent.map_err(|_| "token lookup threads are gone".to_owned())?;
        answer
            .await
            .map_err(|_| "token lookup dropped".to_owned())?
    }
}

fn batch_loop(service: &Latchkey, rx: &Mutex<mpsc::Receiver<(TokenHash, Reply)>>) {
    loop {
        // Take whatever is waiting: the first blocks, the rest do not.
        let batch: Vec<(TokenHash, Reply)> = {
            let Ok(rx) = rx.lock() else { return };
            let Ok(first) = rx.recv() else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
            batch
        };
        let hashes: Vec<Vec<u8>> = batch.iter().map(|(h, _)| h.as_bytes().to_vec()).collect();
        let result = service
            .conn()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                db::tokens_with_owners(&mut conn, &hashes).map_err(|e| e.to_string())
            });
        match result {
            Ok(rows) => {
                let by_hash: HashMap<Vec<u8>, (db::TokenRow, db::MemberRow, String)> = rows
                    .into_iter()
                    .map(|(t, m, p)| (t.token_hash.clone(), (t, m, p)))
                    .collect();
                for (hash, reply) in batch {
                    // The same token may be asked for many times in a batch.
                    let _ = reply.send(Ok(by_hash.get(hash.as_bytes()).cloned()));
                }
            }
            Err(e) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

impl Latchkey {
    /// Checks a presented token without recording a use (introspection by a
    /// resource server is not the token's own use).
    pub fn inspect(&self, raw: &str) -> std::result::Result<Verified, VerifyOutcome> {
        let hash = self.hash_of(raw)?;
        let mut conn = self.conn().map_err(VerifyOutcome::Error)?;
        let found = db::token_with_owner(&mut conn, hash.as_bytes())
            .map_err(|e| VerifyOutcome::Error(e.into()))?;
        self.judge(found)
    }

    /// The request path: never blocks an async thread for long. SQLite
    /// answers a prepared, indexed read on an idle connection in
    /// microseconds, less than a hop to the blocking pool; PostgreSQL
    /// lookups go through the batcher. The caller records a stale use with
    /// `record_use`, after answering.
    pub async fn check_for_request(
        &self,
        raw: &str,
        batcher: Option<&Batcher>,
        client: Option<IpAddr>,
    ) -> std::result::Result<Verified, VerifyOutcome> {
        let verified = self.check_token(raw, batcher).await?;
        if verified.allowed_ips.permits(client) {
            Ok(verified)
        } else {
            Err(VerifyOutcome::OutsideAllowList(Box::new(verified)))
        }
    }

    async fn check_token(
        &self,
        raw: &str,
        batcher: Option<&Batcher>,
    ) -> std::result::Result<Verified, VerifyOutcome> {
        let hash = self.hash_of(raw)?;
        if let Some(batcher) = batcher.filter(|_| !self.is_sqlite()) {
            let found = batcher
                .lookup(hash)
                .await
                .map_err(|e| VerifyOutcome::Error(Error::Unavailable(e)))?;
            return self.judge(found);
        }
        if let Some(mut conn) = self.pool.try_get() {
            let found = db::token_with_owner(&mut conn, hash.as_bytes())
                .map_err(|e| VerifyOutcome::Error(e.into()))?;
            return self.judge(found);
        }
        let svc = self.clone();
        actix_web::web::block(move || {
            let mut conn = svc.conn().map_err(VerifyOutcome::Error)?;
            let found = db::token_with_owner(&mut conn, hash.as_bytes())
                .map_err(|e| VerifyOutcome::Error(e.into()))?;
            svc.judge(found)
        })
        .await
        .map_err(|e| VerifyOutcome::Error(Error::Unexpected(e.to_string())))?
    }

    /// Shape and checksum, then SHA-256: garbage never reaches the database.
    fn hash_of(&self, raw: &str) -> std::result::Result<TokenHash, VerifyOutcome> {
        self.format
            .parse(raw)
            .map(|secret| secret.hash())
            .map_err(|_| VerifyOutcome::Refused(VerifyFailure::Malformed))
    }

    fn judge(&self, found: Found) -> std::result::Result<Verified, VerifyOutcome> {
        let now = self.clock.now();
        let Some((row, owner, scope_policy)) = found else {
            return Err(VerifyOutcome::Refused(VerifyFailure::Unknown));
        };
        match status_at(
            row.revoked_at.is_some_and(|r| r <= now),
            row.expires_at,
            now,
        ) {
            TokenStatus::Revoked if row.replaced_by.is_some() => {
                return Err(VerifyOutcome::Reused(TokenId(row.id)));
            }
            TokenStatus::Revoked => return Err(VerifyOutcome::Refused(VerifyFailure::Revoked)),
            TokenStatus::Expired => return Err(VerifyOutcome::Refused(VerifyFailure::Expired)),
            TokenStatus::Active => {}
        }
        if owner.disabled {
            return Err(VerifyOutcome::Refused(VerifyFailure::OwnerDisabled));
        }
        let owner = Member::from_row(owner).map_err(VerifyOutcome::Error)?;
        let stored = ScopeSet::parse_list(&row.scopes)
            .map_err(|e| VerifyOutcome::Error(Error::Unexpected(e)))?;
        // The organisation's policy at the moment of use decides.
        let roles = ScopeRoles::parse(&scope_policy)
            .map_err(|e| VerifyOutcome::Error(Error::Unexpected(e)))?;
        let allowed_ips = if row.allowed_ips.is_empty() {
            IpAllowList::default()
        } else {
            IpAllowList::from_stored(&row.allowed_ips)
                .map_err(|e| VerifyOutcome::Error(Error::Unexpected(e)))?
        };
        Ok(Verified {
            token_id: TokenId(row.id),
            name: row.name,
            scopes: stored.intersect(roles.allowed_for(owner.role)),
            owner,
            expires_at: row.expires_at,
            created_at: row.created_at,
            use_is_stale: row
                .last_used_at
                .is_none_or(|at| now - at >= LAST_USED_INTERVAL),
            allowed_ips,
        })
    }

    /// Writes last use (now, and the client's address) unless it was
    /// written less than a minute ago; the condition makes concurrent
    /// requests write once.
    pub fn record_use(&self, token: TokenId, ip: Option<&str>) -> Result<()> {
        let now = self.clock.now();
        let cutoff = now - LAST_USED_INTERVAL;
        let mut conn = self.conn()?;
        diesel::update(
            t::table
                .find(token.0)
                .filter(t::last_used_at.is_null().or(t::last_used_at.le(cutoff))),
        )
        .set((t::last_used_at.eq(now), t::last_used_ip.eq(ip)))
        .execute(&mut conn)?;
        Ok(())
    }

    /// Audits a valid token presented from outside its allow-list.
    pub fn record_refused_address(&self, token: &Verified, ip: Option<&str>) -> Result<()> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        super::audit::record(
            &mut conn,
            now,
            super::audit::NewEvent {
                org: token.owner.org_id,
                actor: None,
                action: "token.ip_refused",
                token: Some(token.token_id),
                member: Some(token.owner.id),
                ip,
                detail: format!(
                    "token #{} presented from {}, outside its IP allow-list; refused",
                    token.token_id.0,
                    ip.unwrap_or("an unknown address")
                ),
            },
        )?;
        Ok(())
    }
}
