//! Pass Numérique: signed training vouchers, redeemed once, settled through a
//! double-entry ledger. See README.md (ARCHITECTURE) for the map of the modules.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod organizations;
pub mod pg_cluster;
#[rustfmt::skip]
pub mod schema;
pub mod startup;
pub mod telemetry;
