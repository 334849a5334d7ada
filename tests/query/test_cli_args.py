"""`exptrace` flags mean the same wherever they are written."""

from pathlib import Path

import pytest

from exptrace.ingest import cli as ingest_cli
from exptrace.query.cli import duration, make_parser


@pytest.mark.parametrize(
    "argv",
    [["--data-dir", "/srv/x", "up"], ["up", "--data-dir", "/srv/x"]],
)
def test_data_dir_before_or_after_up(argv, monkeypatch):
    monkeypatch.delenv("EXPTRACE_DATA_DIR", raising=False)
    settings = ingest_cli.settings_from_args(make_parser().parse_args(argv))
    assert settings.data_dir == Path("/srv/x")


def test_up_reads_the_environment_when_no_flag_is_given(monkeypatch):
    monkeypatch.setenv("EXPTRACE_GRPC_ENDPOINT", "0.0.0.0:14317")
    settings = ingest_cli.settings_from_args(make_parser().parse_args(["up"]))
    assert settings.grpc_endpoint == "0.0.0.0:14317"


def test_durations():
    assert duration("20m").total_seconds() == 1200
    assert duration("3d").total_seconds() == 3 * 86400
    with pytest.raises(Exception, match="not a duration"):
        duration("soon")
