//! Switchboard: the admin and integration core of an omnichannel messaging platform.

pub mod auth;
pub mod bots;
pub mod config;
pub mod crypto;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod rest;
pub mod services;
pub mod startup;
pub mod state;
pub mod telemetry;
