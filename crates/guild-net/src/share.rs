//! What all strangers' connections together may deliver: one token bucket of bytes shared by
//! every limited stream ([`crate::pace::Throttled`]), handed out in turns when it runs short.
//!
//! Each stranger's connection is already limited on its own (`network.stranger_read_burst` at
//! once, `network.stranger_read_rate` a second), and that bounds what one connection can make
//! the node decrypt. It does not bound what a hundred minted identities can, each sending a
//! few small requests within every one of its budgets: a small request costs the node about
//! 0.45 ms before any budget sees it (a yamux substream, the protocol's negotiation, the
//! decryption, the routing of the request and its refusal — the service's own part is a few
//! percent of that), so 300 of them in a quarter of a second keep it half busy, and the
//! members it serves wait (`BENCHMARKS.md`, "Floods from strangers").
//!
//! So strangers' reads also draw on a total: `network.strangers_total_read_burst` bytes at once
//! and `network.strangers_total_read_rate` a second, for all of them together. While the total
//! has bytes, a stranger's stream reads at once (only its own limit applies). When it runs
//! short, the streams that want to read wait for their turn: **address ranges take turns**
//! (IPv4 /24, IPv6 /48, as the guard counts them), and the connections of one range take
//! turns among themselves, each turn being one grant of at most [`GRANT_SHARE`] of a
//! second's rate. A flood from many connections therefore slows itself, not a newcomer: a
//! newcomer from another range waits for at most one grant per range that is waiting, and one
//! from the same range for one grant per connection ahead of it — never behind the flood's
//! bytes. Only the stream at the head of the turns holds a timer; the others sleep until the
//! turn before theirs hands over, so a hundred waiting connections cost no more wake-ups than
//! one.
//!
//! Known members, our own dials and connections still in their handshake never draw on it.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use futures::Future;
use futures_timer::Delay;

/// One grant while streams take turns: this share of a second's rate (4 KiB at 256 KiB a
/// second), or the whole burst if smaller. Smaller grants serve the turns more evenly and
/// cost more wake-ups: at most `1 / GRANT_SHARE` grants a second, whatever the number of
/// streams waiting.
pub(crate) const GRANT_SHARE: f64 = 1.0 / 64.0;

/// The range a stream's bytes are counted under (`None`: not an IP connection).
pub(crate) type Range = Option<IpAddr>;

/// The total, and the turns (see the module docs).
#[derive(Debug)]
pub(crate) struct SharedReads {
    /// Bytes a second.
    rate: f64,
    /// Bytes at once.
    burst: f64,
    turns: Mutex<Turns>,
    /// Streams given out so far (their seats' ids).
    seats: AtomicU64,
    /// Times a stream had to wait for its turn.
    waits: AtomicU64,
}

#[derive(Debug)]
struct Turns {
    /// Bytes left at `at` (negative after a read larger than what was left: the next grant
    /// waits for it to refill).
    tokens: f64,
    at: Instant,
    /// Ranges with streams waiting, the one whose turn it is first.
    ring: VecDeque<Range>,
    /// The streams waiting in each range, in turn order, with their wakers.
    waiting: HashMap<Range, VecDeque<(u64, Waker)>>,
    /// How many streams wait, in all ranges.
    queued: usize,
}

/// One stream's place in the turns.
#[derive(Debug)]
pub(crate) struct Seat {
    id: u64,
    range: Range,
    /// Waiting for its turn.
    queued: bool,
    /// Set while at the head of the turns: fires when the grant is there.
    wait: Option<Delay>,
}

