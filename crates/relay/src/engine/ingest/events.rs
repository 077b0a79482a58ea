//! The event kinds the relay logs, the mapping between stored and wire account statuses, and
//! the one place a `#account` with the relay's own view of an account is made.

use std::time::SystemTime;

use atrelay_eventlog::{EventLog, Ticket};
use atrelay_store::{Account, AccountStatus};
use atrelay_stream::{encode_frame, AccountStatus as WireStatus, Message};

/// Event-log kind byte of `#commit` (indigo's numbering).
pub const KIND_COMMIT: u8 = 1;
/// Event-log kind byte of `#identity`.
pub const KIND_IDENTITY: u8 = 4;
/// Event-log kind byte of `#account`.
pub const KIND_ACCOUNT: u8 = 5;
/// Event-log kind byte of `#sync`.
pub const KIND_SYNC: u8 = 6;

/// The wire form of a stored status.
pub fn wire_status(status: AccountStatus) -> WireStatus {
    match status {
        AccountStatus::Takendown => WireStatus::Takendown,
        AccountStatus::Suspended => WireStatus::Suspended,
        AccountStatus::Deleted => WireStatus::Deleted,
        AccountStatus::Deactivated => WireStatus::Deactivated,
        AccountStatus::Desynchronized => WireStatus::Desynchronized,
        AccountStatus::Throttled => WireStatus::Throttled,
        AccountStatus::Active => WireStatus::Other("active".to_owned()),
    }
}

/// The stored form of the status an upstream `#account` reports: active when it says so,
/// else its status, with an absent or unknown one read as deactivated.
pub fn reported_status(active: bool, status: Option<&WireStatus>) -> AccountStatus {
    if active {
        return AccountStatus::Active;
    }
    match status {
        Some(WireStatus::Takendown) => AccountStatus::Takendown,
        Some(WireStatus::Suspended) => AccountStatus::Suspended,
        Some(WireStatus::Deleted) => AccountStatus::Deleted,
        Some(WireStatus::Desynchronized) => AccountStatus::Desynchronized,
        Some(WireStatus::Throttled) => AccountStatus::Throttled,
        Some(WireStatus::Deactivated) | Some(WireStatus::Other(_)) | None => {
            AccountStatus::Deactivated
        }
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
        status: account.status().map(wire_status),
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
                reported_status(false, Some(&wire_status(status))),
                status,
                "{status:?}"
            );
        }
        assert_eq!(
            reported_status(true, Some(&WireStatus::Takendown)),
            AccountStatus::Active
        );
        assert_eq!(reported_status(false, None), AccountStatus::Deactivated);
        assert_eq!(
            reported_status(false, Some(&WireStatus::Other("hibernating".into()))),
            AccountStatus::Deactivated
        );
    }
}
