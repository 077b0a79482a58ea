//! The stop signals the relay obeys (SIGTERM, SIGINT), caught from start-up on.

/// SIGTERM and SIGINT, caught from the moment [`Signals::install`] returns. Installed before
/// the ports are bound, so a signal sent as soon as the relay answers stops it in order instead
/// of killing it (a signal's default action until a handler exists).
pub(crate) struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts catching the stop signals.
    pub(crate) fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Completes at the next SIGTERM or SIGINT (Ctrl-C).
    pub(crate) async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.terminate.recv() => {},
            _ = self.interrupt.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
