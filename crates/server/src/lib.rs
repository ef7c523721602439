//! The REST API: routes, authentication, problem+json errors, the proxy, OpenAPI.
