"""The README's benchmark command: ``uv run python -m benchmarks`` runs every suite, a named
suite runs alone, and a misspelled one is a usage error (exit 2) naming the suites."""

from __future__ import annotations

import pytest

from benchmarks.__main__ import SUITES, parse


def test_no_suite_named_runs_them_all():
    assert parse([]).suites == list(SUITES)
    assert parse(["--quick"]).quick


def test_named_suites_run_alone():
    assert parse(["query", "watch", "--quick"]).suites == ["query", "watch"]


def test_a_misspelled_suite_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse(["querry"])
    assert exit_.value.code == 2
    assert (
        "no suite querry: choose from middleware, ingest, query, watch, incident"
        in capsys.readouterr().err
    )


def test_the_query_suite_takes_a_day_of_any_size():
    assert parse(["query", "--spans", "100000000"]).spans == 100_000_000
    assert parse(["query"]).spans is None


@pytest.mark.parametrize("argv", [["--spans", "1000"], ["query", "watch", "--spans", "9"]])
def test_spans_without_the_query_suite_alone_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse(argv)
    assert exit_.value.code == 2
    assert "--spans takes 4 spans or more, with the query suite alone" in capsys.readouterr().err
