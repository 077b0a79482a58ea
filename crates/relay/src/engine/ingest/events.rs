//! The event kinds the relay logs, how an upstream `#account`'s status is stored, and
//! the one place a `#account` with the relay's own view of an account is made.

use std::time::SystemTime;

use atrelay_eventlog::{EventLog, Ticket};
use atrelay_store::{Account, AccountStatus};
use atrelay_stream::{encode_frame, Message, WireStatus};

/// Event-log kind byte of `#commit` (indigo's numbering).
pub const KIND_COMMIT: u8 = 1;
/// Event-log kind byte of `#identity`.
pub const KIND_IDENTITY: u8 = 4;
/// Event-log kind byte of `#account`.
pub const KIND_ACCOUNT: u8 = 5;
/// Event-log kind byte of `#sync`.
pub const KIND_SYNC: u8 = 6;

/// The stored form of the status an upstream `#account` reports: active when it says so,
/// else its status, with an absent or unknown one (or `active` beside `active: false`) read
/// as deactivated.
pub fn reported_status(active: bool, status: Option<&WireStatus>) -> AccountStatus {
    if active {
        return AccountStatus::Active;
    }
    match status.and_then(WireStatus::known) {
        Some(AccountStatus::Active) | None => AccountStatus::Deactivated,
        Some(status) => status,
    }
}

/// Appends a `#account` stamped now that passes on the relay's combined view of `account`
/// (upstream and local status), as indigo does after an admin change or a limit change.
///
/// # Errors
/// The event log's, when it does not take the event.
pub fn append_account_view(
    log: &EventLog,
    account: &Account,
) -> Result<Ticket, atrelay_eventlog::Error> {
    let mut message = Message::Account(atrelay_stream::Account {
        seq: 0,
        did: account.did.clone(),
        time: atrelay_repo::syntax::format_datetime(SystemTime::now()),
        active: account.is_active(),
        status: account.status().map(WireStatus::from),
        extra: Default::default(),
    });
    log.append(&account.did, KIND_ACCOUNT, move |seq| {
        message.set_seq(seq);
        encode_frame(&message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_status_but_active_reads_back_from_its_wire_form() {
        for status in AccountStatus::ALL
            .into_iter()
            .filter(|status| *status != AccountStatus::Active)
        {
            assert_eq!(
                reported_status(false, Some(&WireStatus::from(status))),
                status,
                "{status:?}"
            );
        }
        assert_eq!(
            reported_status(true, Some(&AccountStatus::Takendown.into())),
            AccountStatus::Active
        );
        assert_eq!(reported_status(false, None), AccountStatus::Deactivated);
        for odd in ["hibernating", "active"] {
            assert_eq!(
                reported_status(false, Some(&WireStatus::from(odd))),
                AccountStatus::Deactivated,
                "{odd}"
            );
        }
    }
}
