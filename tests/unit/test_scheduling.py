"""The scheduler on an injected clock: no test sleeps, every time zone is pinned."""

from __future__ import annotations

import datetime as dt
import logging
import random
import zoneinfo
from collections.abc import Callable

import pytest

from runner.config.schedules import parse_schedule
from runner.scheduling import JobScheduler, Run, make_trigger, next_run_times

UTC = dt.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


class FakeClock:
    """A clock that moves only when a test advances it."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)

    def set(self, moment: dt.datetime) -> None:
        self.now = moment


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def make_scheduler(
    start: dt.datetime, zone: dt.tzinfo = UTC, seed: int = 7
) -> tuple[JobScheduler, FakeClock]:
    clock = FakeClock(start)
    return JobScheduler(clock, random.Random(seed), zone), clock


def recorder(runs: list[Run], finish: bool = True) -> Callable[[Run], None]:
    """Return an action that records its runs and ends them when ``finish`` is set."""

    def action(run: Run) -> None:
        runs.append(run)
        if finish:
            run.finish()

    return action


def times(schedule_text: str, start: dt.datetime, count: int = 3) -> list[str]:
    trigger = make_trigger(parse_schedule(schedule_text), UTC)
    return [t.isoformat() for t in next_run_times(trigger, start, count)]


# Intervals


def test_interval_runs_at_start_then_every_interval() -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))
    runs: list[Run] = []
    scheduler.add("poll", parse_schedule("every 30s"), recorder(runs))
    for _ in range(4):
        scheduler.run_pending()
        clock.advance(30)
    assert [r.scheduled for r in runs] == [
        utc(2024, 5, 1, 12, 0, 0),
        utc(2024, 5, 1, 12, 0, 30),
        utc(2024, 5, 1, 12, 1, 0),
        utc(2024, 5, 1, 12, 1, 30),
    ]


def test_interval_not_due_before_its_time() -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))
    runs: list[Run] = []
    scheduler.add("poll", parse_schedule("every 5 minutes"), recorder(runs))
    scheduler.run_pending()
    clock.advance(299.999)
    scheduler.run_pending()
    assert len(runs) == 1


def test_interval_skips_missed_runs_and_keeps_phase() -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))
    runs: list[Run] = []
    job = scheduler.add("poll", parse_schedule("every 30s"), recorder(runs))
    scheduler.run_pending()
    clock.advance(95)  # a suspended machine: the runs at 30, 60 and 90 s are missed
    scheduler.run_pending()
    assert len(runs) == 2
    assert job.next_run == utc(2024, 5, 1, 12, 2, 0)


def test_idle_seconds_uses_injected_clock() -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))
    scheduler.add("poll", parse_schedule("every 10s"), recorder([]))
    scheduler.run_pending()
    clock.advance(4)
    assert scheduler.idle_seconds == pytest.approx(6.0)


# No drift


def test_late_dispatch_does_not_shift_next_run() -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))
    runs: list[Run] = []
    job = scheduler.add("poll", parse_schedule("every 5s"), recorder(runs))
    scheduler.run_pending()
    clock.advance(5.3)  # the loop woke 300 ms late
    scheduler.run_pending()
    assert job.next_run == utc(2024, 5, 1, 12, 0, 10)


def test_slow_action_does_not_shift_next_run() -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))

    def slow(run: Run) -> None:
        clock.advance(3.5)  # the action itself takes 3.5 s
        run.finish()

    job = scheduler.add("poll", parse_schedule("every 5s"), slow)
    for _ in range(10):
        clock.set(job.next_run)
        scheduler.run_pending()
    assert job.next_run == utc(2024, 5, 1, 12, 0, 50)


def test_lateness_is_dispatch_minus_due() -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))
    runs: list[Run] = []
    scheduler.add("poll", parse_schedule("every 5s"), recorder(runs))
    clock.advance(0.25)
    scheduler.run_pending()
    assert runs[0].lateness == dt.timedelta(milliseconds=250)


# Jitter


def test_jitter_stays_within_bounds() -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))
    runs: list[Run] = []
    job = scheduler.add("poll", parse_schedule("every 10s"), recorder(runs), jitter=4)
    for _ in range(200):
        clock.set(job.next_run)
        scheduler.run_pending()
    delays = [(r.due - r.scheduled).total_seconds() for r in runs]
    assert min(delays) >= 0
    assert max(delays) <= 4


def test_jitter_spreads_start_times() -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))
    runs: list[Run] = []
    job = scheduler.add("poll", parse_schedule("every 10s"), recorder(runs), jitter=4)
    for _ in range(200):
        clock.set(job.next_run)
        scheduler.run_pending()
    delays = [(r.due - r.scheduled).total_seconds() for r in runs]
    assert max(delays) - min(delays) > 3


def test_jitter_does_not_accumulate() -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))
    runs: list[Run] = []
    job = scheduler.add("poll", parse_schedule("every 10s"), recorder(runs), jitter=4)
    for _ in range(100):
        clock.set(job.next_run)
        scheduler.run_pending()
    assert runs[-1].scheduled == utc(2024, 5, 1, 12, 16, 30)


# Overlap and errors


def test_overlapping_run_is_skipped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))
    runs: list[Run] = []
    scheduler.add("slow", parse_schedule("every 5s"), recorder(runs, finish=False))
    scheduler.run_pending()
    clock.advance(5)
    with caplog.at_level(logging.WARNING, logger="runner.scheduling"):
        scheduler.run_pending()
    assert len(runs) == 1
    assert "skipped job 'slow'" in caplog.text


def test_job_runs_again_after_finish() -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))
    runs: list[Run] = []
    scheduler.add("slow", parse_schedule("every 5s"), recorder(runs, finish=False))
    scheduler.run_pending()
    clock.advance(5)
    scheduler.run_pending()  # skipped: the first run is still going
    runs[0].finish()
    clock.advance(5)
    scheduler.run_pending()
    assert [r.scheduled for r in runs] == [
        utc(2024, 5, 1, 12, 0, 0),
        utc(2024, 5, 1, 12, 0, 10),
    ]


def test_skipped_run_keeps_the_grid() -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))
    job = scheduler.add("slow", parse_schedule("every 5s"), recorder([], finish=False))
    scheduler.run_pending()
    clock.advance(5)
    scheduler.run_pending()
    assert job.next_run == utc(2024, 5, 1, 12, 0, 10)


def test_exception_in_one_job_leaves_others_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))
    runs: list[Run] = []

    def broken(run: Run) -> None:
        raise RuntimeError("boom")

    scheduler.add("broken", parse_schedule("every 5s"), broken)
    scheduler.add("healthy", parse_schedule("every 5s"), recorder(runs))
    with caplog.at_level(logging.ERROR, logger="runner.scheduling"):
        for _ in range(3):
            scheduler.run_pending()
            clock.advance(5)
    assert len(runs) == 3
    assert caplog.text.count("job 'broken' failed") == 3


def test_failed_job_is_not_left_running() -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 0, 0))

    def broken(run: Run) -> None:
        raise RuntimeError("boom")

    job = scheduler.add("broken", parse_schedule("every 5s"), broken)
    scheduler.run_pending()
    assert job.running is None


def test_find_and_clear_by_name() -> None:
    scheduler, _ = make_scheduler(utc(2024, 5, 1, 12, 0, 0))
    scheduler.add("a", parse_schedule("every 5s"), recorder([]))
    scheduler.add("b", parse_schedule("every 5s"), recorder([]))
    scheduler.clear("a")
    assert scheduler.find("a") is None
    assert scheduler.find("b") is not None


# Calendar schedules


def test_cron_every_five_minutes() -> None:
    assert times("*/5 * * * *", utc(2024, 5, 1, 12, 1, 30)) == [
        "2024-05-01T12:05:00+00:00",
        "2024-05-01T12:10:00+00:00",
        "2024-05-01T12:15:00+00:00",
    ]


def test_cron_weekdays_only() -> None:
    assert times("0 9 * * 1-5", utc(2024, 5, 3, 12, 0, 0)) == [  # a Friday
        "2024-05-06T09:00:00+00:00",
        "2024-05-07T09:00:00+00:00",
        "2024-05-08T09:00:00+00:00",
    ]


def test_cron_job_runs_at_matching_minute() -> None:
    scheduler, clock = make_scheduler(utc(2024, 5, 1, 12, 1, 30))
    runs: list[Run] = []
    scheduler.add("report", parse_schedule("*/5 * * * *"), recorder(runs))
    clock.set(utc(2024, 5, 1, 12, 4, 59))
    scheduler.run_pending()
    clock.set(utc(2024, 5, 1, 12, 5, 0))
    scheduler.run_pending()
    assert [r.scheduled for r in runs] == [utc(2024, 5, 1, 12, 5, 0)]


def test_daily_at_time_in_utc() -> None:
    assert times("every day at 10:30", utc(2024, 5, 1, 12, 0, 0)) == [
        "2024-05-02T10:30:00+00:00",
        "2024-05-03T10:30:00+00:00",
        "2024-05-04T10:30:00+00:00",
    ]


def test_daily_at_time_later_today() -> None:
    assert times("every day at 13:15:20", utc(2024, 5, 1, 12, 0, 0), 1) == [
        "2024-05-01T13:15:20+00:00"
    ]


def test_weekly_at_time() -> None:
    assert times("every monday at 09:00", utc(2024, 5, 1, 12, 0, 0), 2) == [
        "2024-05-06T09:00:00+00:00",
        "2024-05-13T09:00:00+00:00",
    ]


def test_at_time_in_named_zone() -> None:
    spec = parse_schedule("every day at 09:00 America/New_York")
    trigger = make_trigger(spec, UTC)
    first = next_run_times(trigger, utc(2024, 5, 1, 12, 0, 0), 1)[0]
    assert first == utc(2024, 5, 1, 13, 0, 0)


def test_at_time_uses_default_zone_when_unnamed() -> None:
    trigger = make_trigger(parse_schedule("every day at 09:00"), BERLIN)
    first = next_run_times(trigger, utc(2024, 5, 1, 12, 0, 0), 1)[0]
    assert first == utc(2024, 5, 2, 7, 0, 0)


# Daylight saving time in Europe/Berlin: on 2024-03-31 02:00 CET becomes 03:00
# CEST; on 2024-10-27 03:00 CEST becomes 02:00 CET.


def berlin_times(text: str, start: dt.datetime, count: int = 3) -> list[str]:
    trigger = make_trigger(parse_schedule(text), BERLIN)
    return [
        t.astimezone(BERLIN).isoformat() for t in next_run_times(trigger, start, count)
    ]


def test_spring_forward_skipped_time_runs_at_jump() -> None:
    assert berlin_times("every day at 02:30 Europe/Berlin", utc(2024, 3, 30, 12)) == [
        "2024-03-31T03:00:00+02:00",
        "2024-04-01T02:30:00+02:00",
        "2024-04-02T02:30:00+02:00",
    ]


def test_fall_back_repeated_time_runs_once() -> None:
    assert berlin_times("every day at 02:30 Europe/Berlin", utc(2024, 10, 26, 12)) == [
        "2024-10-27T02:30:00+02:00",
        "2024-10-28T02:30:00+01:00",
        "2024-10-29T02:30:00+01:00",
    ]


def test_fall_back_with_local_default_zone() -> None:
    assert berlin_times("every day at 02:30", utc(2024, 10, 26, 12), 2) == [
        "2024-10-27T02:30:00+02:00",
        "2024-10-28T02:30:00+01:00",
    ]


def test_daily_job_once_on_fall_back_day() -> None:
    scheduler, clock = make_scheduler(utc(2024, 10, 26, 12), zone=BERLIN)
    runs: list[Run] = []
    scheduler.add("nightly", parse_schedule("every day at 02:30"), recorder(runs))
    while clock.now < utc(2024, 10, 28, 12):
        clock.advance(60)
        scheduler.run_pending()
    assert [r.scheduled for r in runs] == [
        utc(2024, 10, 27, 0, 30),  # 02:30 CEST
        utc(2024, 10, 28, 1, 30),  # 02:30 CET
    ]


def test_daily_job_at_jump_on_spring_day() -> None:
    scheduler, clock = make_scheduler(utc(2024, 3, 30, 12), zone=BERLIN)
    runs: list[Run] = []
    scheduler.add("nightly", parse_schedule("every day at 02:30"), recorder(runs))
    while clock.now < utc(2024, 4, 1, 12):
        clock.advance(60)
        scheduler.run_pending()
    assert [r.scheduled for r in runs] == [
        utc(2024, 3, 31, 1, 0),  # 03:00 CEST, the moment the clocks jump
        utc(2024, 4, 1, 0, 30),  # 02:30 CEST
    ]


def test_cron_fixed_time_runs_twice_on_fall_back() -> None:
    assert berlin_times("30 2 * * *", utc(2024, 10, 26, 12), 2) == [
        "2024-10-27T02:30:00+02:00",
        "2024-10-27T02:30:00+01:00",
    ]


def test_cron_interval_keeps_elapsed_spacing_over_fall_back() -> None:
    trigger = make_trigger(parse_schedule("*/20 * * * *"), BERLIN)
    runs = next_run_times(trigger, utc(2024, 10, 27, 0, 30), 6)
    gaps = {(b - a).total_seconds() for a, b in zip(runs, runs[1:], strict=False)}
    assert gaps == {1200.0}


def test_interval_keeps_elapsed_spacing_over_spring_forward() -> None:
    scheduler, clock = make_scheduler(utc(2024, 3, 30, 23, 30), zone=BERLIN)
    runs: list[Run] = []
    scheduler.add("hourly", parse_schedule("every 1h"), recorder(runs))
    for _ in range(4):
        scheduler.run_pending()
        clock.advance(3600)
    gaps = {(b.scheduled - a.scheduled) for a, b in zip(runs, runs[1:], strict=False)}
    assert gaps == {dt.timedelta(hours=1)}
