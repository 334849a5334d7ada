"""Known truth, watched: A/A experiments (users split 50/50, 20% heavy users, per-user error
propensity and speed) watched round after round as their data grows. Every rule the watcher
judges (always-valid comparisons, SRM, experiment-caused burn) is a chance to cry wolf."""

from __future__ import annotations

import pytest

from exptrace.query import Queries
from exptrace.query.core.registry import Experiment, Registry
from exptrace.query.core.watch import FIRING, Watcher
from tests.query.synth import insert_clustered
from tests.query.test_watch_rounds import AN_HOUR_AGO

EXPERIMENTS = 30
ROUNDS = 8


@pytest.mark.slow
def test_aa_experiments_watched_every_round_rarely_fire(receiver):
    store = receiver.store
    registry = Registry(store)
    for i in range(EXPERIMENTS):
        registry.create(Experiment(f"aa-{i}", variants={"control": 1, "treatment": 1}), "sim")
        registry.start(f"aa-{i}", "sim")
        registry.update(f"aa-{i}", "sim", start_time=AN_HOUR_AGO)
    watcher = Watcher(Queries(store, registry), registry)
    ever: set[tuple[str, str, str]] = set()
    for look in range(ROUNDS):  # more users arrive before each look
        insert_clustered(store, experiments=EXPERIMENTS, units=150, seed=1000 + look, prefix="aa-")
        watcher.round()
        ever |= {
            (r["experiment"], r["variant"], r["rule"])
            for r in watcher.state()
            if r["state"] == FIRING
        }
    fired = {experiment for experiment, _, _ in ever}
    # alpha 0.05: a binomial 99% band for 30 experiments allows 5; the data is deterministic
    # (seeded in the engine) and none fires
    assert fired == set(), sorted(ever)
