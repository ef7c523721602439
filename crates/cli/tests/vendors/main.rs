//! The cross-vendor suite: every check runs once per registered simulator of its category, as
//! its own test (`listing::every_contact_is_listed_exactly_once::hubspot`,
//! `hris::time_off_is_read_and_written::personio`), so one failing vendor hides no other. Trials are made at run time from `simulators::REGISTRY` (libtest-mimic), so a vendor
//! added to the registry is covered with no edit here.
//!
//! This harness also registers a fifth vendor of its own, `acme` (`acme.rs`: a connector folder
//! and a simulator, one line below), to show that the demo, the Connect page and every check
//! cover a vendor from its registry line alone.

#[path = "../api/helpers.rs"]
#[allow(dead_code, reason = "shared with the api tests, which use more of it")]
mod helpers;

mod acme;
mod crud;
mod errors;
mod fields;
mod hris;
mod listing;
mod platform;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use cli::demo::Options;
use libtest_mimic::{Arguments, Failed, Trial};
use simulators::Entry;

use crate::helpers::{TestApp, spawn_app_with};

/// A check's future.
pub type CheckFuture = Pin<Box<dyn Future<Output = ()>>>;

/// One check of the suite, run against one vendor at a time.
pub struct Check {
    pub name: &'static str,
    pub run: fn(Vendor) -> CheckFuture,
}

/// Declares a check from an `async fn(Vendor)` of the same name.
#[macro_export]
macro_rules! check {
    ($name:ident) => {
        $crate::Check {
            name: stringify!($name),
            run: |vendor| Box::pin($name(vendor)),
        }
    };
}

/// The vendor a trial checks: its registry entry and the connector files it loads.
#[derive(Clone)]
pub struct Vendor {
    pub entry: Entry,
    /// Connector files to load instead of the embedded ones (the test-only vendor's).
    pub connectors_dir: Option<Arc<PathBuf>>,
}

impl Vendor {
    /// The connector id.
    pub fn id(&self) -> &'static str {
        self.entry.connector()
    }

    /// The demo on this vendor's simulator alone (small seeds, limits lifted).
    pub async fn spawn(&self) -> TestApp {
        spawn_app_with(Options {
            registry: vec![self.entry],
            connectors_dir: self.connectors_dir.as_deref().cloned(),
            ..Options::tests()
        })
        .await
    }
}

fn main() -> std::process::ExitCode {
    let arguments = Arguments::from_args();
    let (acme, _acme_connectors) = acme::registered();
    // These checks are the CRM category's: vendors of another category (no suite facts) are
    // left out, and the HRIS checks below take the vendors with HRIS facts.
    let mut vendors: Vec<Vendor> = simulators::REGISTRY
        .iter()
        .filter(|entry| entry.wiring().is_ok_and(|wiring| wiring.suite.is_some()))
        .map(|entry| Vendor {
            entry: *entry,
            connectors_dir: None,
        })
        .collect();
    // The test-only registry extension: one line, as for a real vendor.
    vendors.push(acme);

    let checks = [
        listing::CHECKS,
        crud::CHECKS,
        errors::CHECKS,
        fields::CHECKS,
        platform::CHECKS,
    ];
    let mut trials = Vec::new();
    for (module, checks) in ["listing", "crud", "errors", "fields", "platform"]
        .into_iter()
        .zip(checks)
    {
        for check in checks {
            for vendor in &vendors {
                let vendor = vendor.clone();
                let run = check.run;
                let name = format!("{module}::{}::{}", check.name, vendor.id());
                trials.push(Trial::test(name, move || run_check(run, vendor)));
            }
        }
    }
    // The HRIS checks run over the vendors whose wiring gives HRIS suite facts.
    let hris_vendors: Vec<Vendor> = simulators::REGISTRY
        .iter()
        .filter(|entry| {
            entry
                .wiring()
                .is_ok_and(|wiring| wiring.hris_suite.is_some())
        })
        .map(|entry| Vendor {
            entry: *entry,
            connectors_dir: None,
        })
        .collect();
    // The platform checks are the same for every category.
    for (module, checks) in [("hris", hris::CHECKS), ("platform", platform::CHECKS)] {
        for check in checks {
            for vendor in &hris_vendors {
                let vendor = vendor.clone();
                let run = check.run;
                let name = format!("{module}::{}::{}", check.name, vendor.id());
                trials.push(Trial::test(name, move || run_check(run, vendor)));
            }
        }
    }
    libtest_mimic::run(&arguments, trials).exit_code()
}

/// Runs a check on a runtime of its own, a panic becoming the trial's failure.
fn run_check(run: fn(Vendor) -> CheckFuture, vendor: Vendor) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Failed::from(format!("no runtime: {error}")))?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(run(vendor));
    }))
    .map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
            .unwrap_or_else(|| "the check panicked".to_owned());
        Failed::from(message)
    })
}
