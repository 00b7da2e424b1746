//! Single sign-on: Latchkey as an OpenID Connect relying party. The
//! authorization code flow with PKCE, state and nonce; the ID token's
//! signature (from the provider's JWKS), issuer, audience, expiry and
//! nonce are checked by `openidconnect`. Members are matched by verified
//! email. HTTP to the provider goes through ureq, blocking: call it off
//! the async threads.

use super::SignIn;
use super::audit::{self, NewEvent};
use super::{Member, default_org_on};
use crate::db;
use crate::domain::{Email, Malformed, MemberKind, PasswordHash, Role, audit_text};
use crate::error::{Error, Result};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The stored hash of a member who signs in only through the provider:
/// no password matches it.
const NO_PASSWORD: &str = "!single-sign-on";
/// The provider's metadata (and keys) are fetched again after this long.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// How long the provider may take to answer.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// How Latchkey reaches the identity provider (`LATCHKEY_OIDC_*`).
#[derive(Debug, Clone)]
pub struct SsoConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// People unknown to Latchkey become members with this role; `None`:
    /// they are refused.
    pub default_role: Option<Role>,
    /// "Sign in with …"
    pub label: String,
    /// Where people open Latchkey, for the redirect URI; `None`: from the
    /// request.
    pub public_url: Option<String>,
}

impl SsoConfig {
    /// The configuration, when an issuer is set; the three settings go
    /// together.
    pub fn from_settings(
        issuer: Option<&str>,
        client_id: Option<&str>,
        client_secret: Option<&str>,
        default_role: Option<Role>,
        label: &str,
        public_url: Option<&str>,
    ) -> std::result::Result<Option<SsoConfig>, Malformed> {
        let given = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let (issuer, client_id, client_secret) = match (
            given(issuer),
            given(client_id),
            given(client_secret),
        ) {
            (None, None, None) => return Ok(None),
            (Some(i), Some(c), Some(s)) => (i, c, s),
            _ => {
                return Err(Malformed(
                        "LATCHKEY_OIDC_ISSUER, LATCHKEY_OIDC_CLIENT_ID and LATCHKEY_OIDC_CLIENT_SECRET go together: set all three, or none".into(),
                    ));
            }
        };
        IssuerUrl::new(issuer.clone())
            .ok()
            .filter(|_| issuer.starts_with("https://") || issuer.starts_with("http://"))
            .ok_or_else(|| {
                Malformed(format!(
                    "LATCHKEY_OIDC_ISSUER “{issuer}” is not an http(s) URL"
                ))
            })?;
        let public_url = given(public_url).map(|u| u.trim_end_matches('/').to_owned());
        if let Some(url) = &public_url
            && RedirectUrl::new(format!("{url}/login/oidc/callback")).is_err()
        {
            return Err(Malformed(format!(
                "LATCHKEY_PUBLIC_URL “{url}” is not a URL"
            )));
        }
        let label = label.trim();
        Ok(Some(SsoConfig {
            issuer,
            client_id,
            client_secret,
            default_role,
            label: if label.is_empty() {
                "single sign-on".into()
            } else {
                label.to_owned()
            },
            public_url,
        }))
    }
}

/// Why a single sign-on did not sign anyone in. The message is for the
/// person at the sign-in page; the cause (for the log) never holds a code
/// or token.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The provider cannot be reached or answered nonsense.
    #[error("The identity provider could not be reached. Try again shortly.")]
    Unavailable(String),
    /// The answer came back wrong: state, code, or ID token.
    #[error("Single sign-on failed: {0}. Start again.")]
    Rejected(String),
    /// The person is not allowed in.
    #[error("{0}")]
    Refused(String),
}

/// A sign-in sent to the provider, kept in this browser's encrypted
/// cookie until the provider sends the person back.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PendingSso {
    state: String,
    nonce: String,
    verifier: String,
    redirect: String,
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct SsoIdentity {
    pub email: String,
    pub email_verified: bool,
}

type Metadata = (CoreProviderMetadata, Instant);

/// The relying party: configuration and the provider's cached metadata.
pub struct Sso {
    config: SsoConfig,
    metadata: Mutex<Option<Metadata>>,
    http: ureq::Agent,
}

