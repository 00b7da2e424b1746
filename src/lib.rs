//! Latchkey: a self-hosted API token service with an admin console.
//!
//! Layers: `web` (HTTP) → `service` (use cases, transactions) → `domain`
//! (pure rules), and `service` → `db` (storage).

pub mod background;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod service;
pub mod startup;
pub mod web;
