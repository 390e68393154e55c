//! Brakes on guessing: passwords at login, ticket codes and serials at the scan.
//!
//! Why this shape:
//! - **Login failures are counted per (e-mail, client address) pair**, plus a ceiling
//!   per address. Counting per e-mail alone would let anyone lock a user out by typing
//!   wrong passwords for their address; counted per pair, an attacker only locks
//!   themselves out, and the user who logs in from another address is not braked. The
//!   ceiling per address stops one address trying many accounts (and, once reached,
//!   refuses before any new pair is remembered).
//! - **Scans** are counted per user (a token is needed to scan, so only its holder can
//!   brake it) and per address.
//! - The client address is [`crate::client_addr::client_ip`] (the peer, or
//!   `X-Forwarded-For` behind a trusted proxy).
//! - **Memory is bounded**: an entry is a 64-bit keyed hash of its key (SipHash with a
//!   random key per limiter, so nobody can aim collisions) and its counter, a 24-byte
//!   slot — never the e-mail itself — and a limiter holds at most `capacity` entries.
//!   When full, expired entries go first, then the oldest eighth. 200,000 unique
//!   e-mails from one address add 30 entries (the ceiling), and even without the
//!   ceiling a full limiter grows the process by about 7 MB
//!   (`benches/login_limiter.rs`, figures in `docs/BENCHMARKS.md`). Evicting under a flood from many addresses may
//!   forget a lock early: the brakes slow guessing down, argon2 and the password are
//!   what keep accounts.
//! - Attempts are charged before they are judged, so that guesses sent in parallel
//!   count too; an attempt that turns out well is given back.
//! - In memory, per process: a restart forgives, and each instance brakes on its own.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// Entries a limiter holds at most, unless told otherwise (a 3.3 MB table when full).
pub const DEFAULT_CAPACITY: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// When the window of this key started, in milliseconds since the limiter's epoch.
    start_ms: u64,
    count: u32,
}

/// Counts failures per key within a window; a key that reached the limit is refused
/// until its window ends.
pub struct FailureLimiter {
    max_failures: u32,
    window_ms: u64,
    capacity: usize,
    hasher: RandomState,
    epoch: Instant,
    entries: Mutex<HashMap<u64, Entry>>,
}

/// A key as a limiter stores it: a keyed hash, no personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(u64);

impl FailureLimiter {
    pub fn new(max_failures: u32, window: Duration) -> FailureLimiter {
        FailureLimiter::with_capacity(max_failures, window, DEFAULT_CAPACITY)
    }