impl Sso {
    pub fn new(config: SsoConfig) -> Sso {
        let http = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(PROVIDER_TIMEOUT))
            .build()
            .into();
        Sso {
            config,
            metadata: Mutex::new(None),
            http,
        }
    }

    pub fn label(&self) -> &str {
        &self.config.label
    }

    pub fn default_role(&self) -> Option<Role> {
        self.config.default_role
    }

    pub fn public_url(&self) -> Option<&str> {
        self.config.public_url.as_deref()
    }

    /// One request to the provider.
    fn send(
        &self,
        req: openidconnect::HttpRequest,
    ) -> std::result::Result<openidconnect::HttpResponse, ureq::Error> {
        let mut res = self.http.run(req)?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_vec()?;
        let mut out = openidconnect::HttpResponse::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }

    /// The provider's metadata and keys, fetched at most hourly (and again
    /// when `refresh`, e.g. after a key rotation).
    fn metadata(&self, refresh: bool) -> std::result::Result<CoreProviderMetadata, SsoError> {
        if !refresh
            && let Ok(cached) = self.metadata.lock()
            && let Some((m, at)) = cached.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| SsoError::Unavailable(format!("issuer: {e}")))?;
        let client = |req| self.send(req);
        let found = CoreProviderMetadata::discover(&issuer, &client)
            .map_err(|e| SsoError::Unavailable(format!("discovery: {}", error_chain(&e))))?;
        if let Ok(mut cached) = self.metadata.lock() {
            *cached = Some((found.clone(), Instant::now()));
        }
        Ok(found)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
        redirect: &str,
    ) -> std::result::Result<
        openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        SsoError,
    > {
        let redirect = RedirectUrl::new(redirect.to_owned())
            .map_err(|e| SsoError::Rejected(format!("redirect address: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// Where to send the browser, and what to remember until it returns.
    pub fn start(&self, redirect: &str) -> std::result::Result<(String, PendingSso), SsoError> {
        let client = self.client(self.metadata(false)?, redirect)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingSso {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            redirect: redirect.to_owned(),
        };
        Ok((url.to_string(), pending))
    }

    /// Checks the provider's answer (`code`, `state`) against what was
    /// remembered, trades the code for tokens, and verifies the ID token.
    pub fn finish(
        &self,
        pending: PendingSso,
        code: &str,
        state: &str,
    ) -> std::result::Result<SsoIdentity, SsoError> {
        if !bool::from(pending.state.as_bytes().ct_eq(state.as_bytes())) {
            return Err(SsoError::Rejected(
                "the answer does not belong to this sign-in".into(),
            ));
        }
        let metadata = self.metadata(false)?;
        let client = self.client(metadata, &pending.redirect)?;
        let http = |req| self.send(req);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| SsoError::Unavailable(format!("token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request(&http)
            .map_err(|e| match e {
                // The provider's own error code, nothing it echoed.
                openidconnect::RequestTokenError::ServerResponse(r) => SsoError::Rejected(format!(
                    "the code was not accepted ({})",
                    r.error().as_ref()
                )),
                openidconnect::RequestTokenError::Request(e) => {
                    SsoError::Unavailable(format!("token endpoint: {}", error_chain(&e)))
                }
                openidconnect::RequestTokenError::Parse(..) => {
                    SsoError::Rejected("the token answer could not be read".into())
                }
                openidconnect::RequestTokenError::Other(_) => {
                    SsoError::Rejected("the token answer was unexpected".into())
                }
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| SsoError::Rejected("no ID token came back".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let verify = |client: &CoreClient<_, _, _, _, _, _>| {
            let verifier = client.id_token_verifier().set_allowed_algs(allowed_algs());
            id_token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verify(&client) {
            Ok(claims) => claims,
            // The provider may have rotated its keys: fetch them once more.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                let fresh = self.client(self.metadata(true)?, &pending.redirect)?;
                verify(&fresh)
                    .map_err(|e| SsoError::Rejected(format!("the ID token is not valid ({e})")))?
            }
            Err(e) => {
                return Err(SsoError::Rejected(format!(
                    "the ID token is not valid ({e})"
                )));
            }
        };
        let email = claims.email().map(|e| e.as_str().to_owned()).ok_or_else(|| {
            SsoError::Rejected(
                "the identity provider did not release your email address to Latchkey (ask your admin)".into(),
            )
        })?;
        Ok(SsoIdentity {
            email,
            email_verified: claims.email_verified() == Some(true),
        })
    }
}

/// Signatures Latchkey accepts: asymmetric ones only (the key comes from
/// the provider's JWKS; a shared-secret HMAC is not offered).
fn allowed_algs() -> Vec<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm as A;
    vec![
        A::RsaSsaPkcs1V15Sha256,
        A::RsaSsaPkcs1V15Sha384,
        A::RsaSsaPkcs1V15Sha512,
        A::RsaSsaPssSha256,
        A::RsaSsaPssSha384,
        A::RsaSsaPssSha512,
        A::EcdsaP256Sha256,
        A::EcdsaP384Sha384,
        A::EdDsa,
    ]
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

impl SignIn<'_> {
    /// Signs in the member the provider vouched for: matched by verified
    /// email; unknown people join with `default_role`, or are refused.
    pub fn through_sso(
        &self,
        identity: &SsoIdentity,
        default_role: Option<Role>,
        ip: Option<&str>,
    ) -> std::result::Result<Member, SsoError> {
        let failed = |e: Error| SsoError::Unavailable(e.chain());
        let shown = audit_text(&identity.email);
        let refuse =
            |why: &str, member: Option<&Member>| -> std::result::Result<Member, SsoError> {
                let mut conn = self.conn().map_err(failed)?;
                let org = match member {
                    Some(m) => m.org_id,
                    None => default_org_on(&mut conn).map_err(failed)?,
                };
                audit::record(
                    &mut conn,
                    self.clock.now(),
                    NewEvent {
                        org,
                        actor: None,
                        action: "login.failed",
                        token: None,
                        member: member.map(|m| m.id),
                        ip,
                        detail: format!("{shown}: single sign-on, {why}"),
                    },
                )
                .map_err(|e| failed(e.into()))?;
                Err(SsoError::Refused(why_for_person(why)))
            };
        if !identity.email_verified {
            return refuse("email not verified by the provider", None);
        }
        let Ok(email) = Email::parse(&identity.email) else {
            return refuse("not an email address", None);
        };
        let mut conn = self.conn().map_err(failed)?;
        let found = db::members::find_by_email(&mut conn, email.as_str())
            .map_err(|e| failed(e.into()))?
            .map(Member::from_row)
            .transpose()
            .map_err(failed)?;
        let member = match found {
            Some(m) if m.kind == MemberKind::Service => return refuse("a service account", None),
            Some(m) if m.disabled => return refuse("member is disabled", Some(&m)),
            // A generated one-time password was never theirs: it retires
            // (else they would be asked for it to choose their own).
            Some(m) if m.must_change_password => {
                let hash = PasswordHash::from_stored(NO_PASSWORD.to_owned());
                db::members::set_password_hash(&mut conn, m.id, &hash, false)
                    .map_err(|e| failed(e.into()))?;
                Member {
                    must_change_password: false,
                    has_password: false,
                    ..m
                }
            }
            Some(m) => m,
            None => match default_role {
                None => return refuse("no such member", None),
                Some(role) => self.join_through_sso(&email, role, ip).map_err(failed)?,
            },
        };
        audit::record(
            &mut conn,
            self.clock.now(),
            NewEvent {
                org: member.org_id,
                actor: Some(member.id),
                action: "login.sso_succeeded",
                token: None,
                member: Some(member.id),
                ip,
                detail: format!("{shown} (single sign-on)"),
            },
        )
        .map_err(|e| failed(e.into()))?;
        Ok(member)
    }

    /// Records an answer from the provider (or one claiming to be) that
    /// was refused before anyone was identified.
    pub fn sso_rejected(&self, why: &str, ip: Option<&str>) -> Result<()> {
        let mut conn = self.conn()?;
        let org = default_org_on(&mut conn)?;
        audit::record(
            &mut conn,
            self.clock.now(),
            NewEvent {
                org,
                actor: None,
                action: "login.failed",
                token: None,
                member: None,
                ip,
                detail: audit_text(&format!("single sign-on answer rejected: {why}")),
            },
        )?;
        Ok(())
    }

    /// A person the provider vouched for becomes a member, without a
    /// password of their own.
    fn join_through_sso(&self, email: &Email, role: Role, ip: Option<&str>) -> Result<Member> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let hash = PasswordHash::from_stored(NO_PASSWORD.to_owned());
        let id = db::write_transaction(&mut conn, |conn| {
            let org = default_org_on(conn)?;
            let id = db::members::insert(conn, org, email, &hash, role, false, now)?;
            audit::record(
                conn,
                now,
                NewEvent {
                    org,
                    actor: Some(id),
                    action: "member.added",
                    token: None,
                    member: Some(id),
                    ip,
                    detail: format!("{email} joined through single sign-on as {role}"),
                },
            )?;
            Ok::<_, Error>(id)
        })?;
        let row = db::members::find(&mut conn, id)?.ok_or(Error::NotFound("member"))?;
        Member::from_row(row)
    }
}

/// What the person at the sign-in page reads for a refusal.
fn why_for_person(why: &str) -> String {
    match why {
        "email not verified by the provider" => "Your identity provider has not verified your email address, so Latchkey cannot match it to a member.".into(),
        "no such member" => "You are not a member of this organisation. Ask an admin to add you.".into(),
        "member is disabled" => "This account is disabled. Ask an admin of your organisation to enable it.".into(),
        _ => "This account cannot sign in with single sign-on.".into(),
    }
}
