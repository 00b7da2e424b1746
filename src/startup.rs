//! Builds the HTTP server from its configuration; tests start the real
//! server the same way (with port 0).

use crate::config::ServerConfig;
use crate::service::Latchkey;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub fn build(config: &ServerConfig, service: Latchkey) -> std::io::Result<Application> {
        let listener = TcpListener::bind(&config.bind)?;
        let port = listener.local_addr()?.port();
        let data = web::Data::new(service);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .configure(crate::web::routes)
        })
        .shutdown_timeout(5);
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        let server = server.listen(listener)?.run();
        Ok(Application { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
