//! Who gets a connection slot while the TLS handshake is still unfinished.
//!
//! A connection holds one of [`Limits::max_connections`](super::Limits) slots from the
//! moment it is accepted, handshake included: before the handshake nothing is known of the
//! client, so anyone who can reach the port can take slots by opening connections and
//! sending nothing (a "slowloris"), each for up to the handshake timeout, and keep every
//! real client out. Two rules bound what such a peer can take:
//!
//! - **Per address**: at most [`Limits::max_handshakes_per_address`](super::Limits)
//!   connections from one client address may be in their handshake at once; more are
//!   closed as soon as they are accepted. An IPv6 client counts by its /64 prefix (one
//!   host is routinely given a whole /64), an IPv4-mapped IPv6 address as the IPv4 one.
//!   Authenticated connections do not count: a client may hold as many as it likes.
//! - **The oldest stalled handshake gives way**: when every slot is taken, a new connection
//!   takes the slot of the connection whose handshake has run longest, if that one has
//!   already run longer than [`EVICTABLE_AFTER`] (a real handshake takes milliseconds). A
//!   peer that stalls handshakes from many addresses then only holds slots until real
//!   clients arrive, instead of for the whole handshake timeout. When every slot holds an
//!   authenticated client or a young handshake, the new connection is refused as before.
//!
//! Once the handshake has named the client's principal, one more rule may apply:
//! [`Limits::max_connections_per_principal`](super::Limits) bounds the connections one
//! principal holds at once ([`PerPrincipal`]), so that one client (a runaway process, a
//! stolen certificate) cannot take every slot from the others. Off unless configured:
//! many deployments give a whole fleet of database servers one certificate.
//!
//! The bookkeeping is small maps under mutexes, touched twice per connection (at accept and
//! when the handshake ends; when the principal is known and when the connection ends); no
//! lock is held across an await.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How long a handshake must have run before a new connection may take its slot when the
/// server is full.
pub(super) const EVICTABLE_AFTER: Duration = Duration::from_secs(1);

/// The part of a client's address that [`Admission`] counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AddressKey {
    V4(u32),
    /// The /64 prefix.
    V6(u64),
}

