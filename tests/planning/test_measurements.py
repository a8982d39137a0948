"""Measurements replace planner assumptions and persist across processes."""

import json

import pytest

from analysis.planning import budget, measurements


@pytest.fixture(autouse=True)
def no_measurements_before_or_after():
    """The store lives in the session's LABELDASH_HOME: leave it empty for other tests."""
    measurements._path().unlink(missing_ok=True)
    yield
    measurements._path().unlink(missing_ok=True)


def test_record_apply_forget_round_trip():
    measurements.record("al_savings", 0.42, "AL simulation on MNIST-5k", {"low": 0.3, "high": 0.5})
    measurements.record("prelabel_speedup", "3.5", "pre-labelling estimate on demo-digits")
    stored = measurements.load()
    assert stored["al_savings"]["value"] == 0.42
    assert stored["al_savings"]["detail"] == {"low": 0.3, "high": 0.5}
    assert stored["prelabel_speedup"]["value"] == 3.5

    applied, names = measurements.apply(budget.Assumptions())
    assert names == ["al_savings", "prelabel_speedup"]
    assert applied.al_savings == 0.42 and applied.prelabel_speedup == 3.5
    assert applied.labeller_rate == budget.Assumptions().labeller_rate

    measurements.forget("al_savings")
    assert "al_savings" not in measurements.load()
    assert measurements.apply(budget.Assumptions())[0].al_savings == budget.Assumptions().al_savings


@pytest.mark.parametrize("name,value,message", [
    ("no_such_field", 1.0, "not a budget assumption"),
    ("task", 1.0, "not a budget assumption"),
    ("al_savings", "lots", "must be a number"),
    ("al_savings", float("nan"), "must be finite"),
])
def test_bad_measurements_are_refused(name, value, message):
    with pytest.raises(measurements.MeasurementError, match=message):
        measurements.record(name, value, "test")


def test_corrupt_file_means_no_measurements():
    measurements.record("al_savings", 0.2, "x")
    path = measurements._path()
    path.write_text("{not json")
    assert measurements.load() == {}
    measurements.record("al_savings", 0.3, "y")
    assert json.loads(path.read_text())["al_savings"]["value"] == 0.3
