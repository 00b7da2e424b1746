//! Settings of `latchkey serve`. Each is a clap option with its
//! environment variable and default, grouped, so `latchkey serve --help`
//! documents them all; a TOML file (`--config PATH`) sets the same keys.
//! Precedence: flag > environment > file > default (the file is merged in
//! `cli::parse`).

use crate::domain::{IpRange, Malformed, Role, parse_ranges};
use crate::service::SsoConfig;
use crate::service::webhooks::delivery::WebhookConfig;
use clap::Args;
use std::time::Duration;

/// Address ranges given as one comma-separated value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeList(pub Vec<IpRange>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines
    #[default]
    Text,
    /// One JSON object per line
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    /// Address to listen on (`0.0.0.0:8080` for every interface; port 0
    /// picks a free one)
    #[arg(long, env = "LATCHKEY_BIND", default_value = "127.0.0.1:8080", value_name = "ADDR",
          value_parser = parse_bind, help_heading = "Listening")]
    pub bind: String,

    /// HTTP worker threads [default: one per core]
    #[arg(long, env = "LATCHKEY_WORKERS", value_name = "N", value_parser = parse_workers,
          help_heading = "Listening")]
    pub workers: Option<usize>,

    /// A second listener serving only /metrics (Prometheus), for a private
    /// network; none unless set
    #[arg(long, env = "LATCHKEY_METRICS_BIND", value_name = "ADDR", value_parser = parse_bind,
          help_heading = "Listening")]
    pub metrics_bind: Option<String>,

    /// Database connections of this instance
    #[arg(long, env = "LATCHKEY_POOL_SIZE", default_value = "8", value_name = "N",
          value_parser = parse_pool_size, help_heading = "Database")]
    pub pool_size: u32,

    /// Served over HTTPS: cookies get `Secure` and the `__Host-` prefix,
    /// and responses HSTS
    #[arg(long, env = "LATCHKEY_SECURE_COOKIES", default_value = "false", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool,
          help_heading = "Security")]
    pub secure_cookies: bool,

    /// Key for the session cookies, 64+ bytes (e.g. 128 hex characters)
    /// [default: generated once and kept in the database, shared by every
    /// instance]
    #[arg(long, env = "LATCHKEY_SESSION_KEY", hide_env_values = true, value_name = "KEY",
          value_parser = parse_session_key, help_heading = "Security")]
    pub session_key: Option<String>,

    /// CIDR ranges of reverse proxies, comma-separated: only from these
    /// peers is `X-Forwarded-For` believed [default: none]
    #[arg(long, env = "LATCHKEY_TRUSTED_PROXIES", value_name = "CIDR,…",
          value_parser = parse_range_list, help_heading = "Security")]
    pub trusted_proxies: Option<RangeList>,

    /// Where expiry and reuse events are posted (http:// or https://);
    /// none unless set
    #[arg(
        long,
        env = "LATCHKEY_WEBHOOK_URL",
        hide_env_values = true,
        value_name = "URL",
        help_heading = "Webhooks"
    )]
    pub webhook_url: Option<String>,

    /// The signing key: 16+ characters, or `whsec_<base64>`; required with
    /// the URL
    #[arg(
        long,
        env = "LATCHKEY_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRET",
        help_heading = "Webhooks"
    )]
    pub webhook_secret: Option<String>,

    /// How often due events are looked for, in milliseconds (10 to
    /// 3600000)
    #[arg(long, env = "LATCHKEY_WEBHOOK_POLL_MS", default_value = "10000", value_name = "MS",
          value_parser = parse_poll_ms, help_heading = "Webhooks")]
    pub webhook_poll_ms: u64,

    /// OpenID Connect issuer (e.g. https://keycloak.example.com/realms/acme):
    /// the sign-in page then offers single sign-on; none unless set
    #[arg(
        long,
        env = "LATCHKEY_OIDC_ISSUER",
        value_name = "URL",
        help_heading = "Single sign-on"
    )]
    pub oidc_issuer: Option<String>,

    /// The client id Latchkey has at the identity provider
    #[arg(
        long,
        env = "LATCHKEY_OIDC_CLIENT_ID",
        value_name = "ID",
        help_heading = "Single sign-on"
    )]
    pub oidc_client_id: Option<String>,

    /// The client's secret at the identity provider
    #[arg(
        long,
        env = "LATCHKEY_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET",
        help_heading = "Single sign-on"
    )]
    pub oidc_client_secret: Option<String>,

    /// Role of people who sign in with single sign-on but are no member
    /// yet (viewer, developer or admin); unset: they are refused
    #[arg(long, env = "LATCHKEY_OIDC_DEFAULT_ROLE", value_name = "ROLE",
          value_parser = parse_role, help_heading = "Single sign-on")]
    pub oidc_default_role: Option<Role>,

    /// What the sign-in button names: "Sign in with LABEL"
    #[arg(
        long,
        env = "LATCHKEY_OIDC_LABEL",
        default_value = "single sign-on",
        value_name = "LABEL",
        help_heading = "Single sign-on"
    )]
    pub oidc_label: String,

    /// The address people open Latchkey at (e.g. https://latchkey.example.com),
    /// for the redirect URI <URL>/login/oidc/callback [default: from each
    /// request's Host]
    #[arg(
        long,
        env = "LATCHKEY_PUBLIC_URL",
        value_name = "URL",
        help_heading = "Single sign-on"
    )]
    pub public_url: Option<String>,

    /// Log filter, e.g. `latchkey=debug,actix_web=info`
    #[arg(long, env = "LATCHKEY_LOG", default_value = "info", value_name = "FILTER",
          value_parser = parse_log_filter, help_heading = "Logging")]
    pub log: String,

    /// How log lines are written
    #[arg(
        long,
        env = "LATCHKEY_LOG_FORMAT",
        default_value = "text",
        value_name = "FORMAT",
        help_heading = "Logging"
    )]
    pub log_format: LogFormat,
}