impl From<IpAddr> for AddressKey {
    fn from(ip: IpAddr) -> AddressKey {
        match ip {
            IpAddr::V4(v4) => AddressKey::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey::V4(v4.into()),
                None => AddressKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// The handshakes under way, by address and by age.
#[derive(Debug)]
pub(super) struct Admission {
    max_per_address: usize,
    evictable_after: Duration,
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    next_id: u64,
    by_address: HashMap<AddressKey, usize>,
    /// Ids grow with time, so the first entry is the oldest handshake.
    by_age: BTreeMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    since: Instant,
    evict: oneshot::Sender<()>,
}

/// Why a connection was not let in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TooManyFromAddress;

/// Why an authenticated connection was not let in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TooManyForPrincipal;

/// The connections each principal holds, under `max_connections_per_principal`.
#[derive(Debug)]
pub(super) struct PerPrincipal {
    max: Option<usize>,
    held: Mutex<HashMap<String, usize>>,
}

/// One connection's place under its principal's cap; dropping it gives the place back.
#[derive(Debug)]
pub(super) struct PrincipalSlot {
    registry: Arc<PerPrincipal>,
    principal: String,
}

impl PerPrincipal {
    pub(super) fn new(max: Option<usize>) -> PerPrincipal {
        PerPrincipal {
            max,
            held: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for one more connection of `principal`, unless it holds the most it may;
    /// `None` (nothing to give back) when there is no cap.
    pub(super) fn enter(
        self: &Arc<Self>,
        principal: &str,
    ) -> Result<Option<PrincipalSlot>, TooManyForPrincipal> {
        let Some(max) = self.max else {
            return Ok(None);
        };
        let mut held = self.lock();
        let count = held.entry(principal.to_owned()).or_default();
        if *count >= max {
            return Err(TooManyForPrincipal);
        }
        *count += 1;
        Ok(Some(PrincipalSlot {
            registry: self.clone(),
            principal: principal.to_owned(),
        }))
    }
}

impl Drop for PrincipalSlot {
    fn drop(&mut self) {
        let mut held = self.registry.lock();
        if let Some(count) = held.get_mut(&self.principal) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.principal);
            }
        }
    }
}

impl Admission {
    pub(super) fn new(max_per_address: usize) -> Admission {
        Admission::with_evictable_after(max_per_address, EVICTABLE_AFTER)
    }

    fn with_evictable_after(max_per_address: usize, evictable_after: Duration) -> Admission {
        Admission {
            max_per_address,
            evictable_after,
            pending: Mutex::new(Pending::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // The map stays consistent whatever panicked while holding it: every update is a
        // single insert or remove.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the handshake of a connection from `ip` accepted at `now`, unless its
    /// address already has the most handshakes under way it may have.
    pub(super) fn begin(
        self: &Arc<Self>,
        ip: IpAddr,
        now: Instant,
    ) -> Result<Handshaking, TooManyFromAddress> {
        let address = AddressKey::from(ip);
        let mut pending = self.lock();
        let count = pending.by_address.entry(address).or_default();
        if *count >= self.max_per_address {
            return Err(TooManyFromAddress);
        }
        *count += 1;
        let id = pending.next_id;
        pending.next_id += 1;
        let (evict, evicted) = oneshot::channel();
        pending.by_age.insert(id, Entry { since: now, evict });
        Ok(Handshaking {
            admission: self.clone(),
            id,
            address,
            evicted: Some(evicted),
        })
    }

    /// Tells the oldest handshake to give up its slot, if it has run longer than
    /// [`EVICTABLE_AFTER`] at `now`; whether one was told. It gives the slot back when its
    /// task next runs (at once, unless its handshake finished meanwhile and it is now an
    /// authenticated connection, which keeps its slot).
    pub(super) fn evict_oldest(&self, now: Instant) -> bool {
        let mut pending = self.lock();
        let Some(entry) = pending.by_age.first_entry() else {
            return false;
        };
        if now.saturating_duration_since(entry.get().since) < self.evictable_after {
            return false;
        }
        entry.remove().evict.send(()).is_ok()
    }

    /// Handshakes under way (for tests).
    #[cfg(test)]
    fn handshakes(&self) -> usize {
        self.lock().by_address.values().sum()
    }
}

/// One connection's handshake under way; dropping it ends the handshake's count.
#[derive(Debug)]
pub(super) struct Handshaking {
    admission: Arc<Admission>,
    id: u64,
    address: AddressKey,
    evicted: Option<oneshot::Receiver<()>>,
}

impl Handshaking {
    /// Resolves when a new connection has taken this one's slot ([`Admission::evict_oldest`]);
    /// never otherwise.
    pub(super) async fn evicted(&mut self) {
        if let Some(evicted) = self.evicted.as_mut() {
            let told = evicted.await.is_ok();
            self.evicted = None;
            if told {
                return;
            }
        }
        std::future::pending::<()>().await;
    }
}

impl Drop for Handshaking {
    fn drop(&mut self) {
        let mut pending = self.admission.lock();
        pending.by_age.remove(&self.id);
        if let Some(count) = pending.by_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                pending.by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn handshakes_per_address_are_capped_and_counted_back() {
        let admission = Arc::new(Admission::new(2));
        let now = Instant::now();
        let a1 = admission.begin(v4(1), now).unwrap();
        let a2 = admission.begin(v4(1), now).unwrap();
        assert_eq!(admission.begin(v4(1), now).unwrap_err(), TooManyFromAddress);
        // Another address is counted on its own.
        let b1 = admission.begin(v4(2), now).unwrap();
        assert_eq!(admission.handshakes(), 3);
        drop(a1);
        let a3 = admission.begin(v4(1), now).unwrap();
        assert_eq!(admission.begin(v4(1), now).unwrap_err(), TooManyFromAddress);
        drop((a2, a3, b1));
        assert_eq!(admission.handshakes(), 0);
        assert!(admission.lock().by_address.is_empty());
        assert!(admission.lock().by_age.is_empty());
    }

    #[test]
    fn ipv6_counts_by_its_64_prefix_and_mapped_ipv4_as_ipv4() {
        let admission = Arc::new(Admission::new(1));
        let now = Instant::now();
        let host = |suffix: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 7, 0, 0, 0, suffix));
        let _first = admission.begin(host(1), now).unwrap();
        assert!(admission.begin(host(2), now).is_err(), "same /64");
        let other_prefix = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 8, 0, 0, 0, 1));
        let _other = admission.begin(other_prefix, now).unwrap();

        let _v4 = admission.begin(v4(9), now).unwrap();
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 9).to_ipv6_mapped());
        assert!(admission.begin(mapped, now).is_err(), "the same IPv4 host");
    }

