"""Each experiment's unit attribute: registered through the CLI and the HTTP API, kept across an
upgrade of a store made before the field existed, and used by the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.query.exptrace_cli import Server, assert_one_line_error, exptrace
from tests.query.synth import Request

# The registry table and schema record exactly as a version-2 store has them (before `unit`).
OLD_STORE = """
import sys
from exptrace.ingest.store.backends import open_store

store = open_store("chdb://" + sys.argv[1])
store.command(
    "CREATE TABLE exptrace_schema (version UInt32, applied_at DateTime64(3) DEFAULT now64(3), "
    "description String, settings String DEFAULT '') ENGINE = MergeTree ORDER BY version"
)
store.command("INSERT INTO exptrace_schema (version, description) VALUES (2, 'before unit')")
store.command(
    "CREATE TABLE exptrace_experiments (experiment_id String, version UInt64, name String, "
    "owner String, description String, status LowCardinality(String), "
    "variants Map(String, Float64), control String, artifacts Map(String, Map(String, String)), "
    "scope Array(String), slo Map(String, Float64), start_time Nullable(DateTime64(3)), "
    "end_time Nullable(DateTime64(3)), changed_at DateTime64(3), changed_by String) "
    "ENGINE = MergeTree ORDER BY (experiment_id, version)"
)
store.command(
    "INSERT INTO exptrace_experiments (experiment_id, version, name, owner, description, status, "
    "variants, control, artifacts, scope, slo, start_time, end_time, changed_at, changed_by) "
    "VALUES ('legacy', 1, 'Legacy', 'pay', '', 'running', {'control': 1, 'B': 1}, 'control', "
    "{}, ['shop'], {'availability': 0.99}, now64(3), NULL, now64(3), 'alice')"
)
store.close()
"""


def _spans(experiment: str, users: int, per_user: int, with_user_id: bool) -> list[Request]:
    """``users`` users, user i sending 1 + i % per_user requests, alternating variants."""
    out = []
    for user in range(users):
        variant = "control" if user % 2 == 0 else "B"
        for _ in range(1 + user % per_user):
            attributes = {"user.id": f"user-{user}"} if with_user_id else {}
            out.append(Request("shop", "/buy", {experiment: variant}, 20.0, attributes=attributes))
    return out


def test_unit_attribute_survives_the_upgrade_and_decides_what_the_report_counts(tmp_path: Path):
    data = tmp_path / "data"
    (data / "store").mkdir(parents=True)
    subprocess.run([sys.executable, "-c", OLD_STORE, str(data / "store")], check=True, timeout=120)
    # A reader that runs no DDL says what to do instead of failing on the missing column.
    old = exptrace("experiments", "show", "legacy", "--data-dir", str(data))
    assert_one_line_error(old, "older than this exptrace", "exptrace up")

    server = Server(data).start()
    try:
        api = f"{server.url}/api/v1"
        # The upgraded store still has the old experiment, now with the default unit attribute.
        shown = exptrace("experiments", "show", "legacy", "--api", server.url, "--json")
        legacy = json.loads(shown.stdout)
        assert legacy["unit"] == "exptrace.unit"
        assert legacy["owner"] == "pay" and legacy["slo"] == {"availability": 0.99}

        created = exptrace(
            "experiments", "create", "per-user", "--variant", "control=1", "--variant", "B=1",
            "--unit", "user.id", "--api", server.url,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        assert "user.id" in created.stdout  # the record shows its unit attribute
        body = {"id": "no-users", "variants": {"control": 1, "B": 1}, "unit": "session.id"}
        assert httpx.post(f"{api}/experiments", json=body).status_code == 201

        # A unit attribute outside the token grammar is refused, and nothing is registered.
        bad = httpx.post(f"{api}/experiments", json={**body, "id": "bad", "unit": "user id"})
        assert bad.status_code == 400 and "unit attribute" in bad.json()["error"]
        # Only exptrace.unit and OpenTelemetry's identity attributes are kept per request.
        other = httpx.post(f"{api}/experiments", json={**body, "id": "bad", "unit": "tenant"})
        assert other.status_code == 400 and "must be one of" in other.json()["error"]
        refused = exptrace(
            "experiments", "create", "bad2", "--variant", "A=1", "--unit", "", "--api", server.url
        )
        assert_one_line_error(refused, "--unit", "user.id")  # names the ones it takes
        assert httpx.get(f"{api}/experiments/bad").status_code == 404
        assert httpx.get(f"{api}/experiments/bad2").status_code == 404

        per_user = _spans("per-user", users=30, per_user=4, with_user_id=True)
        no_users = _spans("no-users", users=20, per_user=3, with_user_id=True)  # user.id only
        server.send(per_user + no_users)
        server.wait_for_spans(len(per_user) + len(no_users))

        # Spans carry user.id: analysed per user, 30 units for 73 requests.
        report = json.loads(exptrace("report", "per-user", "--api", server.url, "--json").stdout)
        assert report["unit"]["attribute"] == "user.id"
        assert report["unit"]["attribute_from"] == "registry"
        assert report["unit"]["analysis"] == "units"
        assert sum(c["units"] for c in report["cohorts"]) == 30
        assert sum(c["requests"] for c in report["cohorts"]) == len(per_user) == 73
        assert all(c["unit"] == "units" for c in report["comparisons"])
        text = exptrace("report", "per-user", "--api", server.url).stdout
        assert "Unit of analysis: user.id (registered), 30 units" in text

        # Registered with session.id, which no span carries: it falls back to requests and
        # says so, even though the spans carry user.id (the registry decides, not a guess).
        fallback = httpx.get(f"{api}/report/no-users").json()
        assert fallback["unit"]["attribute"] == "session.id"
        assert fallback["unit"]["analysis"] == "requests"
        assert any("'session.id'" in n and "independent" in n for n in fallback["notes"])
        units = sum(c["units"] for c in fallback["cohorts"])
        assert units == sum(c["requests"] for c in fallback["cohorts"]) == len(no_users)
        assert (
            "Unit of analysis: requests: no request carries session.id (registered)"
            in exptrace("report", "no-users", "--api", server.url).stdout
        )
    finally:
        server.stop()

    # After a restart the registered unit attributes are still there.
    server = Server(data).start()
    try:
        shown = exptrace("experiments", "show", "per-user", "--api", server.url, "--json")
        assert json.loads(shown.stdout)["unit"] == "user.id"
    finally:
        server.stop()