    pub fn with_capacity(max_failures: u32, window: Duration, capacity: usize) -> FailureLimiter {
        FailureLimiter {
            max_failures,
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            capacity: capacity.max(1),
            hasher: RandomState::new(),
            epoch: Instant::now(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The stored form of `key`.
    pub fn key(&self, key: impl Hash) -> Key {
        Key(self.hasher.hash_one(key))
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds left in a blocked entry's window, if it is blocked at `now`.
    fn wait(&self, entry: &Entry, now: u64) -> Option<u64> {
        let elapsed = now.saturating_sub(entry.start_ms);
        (entry.count >= self.max_failures && elapsed < self.window_ms)
            .then(|| (self.window_ms - elapsed).div_ceil(1000).max(1))
    }

    /// `Some(seconds to wait)` when `key` is blocked.
    pub fn blocked(&self, key: Key) -> Option<u64> {
        let now = self.now_ms();
        self.lock().get(&key.0).and_then(|e| self.wait(e, now))
    }

    /// Counts an attempt before it is judged: `Some(seconds to wait)` when `key` is
    /// blocked (nothing counted, nothing stored).
    pub fn charge(&self, key: Key) -> Option<u64> {
        let now = self.now_ms();
        let mut entries = self.lock();
        if let Some(entry) = entries.get_mut(&key.0) {
            if now.saturating_sub(entry.start_ms) >= self.window_ms {
                *entry = Entry {
                    start_ms: now,
                    count: 0,
                };
            }
            if let Some(wait) = self.wait(entry, now) {
                return Some(wait);
            }
            entry.count += 1;
            return None;
        }
        if self.max_failures == 0 {
            return Some(self.window_ms.div_ceil(1000).max(1));
        }
        if entries.len() >= self.capacity {
            self.make_room(&mut entries, now);
        }
        entries.insert(
            key.0,
            Entry {
                start_ms: now,
                count: 1,
            },
        );
        None
    }

    /// Drops expired entries; if that is not enough, the oldest eighth.
    fn make_room(&self, entries: &mut HashMap<u64, Entry>, now: u64) {
        let window = self.window_ms;
        entries.retain(|_, e| now.saturating_sub(e.start_ms) < window);
        if entries.len() < self.capacity {
            return;
        }
        let mut starts: Vec<u64> = entries.values().map(|e| e.start_ms).collect();
        let oldest = (self.capacity / 8).clamp(1, starts.len());
        let (_, cutoff, _) = starts.select_nth_unstable(oldest - 1);
        let cutoff = *cutoff;
        drop(starts);
        // Exactly `oldest` entries of age ≥ the cutoff's go (ties broken arbitrarily).
        let mut to_remove = oldest;
        entries.retain(|_, e| {
            let goes = to_remove > 0 && e.start_ms <= cutoff;
            to_remove -= usize::from(goes);
            !goes
        });
    }

    /// Gives back one attempt counted by [`FailureLimiter::charge`].
    pub fn refund(&self, key: Key) {
        if let Some(entry) = self.lock().get_mut(&key.0) {
            entry.count = entry.count.saturating_sub(1);
        }
    }

    /// Forgets every failure of `key`.
    pub fn forget(&self, key: Key) {
        self.lock().remove(&key.0);
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Two brakes: one per account key (an (e-mail, address) pair at login, a user at the
/// scan), one per client address.
pub struct Brakes {
    pub per_account: FailureLimiter,
    pub per_address: FailureLimiter,
}

/// What one attempt was charged to, to give it back or clear it.
#[derive(Debug, Clone, Copy)]
pub struct Charged {
    account: Key,
    address: Key,
}

impl Brakes {
    /// Charges an attempt to the address, then to the account; or says how long to
    /// wait (nothing stays charged). An address at its ceiling is refused before the
    /// account is looked at, so it adds no entry.
    pub fn charge(&self, account: impl Hash, address: Option<IpAddr>) -> Result<Charged, ApiError> {
        let charged = Charged {
            account: self.per_account.key(account),
            address: self.per_address.key(address.map(address_block)),
        };
        if let Some(wait) = self.per_address.charge(charged.address) {
            return Err(ApiError::too_many_attempts(wait));
        }
        if let Some(wait) = self.per_account.charge(charged.account) {
            self.per_address.refund(charged.address);
            return Err(ApiError::too_many_attempts(wait));
        }
        Ok(charged)
    }

    /// The attempt was not a failure: give it back to both.
    pub fn refund(&self, charged: &Charged) {
        self.per_account.refund(charged.account);
        self.per_address.refund(charged.address);
    }

    /// The attempt succeeded (a login): the account's failures are forgotten and the
    /// attempt is given back to the address.
    pub fn clear(&self, charged: &Charged) {
        self.per_account.forget(charged.account);
        self.per_address.refund(charged.address);
    }
}

/// The block an address is counted by: an IPv4 address alone, an IPv6 address by its
/// /64 prefix (one subscriber's network: a client that owns a /64 could otherwise
/// step around the per-address ceiling with every new address).
pub fn address_block(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
    }
}

/// The account key of a login: the e-mail as typed (trimmed, lower case) with the
/// client's address.
pub fn login_account(email: &str, address: Option<IpAddr>) -> (String, Option<IpAddr>) {
    (email.trim().to_lowercase(), address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_are_counted_by_their_64_prefix() {
        let brakes = Brakes {
            per_account: FailureLimiter::new(100, Duration::from_secs(60)),
            per_address: FailureLimiter::new(3, Duration::from_secs(60)),
        };
        // Three addresses of one /64: the ceiling of their block.
        for (i, a) in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9"]
            .iter()
            .enumerate()
        {
            assert!(brakes.charge(("e", i), ip(a)).is_ok());
        }
        assert!(brakes.charge("e4", ip("2001:db8:1:2::77")).is_err());
        // Another /64, and IPv4 addresses, each on their own.
        assert!(brakes.charge("e5", ip("2001:db8:1:3::1")).is_ok());
        assert_eq!(
            address_block("192.0.2.7".parse().unwrap()),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn login(max_pair: u32, max_address: u32) -> Brakes {
        Brakes {
            per_account: FailureLimiter::new(max_pair, Duration::from_secs(60)),
            per_address: FailureLimiter::new(max_address, Duration::from_secs(60)),
        }
    }

    fn attempt(b: &Brakes, email: &str, addr: Option<IpAddr>) -> Result<Charged, String> {
        b.charge(login_account(email, addr), addr)
            .map_err(|e| e.code().to_string())
    }

    #[test]
    fn attempts_are_charged_before_they_are_judged() {
        let b = login(3, 5);
        let a = ip("192.0.2.1");
        // Three attempts in flight at once: the fourth is refused before any answer.
        let first = attempt(&b, "a@x.org", a).unwrap();
        for _ in 0..2 {
            attempt(&b, "a@x.org", a).unwrap();
        }
        assert_eq!(attempt(&b, " A@X.org", a).unwrap_err(), "too_many_attempts");
        // Good attempts are given back.
        b.refund(&first);
        attempt(&b, "a@x.org", a).unwrap();
        // A refused attempt is not charged to the address: it holds three, then five.
        attempt(&b, "b@x.org", a).unwrap();
        attempt(&b, "c@x.org", a).unwrap();
        assert_eq!(attempt(&b, "d@x.org", a).unwrap_err(), "too_many_attempts");
    }

    #[test]
    fn a_locked_pair_does_not_lock_the_same_email_elsewhere() {
        let b = login(3, 30);
        for _ in 0..3 {
            attempt(&b, "victim@x.org", ip("203.0.113.66")).unwrap();
        }
        assert!(attempt(&b, "victim@x.org", ip("203.0.113.66")).is_err());
        attempt(&b, "victim@x.org", ip("198.51.100.10")).unwrap();
    }

    #[test]
    fn the_address_ceiling_stores_no_new_pair() {
        let b = login(5, 30);
        let a = ip("203.0.113.66");
        for i in 0..30 {
            attempt(&b, &format!("u{i}@x.org"), a).unwrap();
        }
        for i in 30..1000 {
            assert!(attempt(&b, &format!("u{i}@x.org"), a).is_err());
        }
        assert_eq!(b.per_account.len(), 30);
        assert_eq!(b.per_address.len(), 1);
    }

    #[test]
    fn success_clears_the_pair() {
        let b = login(3, 30);
        let a = ip("192.0.2.1");
        attempt(&b, "a@x.org", a).unwrap();
        let good = attempt(&b, "a@x.org", a).unwrap();
        b.clear(&good);
        for _ in 0..3 {
            attempt(&b, "a@x.org", a).unwrap();
        }
    }

    #[test]
    fn a_window_ends() {
        let short = FailureLimiter::new(1, Duration::from_millis(30));
        let k = short.key("x");
        assert!(short.charge(k).is_none());
        assert!(short.charge(k).is_some());
        assert!(short.blocked(k).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(short.blocked(k).is_none());
        assert!(short.charge(k).is_none());
        short.forget(k);
        assert!(short.is_empty());
    }

    #[test]
    fn capacity_is_a_hard_bound_and_keeps_the_newest() {
        let limiter = FailureLimiter::with_capacity(3, Duration::from_secs(600), 1000);
        let recent = limiter.key("recent");
        for i in 0..10_000u32 {
            assert!(limiter.charge(limiter.key(i)).is_none());
            assert!(limiter.len() <= 1000);
        }
        for _ in 0..3 {
            limiter.charge(recent);
        }
        assert!(limiter.blocked(recent).is_some());
        // The locked key is among the newest: it survives the next evictions.
        for i in 10_000..10_100u32 {
            limiter.charge(limiter.key(i));
        }
        assert!(limiter.blocked(recent).is_some());
    }

    #[test]
    fn eviction_removes_an_eighth_even_when_every_entry_has_the_same_age() {
        let limiter = FailureLimiter::with_capacity(3, Duration::from_secs(600), 800);
        let mut entries = limiter.lock();
        for k in 0..800u64 {
            entries.insert(
                k,
                Entry {
                    start_ms: 7,
                    count: 1,
                },
            );
        }
        limiter.make_room(&mut entries, 8);
        assert_eq!(entries.len(), 700);
    }

    #[test]
    fn expired_entries_go_first() {
        let limiter = FailureLimiter::with_capacity(1, Duration::from_millis(20), 100);
        for i in 0..100u32 {
            limiter.charge(limiter.key(i));
        }
        std::thread::sleep(Duration::from_millis(30));
        limiter.charge(limiter.key("new"));
        assert_eq!(limiter.len(), 1);
    }
}