impl SharedReads {
    /// `rate` bytes a second and `burst` at once, for all strangers together (each at least 1).
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        SharedReads {
            rate: f64::from(rate.max(1)),
            burst,
            turns: Mutex::new(Turns {
                tokens: burst,
                at: Instant::now(),
                ring: VecDeque::new(),
                waiting: HashMap::new(),
                queued: 0,
            }),
            seats: AtomicU64::new(0),
            waits: AtomicU64::new(0),
        }
    }

    /// A seat for a stream whose bytes count under `range`.
    pub(crate) fn seat(&self, range: Range) -> Seat {
        Seat {
            id: self.seats.fetch_add(1, Ordering::Relaxed),
            range,
            queued: false,
            wait: None,
        }
    }

    /// Times a stream had to wait for its turn.
    pub(crate) fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    /// One grant's size.
    fn grant(&self) -> f64 {
        (self.rate * GRANT_SHARE).clamp(1.0, self.burst)
    }

    fn refill(&self, t: &mut Turns, now: Instant) {
        let since = now.saturating_duration_since(t.at).as_secs_f64();
        t.tokens = (t.tokens + since * self.rate).min(self.burst);
        t.at = now;
    }

    /// How many of the `want` bytes `seat`'s stream may read now (at least one), taken from the
    /// total at once so that streams read on other threads meanwhile cannot take them too; or
    /// `Pending` until its turn comes (its waker is kept; the stream at the head also sets a
    /// timer). The caller reads at most that and gives back what it did not read with
    /// [`SharedReads::refund`].
    pub(crate) fn poll_turn(
        &self,
        seat: &mut Seat,
        want: usize,
        cx: &mut Context<'_>,
    ) -> Poll<usize> {
        let want = want.max(1) as f64;
        let Ok(mut guard) = self.turns.lock() else {
            return Poll::Ready(usize::MAX); // poisoned: unlimited, as before this existed
        };
        let t = &mut *guard;
        self.refill(t, Instant::now());
        let grant = self.grant();
        if !seat.queued {
            // Nobody waiting and bytes left: read them (the stream's own limit still applies).
            if t.ring.is_empty() && t.tokens >= 1.0 {
                return Poll::Ready(t.take(want));
            }
            // Streams are waiting, but there is a grant for each of them and one more: no need
            // to queue behind them (they are being woken one by one). Turns are for a total
            // that runs short; without this, streams woken for other reasons (their writes)
            // would keep the turns going while the total is full.
            if t.tokens >= grant * (t.queued + 1) as f64 {
                return Poll::Ready(t.take(want.min(grant)));
            }
            seat.queued = true;
            t.queued += 1;
            self.waits.fetch_add(1, Ordering::Relaxed);
            let queue = t.waiting.entry(seat.range).or_default();
            if queue.is_empty() {
                t.ring.push_back(seat.range);
            }
            queue.push_back((seat.id, cx.waker().clone()));
        } else if let Some(entry) = t
            .waiting
            .get_mut(&seat.range)
            .and_then(|q| q.iter_mut().find(|(id, _)| *id == seat.id))
        {
            entry.1.clone_from(cx.waker());
        }
        if !t.is_head(seat) {
            seat.wait = None;
            return Poll::Pending;
        }
        loop {
            let fired = match seat.wait.as_mut() {
                Some(wait) => Pin::new(wait).poll(cx).is_ready(),
                None => false,
            };
            if fired {
                self.refill(t, Instant::now());
            }
            // The timer may fire a little early: take what has come back (at least a byte)
            // rather than wait again for the rest.
            if t.tokens >= grant || (fired && t.tokens >= 1.0) {
                seat.wait = None;
                seat.queued = false;
                t.pass_turn(seat.range);
                return Poll::Ready(t.take(want.min(grant)));
            }
            if seat.wait.is_some() && !fired {
                return Poll::Pending;
            }
            let next = Duration::from_secs_f64((grant - t.tokens) / self.rate);
            seat.wait = Some(Delay::new(next));
        }
    }

    /// Gives back `n` bytes a stream was allowed and did not read.
    pub(crate) fn refund(&self, n: usize) {
        if n == 0 {
            return;
        }
        if let Ok(mut t) = self.turns.lock() {
            t.tokens = (t.tokens + n as f64).min(self.burst);
        }
    }

    /// Takes `seat` out of the turns (its stream is closed, or no longer limited); if it was
    /// at the head, the next stream's turn begins.
    pub(crate) fn leave(&self, seat: &mut Seat) {
        if !seat.queued {
            return;
        }
        seat.queued = false;
        seat.wait = None;
        let Ok(mut guard) = self.turns.lock() else {
            return;
        };
        let t = &mut *guard;
        if t.is_head(seat) {
            t.pass_turn(seat.range);
            return;
        }
        if let Some(q) = t.waiting.get_mut(&seat.range) {
            let before = q.len();
            q.retain(|(id, _)| *id != seat.id);
            t.queued -= before - q.len();
            if q.is_empty() {
                t.waiting.remove(&seat.range);
                t.ring.retain(|r| *r != seat.range);
            }
        }
    }

    /// Streams waiting now (for tests).
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.turns
            .lock()
            .map(|t| {
                let n = t.waiting.values().map(VecDeque::len).sum();
                assert_eq!(n, t.queued, "the count of streams waiting is kept");
                n
            })
            .unwrap_or(0)
    }
}

