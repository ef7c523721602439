//! Rules on request values that the server checks and the OpenAPI document states, each written
//! once: the document's `pattern` is the very expression the server matches, so a value the
//! document allows is one the server takes, and one it forbids is refused (400 naming the field).

use std::sync::LazyLock;

use regex::Regex;

/// One label of a host name: letters and digits, single hyphens inside (never `xn--`, whose
/// Punycode may not decode).
const LABEL: &str = "[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*";
/// The last label starts with a letter: a host ending in a number is read as an IPv4 address.
const LAST_LABEL: &str = "[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*";
/// One byte of a dotted IPv4 address, without leading zeros (which would read as octal).
const OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
/// A TCP port, 0 to 65535, without leading zeros.
const PORT: &str =
    "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)";

/// An http or https URL: a host name or IPv4 address, an optional port, then an optional path
/// and query of visible ASCII (`fragment`: a `#…` may follow too). No user info, no IPv6
/// literal, no spaces or other characters to percent-encode.
fn http_url_pattern(fragment: bool) -> String {
    let rest = if fragment { "[!-~]" } else { "[!\"$-~]" };
    format!(
        "^https?://(?:(?:{LABEL}\\.)*{LAST_LABEL}|(?:{OCTET}\\.){{3}}{OCTET})(?::{PORT})?(?:[/?]{rest}*)?$"
    )
}

/// A page end users are sent back to: an http or https URL without a fragment.
pub static REDIRECT_URL: LazyLock<String> = LazyLock::new(|| http_url_pattern(false));
/// A link shown to end users (a logo): an http or https URL.
pub static WEB_URL: LazyLock<String> = LazyLock::new(|| http_url_pattern(true));

static REDIRECT_URL_REGEX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&REDIRECT_URL).expect("a valid pattern"));
static WEB_URL_REGEX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&WEB_URL).expect("a valid pattern"));

/// Whether `url` is a redirect URL ([`REDIRECT_URL`]).
pub fn is_redirect_url(url: &str) -> bool {
    REDIRECT_URL_REGEX.is_match(url)
}

/// Whether `url` is a web URL ([`WEB_URL`]).
pub fn is_web_url(url: &str) -> bool {
    WEB_URL_REGEX.is_match(url)
}

/// Text with something in it: at least one character that is not blank. Blank is what
/// Python's `str.isspace` calls a space (Unicode white space and the separators U+001C to
/// U+001F), which is what the document's `\S` means to the tools that read it.
pub const NOT_BLANK: &str = operations::NOT_BLANK;

/// Whether `text` has nothing but blanks ([`NOT_BLANK`]).
pub fn is_blank(text: &str) -> bool {
    operations::is_blank(text)
}

/// An `Idempotency-Key`: 1 to 255 visible ASCII characters, spaces inside.
pub const IDEMPOTENCY_KEY: &str = "^[!-~](?:[ -~]*[!-~])?$";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls_that_the_pattern_takes_are_urls_and_the_others_are_refused() {
        for url in [
            "https://app.example.com/done",
            "http://localhost:3000/callback?x=1",
            "http://127.0.0.1:65535",
            "https://my-app.example.co.uk/a%20b",
            "http://a.b1/",
        ] {
            assert!(is_redirect_url(url), "{url}");
            let parsed = url::Url::parse(url).expect(url);
            assert!(matches!(parsed.scheme(), "http" | "https"), "{url}");
            assert!(parsed.fragment().is_none(), "{url}");
        }
        for url in [
            "",
            "example.com",
            "javascript:alert(1)",
            "ftp://example.com",
            "https://example.com/#top",
            "https://xn--a.com",
            "http://example.1",
            "http://1.2.3.999",
            "http://example.com:65536",
            "https://user@example.com",
            "https://exa mple.com",
            "https://example.com/a b",
        ] {
            assert!(!is_redirect_url(url), "{url}");
        }
        assert!(is_web_url("https://example.com/logo.png#x"));
    }

    #[test]
    fn blank_is_what_python_calls_a_space() {
        for text in ["", " ", "\t\n", "\u{1c}", "\u{3000}", "\u{85}"] {
            assert!(is_blank(text), "{text:?}");
        }
        for text in ["a", " a ", "\u{200b}"] {
            assert!(!is_blank(text), "{text:?}");
        }
    }

    #[test]
    fn the_connection_id_pattern_states_what_parse_takes() {
        let pattern = Regex::new(store::ConnectionId::PATTERN).expect("a valid pattern");
        let id = store::ConnectionId::generate();
        assert!(pattern.is_match(id.as_str()));
        for text in [
            "",
            "conn_",
            "conn_0190F0A1B2C37D4E8F90A1B2C3D4E5F6",
            "env_0190f0a1b2c37d4e8f90a1b2c3d4e5f6",
            "conn_0190f0a1b2c37d4e8f90a1b2c3d4e5f60",
        ] {
            assert!(!pattern.is_match(text), "{text}");
            assert!(store::ConnectionId::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn idempotency_keys() {
        let pattern = Regex::new(IDEMPOTENCY_KEY).expect("a valid pattern");
        for key in ["a", "order 42", "~"] {
            assert!(pattern.is_match(key), "{key}");
        }
        for key in ["", " ", " a", "a ", "é"] {
            assert!(!pattern.is_match(key), "{key}");
        }
    }
}