    #[tokio::test]
    async fn only_a_handshake_older_than_the_threshold_is_evicted_oldest_first() {
        let admission = Arc::new(Admission::with_evictable_after(8, Duration::from_secs(1)));
        let t0 = Instant::now();
        let mut old = admission.begin(v4(1), t0).unwrap();
        let mut newer = admission
            .begin(v4(2), t0 + Duration::from_millis(500))
            .unwrap();

        assert!(
            !admission.evict_oldest(t0 + Duration::from_millis(900)),
            "too young"
        );
        assert!(admission.evict_oldest(t0 + Duration::from_millis(1_100)));
        tokio::time::timeout(Duration::from_secs(5), old.evicted())
            .await
            .expect("the oldest is told");
        // The newer one is 600 ms old: it stays.
        assert!(!admission.evict_oldest(t0 + Duration::from_millis(1_100)));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), newer.evicted())
                .await
                .is_err()
        );
        // The evicted one still counts for its address until its task drops it.
        assert_eq!(admission.handshakes(), 2);
        drop(old);
        assert_eq!(admission.handshakes(), 1);
        assert!(admission.evict_oldest(t0 + Duration::from_secs(2)));
        tokio::time::timeout(Duration::from_secs(5), newer.evicted())
            .await
            .expect("then the next oldest");
        assert!(
            !admission.evict_oldest(t0 + Duration::from_secs(60)),
            "none left"
        );
    }

    #[test]
    fn each_principal_holds_at_most_its_cap() {
        let uncapped = Arc::new(PerPrincipal::new(None));
        let many: Vec<_> = (0..1000)
            .map(|_| uncapped.enter("fleet").unwrap())
            .collect();
        assert!(many.iter().all(Option::is_none));

        let capped = Arc::new(PerPrincipal::new(Some(2)));
        let a1 = capped.enter("a").unwrap();
        let a2 = capped.enter("a").unwrap();
        assert_eq!(capped.enter("a").unwrap_err(), TooManyForPrincipal);
        let b1 = capped.enter("b").unwrap();
        drop(a1);
        let a3 = capped.enter("a").unwrap();
        assert!(capped.enter("a").is_err());
        drop((a2, a3, b1));
        assert!(capped.lock().is_empty());
    }

    #[tokio::test]
    async fn a_finished_handshake_is_never_evicted() {
        let admission = Arc::new(Admission::with_evictable_after(8, Duration::ZERO));
        let t0 = Instant::now();
        let done = admission.begin(v4(1), t0).unwrap();
        drop(done);
        assert!(!admission.evict_oldest(t0 + Duration::from_secs(5)));
        // A guard that was never evicted waits forever, also after its sender is gone.
        let mut waiting = admission.begin(v4(1), t0).unwrap();
        admission.lock().by_age.clear();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), waiting.evicted())
                .await
                .is_err()
        );
    }
}
