//! [`ServerGuard`], which runs an axum router on loopback until dropped, and [`lock`]; shared
//! by the fake directory and the fake PDS.

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

use axum::Router;
use tokio::sync::oneshot;

use crate::error::TestkitError;

/// Stops a server task when dropped.
#[derive(Debug)]
pub(crate) struct ServerGuard {
    /// The bound address.
    pub(crate) addr: SocketAddr,
    /// Fires on drop.
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl ServerGuard {
    /// Binds `127.0.0.1:0` and serves `router` until the guard is dropped.
    pub(crate) async fn serve(router: Router) -> Result<Self, TestkitError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::serve_on(listener, router)
    }

    /// Serves `router` on an already bound listener until the guard is dropped.
    pub(crate) fn serve_on(
        listener: tokio::net::TcpListener,
        router: Router,
    ) -> Result<Self, TestkitError> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, "fake server stopped with an error");
            }
        });
        Ok(Self {
            addr,
            stop: Mutex::new(Some(stop)),
        })
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Some(stop) = lock(&self.stop).take() {
            let _ = stop.send(());
        }
    }
}

/// Locks a mutex, recovering the data if a panicking test thread poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
