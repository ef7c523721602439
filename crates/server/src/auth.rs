//! API-key authentication: `Authorization: Bearer <key>` names an environment.
//!
//! A key authenticates while it is neither revoked nor expired ([`store::ApiKey::usable_at`]).
//! Failed attempts are metered per client address ([`FailureMeter`]): past the budget an
//! address is answered 429 before its key is even looked up, so guessing cannot go on at the
//! server's speed and a 401 or a 200 tells a blocked guesser nothing. When a key was last used
//! is written at most once a minute per key and process ([`UseRecorder`]), not once per request.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use store::{ApiKeyHash, ApiKeyId, EnvironmentId, StoreError};

use crate::{ApiError, AppState};

/// The environment the request's API key belongs to, and that key (a request extension).
#[derive(Debug, Clone)]
pub struct Caller {
    pub environment_id: EnvironmentId,
    /// The key the request was authenticated with.
    pub api_key_id: ApiKeyId,
    /// What that key may do (enforced by [`crate::permissions::enforce`]).
    pub permissions: store::KeyPermissions,
}

impl Caller {
    /// Whether the caller's key reaches the connection written `id`.
    pub fn reaches(&self, id: &str) -> bool {
        crate::permissions::reaches(&self.permissions, id)
    }
}

/// What the authentication middleware keeps between requests.
#[derive(Debug, Clone)]
pub struct AuthGuard {
    failures: Arc<Mutex<FailureMeter>>,
    uses: Arc<UseRecorder>,
}

