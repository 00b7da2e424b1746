//! Use cases. `Latchkey` is the context they share (pool, clock, caches);
//! each area is a view of it (`latchkey.tokens()`, `.members()`, …, see
//! `use_cases!`) whose public methods own their transaction and return
//! domain types. The console, the API and the CLI all call these.

mod account;
mod audit;
mod auth;
mod authenticate;
mod clock;
mod credentials;
mod inactivity;
mod insight;
mod lease;
mod members;
mod policy;
mod preview;
mod revocations;
mod revoke_all;
mod rotation;
mod scopes;
mod service_accounts;
mod sessions;
mod sso;
mod tokens;
mod two_factor;
mod usage;
pub mod webhooks;

pub use crate::db::changes::Mark as ChangeMark;
pub use audit::{AuditEvent, AuditPage, AuditQuery, ReuseSince};
pub use auth::{
    ADDRESS_WINDOW, Limit, LoginError, MAX_FAILURES, PendingLogin, SIGN_INS_PER_ADDRESS,
    THROTTLE_WINDOW,
};
pub use authenticate::{Authentication, Door, Effects, Found, Known, Refusal, Verified};
pub use clock::Clock;
pub use inactivity::IdleToken;
pub use insight::{TOKEN_TRAIL_LIMIT, TokenDetail};
pub use lease::{LEASE, LeasedMark, RENEW_EVERY};
pub use members::{Actor, Member};
pub use policy::{PolicyChange, PolicyEffect, PolicySave};
pub use revocations::{Revocation, RevocationWaiter};
pub use revoke_all::{RevokeAllEffect, RevokeAllTarget};
pub use rotation::MAX_OVERLAP;
pub use scopes::{ScopeEffect, ScopeFields, ScopeUse};
pub use sessions::{ClientInfo, IDLE_TIMEOUT, MAX_SESSION_AGE, SessionView};
pub use sso::{PendingSso, Sso, SsoConfig, SsoError, SsoIdentity};
pub use tokens::{
    CreatedToken, EXPIRING_SOON_DAYS, MAX_BULK_REVOKE, NewToken, OwnerFilter, RevokeOutcome,
    StatusFilter, Suspension, TokenPage, TokenQuery, TokenView,
};
pub use two_factor::{Enrolment, RECOVERY_CODES, RequiredStep};
pub use usage::USAGE_DAYS;
pub use webhooks::{MAX_ATTEMPTS, PendingWebhook, WebhookRetry, backoff};

use crate::db::{self, DbUrl, Pool};
use crate::domain::{Catalogue, ExpiryPolicy, MemberKind, OrgId, TokenFormat};
use crate::error::{Error, Result};

pub const PAGE_SIZE: i64 = 50;

/// Why `/readyz` says no.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("the database is unreachable: {0}")]
    DatabaseUnreachable(String),
    #[error("{0} database migrations are pending")]
    MigrationsPending(usize),
}

impl NotReady {
    /// What a stranger may read (no host names or driver messages).
    pub fn reason(&self) -> &'static str {
        match self {
            NotReady::DatabaseUnreachable(_) => "database unreachable",
            NotReady::MigrationsPending(_) => "migrations pending",
        }
    }
}

/// The organisation's policy as the services apply it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgPolicy {
    pub expiry: ExpiryPolicy,
    /// The scopes offered now, with the minimum role of each.
    pub scopes: Catalogue,
    /// Service accounts' tokens may live at most this long (`None`: the
    /// same maximum as everyone's).
    pub service_max_lifetime_days: Option<u32>,
    pub default_expiry_days: u32,
    pub max_active_tokens: u32,
    /// Members must sign in with a second factor.
    pub require_two_factor: bool,
    /// Password sign-in is off: single sign-on only (while it is set up).
    pub sso_only: bool,
    /// The maximum lifetime also stops existing tokens that exceed it.
    pub lifetime_applies_to_existing: bool,
    /// Tokens unused this many days are revoked (`None`: never).
    pub inactive_after_days: Option<u32>,
    /// Every token created before this stopped ("revoke every token").
    pub tokens_valid_after: Option<time::PrimitiveDateTime>,
}

impl OrgPolicy {
    /// The lifetime rules for tokens of a member of this kind: service
    /// accounts may have a shorter maximum, and then no "never".
    pub fn expiry_for(&self, kind: MemberKind) -> ExpiryPolicy {
        self.expiry.for_kind(kind, self.service_max_lifetime_days)
    }
}

