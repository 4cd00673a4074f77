"""bench/lead.py: per-user metrics from ranks, and the paired bootstrap of a relative lead."""

import numpy as np
import pytest

from bench import lead  # noqa: E402
from msrec import metrics


def test_per_user_values_average_to_the_protocols_metrics():
    ranks = np.array([1, 3, 10, 11, 500])
    assert lead.per_user(ranks, "HR@10").tolist() == [1, 1, 1, 0, 0]
    assert lead.per_user(ranks, "NDCG@10")[:2] == pytest.approx([1.0, 0.5])
    for metric in lead.METRICS:
        assert lead.per_user(ranks, metric).mean() == pytest.approx(metrics.summarize(ranks)[metric])


def _pair(users, seed=1):
    rng = np.random.default_rng(seed)
    theirs = (rng.random(users) < 0.25).astype(float)
    ours = np.maximum(theirs, rng.random(users) < 0.05)  # every peer hit, and about 5 % more users
    ours[rng.random(users) < 0.02] = 0  # and a few losses
    return ours, theirs


def test_the_interval_holds_the_lead_and_narrows_with_more_users():
    ours, theirs = _pair(2000)
    few = lead.lead_interval(ours, theirs, goal=0.10, resamples=2000)
    assert few["lead"] == pytest.approx(ours.mean() / theirs.mean() - 1)
    assert few["low"] < few["lead"] < few["high"]
    many = lead.lead_interval(np.tile(ours, 9), np.tile(theirs, 9), goal=0.10, resamples=2000)
    assert many["lead"] == pytest.approx(few["lead"])
    assert (many["high"] - many["low"]) < 0.5 * (few["high"] - few["low"])  # 1 / sqrt(9) of the width


def test_the_share_at_goal_counts_resamples_past_it():
    ours, theirs = _pair(2000)
    found = lead.lead_interval(ours, theirs, goal=0.0, resamples=2000)
    assert found["low"] > 0 and found["share_at_goal"] > 0.99  # a clear lead: every resample is ahead
    assert lead.lead_interval(ours, theirs, goal=found["high"] + 0.2, resamples=2000)["share_at_goal"] < 0.01
    middle = lead.lead_interval(ours, theirs, goal=found["lead"], resamples=2000)["share_at_goal"]
    assert 0.3 < middle < 0.7
