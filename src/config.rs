//! Server configuration from the environment (see README, "Configuration").

use crate::domain::{IpRange, TokenFormat, parse_ranges};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `LATCHKEY_BIND`, default `127.0.0.1:8080`; port 0 picks a free one.
    pub bind: String,
    /// `LATCHKEY_SESSION_KEY`: 64+ bytes (hex or text). When unset, a key is
    /// generated once and kept in the database.
    pub session_key: Option<String>,
    /// `LATCHKEY_SECURE_COOKIES=true` when served over HTTPS.
    pub secure_cookies: bool,
    /// `LATCHKEY_WORKERS`: HTTP worker threads (default: one per core).
    pub workers: Option<usize>,
    /// `LATCHKEY_WEBHOOK_URL` and friends: expiry and reuse events.
    pub webhook: Option<crate::webhook::WebhookConfig>,
    /// `LATCHKEY_TRUSTED_PROXIES`: CIDR ranges of reverse proxies whose
    /// `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpRange>,
    /// How often usage counts are written (a minute; shorter in tests).
    pub usage_flush: std::time::Duration,
    /// `LATCHKEY_METRICS_BIND`: a second listener serving only `/metrics`
    /// (none unless set).
    pub metrics_bind: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            session_key: None,
            secure_cookies: false,
            workers: None,
            webhook: None,
            trusted_proxies: Vec::new(),
            usage_flush: std::time::Duration::from_secs(60),
            metrics_bind: None,
        }
    }
}

impl ServerConfig {
    pub fn from_env() -> Result<ServerConfig, String> {
        let mut config = ServerConfig::default();
        if let Ok(bind) = std::env::var("LATCHKEY_BIND") {
            config.bind = bind;
        }
        config.session_key = std::env::var("LATCHKEY_SESSION_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        config.secure_cookies = parse_bool("LATCHKEY_SECURE_COOKIES")?.unwrap_or(false);
        if let Ok(w) = std::env::var("LATCHKEY_WORKERS") {
            let n: usize = w
                .parse()
                .ok()
                .filter(|n| (1..=256).contains(n))
                .ok_or_else(|| format!("LATCHKEY_WORKERS={w:?} must be a number from 1 to 256"))?;
            config.workers = Some(n);
        }
        config.webhook = crate::webhook::WebhookConfig::from_env()?;
        config.metrics_bind = std::env::var("LATCHKEY_METRICS_BIND")
            .ok()
            .map(|b| b.trim().to_owned())
            .filter(|b| !b.is_empty());
        if let Ok(list) = std::env::var("LATCHKEY_TRUSTED_PROXIES") {
            config.trusted_proxies =
                parse_ranges(&list).map_err(|e| format!("LATCHKEY_TRUSTED_PROXIES: {e}"))?;
        }
        Ok(config)
    }
}

fn parse_bool(var: &str) -> Result<Option<bool>, String> {
    match std::env::var(var) {
        Err(_) => Ok(None),
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" | "" => Ok(Some(false)),
            _ => Err(format!("{var}={v:?} must be true or false")),
        },
    }
}

/// `LATCHKEY_TOKEN_PREFIX`, default `lk_`.
pub fn token_format_from_env() -> Result<TokenFormat, String> {
    match std::env::var("LATCHKEY_TOKEN_PREFIX") {
        Ok(p) => TokenFormat::new(&p).map_err(|e| format!("LATCHKEY_TOKEN_PREFIX: {e}")),
        Err(_) => Ok(TokenFormat::default()),
    }
}
