"""The client-side limiter, on a clock of our own so that the schedule is exact."""

from qtgen.llm.ratelimit import RateLimiter


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 6))
        self.now += seconds


def starts(limiter: RateLimiter, clock: Clock, n: int) -> list[float]:
    out = []
    for _ in range(n):
        limiter.acquire()
        out.append(round(clock.now, 6))
    return out


def test_requests_are_spaced_evenly_at_the_rate():
    clock = Clock()
    limiter = RateLimiter(rpm=120, clock=clock, sleep=clock.sleep)
    assert starts(limiter, clock, 4) == [0.0, 0.5, 1.0, 1.5]


def test_no_limit_means_no_wait():
    clock = Clock()
    assert starts(RateLimiter(clock=clock, sleep=clock.sleep), clock, 5) == [0.0] * 5


def test_tokens_per_minute_bound_the_requests():
    clock = Clock()
    limiter = RateLimiter(tpm=6000, tokens_per_request=2000, clock=clock, sleep=clock.sleep)
    # a full bucket allows three at once, then one every 20 s (2,000 tokens at 100 tokens/s)
    assert starts(limiter, clock, 5) == [0.0, 0.0, 0.0, 20.0, 40.0]


def test_actual_usage_returns_unused_tokens():
    clock = Clock()
    limiter = RateLimiter(tpm=6000, tokens_per_request=2000, clock=clock, sleep=clock.sleep)
    starts(limiter, clock, 3)
    limiter.used(500)  # the first request used far less than estimated
    assert starts(limiter, clock, 1) == [5.0]


def test_a_429_pauses_everyone_lowers_the_rate_then_recovers():
    clock = Clock()
    limiter = RateLimiter(rpm=60, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.rate_limited(3.0)
    assert limiter.throttled == 1 and limiter.factor == 0.8
    limiter.acquire()
    assert clock.now == 3.0  # paused for what the server asked
    limiter.acquire()
    assert clock.now == 3.0 + 60 / (60 * 0.8)  # then slower
    for _ in range(10):
        limiter.succeeded()
    assert limiter.factor == 1.0


def test_rpm_spaces_requests_whatever_the_concurrency():
    clock = Clock()
    limiter = RateLimiter(rpm=300, concurrency=6, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(6):
        limiter.acquire()
        sent.append(round(clock.now, 6))
        limiter.release(0.05, True)
    assert sent == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]  # 300 a minute: one every 0.2 s, however many may be in flight
