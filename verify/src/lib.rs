//! Verify [Latchkey](https://github.com/) API tokens in a resource server.
//!
//! ```no_run
//! let verifier = latchkey_verify::Verifier::new("https://latchkey.example.com", "lk_…service token…");
//! match verifier.verify("lk_…presented token…") {
//!     Ok(principal) if principal.has_scope("reports:read") => { /* serve */ }
//!     Ok(_) => { /* 403 insufficient_scope */ }
//!     Err(refusal) => { /* refusal.status(): 401, or 503 when Latchkey cannot be reached */ }
//! }
//! ```
//!
//! What it does for each token:
//!
//! 1. Checks its shape and checksum offline: garbage never costs a request.
//! 2. Answers from an in-memory cache keyed by the token's SHA-256 (the
//!    cache never holds a secret): active answers for at most
//!    [`Options::cache_ttl`] (5 s by default) and never past the token's
//!    expiry, refusals for [`Options::negative_ttl`].
//! 3. Otherwise asks Latchkey (`POST /api/v1/introspect`) with a pooled
//!    connection and a timeout; when Latchkey cannot be reached, or refuses
//!    the service token, it fails closed ([`Refusal::Unavailable`], 503).
//!
//! In the background it follows Latchkey's revocation feed
//! (`GET /api/v1/revocations`) and drops a token from the cache the moment
//! it is revoked anywhere; whenever the feed breaks, it empties the whole
//! cache. A revocation therefore reaches this server within a second,
//! whatever the TTL.
//!
//! With the `actix-web` feature, [`actix::Authenticated`] is an extractor
//! that answers 401 and 403 as Latchkey's own API does; with the `tower`
//! feature, [`tower::LatchkeyLayer`] does the same for any tower stack.

#![warn(missing_docs)]

#[cfg(feature = "actix-web")]
pub mod actix;
mod cache;
mod feed;
mod format;
#[cfg(feature = "tower")]
pub mod tower;

use cache::Cache;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How a [`Verifier`] behaves. `Options::default()` suits most servers.
#[derive(Debug, Clone)]
pub struct Options {
    /// The longest an active answer is reused (default 5 s).
    pub cache_ttl: Duration,
    /// The longest a refusal is reused (default 1 s).
    pub negative_ttl: Duration,
    /// Entries kept at most; beyond, the cache starts again (default 10,000).
    pub max_entries: usize,
    /// The longest a call to Latchkey may take (default 2 s).
    pub timeout: Duration,
    /// Token prefixes Latchkey issues (default `["lk_"]`).
    pub prefixes: Vec<String>,
    /// Follow the revocation feed (default true; the service token needs
    /// `tokens:introspect`, which introspection needs anyway).
    pub revocation_feed: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cache_ttl: Duration::from_secs(5),
            negative_ttl: Duration::from_secs(1),
            max_entries: 10_000,
            timeout: Duration::from_secs(2),
            prefixes: vec!["lk_".to_owned()],
            revocation_feed: true,
        }
    }
}

/// Who a valid token acts for, and what it may do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's id in Latchkey.
    pub token_id: String,
    /// The owner: a member id, or `service:<id>` for a service account.
    pub subject: String,
    /// `person` or `service`.
    pub owner_kind: String,
    /// The owner's email, or the service account's name.
    pub username: String,
    /// Effective scopes at the moment of the answer.
    pub scopes: Vec<String>,
    /// Unix time the token stops working, if it ever does.
    pub expires_at: Option<i64>,
}

