"""Availability windows and overrides (proxy/schedule.py) and the proxy's verdict from the
catalog (proxy/lifecycle.py scheduled): pure functions, no Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from inference.proxy.contract import CatalogDeployment, CatalogModel
from inference.proxy.lifecycle import OutsideSchedule, scheduled
from inference.proxy.schedule import ScheduleError, Window, availability, parse_days

PARIS = "Europe/Paris"
NIGHTS = Window(parse_days("mon-fri"), 22 * 60, 6 * 60)  # weeknights 22:00 to 06:00
DAYS = Window(parse_days("mon-fri"), 8 * 60, 20 * 60)


def paris(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(PARIS))


def test_it_parses_day_lists_ranges_wrapping_ranges_and_star():
    assert parse_days("mon-fri") == (0, 1, 2, 3, 4)
    assert parse_days("sat, sun") == (5, 6)
    assert parse_days("fri-mon") == (0, 4, 5, 6)
    assert parse_days("*") == tuple(range(7))
    for bad in ("", "monday", "mon-", "mon,,tue", "xyz"):
        with pytest.raises(ScheduleError):
            parse_days(bad)


def test_it_is_always_available_without_windows():
    a = availability((), PARIS, paris(2026, 12, 5, 3, 0))
    assert a.available and a.reason == "always" and a.next_change is None


def test_a_night_window_runs_past_midnight_into_the_next_morning():
    # Tuesday 03:00 is inside Monday night's window, which closes at 06:00.
    a = availability((NIGHTS,), PARIS, paris(2026, 12, 1, 3, 0))
    assert a.available and a.next_change == paris(2026, 12, 1, 6, 0)
    # Tuesday 12:00 is outside: Tuesday night opens at 22:00.
    a = availability((NIGHTS,), PARIS, paris(2026, 12, 1, 12, 0))
    assert not a.available and a.next_change == paris(2026, 12, 1, 22, 0)
    assert a.next_window == "mon,tue,wed,thu,fri 22:00-06:00"


def test_saturday_waits_for_monday_night_and_touching_windows_join():
    a = availability((NIGHTS,), PARIS, paris(2026, 12, 5, 12, 0))  # a Saturday noon
    assert not a.available and a.next_change == paris(2026, 12, 7, 22, 0)
    # Days and nights together cover weekdays 08:00-20:00 and 22:00-06:00; at 19:00 it closes at 20:00.
    a = availability((DAYS, NIGHTS), PARIS, paris(2026, 12, 1, 19, 0))
    assert a.available and a.next_change == paris(2026, 12, 1, 20, 0)
    evening = Window(parse_days("mon-fri"), 20 * 60, 22 * 60)
    a = availability((DAYS, evening, NIGHTS), PARIS, paris(2026, 12, 1, 19, 0))
    assert a.next_change == paris(2026, 12, 2, 6, 0)  # three touching windows: one opening


def test_windows_are_read_in_the_operators_zone():
    now = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)  # 22:30 in Paris (UTC+1 in December)
    assert availability((NIGHTS,), PARIS, now).available
    assert not availability((NIGHTS,), "UTC", now).available


def test_an_override_wins_until_its_time_then_the_windows_decide():
    noon = paris(2026, 12, 1, 12, 0)
    until = (noon + timedelta(hours=1)).timestamp()
    a = availability((NIGHTS,), PARIS, noon, "available", until)
    assert a.available and a.reason == "override" and a.next_change == noon + timedelta(hours=1)
    assert not availability((NIGHTS,), PARIS, noon + timedelta(hours=2), "available", until).available
    a = availability((), PARIS, noon, "unavailable", None)
    assert not a.available and a.next_change is None


def deployment(name: str, **fields) -> CatalogDeployment:
    return CatalogDeployment(
        id=name,
        upstream_model="m",
        backend_url="http://127.0.0.1:9/v1",
        context_window=2048,
        input_price_per_mtok="1",
        output_price_per_mtok="1",
        schedule_tz=PARIS,
        **fields,
    )


def test_the_proxy_keeps_the_deployments_open_now_and_names_the_next_window_when_none_is():
    night = deployment("big-night", windows=(NIGHTS.to_list(),))
    day = deployment("small-day", windows=(DAYS.to_list(),))
    model = CatalogModel("m", "m", 2048, "1", "1", deployments=(night, day))
    assert scheduled(model, paris(2026, 12, 1, 12, 0)).deployments == (day,)
    assert scheduled(model, paris(2026, 12, 1, 23, 0)).deployments == (night,)
    with pytest.raises(OutsideSchedule) as caught:
        scheduled(model, paris(2026, 12, 5, 12, 0))  # Saturday: Monday 08:00 opens first
    assert caught.value.opens_at == paris(2026, 12, 7, 8, 0)
    assert caught.value.window == "mon,tue,wed,thu,fri 08:00-20:00"
    assert caught.value.retry_after(paris(2026, 12, 5, 12, 0)) == 44 * 3600
    assert "2026-12-07T08:00+01:00" in caught.value.message()


def test_windows_survive_the_catalogs_json():
    night = deployment("big-night", windows=(NIGHTS.to_list(),), override="unavailable", override_until=1.5)
    model = CatalogModel("m", "m", 2048, "1", "1", deployments=(night,))
    assert CatalogModel.from_dict(model.to_dict()) == model
