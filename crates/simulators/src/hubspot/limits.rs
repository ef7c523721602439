//! HubSpot's rate limits, counted exactly per access token: a rolling window (190 requests per
//! 10 s by default), a per-second limit on search requests and a daily allowance, each answered
//! with its own 429 `policyName`, plus the `X-HubSpot-RateLimit-*` headers every response carries.
//!
//! Refused requests are not counted, so a client pacing itself just under the limit never sees
//! a 429. Search requests count toward the rolling window as well as their own per-second
//! limit, the conservative reading of HubSpot's docs. The daily count resets at midnight UTC.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};
use chrono::{NaiveDate, Utc};

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    TenSecondlyRolling,
    Secondly,
    Daily,
}

impl Policy {
    pub fn policy_name(self) -> &'static str {
        match self {
            Policy::TenSecondlyRolling => "TEN_SECONDLY_ROLLING",
            Policy::Secondly => "SECONDLY",
            Policy::Daily => "DAILY",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Policy::TenSecondlyRolling => "You have reached your ten_secondly_rolling limit.",
            Policy::Secondly => "You have reached your secondly limit.",
            Policy::Daily => "You have reached your daily limit.",
        }
    }
}

/// The values of the `X-HubSpot-RateLimit-*` headers for one response.
#[derive(Debug, Clone, Copy)]
pub struct RateHeaders {
    pub max: u32,
    pub remaining: u32,
    pub interval_ms: u64,
    /// `(daily limit, daily remaining)` when the token has a daily limit.
    pub daily: Option<(u64, u64)>,
}

impl RateHeaders {
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert("x-hubspot-ratelimit-max", HeaderValue::from(self.max));
        headers.insert(
            "x-hubspot-ratelimit-remaining",
            HeaderValue::from(self.remaining),
        );
        headers.insert(
            "x-hubspot-ratelimit-interval-milliseconds",
            HeaderValue::from(self.interval_ms),
        );
        if let Some((limit, remaining)) = self.daily {
            headers.insert("x-hubspot-ratelimit-daily", HeaderValue::from(limit));
            headers.insert(
                "x-hubspot-ratelimit-daily-remaining",
                HeaderValue::from(remaining),
            );
        }
    }
}

/// How many requests of one token the limits let through and refused, since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// Requests counted against the limits (served by the handlers).
    pub allowed: u64,
    /// Requests answered 429 by a limit.
    pub throttled: u64,
}

#[derive(Debug)]
struct TokenUsage {
    window: VecDeque<Instant>,
    search_window: VecDeque<Instant>,
    day: NaiveDate,
    daily_used: u64,
    counts: TokenCounts,
}

#[derive(Debug)]
struct LimitState {
    per_interval: u32,
    interval: Duration,
    search_per_second: u32,
    daily_limit: Option<u64>,
    tokens: HashMap<String, TokenUsage>,
}

/// The rate-limit counters of one simulator.
#[derive(Debug)]
pub struct RateLimits {
    state: Mutex<LimitState>,
}

fn evict(window: &mut VecDeque<Instant>, now: Instant, span: Duration) {
    while let Some(&oldest) = window.front() {
        if now.duration_since(oldest) >= span {
            window.pop_front();
        } else {
            break;
        }
    }
}

impl RateLimits {
    pub fn new(
        per_interval: u32,
        interval_ms: u64,
        search_per_second: u32,
        daily_limit: Option<u64>,
    ) -> RateLimits {
        RateLimits {
            state: Mutex::new(LimitState {
                per_interval,
                interval: Duration::from_millis(interval_ms),
                search_per_second,
                daily_limit,
                tokens: HashMap::new(),
            }),
        }
    }

    /// Changes the rolling-window limit; counts already made stay.
    pub fn set_rolling(&self, per_interval: u32, interval_ms: u64) {
        let mut state = self.state.lock().expect("rate limit state poisoned");
        state.per_interval = per_interval;
        state.interval = Duration::from_millis(interval_ms);
    }

    /// Requests allowed and refused so far, by token (tokens never seen are absent).
    pub fn counts(&self) -> BTreeMap<String, TokenCounts> {
        let state = self.state.lock().expect("rate limit state poisoned");
        state
            .tokens
            .iter()
            .map(|(token, usage)| (token.clone(), usage.counts))
            .collect()
    }

    /// Counts one request of `token`, or says which limit refuses it.
    pub fn check(
        &self,
        token: &str,
        is_search: bool,
    ) -> Result<RateHeaders, (Policy, RateHeaders)> {
        let now = Instant::now();
        let today = Utc::now().date_naive();
        let mut state = self.state.lock().expect("rate limit state poisoned");
        let (per_interval, interval, search_per_second, daily_limit) = (
            state.per_interval,
            state.interval,
            state.search_per_second,
            state.daily_limit,
        );
        let usage = state
            .tokens
            .entry(token.to_owned())
            .or_insert_with(|| TokenUsage {
                window: VecDeque::new(),
                search_window: VecDeque::new(),
                day: today,
                daily_used: 0,
                counts: TokenCounts::default(),
            });
        if usage.day != today {
            usage.day = today;
            usage.daily_used = 0;
        }
        evict(&mut usage.window, now, interval);
        evict(&mut usage.search_window, now, Duration::from_secs(1));
        let used = u32::try_from(usage.window.len()).unwrap_or(u32::MAX);
        let headers = |used: u32, daily_used: u64| RateHeaders {
            max: per_interval,
            remaining: per_interval.saturating_sub(used),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            daily: daily_limit.map(|limit| (limit, limit.saturating_sub(daily_used))),
        };
        let refused = if daily_limit.is_some_and(|limit| usage.daily_used >= limit) {
            Some(Policy::Daily)
        } else if is_search
            && usage.search_window.len() >= usize::try_from(search_per_second).unwrap_or(usize::MAX)
        {
            Some(Policy::Secondly)
        } else if used >= per_interval {
            Some(Policy::TenSecondlyRolling)
        } else {
            None
        };
        if let Some(policy) = refused {
            usage.counts.throttled += 1;
            return Err((policy, headers(used, usage.daily_used)));
        }
        usage.counts.allowed += 1;
        usage.window.push_back(now);
        if is_search {
            usage.search_window.push_back(now);
        }
        usage.daily_used += 1;
        Ok(headers(used + 1, usage.daily_used))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_allowed_and_throttled_requests_per_token() {
        let limits = RateLimits::new(2, 60_000, 1, None);
        assert!(limits.check("a", false).is_ok());
        assert!(limits.check("a", true).is_ok());
        assert!(matches!(
            limits.check("a", false),
            Err((Policy::TenSecondlyRolling, _))
        ));
        assert!(limits.check("b", true).is_ok());
        assert!(matches!(
            limits.check("b", true),
            Err((Policy::Secondly, _))
        ));
        let counts = limits.counts();
        assert_eq!(
            counts.get("a"),
            Some(&TokenCounts {
                allowed: 2,
                throttled: 1
            })
        );
        assert_eq!(
            counts.get("b"),
            Some(&TokenCounts {
                allowed: 1,
                throttled: 1
            })
        );
        assert_eq!(counts.len(), 2);
    }
}
