//! Integration tests of `atrelay-store`. Every test runs against SQLite and, when
//! `TEST_DATABASE_URL` is set, PostgreSQL (a scratch schema per test).

mod support;

mod accounts;
mod batch;
mod domain_bans;
mod hosts;
mod migrations;
mod settings;
