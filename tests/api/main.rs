//! One integration binary: the real app on a random port over a real database.
//! `SWITCHBOARD_TEST_DB=postgres` runs every test against a fresh PostgreSQL database.

mod auth;
mod binary;
mod bots;
mod console;
mod crash;
mod delivery;
mod faults;
mod graph;
mod helpers;
mod live;
mod partner;
mod receiver;
mod schema;
mod validation;
