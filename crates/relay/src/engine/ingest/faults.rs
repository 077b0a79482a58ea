//! Test-only fault points of ingest (compiled under `cfg(test)` alone): a way to make one
//! host's task panic at a chosen moment, so the supervisor's restart path can be tested
//! against a real upstream. Nothing a host sends can reach a panic; these stand in for a bug.

use std::sync::Mutex;

/// Hosts whose task panics once it has accepted this many more events.
static PANIC_AFTER_ACCEPTING: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());

/// Arms a panic in the task of host `hostname` after it accepts `events` more events (logged,
/// with their store write still pending). The panic fires once.
pub(crate) fn panic_after_accepting(hostname: &str, events: u32) {
    let mut armed = PANIC_AFTER_ACCEPTING.lock().unwrap();
    armed.retain(|(host, _)| host != hostname);
    armed.push((hostname.to_owned(), events));
}

/// Called by a host's task after each accepted event; panics when the count runs out.
pub(super) fn accepted(hostname: &str) {
    let fire = {
        let mut armed = PANIC_AFTER_ACCEPTING.lock().unwrap();
        let Some(index) = armed.iter().position(|(host, _)| host == hostname) else {
            return;
        };
        let left = &mut armed[index].1;
        *left = left.saturating_sub(1);
        let fire = *left == 0;
        if fire {
            armed.remove(index);
        }
        fire
    };
    if fire {
        panic!("fault point: the task of {hostname} panics after accepting events");
    }
}
