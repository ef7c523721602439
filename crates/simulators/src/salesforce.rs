//! The Salesforce REST API simulator.
