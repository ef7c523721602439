//! `http.allowed_hosts` entries: which origins (scheme, host, port) a connector may reach.
//!
//! An entry is `[scheme://]host[:port]`, the host exact or `*.suffix`. Without a scheme it is
//! `https`; without a port, the scheme's default port. So `api.hubapi.com` allows
//! `https://api.hubapi.com:443` and nothing else, and a local simulator is named with its scheme
//! and port (`http://127.0.0.1:41234`): another service on another port of the same host stays
//! out of reach, whatever a vendor's next-page link or an override says. URLs are read with the
//! `url` crate, the parser the HTTP client uses, so what is checked is what is sent.

/// A parsed `allowed_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OriginPattern {
    scheme: String,
    host: HostMatch,
    port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Exact(String),
    /// `.suffix`: any host ending with it (not the bare suffix itself).
    Suffix(String),
}

impl OriginPattern {
    /// Parses an entry.
    ///
    /// # Errors
    /// Names what is wrong: a scheme other than `http`/`https`, a path, an empty host, a bad
    /// port.
    pub(crate) fn parse(text: &str) -> Result<OriginPattern, String> {
        let text = text.trim();
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("https".to_owned(), text),
        };
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            other => return Err(format!("scheme `{other}` is not http or https")),
        };
        if rest.contains(['/', '?', '#', '@', '\\']) {
            return Err(format!(
                "`{text}` must be a host with an optional scheme and port, nothing else"
            ));
        }
        let (host, port) = match rest.strip_prefix('[') {
            Some(bracketed) => {
                let (inner, after) = bracketed
                    .split_once(']')
                    .ok_or_else(|| format!("`{text}` has an unclosed `[`"))?;
                (
                    format!("[{}]", inner.to_ascii_lowercase()),
                    after.strip_prefix(':'),
                )
            }
            None => match rest.rsplit_once(':') {
                Some((host, port)) => (host.to_ascii_lowercase(), Some(port)),
                None => (rest.to_ascii_lowercase(), None),
            },
        };
        let port = match port {
            Some(port) => port
                .parse::<u16>()
                .map_err(|_| format!("`{port}` is not a port"))?,
            None => default_port,
        };
        let host = match host.strip_prefix("*.") {
            Some(suffix) if !suffix.is_empty() && !suffix.contains('*') => {
                HostMatch::Suffix(format!(".{suffix}"))
            }
            _ if host.is_empty() || host.contains('*') => {
                return Err(format!("`{text}` must name a host, or `*.` and a domain"));
            }
            _ => HostMatch::Exact(host),
        };
        Ok(OriginPattern { scheme, host, port })
    }

    /// Whether `url`'s scheme, host and port (explicit or the scheme's default) are allowed.
    pub(crate) fn matches(&self, url: &url::Url) -> bool {
        let Some(host) = url.host() else {
            return false;
        };
        let host = match host {
            url::Host::Ipv6(address) => format!("[{address}]"),
            other => other.to_string().to_ascii_lowercase(),
        };
        url.scheme() == self.scheme
            && url.port_or_known_default() == Some(self.port)
            && match &self.host {
                HostMatch::Exact(exact) => &host == exact,
                HostMatch::Suffix(suffix) => host.ends_with(suffix.as_str()),
            }
    }

    /// Whether every origin `narrower` allows is also allowed by `self`.
    pub(crate) fn covers(&self, narrower: &OriginPattern) -> bool {
        self.scheme == narrower.scheme
            && self.port == narrower.port
            && match (&self.host, &narrower.host) {
                (HostMatch::Exact(wide), HostMatch::Exact(narrow)) => wide == narrow,
                (HostMatch::Suffix(wide), HostMatch::Exact(narrow) | HostMatch::Suffix(narrow)) => {
                    narrow.ends_with(wide.as_str())
                }
                (HostMatch::Exact(_), HostMatch::Suffix(_)) => false,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(pattern: &str, url: &str) -> bool {
        OriginPattern::parse(pattern)
            .expect("a pattern")
            .matches(&url::Url::parse(url).expect("a url"))
    }

    #[test]
    fn a_bare_host_is_https_on_its_default_port() {
        assert!(allows("api.acme.test", "https://api.acme.test/v1"));
        assert!(allows("api.acme.test", "https://API.acme.test:443/v1"));
        assert!(!allows("api.acme.test", "http://api.acme.test/v1"));
        assert!(!allows("api.acme.test", "https://api.acme.test:8443/v1"));
    }

    #[test]
    fn a_port_and_a_scheme_pin_exactly() {
        assert!(allows("http://127.0.0.1:4100", "http://127.0.0.1:4100/x"));
        assert!(!allows("http://127.0.0.1:4100", "http://127.0.0.1:4101/x"));
        assert!(!allows("http://127.0.0.1:4100", "https://127.0.0.1:4100/x"));
        assert!(allows("http://[::1]:4100", "http://[::1]:4100/x"));
    }

    #[test]
    fn a_wildcard_needs_a_subdomain() {
        assert!(allows("*.acme.test", "https://eu.acme.test/"));
        assert!(!allows("*.acme.test", "https://acme.test/"));
        assert!(!allows("*.acme.test", "https://acme.test.evil.com/"));
        assert!(!allows("*.acme.test", "https://evilacme.test/"));
    }

    #[test]
    fn tricks_in_a_url_are_read_as_the_client_reads_them() {
        // `\` ends the authority for http(s) URLs; the host is evil.test.
        assert!(!allows(
            "api.acme.test",
            "https://evil.test\\@api.acme.test/"
        ));
        assert!(!allows("api.acme.test", "https://api.acme.test@evil.test/"));
        assert!(allows("api.acme.test", "https://user@api.acme.test/"));
    }

    #[test]
    fn entries_that_are_not_origins_are_refused() {
        for bad in [
            "ftp://api.acme.test",
            "api.acme.test/path",
            "user@api.acme.test",
            "api.acme.test:http",
            "",
            "*",
            "*.",
            "a.*.test",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn covering_keeps_scheme_and_port() {
        let wide = OriginPattern::parse("*.acme.test").expect("wide");
        assert!(wide.covers(&OriginPattern::parse("eu.acme.test").expect("narrow")));
        assert!(wide.covers(&OriginPattern::parse("*.eu.acme.test").expect("narrow")));
        assert!(!wide.covers(&OriginPattern::parse("eu.acme.test:8443").expect("port")));
        assert!(!wide.covers(&OriginPattern::parse("http://eu.acme.test").expect("scheme")));
    }
}
