//! Pass Numérique: signed training vouchers, redeemed once, settled through a
//! double-entry ledger. See README.md (ARCHITECTURE) for the map of the modules.

pub mod api;
pub mod audit;
pub mod auth;
pub mod checkbooks;
pub mod cli;
pub mod client_addr;
pub mod closing;
pub mod codes;
pub mod config;
pub mod csv_cells;
pub mod db;
pub mod demo;
pub mod documents;
pub mod domain;
pub mod error;
pub mod french;
pub mod idempotency;
pub mod invitations;
pub mod jobs;
pub mod ledger;
pub mod limits;
pub mod mail;
pub mod money;
pub mod one_time;
pub mod organizations;
pub mod passwords;
pub mod pg_cluster;
pub mod programs;
pub mod redemptions;
#[rustfmt::skip]
pub mod schema;
pub mod secrets;
pub mod sessions;
pub mod settlement;
pub mod startup;
pub mod stats;
pub mod statuses;
pub mod team;
pub mod telemetry;
pub mod vocabulary;
pub mod web;
