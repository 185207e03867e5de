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
//! **Strangers' reads.** Each accepted connection's stream also carries a read limit
//! ([`ReadLimit`]), open while the handshake runs. Once the guard has admitted the connection,
//! a stranger's is limited to `network.stranger_read_burst` bytes at once and
//! `network.stranger_read_rate` a second after that (a known member's stays open, and is
//! opened when a stranger becomes known). A stranger who pushes megabytes of requests the node
//! will refuse (the budgets refuse them from their first bytes, but the bytes still arrive and
//! must be decrypted to reach the connection's other streams) makes the node do that work at
//! the rate, not as fast as it can send; its requests back up in its own send buffers. A
//! single request of the largest size (256 KiB) always fits the burst.
//!
//! Pacing only stops *polling* the wrapped transport, so the listener's other events (new or
//! expired addresses, a closed listener) are delayed with the connections, by at most one
//! token's refill.

use std::{
    collections::HashMap,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering},
        Arc, Mutex, Weak,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::{AsyncRead, AsyncWrite, Future};

use crate::guard::{ip_key, range_of};
use crate::share::{Range, Seat, SharedReads};
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
    /// Where the guard finds each accepted connection's read limit.
    reads: Arc<ReadLimits>,
}

impl<T> Paced<T> {
    pub(crate) fn new(
        inner: T,
        limits: PaceLimits,
        pauses: Arc<AtomicU64>,
        reads: Arc<ReadLimits>,
    ) -> Self {
        Paced {
            inner,
            limits,
            tokens: f64::from(limits.burst),
            at: Instant::now(),
            wait: None,
            pauses,
            reads,
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

impl<T> Transport for Paced<T>
where
    T: Transport + Unpin,
    T::ListenerUpgrade: Unpin,
    T::Dial: Unpin,
{
    type Output = Throttled<T::Output>;
    type Error = T::Error;
    type ListenerUpgrade = WithLimit<T::ListenerUpgrade>;
    type Dial = WithLimit<T::Dial>;

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
        // Our own dials are never limited.
        self.inner
            .dial(addr, opts)
            .map(|inner| WithLimit { inner, limit: None })
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
                let reads = &this.reads;
                let event = match event {
                    TransportEvent::Incoming {
                        listener_id,
                        upgrade,
                        local_addr,
                        send_back_addr,
                    } => TransportEvent::Incoming {
                        listener_id,
                        upgrade: WithLimit {
                            inner: upgrade,
                            limit: Some(reads.register(send_back_addr.clone())),
                        },
                        local_addr,
                        send_back_addr,
                    },
                    other => other.map_upgrade(|inner| WithLimit { inner, limit: None }),
                };
                Poll::Ready(event)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The read limit of one accepted connection, shared by its stream and the guard: open (no
/// limit) until the guard limits it.
#[derive(Debug, Default)]
pub(crate) struct ReadLimit {
    /// Bytes a second; 0: no limit.
    rate: AtomicU32,
    /// Bytes at once after a quiet spell.
    burst: AtomicU32,
    /// The total all limited connections draw on, and the range this one's bytes count
    /// under there ([`crate::share`]); none: only its own limit applies.
    shared: Option<(Arc<SharedReads>, Range)>,
}

impl ReadLimit {
    /// Limits the connection's reads to `burst` bytes at once and `rate` a second.
    pub(crate) fn limit(&self, rate: u32, burst: u32) {
        self.burst.store(burst.max(1), Ordering::Relaxed);
        self.rate.store(rate.max(1), Ordering::Relaxed);
    }

    /// Lifts the limit.
    pub(crate) fn open(&self) {
        self.rate.store(0, Ordering::Relaxed);
    }

    /// Whether the connection's reads are limited now.
    #[cfg(test)]
    pub(crate) fn is_limited(&self) -> bool {
        self.rate.load(Ordering::Relaxed) != 0
    }
}

/// The read limits of accepted connections not yet claimed by the guard, by the address the
/// connection came from. Entries hold weak references: a connection refused before the guard
/// saw it established leaves a dead entry, dropped at the next sweep (when the table has
/// doubled since the last one), so the table holds at most about twice the connections alive.
#[derive(Debug, Default)]
pub(crate) struct ReadLimits {
    inner: Mutex<LimitTable>,
    /// What strangers' connections draw on together (none: no total).
    shared: Option<Arc<SharedReads>>,
}

#[derive(Debug, Default)]
struct LimitTable {
    by_addr: HashMap<Multiaddr, Weak<ReadLimit>>,
    /// Entries left after the last sweep.
    swept: usize,
}

impl ReadLimits {
    /// A table whose limited connections also draw on `shared`, for all of them together.
    pub(crate) fn with_total(shared: Arc<SharedReads>) -> Self {
        ReadLimits {
            inner: Mutex::default(),
            shared: Some(shared),
        }
    }

    /// The total limited connections draw on, if any.
    pub(crate) fn shared(&self) -> Option<&Arc<SharedReads>> {
        self.shared.as_ref()
    }

    pub(crate) fn register(&self, addr: Multiaddr) -> Arc<ReadLimit> {
        let limit = Arc::new(ReadLimit {
            shared: self
                .shared
                .as_ref()
                .map(|s| (s.clone(), ip_key(&addr).map(range_of))),
            ..ReadLimit::default()
        });
        let Ok(mut t) = self.inner.lock() else {
            return limit; // poisoned: the connection goes unlimited, as before this existed
        };
        if t.by_addr.len() >= (2 * t.swept).max(256) {
            t.by_addr.retain(|_, l| l.strong_count() > 0);
            t.swept = t.by_addr.len();
        }
        t.by_addr.insert(addr, Arc::downgrade(&limit));
        limit
    }

    /// The read limit of the connection accepted from `addr`, if it is still alive.
    pub(crate) fn claim(&self, addr: &Multiaddr) -> Option<Arc<ReadLimit>> {
        self.inner.lock().ok()?.by_addr.remove(addr)?.upgrade()
    }
}

/// A connection being set up, whose stream will carry `limit` (none: never limited).
pub(crate) struct WithLimit<F> {
    inner: F,
    limit: Option<Arc<ReadLimit>>,
}

impl<F, O, E> Future for WithLimit<F>
where
    F: Future<Output = Result<O, E>> + Unpin,
{
    type Output = Result<Throttled<O>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.inner).poll(cx) {
            Poll::Ready(Ok(stream)) => Poll::Ready(Ok(Throttled::new(stream, self.limit.take()))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A stream whose reads follow its [`ReadLimit`] (a token bucket of bytes) and, while limited,
/// the total of all limited streams ([`crate::share`]).
pub(crate) struct Throttled<S> {
    inner: S,
    limit: Option<Arc<ReadLimit>>,
    /// Bytes left at `at`; `None` until the first limited read (the bucket starts full).
    tokens: Option<f64>,
    at: Instant,
    wait: Option<Delay>,
    /// Its place in the total's turns (taken at the first limited read).
    seat: Option<Seat>,
}

impl<S> Throttled<S> {
    fn new(inner: S, limit: Option<Arc<ReadLimit>>) -> Self {
        Throttled {
            inner,
            limit,
            tokens: None,
            at: Instant::now(),
            wait: None,
            seat: None,
        }
    }

    /// Takes the stream out of the total's turns (it is no longer limited, or closed).
    fn leave_turns(&mut self) {
        if let (Some(seat), Some((shared, _))) = (
            self.seat.as_mut(),
            self.limit.as_ref().and_then(|l| l.shared.as_ref()),
        ) {
            shared.leave(seat);
        }
    }

    /// Of `want` bytes (what its own limit allows and the buffer holds), how many the total
    /// allows now, taken from it; or `Pending` until the stream's turn (see [`crate::share`]).
    fn total_allows(&mut self, want: usize, cx: &mut Context<'_>) -> Poll<usize> {
        let Some((shared, range)) = self.limit.as_ref().and_then(|l| l.shared.as_ref()) else {
            return Poll::Ready(want);
        };
        let seat = self.seat.get_or_insert_with(|| shared.seat(*range));
        shared.poll_turn(seat, want, cx)
    }

    /// Gives back to the total what was allowed and not read.
    fn refund(&self, n: usize) {
        if let Some((shared, _)) = self.limit.as_ref().and_then(|l| l.shared.as_ref()) {
            shared.refund(n);
        }
    }
    /// How many bytes may be read now (`None`: no limit), or `Pending` with a wake-up set.
    ///
    /// Once the burst is spent, reading waits until an eighth of a second's worth has come
    /// back (or the whole burst, if smaller), not a single byte: a stranger pushing as fast as
    /// it can then costs at most about eight wake-ups a second, not one per byte.
    fn allowance(&mut self, cx: &mut Context<'_>) -> Poll<Option<usize>> {
        let Some(limit) = &self.limit else {
            return Poll::Ready(None);
        };
        let rate = limit.rate.load(Ordering::Relaxed);
        if rate == 0 {
            self.tokens = None;
            self.wait = None;
            self.leave_turns();
            return Poll::Ready(None);
        }
        let burst = f64::from(limit.burst.load(Ordering::Relaxed).max(1));
        let rate = f64::from(rate);
        let chunk = (rate / 8.0).clamp(1.0, burst);
        let now = Instant::now();
        let level = match self.tokens {
            None => burst,
            Some(t) => (t + now.saturating_duration_since(self.at).as_secs_f64() * rate).min(burst),
        };
        self.tokens = Some(level);
        self.at = now;
        // A stream that has tokens left reads them; one that ran dry waits for a chunk.
        let dry = self.wait.is_some() || level < 1.0;
        if !dry || level >= chunk {
            self.wait = None;
            return Poll::Ready(Some(level.max(1.0) as usize));
        }
        let next = Duration::from_secs_f64((chunk - level) / rate);
        let wait = self.wait.get_or_insert_with(|| Delay::new(next));
        match Pin::new(wait).poll(cx) {
            Poll::Ready(()) => {
                // The timer may fire a little early: read what has come back (at least a byte)
                // rather than wait again for the rest.
                self.wait = None;
                Poll::Ready(Some(level.max(1.0) as usize))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Throttled<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let allowed = match this.allowance(cx) {
            Poll::Ready(Some(own)) => match this.total_allows(own.min(buf.len()), cx) {
                Poll::Ready(a) => Some(a),
                Poll::Pending => return Poll::Pending,
            },
            Poll::Ready(None) => None,
            Poll::Pending => return Poll::Pending,
        };
        let len = allowed.map_or(buf.len(), |a| a.min(buf.len()));
        let read = Pin::new(&mut this.inner).poll_read(cx, &mut buf[..len]);
        if let Some(allowed) = allowed {
            let n = match &read {
                Poll::Ready(Ok(n)) => *n,
                _ => 0,
            };
            if let Some(t) = this.tokens.as_mut() {
                *t -= n as f64;
            }
            this.refund(allowed.saturating_sub(n));
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Throttled<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl<S> Drop for Throttled<S> {
    fn drop(&mut self) {
        // A closed connection waiting for its turn hands the turn on.
        self.leave_turns();
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
        let reads = Arc::new(ReadLimits::default());
        (
            Paced::new(MemoryTransport::default(), limits, pauses.clone(), reads),
            pauses,
        )
    }

    type Event = TransportEvent<
        <Paced<MemoryTransport> as Transport>::ListenerUpgrade,
        <MemoryTransport as Transport>::Error,
    >;

    /// The next event of `t` if one is ready now (polled with a no-op waker).
    fn ready_event(t: &mut Paced<MemoryTransport>) -> Option<Event> {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        match Pin::new(t).poll(&mut cx) {
            Poll::Ready(e) => Some(e),
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

    /// A stream whose other end has `n` bytes waiting.
    fn stream_with(n: usize) -> Throttled<futures::io::Cursor<Vec<u8>>> {
        Throttled::new(
            futures::io::Cursor::new(vec![7u8; n]),
            Some(Arc::new(ReadLimit::default())),
        )
    }

    fn read_now(s: &mut Throttled<futures::io::Cursor<Vec<u8>>>, buf: &mut [u8]) -> Option<usize> {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        match Pin::new(s).poll_read(&mut cx, buf) {
            Poll::Ready(r) => Some(r.unwrap()),
            Poll::Pending => None,
        }
    }

    #[test]
    fn an_open_stream_reads_everything_a_limited_one_its_burst_then_waits() {
        let mut buf = vec![0u8; 10_000];
        // Open (the handshake, a known member): all that is there.
        let mut s = stream_with(10_000);
        assert_eq!(read_now(&mut s, &mut buf), Some(10_000));

        // A stranger's: the burst, then nothing until tokens come back (1 byte a second here,
        // so not within this test).
        let mut s = stream_with(10_000);
        let limit = s.limit.clone().unwrap();
        limit.limit(1, 4_096);
        assert!(limit.is_limited());
        assert_eq!(read_now(&mut s, &mut buf), Some(4_096));
        assert_eq!(read_now(&mut s, &mut buf), None, "the burst is spent");

        // Known after all: the limit is lifted and the rest flows at once.
        limit.open();
        assert!(!limit.is_limited());
        assert_eq!(read_now(&mut s, &mut buf), Some(10_000 - 4_096));
    }

    #[test]
    fn accepted_connections_are_registered_for_the_guard_and_dead_entries_swept() {
        let reads = ReadLimits::default();
        let addr = |i: u16| {
            Multiaddr::empty()
                .with(Protocol::Ip4([127, 0, 0, 2].into()))
                .with(Protocol::Tcp(i))
        };
        let kept = reads.register(addr(1));
        assert!(Arc::ptr_eq(&reads.claim(&addr(1)).unwrap(), &kept));
        assert!(reads.claim(&addr(1)).is_none(), "claimed once");
        // Connections refused before the guard saw them leave dead entries: swept, so the
        // table stays near the number alive.
        let mut alive = Vec::new();
        for i in 0..2_000u16 {
            let l = reads.register(addr(i));
            if i % 100 == 0 {
                alive.push(l);
            }
        }
        let len = reads.inner.lock().unwrap().by_addr.len();
        assert!(len < 600, "{len} entries for 20 alive");
        assert!(
            reads.claim(&addr(1_900)).is_some(),
            "a live one is still there"
        );
        assert!(
            reads.claim(&addr(1_901)).is_none(),
            "a dead one is gone or dead"
        );
    }

    #[test]
    fn a_dry_stream_waits_for_a_chunk_not_for_each_byte() {
        let mut buf = vec![0u8; 100_000];
        let mut s = stream_with(100_000);
        s.limit.clone().unwrap().limit(8_000, 4_096); // chunks of 1,000 bytes
        assert_eq!(read_now(&mut s, &mut buf), Some(4_096));
        assert_eq!(read_now(&mut s, &mut buf), None, "dry: a wake-up is set");
        assert!(s.wait.is_some());
        // 80 bytes have come back: not a chunk yet, so still waiting.
        s.tokens = Some(0.0);
        s.at = Instant::now() - Duration::from_millis(10);
        assert_eq!(read_now(&mut s, &mut buf), None);
        // Well over a chunk: read it all at once.
        s.at -= Duration::from_millis(250);
        let n = read_now(&mut s, &mut buf).unwrap();
        assert!((2_000..=4_096).contains(&n), "{n}");
    }
}
