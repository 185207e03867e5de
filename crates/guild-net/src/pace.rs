//! Accept pacing: the node takes inbound TCP connections off its listeners at most
//! `network.accept_burst` at once and `network.accepts_per_second` after that.
//!
//! Every inbound connection costs the node work before anything is known about the peer: the
//! accept, the guard's checks, and either a refusal (about 0.2 ms of this node's CPU on the
//! attack bench, most of it the kernel's and the wake-ups') or a Noise handshake (about 1 ms).
//! The per-address buckets of [`crate::guard`] bound what one address may start, but a flood
//! from many addresses — a dozen loopback aliases, a botnet, a /64 — still makes the node do
//! that work as fast as the connections arrive, and while it does, the members already
//! connected wait for their requests to be served (`BENCHMARKS.md`, "Floods from strangers").
//!
//! So the listeners are polled only while a token bucket has a token: past the burst, the
//! connections wait in the kernel's accept queue (the listen backlog) and are taken in the
//! order they came, at the sustained rate. Nothing is refused here: a newcomer's connection
//! is delayed by at most the queue ahead of it divided by the rate, and once taken it faces the
//! guard like any other. What a flood costs the node is bounded to the rate times the work of
//! one connection, whatever the number of addresses. Outbound dials (the mesh reaching known
//! members) and the connections already established are not paced. Relayed and QUIC
//! connections are not paced (QUIC's handshake runs inside the QUIC endpoint, before any
//! libp2p transport sees the connection).
//!
//! The listen backlog is sized to what the rate takes in two seconds past the burst
//! ([`PaceLimits::backlog`], 160 by default, where libp2p's default is 1,024), so a connection
//! never waits in the queue much longer than that: when the queue is full the kernel drops the
//! new connection's SYN and the dialler retries it a second later.
//!
//! Pacing only stops *polling* the wrapped transport, so the listener's other events (new or
//! expired addresses, a closed listener) are delayed with the connections, by at most one
//! token's refill.

use std::{
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::Future;
use futures_timer::Delay;
use libp2p::{
    core::transport::{DialOpts, ListenerId, TransportError, TransportEvent},
    Multiaddr, Transport,
};

/// Limits of the pacing (from [`crate::NetConfig`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PaceLimits {
    /// Connections taken at once after a quiet spell.
    pub(crate) burst: u32,
    /// Connections taken per second, sustained.
    pub(crate) per_second: u32,
}

impl PaceLimits {
    /// The listen backlog: the burst and two seconds at the sustained rate.
    pub(crate) fn backlog(&self) -> u32 {
        self.burst.saturating_add(self.per_second.saturating_mul(2))
    }
}

/// A transport whose inbound connections are taken at a bounded rate (see the module docs).
pub(crate) struct Paced<T> {
    inner: T,
    limits: PaceLimits,
    /// Tokens left at `at`.
    tokens: f64,
    at: Instant,
    /// Set while out of tokens: fires when the next one is there.
    wait: Option<Delay>,
    /// Times the listeners were held back (shared with the guard's stats).
    pauses: Arc<AtomicU64>,
}

impl<T> Paced<T> {
    pub(crate) fn new(inner: T, limits: PaceLimits, pauses: Arc<AtomicU64>) -> Self {
        Paced {
            inner,
            limits,
            tokens: f64::from(limits.burst),
            at: Instant::now(),
            wait: None,
            pauses,
        }
    }

    /// Tokens at `now` (refilled since `at`, at most the burst).
    fn level(&self, now: Instant) -> f64 {
        let refill = now.saturating_duration_since(self.at).as_secs_f64()
            * f64::from(self.limits.per_second);
        (self.tokens + refill).min(f64::from(self.limits.burst))
    }