fn parse_bind(s: &str) -> Result<String, Malformed> {
    let s = s.trim();
    let ok = s
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if ok {
        Ok(s.to_owned())
    } else {
        Err(Malformed(format!(
            "“{s}” is not HOST:PORT (e.g. 127.0.0.1:8080 or [::]:8080)"
        )))
    }
}

fn parse_workers(s: &str) -> Result<usize, Malformed> {
    s.trim()
        .parse()
        .ok()
        .filter(|n| (1..=256).contains(n))
        .ok_or_else(|| Malformed(format!("“{s}” must be a number from 1 to 256")))
}

fn parse_pool_size(s: &str) -> Result<u32, Malformed> {
    s.trim()
        .parse()
        .ok()
        .filter(|n| (1..=512).contains(n))
        .ok_or_else(|| Malformed(format!("“{s}” must be a number from 1 to 512")))
}

fn parse_poll_ms(s: &str) -> Result<u64, Malformed> {
    s.trim()
        .parse()
        .ok()
        .filter(|ms| (10..=3_600_000).contains(ms))
        .ok_or_else(|| Malformed(format!("“{s}” must be a number from 10 to 3600000")))
}

pub fn parse_bool(s: &str) -> Result<bool, Malformed> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(Malformed(format!("“{s}” must be true or false"))),
    }
}

fn parse_session_key(s: &str) -> Result<String, Malformed> {
    let bytes = crate::domain::bytes::from_hex(s).map_or(s.len(), |b| b.len());
    if bytes < 64 {
        return Err(Malformed(
            "the key must be at least 64 bytes (e.g. 128 hex characters)".into(),
        ));
    }
    Ok(s.to_owned())
}

fn parse_range_list(s: &str) -> Result<RangeList, Malformed> {
    parse_ranges(s).map(RangeList)
}

fn parse_role(s: &str) -> Result<Role, Malformed> {
    s.parse::<Role>()
}

fn parse_log_filter(s: &str) -> Result<String, Malformed> {
    tracing_subscriber::EnvFilter::builder()
        .parse(s)
        .map(|_| s.to_owned())
        .map_err(|e| Malformed(format!("“{s}” is not a log filter: {e}")))
}

/// What the server needs to run, from the settings (tests build it
/// directly).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Port 0 picks a free one.
    pub bind: String,
    pub session_key: Option<String>,
    pub secure_cookies: bool,
    /// HTTP worker threads (default: one per core).
    pub workers: Option<usize>,
    /// Expiry and reuse events.
    pub webhook: Option<WebhookConfig>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpRange>,
    /// How often usage counts are written (a minute; shorter in tests).
    pub usage_flush: Duration,
    /// How often tokens unused for longer than the policy allows are
    /// looked for (ten minutes; shorter in tests).
    pub inactivity_sweep: Duration,
    /// A second listener serving only `/metrics` (none unless set).
    pub metrics_bind: Option<String>,
    /// Single sign-on through an OpenID Connect provider.
    pub sso: Option<SsoConfig>,
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
            usage_flush: Duration::from_secs(60),
            inactivity_sweep: Duration::from_secs(600),
            metrics_bind: None,
            sso: None,
        }
    }
}

impl ServerConfig {
    /// Checks what no single setting can (the webhook's URL and secret go
    /// together).
    pub fn from_settings(settings: &ServeSettings) -> Result<ServerConfig, Malformed> {
        let url = settings
            .webhook_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let webhook = match url {
            None => None,
            Some(url) => Some(WebhookConfig::new(
                url,
                settings.webhook_secret.as_deref().unwrap_or_default(),
                Duration::from_millis(settings.webhook_poll_ms),
            )?),
        };
        let sso = SsoConfig::from_settings(
            settings.oidc_issuer.as_deref(),
            settings.oidc_client_id.as_deref(),
            settings.oidc_client_secret.as_deref(),
            settings.oidc_default_role,
            &settings.oidc_label,
            settings.public_url.as_deref(),
        )?;
        Ok(ServerConfig {
            sso,
            bind: settings.bind.clone(),
            session_key: settings.session_key.clone(),
            secure_cookies: settings.secure_cookies,
            workers: settings.workers,
            webhook,
            trusted_proxies: settings.trusted_proxies.clone().unwrap_or_default().0,
            usage_flush: Duration::from_secs(60),
            inactivity_sweep: Duration::from_secs(600),
            metrics_bind: settings.metrics_bind.clone(),
        })
    }
}
