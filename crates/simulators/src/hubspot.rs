//! The HubSpot CRM v3 simulator.
