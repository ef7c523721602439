//! The Store on PostgreSQL, for several Crosswalk processes.