/// Declares the use cases: each is a view that borrows the shared context
/// (`Latchkey`: the pool, the clock, the caches) and owns one area's
/// decisions. `latchkey.tokens().create(…)` says where the code lives.
macro_rules! use_cases {
    ($($(#[$doc:meta])* $accessor:ident => $view:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy)]
            pub struct $view<'a>(&'a Latchkey);

            impl std::ops::Deref for $view<'_> {
                type Target = Latchkey;
                fn deref(&self) -> &Latchkey {
                    self.0
                }
            }
        )*

        impl Latchkey {
            $(
                $(#[$doc])*
                pub fn $accessor(&self) -> $view<'_> {
                    $view(self)
                }
            )*
        }
    };
}

use_cases! {
    /// Tokens: create, list, look into, revoke, suspend, prune.
    tokens => Tokens;
    /// Rotation: a successor for a token, and the chain it starts.
    rotation => Rotation;
    /// Members and service accounts.
    members => Members;
    /// What a signed-in member does to their own account.
    account => Account;
    /// Password and single sign-on sign-in.
    sign_in => SignIn;
    /// The second factor: enrolment, codes, resets.
    two_factor => TwoFactor;
    /// Console sessions.
    sessions => Sessions;
    /// The organisation's policy.
    policy => Policy;
    /// The scope catalogue.
    scopes => Scopes;
    /// The audit log.
    audit => Audit;
    /// The revocation feed.
    revocations => Revocations;
    /// Requests per token per day.
    usage => Usage;
    /// Webhook events: recorded, claimed, delivered.
    webhooks => Webhooks;
    /// Token checks: every door that sees a presented token asks here.
    checks => Checks;
}

#[derive(Clone)]
pub struct Latchkey {
    pool: Pool,
    clock: Clock,
    format: TokenFormat,
    is_sqlite: bool,
    /// Record webhook events (only `serve` with a webhook URL sends them).
    record_webhooks: bool,
    /// Request counts not yet written (see `usage`).
    pending_usage: std::sync::Arc<usage::UsageCounter>,
    /// When refusals were last acted on (see `authenticate`).
    dampener: std::sync::Arc<authenticate::Dampener>,
    /// Found tokens, answered while the database has not changed.
    credentials: std::sync::Arc<credentials::CredentialCache>,
    /// Whether an SQLite database changed (`None`: PostgreSQL, or a
    /// short-lived command that keeps no cache).
    watch: Option<std::sync::Arc<db::changes::SqliteWatch>>,
    /// PostgreSQL: where the revocation feed listens for `NOTIFY`.
    listen_url: Option<std::sync::Arc<str>>,
    /// PostgreSQL: the state this instance's lease holds current (none
    /// for commands, which keep no cache).
    lease: std::sync::Arc<lease::LeasedMark>,
}

impl Latchkey {
    /// Connects, applies migrations and makes sure the default
    /// organisation exists.
    pub fn open(url: &DbUrl, pool_size: u32, clock: Clock, format: TokenFormat) -> Result<Self> {
        Self::open_with(url, pool_size, true, clock, format)
    }

    /// As `open`; `keep_idle = false` suits short-lived commands.
    pub fn open_with(
        url: &DbUrl,
        pool_size: u32,
        keep_idle: bool,
        clock: Clock,
        format: TokenFormat,
    ) -> Result<Self> {
        let pool =
            db::connect(url, pool_size, keep_idle).map_err(|e| Error::Unavailable(e.into()))?;
        let mut service = Latchkey {
            pool,
            clock,
            format,
            is_sqlite: url.is_sqlite(),
            record_webhooks: false,
            pending_usage: Default::default(),
            dampener: Default::default(),
            credentials: Default::default(),
            watch: None,
            lease: Default::default(),
            listen_url: match url {
                DbUrl::Postgres { url } => Some(url.as_str().into()),
                DbUrl::Sqlite { .. } => None,
            },
        };
        service.migrate()?;
        if let (DbUrl::Sqlite { path }, true) = (url, keep_idle) {
            service.watch = db::changes::SqliteWatch::open(path).map(std::sync::Arc::new);
            if service.watch.is_none() {
                tracing::warn!("the database is not in WAL mode: every token check reads it");
            }
        }
        service.format = service.remember_token_prefix()?;
        Ok(service)
    }

    /// Applies pending migrations and creates the default organisation.
    pub fn migrate(&self) -> Result<usize> {
        let mut conn = self.conn()?;
        let applied = db::run_migrations(&mut conn)
            .map_err(|e| Error::unexpected("migrating the database", e))?;
        fill_folded_names(&mut conn)?;
        let now = self.clock.now();
        db::write_transaction(&mut conn, |conn| {
            db::organisations::ensure_one(conn, now)?;
            db::scopes::seed(conn, now)?;
            Ok::<_, Error>(())
        })?;
        Ok(applied)
    }