impl Turns {
    /// Takes up to `want` of the bytes left (at least one: called with a byte or more left).
    fn take(&mut self, want: f64) -> usize {
        let n = want.min(self.tokens).floor().max(1.0);
        self.tokens -= n;
        n as usize
    }

    fn is_head(&self, seat: &Seat) -> bool {
        self.ring.front() == Some(&seat.range)
            && self
                .waiting
                .get(&seat.range)
                .and_then(VecDeque::front)
                .is_some_and(|(id, _)| *id == seat.id)
    }

    /// Ends the turn of the head, which is of `range`: the range goes to the back of the ring
    /// if it has more streams waiting, and the next head is woken to take its turn.
    fn pass_turn(&mut self, range: Range) {
        self.ring.pop_front();
        if let Some(q) = self.waiting.get_mut(&range) {
            if q.pop_front().is_some() {
                self.queued -= 1;
            }
            if q.is_empty() {
                self.waiting.remove(&range);
            } else {
                self.ring.push_back(range);
            }
        }
        let next = self
            .ring
            .front()
            .and_then(|r| self.waiting.get(r))
            .and_then(VecDeque::front);
        if let Some((_, waker)) = next {
            waker.wake_by_ref();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::sync::Arc;
    use std::task::Wake;

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct Count(AtomicU64);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn range(i: u8) -> Range {
        Some(IpAddr::V4(Ipv4Addr::new(10, 0, i, 0)))
    }

    /// Polls for as much as there is (the stream wants more than the burst).
    fn poll(s: &SharedReads, seat: &mut Seat, w: &Arc<Count>) -> Option<usize> {
        let waker = Waker::from(w.clone());
        let mut cx = Context::from_waker(&waker);
        match s.poll_turn(seat, usize::MAX, &mut cx) {
            Poll::Ready(n) => Some(n),
            Poll::Pending => None,
        }
    }

    /// Empties the bucket and makes `ms` milliseconds' refill appear to have passed.
    fn after(s: &SharedReads, tokens: f64, ms: u64) {
        let mut t = s.turns.lock().unwrap();
        t.tokens = tokens;
        t.at = Instant::now() - Duration::from_millis(ms);
    }

    #[test]
    fn reads_at_once_while_the_total_has_bytes_then_waits() {
        let s = SharedReads::new(64_000, 10_000); // grants of 1,000 bytes
        let w = Arc::new(Count::default());
        let mut a = s.seat(range(1));
        assert_eq!(poll(&s, &mut a, &w), Some(10_000), "the burst, at once");
        assert_eq!(poll(&s, &mut a, &w), None, "spent: waits, with a timer");
        assert!(a.queued && a.wait.is_some());
        assert_eq!(s.waits(), 1);
        // A grant's worth has come back: the head takes it.
        after(&s, 0.0, 20);
        let n = poll(&s, &mut a, &w).unwrap();
        assert!((1_000..=1_300).contains(&n), "{n}");
        assert!(!a.queued);
        assert_eq!(s.waiting(), 0);
    }

    #[test]
    fn bytes_allowed_are_taken_at_once_and_what_was_not_read_comes_back() {
        let s = SharedReads::new(64_000, 10_000);
        let w = Arc::new(Count::default());
        let (mut a, mut b) = (s.seat(range(1)), s.seat(range(2)));
        let waker = Waker::from(w.clone());
        let mut cx = Context::from_waker(&waker);
        // a is allowed 6,000 of the 10,000 and has not read yet: b (another thread) cannot
        // take them too.
        assert_eq!(s.poll_turn(&mut a, 6_000, &mut cx), Poll::Ready(6_000));
        let b_got = match s.poll_turn(&mut b, usize::MAX, &mut cx) {
            Poll::Ready(n) => n,
            Poll::Pending => 0,
        };
        assert!((4_000..4_100).contains(&b_got), "{b_got}");
        // a read only 1,000: the rest is given back.
        s.refund(5_000);
        let left = s.turns.lock().unwrap().tokens;
        assert!((5_000.0..5_100.0).contains(&left), "{left}");
    }

    #[test]
    fn streams_do_not_queue_while_the_total_holds_a_grant_for_every_one_waiting() {
        let s = SharedReads::new(64_000, 10_000); // grants of 1,000 bytes
        let w = Arc::new(Count::default());
        after(&s, 0.0, 0);
        let mut a = s.seat(range(1));
        assert_eq!(poll(&s, &mut a, &w), None, "short: a waits");
        // The total refills to 2,500 while a waits (a's timer has not fired yet): a stream
        // that comes now finds a grant for a and one for itself, and reads without queuing.
        after(&s, 2_500.0, 0);
        let mut b = s.seat(range(2));
        assert_eq!(poll(&s, &mut b, &w), Some(1_000));
        assert!(!b.queued);
        // Now 1,500 left: not a grant for a and one more, so c queues behind a.
        let mut c = s.seat(range(3));
        assert_eq!(poll(&s, &mut c, &w), None);
        assert!(c.queued);
        assert_eq!(s.waiting(), 2);
        assert_eq!(poll(&s, &mut a, &w), Some(1_000), "a's turn first");
    }

    #[test]
    fn ranges_take_turns_so_a_flood_from_one_range_cannot_crowd_out_another() {
        let s = SharedReads::new(64_000, 10_000);
        let w = Arc::new(Count::default());
        after(&s, 0.0, 0);
        // Ten streams of one range queue first, then a newcomer from another range.
        let mut flood: Vec<Seat> = (0..10).map(|_| s.seat(range(1))).collect();
        for seat in &mut flood {
            assert_eq!(poll(&s, seat, &w), None);
        }
        let newcomer_w = Arc::new(Count::default());
        let mut newcomer = s.seat(range(2));
        assert_eq!(poll(&s, &mut newcomer, &newcomer_w), None);
        assert_eq!(s.waiting(), 11);
        // The first flood stream's turn: granted, and the newcomer's range is next.
        after(&s, 1_000.0, 0);
        assert_eq!(poll(&s, &mut flood[0], &w), Some(1_000));
        assert_eq!(
            newcomer_w.0.load(Ordering::Relaxed),
            1,
            "the next head is woken"
        );
        // Others of the flood polling now are not at the head: they wait, without a timer.
        assert_eq!(poll(&s, &mut flood[1], &w), None);
        assert!(flood[1].wait.is_none());
        after(&s, 1_000.0, 0);
        assert_eq!(
            poll(&s, &mut newcomer, &newcomer_w),
            Some(1_000),
            "the newcomer reads second, not eleventh"
        );
        assert_eq!(s.waiting(), 9);
    }

    #[test]
    fn a_stream_that_leaves_hands_its_turn_on() {
        let s = SharedReads::new(64_000, 10_000);
        let w = Arc::new(Count::default());
        after(&s, 0.0, 0);
        let mut a = s.seat(range(1));
        let b_w = Arc::new(Count::default());
        let mut b = s.seat(range(1));
        let mut c = s.seat(range(3));
        assert_eq!(poll(&s, &mut a, &w), None);
        assert_eq!(poll(&s, &mut b, &b_w), None);
        assert_eq!(poll(&s, &mut c, &w), None);
        // c (not the head) leaves: nobody is woken, the others keep their places.
        s.leave(&mut c);
        assert_eq!(s.waiting(), 2);
        assert_eq!(b_w.0.load(Ordering::Relaxed), 0);
        // a (the head, holding the timer) closes: b's turn begins.
        s.leave(&mut a);
        assert_eq!(b_w.0.load(Ordering::Relaxed), 1);
        after(&s, 1_000.0, 0);
        assert_eq!(poll(&s, &mut b, &b_w), Some(1_000));
        assert_eq!(s.waiting(), 0);
        assert!(s.turns.lock().unwrap().ring.is_empty());
    }

    #[test]
    fn nobody_jumps_the_turns_while_streams_wait() {
        let s = SharedReads::new(64_000, 10_000);
        let w = Arc::new(Count::default());
        after(&s, 0.0, 0);
        let mut a = s.seat(range(1));
        assert_eq!(poll(&s, &mut a, &w), None);
        // Bytes come back, a grant's worth and a half: a stream arriving now queues behind a
        // rather than take them.
        after(&s, 1_500.0, 0);
        let mut late = s.seat(range(2));
        assert_eq!(poll(&s, &mut late, &w), None);
        assert!(late.queued);
        assert_eq!(poll(&s, &mut a, &w), Some(1_000), "one grant per turn");
        assert_eq!(
            poll(&s, &mut late, &w),
            None,
            "late's turn, waiting for a grant"
        );
        after(&s, 1_000.0, 0);
        assert_eq!(poll(&s, &mut late, &w), Some(1_000));
        // The turns are over: a stream reads what is left at once again.
        after(&s, 3_000.0, 0);
        let n = poll(&s, &mut a, &w).unwrap();
        assert!((3_000..3_500).contains(&n), "{n}");
    }
}