    /// `Ready` when a connection may be taken now; otherwise registers the wake-up for the next
    /// token.
    fn poll_token(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let now = Instant::now();
        let level = self.level(now);
        self.tokens = level;
        self.at = now;
        if level >= 1.0 {
            self.wait = None;
            return Poll::Ready(());
        }
        if self.wait.is_none() {
            self.pauses.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                burst = self.limits.burst,
                per_second = self.limits.per_second,
                "inbound connections arrive faster than the accept rate: pacing the listeners"
            );
        }
        let per_second = f64::from(self.limits.per_second.max(1));
        let next = Duration::from_secs_f64((1.0 - level) / per_second);
        let wait = self.wait.get_or_insert_with(|| Delay::new(next));
        match Pin::new(wait).poll(cx) {
            Poll::Ready(()) => {
                // The timer's resolution may fire it a little early: take the token anyway
                // rather than spin on a zero-length wait.
                self.wait = None;
                self.tokens = 1.0;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: Transport + Unpin> Transport for Paced<T> {
    type Output = T::Output;
    type Error = T::Error;
    type ListenerUpgrade = T::ListenerUpgrade;
    type Dial = T::Dial;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        self.inner.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.inner.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        self.inner.dial(addr, opts)
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        let this = self.get_mut();
        if this.poll_token(cx).is_pending() {
            return Poll::Pending;
        }
        match Pin::new(&mut this.inner).poll(cx) {
            Poll::Ready(event) => {
                if event.is_upgrade() {
                    this.tokens -= 1.0;
                }
                Poll::Ready(event)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use libp2p::core::transport::memory::MemoryTransport;
    use libp2p::multiaddr::Protocol;

    fn paced(burst: u32, per_second: u32) -> (Paced<MemoryTransport>, Arc<AtomicU64>) {
        let pauses = Arc::new(AtomicU64::new(0));
        let limits = PaceLimits { burst, per_second };
        (
            Paced::new(MemoryTransport::default(), limits, pauses.clone()),
            pauses,
        )
    }

    /// The next event of `t` if one is ready now (polled with a no-op waker).
    fn ready_event(
        t: &mut Paced<MemoryTransport>,
    ) -> Option<TransportEvent<<MemoryTransport as Transport>::ListenerUpgrade, std::io::Error>>
    {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        match Pin::new(t).poll(&mut cx) {
            Poll::Ready(e) => Some(e.map_err(|e| std::io::Error::other(e.to_string()))),
            Poll::Pending => None,
        }
    }

    #[test]
    fn takes_the_burst_then_holds_the_rest_in_the_queue_until_a_token_comes() {
        let (mut t, pauses) = paced(3, 1);
        let port = 7_000_000 + u64::from(std::process::id() % 1000);
        let addr = Multiaddr::empty().with(Protocol::Memory(port));
        t.listen_on(ListenerId::next(), addr.clone()).unwrap();
        assert!(matches!(
            ready_event(&mut t),
            Some(TransportEvent::NewAddress { .. })
        ));
        // Five connections queue on the listener (a memory dial connects on its first poll).
        let mut dialer = MemoryTransport::default();
        let opts = DialOpts {
            role: libp2p::core::Endpoint::Dialer,
            port_use: libp2p::core::transport::PortUse::New,
        };
        let _channels: Vec<_> = (0..5)
            .map(|_| {
                let dial = dialer.dial(addr.clone(), opts).unwrap();
                dial.now_or_never().expect("connects at once").unwrap()
            })
            .collect();
        let mut taken = 0;
        while let Some(e) = ready_event(&mut t) {
            assert!(e.is_upgrade(), "only connections are queued");
            taken += 1;
        }
        assert_eq!(taken, 3, "the burst is taken at once, the rest wait");
        assert_eq!(pauses.load(Ordering::Relaxed), 1, "one pause counted");
        // Still out of tokens: polling again neither takes one nor counts another pause.
        assert!(ready_event(&mut t).is_none());
        assert_eq!(pauses.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_quiet_spell_refills_to_the_burst_and_no_more() {
        let (mut t, _) = paced(4, 1000);
        t.tokens = 0.0;
        t.at = Instant::now() - Duration::from_secs(60);
        assert_eq!(t.level(Instant::now()), 4.0);
        t.tokens = 0.0;
        let at = Instant::now();
        t.at = at;
        let later = at + Duration::from_millis(2);
        assert!(
            (t.level(later) - 2.0).abs() < 1e-9,
            "1000 a second: 2 in 2 ms"
        );
    }
}