impl AuthGuard {
    /// A guard with the default budget of failed attempts ([`FailureBudget::default`]).
    pub fn new(budget: FailureBudget) -> AuthGuard {
        AuthGuard {
            failures: Arc::new(Mutex::new(FailureMeter::new(budget))),
            uses: Arc::new(UseRecorder::default()),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, FailureMeter> {
        // The meter holds counters only; a panic while it was held leaves them usable.
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How many failed authentications an address may make: `burst` at once, then one more every
/// `refill`; at most `max_clients` addresses are tracked at a time.
#[derive(Debug, Clone, Copy)]
pub struct FailureBudget {
    pub burst: u32,
    pub refill: Duration,
    pub max_clients: usize,
}

impl Default for FailureBudget {
    /// 20 failures at once, then one every 3 seconds (20 a minute), per address; 10,000
    /// addresses tracked (about a megabyte).
    fn default() -> FailureBudget {
        FailureBudget {
            burst: 20,
            refill: Duration::from_secs(3),
            max_clients: 10_000,
        }
    }
}

/// Whom failures are counted against: an IPv4 address, an IPv6 /64 (one subscriber's
/// network), or, when the table is full, everyone not in it, together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    Address(IpAddr),
    Overflow,
    Unknown,
}

impl ClientKey {
    fn of(peer: Option<SocketAddr>) -> ClientKey {
        match peer.map(|peer| peer.ip().to_canonical()) {
            Some(IpAddr::V6(v6)) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                ClientKey::Address(IpAddr::V6(bits.into()))
            }
            Some(v4) => ClientKey::Address(v4),
            None => ClientKey::Unknown,
        }
    }
}

/// A token bucket of failures per client, in the process. Memory is bounded: at most
/// `max_clients` entries; buckets that have refilled are forgotten (they hold nothing a fresh
/// one would not), and when the table is still full, new clients share one overflow bucket.
#[derive(Debug)]
pub struct FailureMeter {
    budget: FailureBudget,
    buckets: HashMap<ClientKey, Bucket>,
    last_prune: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Failures still allowed, as of `at`.
    tokens: f64,
    at: Instant,
}

impl FailureMeter {
    fn new(budget: FailureBudget) -> FailureMeter {
        FailureMeter {
            budget,
            buckets: HashMap::new(),
            last_prune: None,
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        refilled(self.budget, bucket, now)
    }

    /// How long the client must wait before its next attempt, if it has no failure left.
    fn blocked(&self, client: ClientKey, now: Instant) -> Option<Duration> {
        let key = self.slot(client);
        let bucket = self.buckets.get(&key)?;
        let tokens = self.refilled(*bucket, now);
        (tokens < 1.0).then(|| self.budget.refill.mul_f64(1.0 - tokens))
    }

    /// Which bucket a client is counted in: its own when it has one or there is room.
    fn slot(&self, client: ClientKey) -> ClientKey {
        if self.buckets.contains_key(&client) || self.buckets.len() < self.budget.max_clients {
            client
        } else {
            ClientKey::Overflow
        }
    }

    /// Counts one failure of `client`.
    fn fail(&mut self, client: ClientKey, now: Instant) {
        if !self.buckets.contains_key(&client) && self.buckets.len() >= self.budget.max_clients {
            self.prune(now);
        }
        let key = self.slot(client);
        let full = f64::from(self.budget.burst);
        let tokens = match self.buckets.get(&key) {
            Some(bucket) => self.refilled(*bucket, now),
            None => full,
        };
        self.buckets.insert(
            key,
            Bucket {
                tokens: (tokens - 1.0).max(0.0),
                at: now,
            },
        );
    }

    /// Forgets the buckets that have refilled, at most once a second (each prune walks the
    /// whole table).
    fn prune(&mut self, now: Instant) {
        if self
            .last_prune
            .is_some_and(|last| now.saturating_duration_since(last) < Duration::from_secs(1))
        {
            return;
        }
        self.last_prune = Some(now);
        let full = f64::from(self.budget.burst);
        let budget = self.budget;
        self.buckets
            .retain(|_, bucket| refilled(budget, *bucket, now) < full);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// The failures a bucket allows at `now`, refilled since it was last counted.
fn refilled(budget: FailureBudget, bucket: Bucket, now: Instant) -> f64 {
    let per_sec = 1.0 / budget.refill.as_secs_f64().max(1e-3);
    (bucket.tokens + now.saturating_duration_since(bucket.at).as_secs_f64() * per_sec)
        .min(f64::from(budget.burst))
}

/// How often a key's last use is written.
const USE_WRITE_INTERVAL: Duration = Duration::from_secs(60);

/// Remembers when this process last wrote each key's last use.
#[derive(Debug, Default)]
struct UseRecorder {
    written: Mutex<HashMap<ApiKeyId, Instant>>,
}

impl UseRecorder {
    /// Whether this request should write the key's last use (and, if so, claims the write).
    fn claim(&self, id: &ApiKeyId, now: Instant) -> bool {
        let mut written = self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if written
            .get(id)
            .is_some_and(|at| now.saturating_duration_since(*at) < USE_WRITE_INTERVAL)
        {
            return false;
        }
        if written.len() >= 10_000 {
            written.retain(|_, at| now.saturating_duration_since(*at) < USE_WRITE_INTERVAL);
        }
        written.insert(id.clone(), now);
        true
    }
}

/// The credentials of an `Authorization: Bearer <key>` value; the scheme is case-insensitive
/// (RFC 9110 § 11.1), so `bearer` and `BEARER` are the same scheme.
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

/// Middleware: resolves the API key to its environment, or answers 401 (429 once the caller's
/// address has failed too often).
pub async fn require_api_key(
    State((state, guard)): State<(AppState, AuthGuard)>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_credentials)
        .filter(|key| !key.is_empty())
        .ok_or(ApiError::Unauthenticated)?;
    let client = ClientKey::of(
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0),
    );
    if let Some(retry_after) = guard.failures().blocked(client, Instant::now()) {
        return Err(ApiError::AuthThrottled { retry_after });
    }
    let now = store::timestamp::now();
    let api_key = match state.store.find_api_key(&ApiKeyHash::of(key)).await {
        Ok(api_key) if api_key.usable_at(now) => api_key,
        Ok(_) | Err(StoreError::NotFound) => {
            guard.failures().fail(client, Instant::now());
            return Err(ApiError::Unauthenticated);
        }
        Err(other) => return Err(other.into()),
    };
    let recently_used = api_key
        .last_used_at
        .is_some_and(|at| now - at < chrono::Duration::seconds(60));
    if !recently_used && guard.uses.claim(&api_key.id, Instant::now()) {
        // One small write a minute per key; a failure costs only the timestamp's freshness.
        if let Err(error) = state.store.touch_api_key(&api_key.id, now).await {
            tracing::warn!(error = %error, key_id = %api_key.id, "could not record an api key's use");
        }
    }
    request.extensions_mut().insert(Caller {
        environment_id: api_key.environment_id,
        api_key_id: api_key.id,
        permissions: api_key.permissions,
    });
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u8) -> ClientKey {
        ClientKey::Address(IpAddr::from([10, 0, 0, n]))
    }

    #[test]
    fn an_address_is_blocked_after_its_burst_and_others_are_not() {
        let mut meter = FailureMeter::new(FailureBudget {
            burst: 3,
            refill: Duration::from_secs(3),
            max_clients: 100,
        });
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(meter.blocked(client(1), now), None);
            meter.fail(client(1), now);
        }
        let wait = meter.blocked(client(1), now).expect("blocked");
        assert!(
            wait <= Duration::from_secs(3) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert_eq!(meter.blocked(client(2), now), None);
        assert_eq!(meter.blocked(client(1), now + Duration::from_secs(3)), None);
    }

    #[test]
    fn the_table_is_bounded_and_refilled_buckets_are_forgotten() {
        let mut meter = FailureMeter::new(FailureBudget {
            burst: 2,
            refill: Duration::from_secs(1),
            max_clients: 4,
        });
        let now = Instant::now();
        for n in 0..50 {
            meter.fail(client(n), now);
            meter.fail(client(n), now);
        }
        assert!(meter.tracked() <= 5, "{}", meter.tracked());
        // The overflow bucket is shared: a new address past the cap is blocked with the rest.
        assert!(meter.blocked(client(200), now).is_some());
        // Once refilled, the table empties and new addresses get their own bucket again.
        let later = now + Duration::from_secs(10);
        meter.fail(client(201), later);
        assert!(meter.tracked() <= 2, "{}", meter.tracked());
        assert_eq!(meter.blocked(client(201), later), None);
    }

    #[test]
    fn ipv6_addresses_of_one_network_share_a_bucket() {
        let one: SocketAddr = "[2001:db8:1:2::1]:1000".parse().unwrap();
        let two: SocketAddr = "[2001:db8:1:2:ffff::9]:2000".parse().unwrap();
        let other: SocketAddr = "[2001:db8:1:3::1]:1000".parse().unwrap();
        assert_eq!(ClientKey::of(Some(one)), ClientKey::of(Some(two)));
        assert_ne!(ClientKey::of(Some(one)), ClientKey::of(Some(other)));
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:80".parse().unwrap();
        assert_eq!(ClientKey::of(Some(mapped)), client(1));
    }

    #[test]
    fn a_key_use_is_claimed_once_a_minute() {
        let recorder = UseRecorder::default();
        let id = ApiKeyId::generate();
        let now = Instant::now();
        assert!(recorder.claim(&id, now));
        assert!(!recorder.claim(&id, now + Duration::from_secs(59)));
        assert!(recorder.claim(&id, now + Duration::from_secs(61)));
        assert!(recorder.claim(&ApiKeyId::generate(), now));
    }
}
