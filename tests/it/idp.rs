//! An OpenID Connect identity provider for the tests: discovery, JWKS,
//! an authorization endpoint that signs in whoever the test names, and a
//! token endpoint that checks the client, the code and its PKCE verifier,
//! then returns an ID token signed (EdDSA) with a key made at start. The
//! test can make the next ID token wrong in one way.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openidconnect::core::{CoreEdDsaPrivateSigningKey, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "latchkey-test";
pub const CLIENT_SECRET: &str = "not-a-real-client-secret";

/// How the next ID token is wrong, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    None,
    /// Signed by a key the JWKS does not hold (same key id).
    BadSignature,
    /// Meant for another client.
    WrongAudience,
    /// Expired a minute ago.
    Expired,
    /// Issued in another provider's name.
    WrongIssuer,
    /// Carrying a nonce of another sign-in.
    WrongNonce,
}

struct Issued {
    nonce: String,
    challenge: String,
    redirect: String,
}

struct State {
    base: String,
    email: String,
    email_verified: bool,
    flaw: Flaw,
    codes: HashMap<String, Issued>,
    key: CoreEdDsaPrivateSigningKey,
    impostor: CoreEdDsaPrivateSigningKey,
}

pub struct Idp {
    pub base: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

/// An Ed25519 key from 32 random bytes, as the PKCS#8 PEM the signing
/// type reads.
fn new_key() -> CoreEdDsaPrivateSigningKey {
    const PKCS8_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PKCS8_PREFIX.to_vec();
    der.extend(latchkey::domain::bytes::random_bytes(32).expect("randomness"));
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der)
    );
    CoreEdDsaPrivateSigningKey::from_ed25519_pem(&pem, Some(JsonWebKeyId::new("k1".into())))
        .expect("an Ed25519 key")
}

impl Idp {
    pub fn start() -> Idp {
        let state = Arc::new(Mutex::new(State {
            base: String::new(),
            email: "dev@example.com".into(),
            email_verified: true,
            flaw: Flaw::None,
            codes: HashMap::new(),
            key: new_key(),
            impostor: new_key(),
        }));
        let shared = state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let data = web::Data::from(shared);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .route(
                            "/.well-known/openid-configuration",
                            web::get().to(discovery),
                        )
                        .route("/jwks", web::get().to(jwks))
                        .route("/authorize", web::get().to(authorize))
                        .route("/token", web::post().to(token))
                })
                .workers(1)
                .bind("127.0.0.1:0")
                .expect("bind");
                let port = server.addrs()[0].port();
                let server = server.run();
                tx.send((port, server.handle())).expect("send");
                let _ = server.await;
            });
        });
        let (port, handle) = rx.recv().expect("identity provider started");
        let base = format!("http://127.0.0.1:{port}");
        state.lock().expect("state").base = base.clone();
        Idp {
            base,
            state,
            handle,
        }
    }

    /// Who signs in next, and whether the provider vouches for the email.
    pub fn sign_in_as(&self, email: &str, verified: bool) {
        let mut s = self.state.lock().expect("state");
        s.email = email.to_owned();
        s.email_verified = verified;
    }

    /// How the next ID tokens are wrong.
    pub fn set_flaw(&self, flaw: Flaw) {
        self.state.lock().expect("state").flaw = flaw;
    }

    /// Stops answering (a provider that is down).
    pub fn stop(&self) {
        actix_web::rt::System::new().block_on(self.handle.stop(false));
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

type Shared = web::Data<Mutex<State>>;

async fn discovery(state: Shared) -> HttpResponse {
    let base = state.lock().expect("state").base.clone();
    HttpResponse::Ok().json(serde_json::json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "scopes_supported": ["openid", "email"],
    }))
}

async fn jwks(state: Shared) -> HttpResponse {
    let key = state.lock().expect("state").key.as_verification_key();
    HttpResponse::Ok().json(serde_json::json!({ "keys": [key] }))
}

fn query(req: &HttpRequest) -> HashMap<String, String> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default()
}

async fn authorize(req: HttpRequest, state: Shared) -> HttpResponse {
    let q = query(&req);
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID
        || get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || !get("scope").split(' ').any(|s| s == "openid")
    {
        return HttpResponse::BadRequest().body("bad authorization request");
    }
    let code = latchkey::domain::bytes::random_hex(16).expect("randomness");
    let redirect = get("redirect_uri");
    state.lock().expect("state").codes.insert(
        code.clone(),
        Issued {
            nonce: get("nonce"),
            challenge: get("code_challenge"),
            redirect: redirect.clone(),
        },
    );
    let back = format!("{redirect}?code={code}&state={}", url_escape(&get("state")));
    HttpResponse::SeeOther()
        .insert_header(("Location", back))
        .finish()
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn client_is_ours(req: &HttpRequest) -> bool {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    req.headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

async fn token(
    req: HttpRequest,
    state: Shared,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let refuse =
        |error: &str| HttpResponse::BadRequest().json(serde_json::json!({ "error": error }));
    if !client_is_ours(&req) {
        return HttpResponse::Unauthorized().json(serde_json::json!({ "error": "invalid_client" }));
    }
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let mut s = state.lock().expect("state");
    let Some(issued) = s.codes.remove(&get("code")) else {
        return refuse("invalid_grant");
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier").as_bytes()));
    if get("grant_type") != "authorization_code"
        || challenge != issued.challenge
        || get("redirect_uri") != issued.redirect
    {
        return refuse("invalid_grant");
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let exp = if s.flaw == Flaw::Expired {
        now - 60
    } else {
        now + 300
    };
    let aud = if s.flaw == Flaw::WrongAudience {
        "someone-else"
    } else {
        CLIENT_ID
    };
    let header = serde_json::json!({ "alg": "EdDSA", "kid": "k1", "typ": "JWT" });
    let iss = if s.flaw == Flaw::WrongIssuer {
        "https://impostor.example.com".to_owned()
    } else {
        s.base.clone()
    };
    let nonce = if s.flaw == Flaw::WrongNonce {
        "another sign-in's nonce".to_owned()
    } else {
        issued.nonce.clone()
    };
    let claims = serde_json::json!({
        "iss": iss,
        "sub": format!("user-{}", s.email),
        "aud": aud,
        "exp": exp,
        "iat": now,
        "nonce": nonce,
        "email": s.email,
        "email_verified": s.email_verified,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = if s.flaw == Flaw::BadSignature {
        &s.impostor
    } else {
        &s.key
    };
    let signature = key
        .sign(&CoreJwsSigningAlgorithm::EdDsa, signing_input.as_bytes())
        .expect("signing");
    let id_token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
    HttpResponse::Ok().json(serde_json::json!({
        "access_token": "an access token Latchkey does not use",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
}
