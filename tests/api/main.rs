//! Integration tests: the real server and a real PostgreSQL (see `helpers`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod authz;
mod checkbooks;
mod cli;
mod cover;
mod errors;
mod generated;
mod health;
mod helpers;
mod ledger;
mod login_limits;
mod mail;
mod migrations;
mod organizations;
mod programs;
mod public_sites;
mod redemptions;
mod roles;
mod secrets;
mod sessions;
mod settlements;
mod smtp;
mod stats;
mod telemetry;
mod web;
