"""What the real ``exptrace`` command prints: readable tables a person acts on."""

import itertools
import json
import os
import random

import pytest

from tests.query.exptrace_cli import Server
from tests.query.exptrace_cli import exptrace as run
from tests.query.synth import Request, experiment


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    started = Server(tmp_path_factory.mktemp("cli-tables") / "data").start()
    rng = random.Random(7)
    spans = experiment(
        rng, "checkout-v2", {"control": (300, 0.01, 40.0), "B": (300, 0.15, 90.0)}
    ) + experiment(
        rng, "calm", {"control": (300, 0.10, 40.0), "B": (300, 0.01, 40.0)}, service="search"
    )
    for _ in range(50):  # frontend calls checkout (keeps the tag) and inventory (drops it)
        trace, root = os.urandom(16), os.urandom(8)
        spans.append(
            Request(
                "frontend", "/buy", {"checkout-v2": "B"}, 20.0, False, span_id=root, trace_id=trace
            )
        )
        spans.append(
            Request(
                "checkout",
                "/pay",
                {"checkout-v2": "B"},
                5.0,
                False,
                trace_id=trace,
                parent_span_id=root,
            )
        )
        spans.append(
            Request("inventory", "/reserve", {}, 5.0, False, trace_id=trace, parent_span_id=root)
        )
    try:
        started.send(spans)
        started.wait_for_spans(len(spans))
        yield started
    finally:
        started.stop()


def text(server, *args):
    result = run(*args, "--api", server.url)
    assert result.returncode == 0, result.stderr
    return result.stdout


def body(output: str) -> list[str]:
    """Table rows: the lines after a table's rule of dashes, up to a blank line."""
    rows, inside = [], False
    for line in output.splitlines():
        if line and set(line) <= {"-", " "}:
            inside = True
        elif not line.strip():
            inside = False
        elif inside:
            rows.append(line)
    return rows


def test_registry_commands_print_tables_and_history_a_diff(server):
    created = text(
        server, "experiments", "create", "tables-exp", "--variant", "control=50",
        "--variant", "B=50", "--artifact", "B:model=ranker-v7", "--slo", "availability=0.999",
        "--owner", "payments",
    )  # fmt: skip
    assert "variants (weight, share)  control 50 (50%), B 50 (50%)" in created
    assert "B: model=ranker-v7" in created and "availability=0.999" in created
    assert "{" not in created and "'" not in created  # no Python reprs
    started = text(server, "experiments", "start", "tables-exp")
    assert "status                    running" in started
    text(server, "experiments", "stop", "tables-exp")
    restarted = json.loads(text(server, "--json", "experiments", "start", "tables-exp"))
    assert restarted["status"] == "running" and restarted["end_time"] is None
    shown = text(server, "experiments", "show", "tables-exp")
    assert "ended                     -" in shown and "version                   4" in shown
    history = text(server, "experiments", "history", "tables-exp")
    assert history.splitlines()[0].split() == [
        "at",
        "(UTC)",
        "by",
        "action",
        "field",
        "old",
        "->",
        "new",
    ]
    assert "status                    draft -> running" in history
    assert "status                    running -> stopped" in history
    ended = [line for line in history.splitlines() if " ended " in line]
    assert ended[-1].rstrip().endswith("-> -")  # the restart cleared the old end time


def test_incident_ranks_only_variants_with_excess_errors(server):
    output = text(server, "incident", "--last", "1h")
    suspects = output.split("Not suspects")[0]
    assert "checkout-v2" in suspects and "calm" not in suspects
    ranked = [line.split() for line in body(suspects) if line[:1].isdigit()]
    assert ranked[0][:3] == ["1", "checkout-v2", "B"]
    assert all(float(row[5]) > 0 for row in ranked)  # excess errors
    others = output.split("Not suspects")[1]
    assert "calm" in others and "-" in others


def test_propagation_lists_the_hop_that_loses_the_tag_first(server):
    output = text(server, "propagation", "--last", "1h")
    assert " UTC" in output.splitlines()[0]
    rows = body(output)
    assert rows[0].split()[:2] == ["frontend", "inventory"] and "loses the tag" in rows[0]
    assert sum("loses the tag" in r for r in rows) == 1


def test_report_uses_one_number_format_for_changes(server):
    output = text(server, "report", "checkout-v2", "--last", "1h")
    [row] = [line for line in output.splitlines() if line.startswith("B ") and " vs " in line]
    tokens = [token.strip("[],") for token in row.split()]
    relative = [t for t in tokens if t[:1] in "+-" and t.endswith("%")]
    assert len(relative) >= 3  # the relative change and its interval
    # the difference of rates is in percentage points, as on the pages, never a bare %
    points = [t for t, unit in itertools.pairwise(tokens) if unit == "pp"]
    assert len(points) == 2  # its interval's two ends
    for change in relative + points:
        _, dot, decimals = change.rstrip("%").lstrip("+-").partition(".")
        assert dot and len(decimals) == 2, change


def test_lag_coverage_and_windows_are_labelled(server):
    lag = text(server, "lag", "--last", "1h")
    assert lag.splitlines()[1].split() == [
        "measure",
        "signal",
        "service",
        "items",
        "p50",
        "ms",
        "p99",
        "ms",
        "max",
        "ms",
        "over/future",
    ]
    # How late telemetry arrives, per signal: the spans this test sent.
    assert any(line.split()[:2] == ["arrival", "traces"] for line in lag.splitlines()[2:])
    coverage = text(server, "coverage", "--from", "2026-01-01T00:00", "--to", "2026-01-01T06:00")
    assert coverage.startswith("Tagging coverage, 2026-01-01 00:00:00 to 2026-01-01 06:00:00 UTC")
    live = text(server, "coverage", "--last", "1h")
    assert "UTC:" in live.splitlines()[0] and "entry requests carry an assignment" in live


def test_an_empty_scope_is_no_verdict_in_the_cli_and_the_api(server):
    """A misspelled service, or an experiment with no traffic: no green all-clear, a field."""
    typo = text(server, "incident", "--last", "1h", "--service", "chekout")
    assert "No verdict: no request from service 'chekout' in this window" in typo
    assert "No experiment" not in typo and "Suspects" not in typo
    answer = json.loads(text(server, "--json", "incident", "--last", "1h", "--route", "/nope"))
    assert answer["scope"]["requests"] == 0 and "route '/nope'" in answer["scope"]["empty"]
    assert answer["verdict"].startswith("no verdict")
    run("experiments", "create", "silent-exp", "--api", server.url)
    silent = text(server, "report", "silent-exp", "--last", "1h")
    assert "No verdict: no request in this window carries experiment 'silent-exp'" in silent
    report = json.loads(text(server, "--json", "report", "silent-exp", "--last", "1h"))
    assert report["empty"]
    quiet = ["--from", "2020-01-01T00:00", "--to", "2020-01-01T01:00"]
    assert "no tagged trace in this window" in text(server, "propagation", *quiet)
    assert "no telemetry stored in this window" in text(server, "lag", *quiet)
    # The registered treatment keeps its row, with no verdict to give.
    assert [(c["variant"], c["decision"]) for c in report["comparisons"]] == [
        ("treatment", "inconclusive")
    ]
