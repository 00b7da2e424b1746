//! One integration-test binary (compile time is precious): each module
//! drives Latchkey through a door a user uses — the CLI, HTTP — on SQLite
//! and on PostgreSQL.

#[macro_use]
mod helpers;

mod account;
mod api;
mod backup;
mod browser;
mod cli;
mod console;
mod corpus;
mod export;
mod guard_rails;
mod hardening;
mod idp;
mod insight;
mod instances;
mod integrations;
mod operations;
mod platform;
mod policy;
mod polish;
mod revocations;
mod rotation;
mod schema;
mod scopes;
mod service_accounts;
mod sign_in;
mod sso;
mod verify;
mod webhooks;
