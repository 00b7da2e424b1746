//! Builds the HTTP server from its configuration; tests start the real
//! server the same way (with port 0).

use crate::background::Periodic;
use crate::config::ServerConfig;
use crate::service::Latchkey;
use actix_session::SessionMiddleware;
use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;

pub struct Application {
    port: u16,
    server: Server,
    /// The `/metrics` listener, when configured, and its port.
    metrics: Option<(u16, Server)>,
    /// Background work stopped with the server: webhook sender, usage
    /// flushes.
    webhook_sender: Option<Periodic>,
    usage_flusher: Periodic,
    /// Revokes tokens unused for longer than the policy allows.
    inactivity_sweep: Periodic,
    /// Reads revocation announcements for the feed's clients.
    revocation_feed: Periodic,
    /// PostgreSQL: keeps token checks current without a query each.
    lease: Option<crate::web::api::LeaseHolder>,
    service: Latchkey,
}

/// Why the server could not start: what it was doing, and the cause.
#[derive(Debug, thiserror::Error)]
#[error("{doing}")]
pub struct StartError {
    doing: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn starting(
    doing: impl Into<String>,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> StartError {
    let doing = doing.into();
    move |source| StartError { doing, source }
}

impl Application {
    pub fn build(config: &ServerConfig, service: Latchkey) -> Result<Application, StartError> {
        let key = cookie_key(config, &service)?;
        let (listener, port) = listen(&config.bind)?;
        // PostgreSQL token lookups are coalesced by one thread: while its
        // query is in flight the next batch gathers (measured: one thread
        // answers more requests than two or four, whose batches are smaller).
        let batcher = web::Data::from(crate::web::api::Batcher::start(&service, 1));
        let (feed, feed_thread) = crate::web::api::RevocationFeed::start(&service)
            .map_err(|e| starting("cannot start the revocation feed")(e.into()))?;
        let feed = web::Data::new(feed);
        let service = match config.webhook {
            Some(_) => service.with_webhooks(),
            None => service,
        };
        let sender = service.clone();
        let data = web::Data::new(service);
        let metrics = web::Data::new(crate::web::observe::Metrics::default());
        let webhook_counters = metrics.webhooks.clone();
        let (metrics_for_listener, data_for_listener) = (metrics.clone(), data.clone());
        let proxies = web::Data::new(crate::web::client::TrustedProxies(
            config.trusted_proxies.clone(),
        ));
        let sso = web::Data::new(crate::web::SsoDoor(
            config
                .sso
                .clone()
                .map(|c| std::sync::Arc::new(crate::service::Sso::new(c))),
        ));
        let secure = config.secure_cookies;
        let mut server = HttpServer::new(move || {
            let sessions = session_middleware(key.clone(), secure);
            App::new()
                .app_data(data.clone())
                .app_data(metrics.clone())
                .app_data(batcher.clone())
                .app_data(feed.clone())
                .app_data(proxies.clone())
                .app_data(sso.clone())
                .wrap(from_fn(crate::web::security::same_origin_only))
                .wrap(from_fn(crate::web::error_pages))
                .wrap(sessions)
                .wrap(crate::web::security::headers(secure))
                .wrap(from_fn(crate::web::security::refuse_encoded_bodies))
                .wrap(from_fn(crate::web::head_as_get))
                .wrap(from_fn(crate::web::observe::observe))
                .configure(crate::web::routes)
        })
        .shutdown_timeout(5)
        // Blocking work is database work on two cores: more threads only
        // wait, each holding its own allocator arena (four per worker
        // peaked at 64.5 MiB under the list benchmark, two at 48.4 MiB,
        // at the same throughput).
        .worker_max_blocking_threads(2);
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        let server = server
            .listen(listener)
            .map_err(|e| starting("starting the server")(e.into()))?
            .run();
        let metrics_server = config
            .metrics_bind
            .as_ref()
            .map(|bind| metrics_listener(bind, metrics_for_listener, data_for_listener))
            .transpose()?;
        let (webhook_sender, usage_flusher, inactivity_sweep) =
            background(config, &sender, webhook_counters)?;
        // Last: nothing after it can fail and leave it running.
        let lease = crate::web::api::LeaseHolder::start(&sender)
            .map_err(|e| starting("cannot start the check lease")(e.into()))?;
        Ok(Application {
            port,
            server,
            metrics: metrics_server,
            webhook_sender,
            usage_flusher,
            inactivity_sweep,
            revocation_feed: feed_thread,
            lease,
            service: sender,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (a signal or a handle), then stops the
    /// background work: the webhook sender after its delivery in flight,
    /// and usage counts are written one last time.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        let served = self.server.await;
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        let (sender, flusher, service) = (self.webhook_sender, self.usage_flusher, self.service);
        let (feed, sweep, lease) = (self.revocation_feed, self.inactivity_sweep, self.lease);
        let _ = actix_web::rt::task::spawn_blocking(move || {
            if let Some(lease) = lease {
                lease.stop();
            }
            feed.stop();
            sweep.stop();
            if let Some(sender) = sender {
                sender.stop();
                tracing::info!("webhook sender stopped");
            }
            flusher.stop();
            if let Err(e) = service.usage().flush() {
                tracing::error!(error = %e, "could not write the last usage counts");
            }
        })
        .await;
        served
    }
}

/// Sessions in a cookie that holds only the session's random id,
/// encrypted; the database decides whether it still signs anyone in.
fn session_middleware(key: Key, secure: bool) -> SessionMiddleware<CookieSessionStore> {
    // Over HTTPS the `__Host-` prefix makes browsers refuse the cookie
    // unless it is Secure, host-only and for the whole site.
    let cookie_name = if secure {
        "__Host-latchkey_session"
    } else {
        "latchkey_session"
    };
    SessionMiddleware::builder(CookieSessionStore::default(), key)
        .cookie_name(cookie_name.into())
        .cookie_secure(secure)
        .cookie_http_only(true)
        .cookie_path("/".into())
        .cookie_same_site(SameSite::Lax)
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(PersistentSession::default().session_ttl(
            actix_web::cookie::time::Duration::seconds(
                crate::service::MAX_SESSION_AGE.whole_seconds(),
            ),
        ))
        .build()
}

/// The key that signs and encrypts session cookies (kept in the database
/// unless configured, so every instance shares it).
fn cookie_key(config: &ServerConfig, service: &Latchkey) -> Result<Key, StartError> {
    let key_bytes = service
        .sessions()
        .cookie_key(config.session_key.as_deref())
        .map_err(|e| starting("reading the session key")(e.into()))?;
    Key::try_from(key_bytes.as_slice()).map_err(|e| starting("reading the session key")(e.into()))
}

/// The public listener and the port it got.
fn listen(bind: &str) -> Result<(TcpListener, u16), StartError> {
    let listener = TcpListener::bind(bind)
        .map_err(|e| starting(format!("cannot listen on {bind}"))(e.into()))?;
    let port = listener
        .local_addr()
        .map_err(|e| starting("reading the listening port")(e.into()))?
        .port();
    Ok((listener, port))
}

type Background = (Option<Periodic>, Periodic, Periodic);

/// The work beside the requests: webhook deliveries (when configured) and
/// writing usage counts once a minute.
fn background(
    config: &ServerConfig,
    service: &Latchkey,
    counters: std::sync::Arc<crate::service::webhooks::delivery::WebhookCounters>,
) -> Result<Background, StartError> {
    let webhook_sender = match &config.webhook {
        Some(webhook) => Some(
            crate::service::webhooks::delivery::start_sender(
                service.clone(),
                webhook.clone(),
                counters,
            )
            .map_err(|e| starting("cannot start the webhook sender")(e.into()))?,
        ),
        None => None,
    };
    let flushing = service.clone();
    let usage_flusher = Periodic::start("usage-flush", config.usage_flush, move |_| {
        if let Err(e) = flushing.usage().flush() {
            tracing::warn!(error = %e, "could not write usage counts; keeping them for the next try");
        }
    })
    .map_err(|e| starting("cannot start the usage flusher")(e.into()))?;
    let sweeping = service.clone();
    let inactivity_sweep = Periodic::start(
        "inactivity-sweep",
        config.inactivity_sweep,
        move |_| match sweeping.tokens().sweep_inactive() {
            Ok(0) => {}
            Ok(n) => tracing::info!(tokens = n, "unused tokens revoked (inactivity policy)"),
            Err(e) => {
                tracing::warn!(error = %e, "could not revoke unused tokens; trying again later")
            }
        },
    )
    .map_err(|e| starting("cannot start the inactivity sweep")(e.into()))?;
    Ok((webhook_sender, usage_flusher, inactivity_sweep))
}

/// A listener for Prometheus alone, meant for a private network.
fn metrics_listener(
    bind: &str,
    metrics: web::Data<crate::web::observe::Metrics>,
    service: web::Data<Latchkey>,
) -> Result<(u16, Server), StartError> {
    let listener = TcpListener::bind(bind).map_err(|e| {
        starting(format!("LATCHKEY_METRICS_BIND: cannot listen on {bind}"))(e.into())
    })?;
    let port = listener
        .local_addr()
        .map_err(|e| starting("reading the metrics port")(e.into()))?
        .port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .app_data(service.clone())
            .wrap(crate::web::security::headers(false))
            .configure(crate::web::observe::routes)
    })
    .workers(1)
    .shutdown_timeout(1)
    .listen(listener)
    .map_err(|e| starting("starting the metrics server")(e.into()))?
    .run();
    Ok((port, server))
}

/// `latchkey serve`: opens the database (migrating it, creating the first
/// admin), starts the server and its background work, and runs until a
/// signal stops it.
pub fn serve(
    url: &crate::db::DbUrl,
    format: crate::domain::TokenFormat,
    settings: &crate::config::ServeSettings,
) -> Result<(), crate::cli::Failure> {
    use crate::cli::Failure;
    let config = ServerConfig::from_settings(settings).map_err(|e| Failure::Usage(e.0))?;
    // Held until the server stops: `restore` refuses while it is.
    let _serving = match url {
        crate::db::DbUrl::Sqlite { path } => Some(crate::db::backup::lock_for_serving(path)?),
        crate::db::DbUrl::Postgres { .. } => None,
    };
    init_logging(settings);
    let service = Latchkey::open(
        url,
        settings.pool_size,
        crate::service::Clock::default(),
        format,
    )?;
    println!("Database: {}", crate::cli::shown(url));
    if let Some((email, password)) = service.members().bootstrap_admin()? {
        println!("Created the first admin.");
        println!("  email:    {email}");
        println!("  password: {}", password.expose());
        println!("This password is shown only once. Set another with:");
        println!("  latchkey user set-password --email {email}");
        println!(
            "(`latchkey` is on your PATH after `cargo install --path .`; from a checkout, run ./target/release/latchkey)"
        );
    }
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(&config, service)
            .map_err(|e| Failure::Failed(crate::error::chain(&e)))?;
        let host = config.bind.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
        if let Some(port) = app.metrics_port() {
            let metrics_host = config
                .metrics_bind
                .as_deref()
                .and_then(|b| b.rsplit_once(':'))
                .map_or("127.0.0.1", |(h, _)| h);
            println!("Metrics on http://{metrics_host}:{port}/metrics");
        }
        // The last line printed at start: scripts wait for it.
        println!("Latchkey is listening on http://{host}:{}", app.port());
        tracing::info!(bind = %config.bind, port = app.port(), database = %url, "serving");
        app.run_until_stopped()
            .await
            .map_err(|e| Failure::Failed(e.to_string()))
    })
}

fn init_logging(settings: &crate::config::ServeSettings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::builder()
        .parse(&settings.log)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    // Colours only for a person at a terminal, never into a file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match settings.log_format {
        crate::config::LogFormat::Json => builder.json().try_init(),
        crate::config::LogFormat::Text => builder.try_init(),
    };
}