impl Principal {
    /// Whether the token may use `scope` now.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// `Ok` when the token holds `scope`; otherwise the refusal to answer
    /// (403 `insufficient_scope`).
    pub fn require(&self, scope: &str) -> Result<(), Refusal> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(Refusal::InsufficientScope(scope.to_owned()))
        }
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer` token at all.
    Missing,
    /// Not a Latchkey token at all (found without a request).
    Malformed,
    /// Unknown, revoked, expired, or its owner disabled (Latchkey does not
    /// say which, and neither does this).
    Invalid,
    /// Valid, but without this scope.
    InsufficientScope(String),
    /// Latchkey could not answer: fail closed.
    Unavailable(String),
}

impl Refusal {
    /// The HTTP status to answer with: 401, 403 or 503.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Missing | Refusal::Malformed | Refusal::Invalid => 401,
            Refusal::InsufficientScope(_) => 403,
            Refusal::Unavailable(_) => 503,
        }
    }

    /// The `WWW-Authenticate` header to answer with (RFC 6750), if any.
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            // No credentials: no error code (RFC 6750 §3.1).
            Refusal::Missing => Some(r#"Bearer realm="latchkey""#.to_owned()),
            Refusal::Malformed | Refusal::Invalid => Some(
                r#"Bearer realm="latchkey", error="invalid_token", error_description="The token is malformed, unknown, expired or revoked.""#
                    .to_owned(),
            ),
            Refusal::InsufficientScope(scope) => Some(format!(
                r#"Bearer realm="latchkey", error="insufficient_scope", scope="{scope}", error_description="This request needs the scope {scope}.""#
            )),
            Refusal::Unavailable(_) => None,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Missing => f.write_str("no bearer token"),
            Refusal::Malformed => f.write_str("not a Latchkey token"),
            Refusal::Invalid => f.write_str("the token is not valid"),
            Refusal::InsufficientScope(s) => write!(f, "the token lacks the scope {s}"),
            Refusal::Unavailable(why) => write!(f, "Latchkey cannot be reached: {why}"),
        }
    }
}

impl std::error::Error for Refusal {}

/// Verifies tokens against one Latchkey. Cheap to clone; share one per
/// process (the cache and the connection pool are shared by clones).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    base: String,
    service_token: String,
    options: Options,
    agent: ureq::Agent,
    cache: Cache,
    /// Set when the verifier is dropped: the feed thread ends.
    stopped: Arc<AtomicBool>,
    /// The revocation feed is connected now.
    following: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

/// Latchkey's RFC 7662 answer.
#[derive(Deserialize)]
struct Introspection {
    active: bool,
    #[serde(default)]
    scope: String,
    exp: Option<i64>,
    #[serde(default)]
    sub: String,
    #[serde(default)]
    owner_kind: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    client_id: String,
}

/// The cache's key: the token's SHA-256, in hex (as the feed names it).
pub(crate) fn key(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Verifier {
    /// A verifier for the Latchkey at `base_url` (e.g.
    /// `https://latchkey.example.com`), introspecting with
    /// `service_token` (a service account's token holding
    /// `tokens:introspect`), with the default [`Options`].
    pub fn new(base_url: &str, service_token: &str) -> Verifier {
        Verifier::with_options(base_url, service_token, Options::default())
    }

    /// As [`Verifier::new`], with these [`Options`].
    pub fn with_options(base_url: &str, service_token: &str, options: Options) -> Verifier {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            .max_idle_connections_per_host(16)
            .build()
            .into();
        let stopped = Arc::new(AtomicBool::new(false));
        let inner = Arc::new(Inner {
            base: base_url.trim_end_matches('/').to_owned(),
            service_token: service_token.trim().to_owned(),
            cache: Cache::new(options.max_entries),
            options,
            agent,
            stopped: stopped.clone(),
            following: AtomicBool::new(false),
        });
        if inner.options.revocation_feed {
            feed::follow(Arc::downgrade(&inner), stopped);
        }
        Verifier { inner }
    }

    /// Judges a presented token (blocking: at most one call to Latchkey,
    /// bounded by [`Options::timeout`]).
    pub fn verify(&self, token: &str) -> Result<Principal, Refusal> {
        let token = token.trim();
        if !format::well_formed(token, &self.inner.options.prefixes) {
            return Err(Refusal::Malformed);
        }
        let key = key(token);
        if let Some(answer) = self.inner.cache.get(&key) {
            return answer;
        }
        // A revocation announced while Latchkey answers must win.
        let generation = self.inner.cache.generation();
        let answer = self.introspect(token)?;
        let ttl = match &answer {
            Ok(p) => {
                let left = p.expires_at.map(|exp| {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(0);
                    Duration::from_secs(u64::try_from(exp - now).unwrap_or(0))
                });
                left.map_or(self.inner.options.cache_ttl, |l| {
                    l.min(self.inner.options.cache_ttl)
                })
            }
            Err(_) => self.inner.options.negative_ttl,
        };
        self.inner.cache.put(key, answer.clone(), ttl, generation);
        answer
    }

    /// Asks Latchkey. The outer error is Latchkey not answering (never
    /// cached); the inner result is its judgement.
    fn introspect(&self, token: &str) -> Result<Result<Principal, Refusal>, Refusal> {
        let inner = &self.inner;
        let url = format!("{}/api/v1/introspect", inner.base);
        let body = serde_json::json!({ "token": token });
        let response = inner
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", inner.service_token))
            .send_json(&body)
            .map_err(|e| Refusal::Unavailable(e.to_string()))?;
        let status = response.status().as_u16();
        if status != 200 {
            // The service token itself refused, or Latchkey in trouble:
            // nothing here can tell a valid token, so fail closed.
            return Err(Refusal::Unavailable(format!(
                "introspection answered {status}"
            )));
        }
        let answer: Introspection = response
            .into_body()
            .read_json()
            .map_err(|e| Refusal::Unavailable(format!("unreadable introspection: {e}")))?;
        if !answer.active {
            return Ok(Err(Refusal::Invalid));
        }
        Ok(Ok(Principal {
            token_id: answer.client_id,
            subject: answer.sub,
            owner_kind: answer.owner_kind,
            username: answer.username,
            scopes: answer.scope.split_whitespace().map(str::to_owned).collect(),
            expires_at: answer.exp,
        }))
    }

    /// Whether the revocation feed is connected now. While it is not,
    /// answers live at most their TTL (and the cache was emptied when it
    /// broke).
    pub fn following_revocations(&self) -> bool {
        self.inner.following.load(Ordering::Relaxed)
    }

    /// How many answers the cache holds now (for tests and metrics).
    pub fn cached(&self) -> usize {
        self.inner.cache.len()
    }
}
