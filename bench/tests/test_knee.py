"""The bench's knee estimator (B2): pure arithmetic on measured points, checked on made-up ones."""

from bench.run import _knee, b8_full_path


def point(c: int, rps: float, p99: float, errors: int = 0) -> dict:
    return {"concurrency": c, "rps": rps, "p99": p99, "errors": errors}


def test_the_knee_is_interpolated_where_the_p99_crosses_twice_idle():
    points = [point(1, 40, 20), point(2, 70, 30), point(4, 90, 50)]
    # limit 40 ms: half-way from 30 to 50 ms, so half-way from 70 to 90 req/s
    assert _knee(points, idle_p99=20)["knee_rps"] == 80.0
    assert _knee(points, idle_p99=20)["knee_concurrency"] == 3.0  # the plot marks it there


def test_past_saturation_the_knee_is_the_fastest_point_under_the_limit():
    points = [point(1, 40, 20), point(2, 90, 30), point(4, 85, 60), point(8, 120, 30)]
    assert _knee(points, idle_p99=20)["knee_rps"] == 90.0  # a later dip under the limit does not count


def test_errors_end_the_curve_and_no_crossing_means_the_top_rate():
    assert _knee([point(1, 40, 20), point(2, 70, 25, errors=1)], idle_p99=20)["knee_rps"] == 40.0
    assert _knee([point(1, 40, 20), point(2, 70, 25)], idle_p99=20)["knee_rps"] == 70.0


def test_past_saturation_the_knee_is_marked_at_the_fastest_point():
    points = [point(1, 40, 20), point(2, 90, 30), point(4, 85, 60)]
    assert _knee(points, idle_p99=20)["knee_concurrency"] == 2


def test_b8_compares_each_path_less_the_backend():
    # p50: backend 1 ms, stock LiteLLM 11 ms, LLMaaS 7 ms: (7 − 1) / (11 − 1) = 0.6
    samples = {"L0": [1.0] * 100, "L1": [11.0] * 100, "L2": [7.0] * 100}
    result = b8_full_path(samples)
    assert result["p50"]["ratio"] == 0.6
    assert result["p50"]["added_ms"] == {"L1": 10.0, "L2": 6.0}
    assert result["p50"]["ci95"] == [0.6, 0.6]  # no spread, no interval
    slower = b8_full_path({**samples, "L2": [13.0] * 100})
    assert slower["p99"]["ratio"] == 1.2
