//! Local simulators of the vendors' APIs, for tests, benchmarks and the demo.
//!
//! Each vendor module builds an axum `Router` over deterministically seeded data and answers as
//! the vendor's API does (paths, paging, errors, limits). What is shared lives here: spawning a
//! simulator on a listener, the fault plan every simulator obeys, and the request log tests use
//! to count vendor calls, and the [`registry`] of simulators (a line per vendor) that the demo
//! and the tests iterate. Simulators are test infrastructure and a product feature (`crosswalk
//! demo`); they are not part of the runtime and may name vendors freely.

pub mod bamboohr;
pub mod close;
mod decimal;
pub mod dynamics;
pub mod faults;
pub mod hibob;
pub mod hubspot;
pub mod oauth;
pub mod personio;
pub mod phones;
pub mod pipedrive;
pub mod registry;
pub mod salesforce;
pub mod webhooks;
pub mod zoho;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use faults::{CapturedRequest, Chance, Fault, FaultKind, Faults, Mutation, RequestLog};
pub use registry::{
    DemoConnection, Entry, HourlyTimeOffFacts, HrisSuiteFacts, Profile, REGISTRY, Simulator,
    Started, SuiteFacts, Tweaks, Wiring,
};

/// The instant every simulator's seeded data leads up to (2026-11-01T00:00:00Z), so that seeded
/// timestamps, and tests that filter on them, are the same on every run.
pub fn seed_epoch() -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone as _;
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .expect("2026-11-01T00:00:00Z is a valid instant")
}

/// A simulator serving on a local address until it is dropped or shut down.
#[derive(Debug)]
pub struct RunningSimulator {
    /// The bound address (port 0 resolved to the real port).
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
    shutdown: Option<oneshot::Sender<()>>,
}

impl RunningSimulator {
    /// Stops serving; in-flight requests finish first.
    pub fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Serves `router` on an already bound listener in a background task.
///
/// # Errors
/// Fails when the listener's local address cannot be read.
pub fn serve_on(listener: TcpListener, router: Router) -> std::io::Result<RunningSimulator> {
    let addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let result = axum::serve(listener, router.into_make_service())
            .with_graceful_shutdown(async move {
                let _ = shutdown_rx.await;
            })
            .await;
        if let Err(error) = result {
            tracing::warn!(error = %error, "simulator stopped with an error");
        }
    });
    Ok(RunningSimulator {
        addr,
        base_url: format!("http://{addr}"),
        shutdown: Some(shutdown_tx),
    })
}

/// Binds `addr` (use port 0 in tests) and serves `router` on it.
///
/// # Errors
/// Fails when the address cannot be bound.
pub async fn serve(addr: SocketAddr, router: Router) -> std::io::Result<RunningSimulator> {
    let listener = TcpListener::bind(addr).await?;
    serve_on(listener, router)
}
