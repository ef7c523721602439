//! Webhooks the simulators send when their records change, to one registered URL, the way each
//! vendor does (the delivery's body and headers are built by the vendor's module), with a switch
//! to drop, hold back (delay), duplicate and reorder them: vendors' webhooks are
//! delivery-unreliable, and the tests make them so on purpose.
//!
//! Deliveries are sent from tasks of their own; [`Webhooks::flush`] sends what was held back
//! (shuffled when reordering) and waits until every delivery sent so far has been answered, so
//! tests synchronise on it instead of sleeping. Nothing here retries: a vendor's retry is a
//! duplicate, which the faults make.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};

/// Where a simulator sends its webhooks, and the secret it signs or authenticates them with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub url: String,
    /// The signing key, basic-auth password or echoed key, as the vendor uses it.
    pub secret: String,
    /// The basic-auth user name (vendors that send one).
    pub username: Option<String>,
}

/// A delivery as the vendor sends it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The URL to post to (the subscription's, with whatever the vendor adds).
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// How deliveries go wrong.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookFaults {
    /// Percent of changes whose delivery is never sent.
    pub drop_percent: u8,
    /// Percent of sent deliveries sent twice.
    pub duplicate_percent: u8,
    /// Deliveries wait until [`Webhooks::flush`] (a delay as long as the test wants).
    pub hold: bool,
    /// Held deliveries are sent in a random order.
    pub reorder: bool,
}

/// What became of one delivery.
#[derive(Debug, Clone)]
pub struct Sent {
    pub delivery: Delivery,
    /// The receiver's status, or `None` when it could not be reached.
    pub status: Option<u16>,
    /// The receiver's body.
    pub answer: String,
}

#[derive(Debug)]
struct State {
    subscription: Option<Subscription>,
    faults: WebhookFaults,
    rng: StdRng,
    held: Vec<Delivery>,
    dropped: Vec<Delivery>,
    sent: Arc<Mutex<Vec<Sent>>>,
    in_flight: Vec<tokio::task::JoinHandle<()>>,
    next_event: u64,
}

/// A simulator's webhook sender. Cheap to clone; clones share their state.
#[derive(Debug, Clone)]
pub struct Webhooks {
    state: Arc<Mutex<State>>,
    client: reqwest::Client,
}

impl Default for Webhooks {
    fn default() -> Webhooks {
        Webhooks {
            state: Arc::new(Mutex::new(State {
                subscription: None,
                faults: WebhookFaults::default(),
                rng: StdRng::seed_from_u64(17),
                held: Vec::new(),
                dropped: Vec::new(),
                sent: Arc::new(Mutex::new(Vec::new())),
                in_flight: Vec::new(),
                next_event: 1,
            })),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a reqwest client builds"),
        }
    }
}

impl Webhooks {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("webhooks state poisoned")
    }

    /// Sends the webhooks of later changes to `subscription` (replacing any earlier one).
    pub fn subscribe(&self, subscription: Subscription) {
        self.lock().subscription = Some(subscription);
    }

    /// Stops sending webhooks.
    pub fn unsubscribe(&self) {
        self.lock().subscription = None;
    }

    /// The current subscription.
    pub fn subscription(&self) -> Option<Subscription> {
        self.lock().subscription.clone()
    }

    /// Sets how deliveries go wrong, and the seed of the choices (the same seed, the same
    /// choices for the same changes).
    pub fn set_faults(&self, faults: WebhookFaults, seed: u64) {
        let mut state = self.lock();
        state.faults = faults;
        state.rng = StdRng::seed_from_u64(seed);
    }

    /// A new event number (vendors number their events).
    pub fn next_event(&self) -> u64 {
        let mut state = self.lock();
        let event = state.next_event;
        state.next_event += 1;
        event
    }

    /// Sends the delivery `build` makes for the subscription, if there is one, as the faults
    /// say. Called by a vendor's write routes after a change.
    pub fn emit(&self, build: impl FnOnce(&Subscription) -> Delivery) {
        let mut state = self.lock();
        let Some(subscription) = state.subscription.clone() else {
            return;
        };
        let delivery = build(&subscription);
        let faults = state.faults;
        if state.rng.gen_range(0..100) < u32::from(faults.drop_percent) {
            state.dropped.push(delivery);
            return;
        }
        let copies = if state.rng.gen_range(0..100) < u32::from(faults.duplicate_percent) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            if faults.hold {
                state.held.push(delivery.clone());
            } else {
                let task = self.spawn_send(&state, delivery.clone());
                state.in_flight.push(task);
            }
        }
    }

    fn spawn_send(&self, state: &State, delivery: Delivery) -> tokio::task::JoinHandle<()> {
        let client = self.client.clone();
        let sent = Arc::clone(&state.sent);
        tokio::spawn(async move {
            let record = send(&client, delivery).await;
            sent.lock().expect("sent log poisoned").push(record);
        })
    }

    /// Sends the held deliveries (in a random order when reordering) one after the other,
    /// then waits until every delivery sent so far was answered.
    pub async fn flush(&self) {
        let (held, in_flight, sent) = {
            let mut state = self.lock();
            let mut held = std::mem::take(&mut state.held);
            if state.faults.reorder {
                let State { rng, .. } = &mut *state;
                held.shuffle(rng);
            }
            (
                held,
                std::mem::take(&mut state.in_flight),
                Arc::clone(&state.sent),
            )
        };
        for task in in_flight {
            let _ = task.await;
        }
        for delivery in held {
            let record = send(&self.client, delivery).await;
            sent.lock().expect("sent log poisoned").push(record);
        }
    }

    /// The deliveries sent (answered or not), in the order they were answered.
    pub fn sent(&self) -> Vec<Sent> {
        self.lock().sent.lock().expect("sent log poisoned").clone()
    }

    /// The deliveries the faults dropped.
    pub fn dropped(&self) -> Vec<Delivery> {
        self.lock().dropped.clone()
    }
}

async fn send(client: &reqwest::Client, delivery: Delivery) -> Sent {
    let mut request = client.post(&delivery.url).body(delivery.body.clone());
    for (name, value) in &delivery.headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let answer = response.text().await.unwrap_or_default();
            Sent {
                delivery,
                status: Some(status),
                answer,
            }
        }
        Err(error) => Sent {
            delivery,
            status: None,
            answer: error.to_string(),
        },
    }
}

/// The base64 HMAC-SHA256 of `message` under `key` (HubSpot's v3 signature and others).
pub fn hmac_sha256_base64(key: &[u8], message: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The hex HMAC-SHA256 of `message` under `key` (BambooHR's `X-BambooHR-Signature`).
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The base64 HMAC-SHA512 of `message` under `key` (HiBob's `Bob-Signature`).
pub fn hmac_sha512_base64(key: &[u8], message: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}
