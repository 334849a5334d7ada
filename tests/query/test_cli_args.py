"""`exptrace` flags mean the same wherever they are written."""

from pathlib import Path

import pytest

from exptrace.ingest import cli as ingest_cli
from exptrace.propagation.settings import SettingsError
from exptrace.query.cli.commands import CliSettings, duration, make_parser


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


@pytest.mark.parametrize(
    ("argv", "environ", "api_url", "data_dir"),
    [
        (["burn"], {}, None, None),  # nothing asked: default server, else ./exptrace-data
        (["burn", "--api", "http://a"], {"EXPTRACE_DATA_DIR": "/d"}, "http://a", None),
        (["burn", "--data-dir", "/d"], {"EXPTRACE_API_URL": "http://a"}, None, "/d"),
        (["burn"], {"EXPTRACE_API_URL": "http://a", "EXPTRACE_DATA_DIR": "/d"}, "http://a", None),
        (["burn"], {"EXPTRACE_DATA_DIR": "/d"}, None, "/d"),
    ],
)
def test_one_source_per_command_flags_before_variables(argv, environ, api_url, data_dir):
    settings = CliSettings.from_args(make_parser().parse_args(argv), environ)
    assert (settings.api_url, settings.data_dir) == (api_url, data_dir)


def test_api_and_data_dir_flags_together_are_refused():
    args = make_parser().parse_args(["burn", "--api", "http://a", "--data-dir", "/d"])
    with pytest.raises(SettingsError, match="not both"):
        CliSettings.from_args(args, {})
