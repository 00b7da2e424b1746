//! tower: a `Layer` that verifies each request's bearer token, answers
//! 401 / 403 / 503 as Latchkey's own API does, and hands the
//! [`Principal`] to the inner service in the request's extensions.
//!
//! ```no_run
//! # fn stack<S>(handler: S) {
//! use latchkey_verify::{Verifier, tower::LatchkeyLayer};
//! use tower_layer::Layer;
//!
//! let verifier = Verifier::new("https://latchkey.example.com", "lk_…");
//! let service = LatchkeyLayer::new(verifier).require_scope("reports:read").layer(handler);
//! // In the handler: request.extensions().get::<latchkey_verify::Principal>()
//! # }
//! ```

use crate::{Principal, Refusal, Verifier};
use http::{HeaderValue, Request, Response, StatusCode, header};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Verifies bearer tokens in front of a service.
#[derive(Clone)]
pub struct LatchkeyLayer {
    verifier: Verifier,
    scope: Option<String>,
}

impl LatchkeyLayer {
    /// A layer verifying with `verifier` (any valid token passes).
    pub fn new(verifier: Verifier) -> LatchkeyLayer {
        LatchkeyLayer {
            verifier,
            scope: None,
        }
    }

    /// Refuses (403 `insufficient_scope`) tokens without `scope`.
    pub fn require_scope(mut self, scope: &str) -> LatchkeyLayer {
        self.scope = Some(scope.to_owned());
        self
    }
}

impl<S> tower_layer::Layer<S> for LatchkeyLayer {
    type Service = LatchkeyService<S>;

    fn layer(&self, inner: S) -> LatchkeyService<S> {
        LatchkeyService {
            inner,
            verifier: self.verifier.clone(),
            scope: self.scope.clone(),
        }
    }
}

/// The service `LatchkeyLayer` makes.
#[derive(Clone)]
pub struct LatchkeyService<S> {
    inner: S,
    verifier: Verifier,
    scope: Option<String>,
}

fn bearer<B>(req: &Request<B>) -> Option<String> {
    let mut values = req.headers().get_all(header::AUTHORIZATION).iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The answer to a refused request: its status and challenge, no body.
pub fn refusal_response<B: Default>(refusal: &Refusal) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() =
        StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let headers = response.headers_mut();
    if let Some(value) = refusal
        .www_authenticate()
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    if matches!(refusal, Refusal::Unavailable(_)) {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for LatchkeyService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // The clone that was made ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (verifier, scope) = (self.verifier.clone(), self.scope.clone());
        let token = bearer(&req);
        Box::pin(async move {
            let judged: Result<Principal, Refusal> = match token {
                None => Err(Refusal::Missing),
                // Blocking at most `Options::timeout`: off the async threads.
                Some(token) => tokio::task::spawn_blocking(move || verifier.verify(&token))
                    .await
                    .unwrap_or_else(|e| Err(Refusal::Unavailable(e.to_string()))),
            };
            let principal = match judged.and_then(|p| match &scope {
                Some(s) => p.require(s).map(|()| p),
                None => Ok(p),
            }) {
                Ok(p) => p,
                Err(refusal) => return Ok(refusal_response(&refusal)),
            };
            req.extensions_mut().insert(principal);
            inner.call(req).await
        })
    }
}
