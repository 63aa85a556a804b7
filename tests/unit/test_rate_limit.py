"""Per-device token buckets, on a clock the test moves."""

from __future__ import annotations

import pytest

from web.rate_limit import DeviceRateLimits


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_device_gets_its_rate_in_bursts_of_two_seconds_and_no_more():
    clock = Clock()
    limits = DeviceRateLimits(100.0, clock)
    assert limits.take("a", 150) == 0.0
    assert limits.take("a", 50) == 0.0                  # the 2 s burst (200) is spent
    assert limits.take("a", 10) == pytest.approx(0.1)   # 10 tokens come in 0.1 s
    assert limits.take("b", 200) == 0.0                 # another device has its own bucket
    clock.now += 0.1
    assert limits.take("a", 10) == 0.0


def test_a_batch_bigger_than_the_burst_passes_on_a_full_bucket_and_leaves_a_debt():
    clock = Clock()
    limits = DeviceRateLimits(100.0, clock)
    assert limits.take("a", 1000) == 0.0
    assert limits.take("a", 1) == pytest.approx(8.01)   # 800 in debt, then 1 more
    clock.now += 10
    assert limits.take("a", 1) == 0.0


def test_no_limit_when_the_rate_is_zero():
    assert DeviceRateLimits(0.0).take("a", 10**9) == 0.0