    /// Records this format's prefix among those the installation used, and
    /// returns the format accepting all of them: changing
    /// `LATCHKEY_TOKEN_PREFIX` never breaks the tokens already handed out.
    fn remember_token_prefix(&self) -> Result<TokenFormat> {
        const KEY: &str = "token_prefixes";
        let mut conn = self.conn()?;
        let used: Vec<String> = match db::settings::get(&mut conn, KEY)? {
            Some(list) => list
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            // Before prefixes were recorded: tokens, if any, carry the
            // default one.
            None => {
                let tokens = db::tokens::count_all(&mut conn)?;
                if tokens > 0 {
                    vec![TokenFormat::default().prefix().to_owned()]
                } else {
                    Vec::new()
                }
            }
        };
        let current = self.format.prefix().to_owned();
        if !used.contains(&current) {
            let mut all = used.clone();
            all.push(current);
            db::settings::set(&mut conn, KEY, &all.join(","))?;
        }
        Ok(self.format.clone().accepting(used))
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn token_format(&self) -> &TokenFormat {
        &self.format
    }

    pub fn is_sqlite(&self) -> bool {
        self.is_sqlite
    }

    fn conn(&self) -> Result<lease::Conn> {
        Ok(lease::Conn(self.pool.get()?))
    }

    /// The organisation every member belongs to (one per database today).
    pub fn default_org(&self) -> Result<OrgId> {
        let mut conn = self.conn()?;
        default_org_on(&mut conn)
    }

    /// (open connections, idle connections, pool size), for metrics.
    pub fn pool_usage(&self) -> (u32, u32, u32) {
        let state = self.pool.state();
        (
            state.connections,
            state.idle_connections,
            self.pool.max_size(),
        )
    }

    /// After a sign that PostgreSQL dropped connections (a restart): every
    /// idle pooled connection is tried now and a dead one replaced, so the
    /// next request does not find it first.
    pub fn recheck_idle_connections(&self) {
        db::note_failure();
        // Given back under suspicion: each is pinged, a dead one dropped.
        let idle: Vec<_> = std::iter::from_fn(|| self.pool.try_get())
            .take(self.pool.max_size() as usize)
            .collect();
        drop(idle);
    }

    /// Readiness: the database answers and every migration is applied.
    /// The error says which of the two is wrong.
    pub fn ready(&self) -> std::result::Result<(), NotReady> {
        let mut conn = self.pool.get().map_err(|e| {
            db::note_failure();
            NotReady::DatabaseUnreachable(e.to_string())
        })?;
        match db::pending_migrations(&mut conn) {
            Ok(0) => Ok(()),
            Ok(n) => Err(NotReady::MigrationsPending(n)),
            Err(e) => Err(NotReady::DatabaseUnreachable(crate::error::chain(&e))),
        }
    }
}

/// Tokens made before names were folded for search get their folded name
/// (once: a name is never empty, so an empty one was never filled).
fn fill_folded_names(conn: &mut db::DbConnection) -> Result<()> {
    loop {
        let rows = db::tokens::unfolded_names(conn, 500)?;
        if rows.is_empty() {
            return Ok(());
        }
        db::write_transaction(conn, |conn| {
            for (id, name) in &rows {
                db::tokens::set_folded_name(conn, *id, &crate::domain::fold(name))?;
            }
            Ok::<_, Error>(())
        })?;
    }
}

/// The default organisation, on a connection the caller holds (asking the
/// pool for a second one while holding one can starve it).
fn default_org_on(conn: &mut db::DbConnection) -> Result<OrgId> {
    Ok(db::organisations::first_id(conn)?)
}

fn load_policy(conn: &mut db::DbConnection, org: OrgId) -> Result<OrgPolicy> {
    let row = db::organisations::find(conn, org)?;
    let clamp = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
    Ok(OrgPolicy {
        scopes: db::scopes::catalogue(conn)?,
        service_max_lifetime_days: row.service_max_lifetime_days.map(clamp),
        expiry: ExpiryPolicy {
            max_lifetime_days: clamp(row.max_lifetime_days),
            allow_no_expiry: row.allow_no_expiry,
        },
        default_expiry_days: clamp(row.default_expiry_days),
        max_active_tokens: clamp(row.max_active_tokens),
        require_two_factor: row.require_two_factor,
        sso_only: row.sso_only,
        lifetime_applies_to_existing: row.lifetime_applies_to_existing,
        inactive_after_days: row.inactive_after_days.map(clamp),
        tokens_valid_after: row.tokens_valid_after,
    })
}
