"""The experiment registry: append-only versions and an audit log of every change."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from exptrace.ingest import UNIT_ATTRIBUTES, Store, StoreError
from exptrace.propagation import UNIT_MEMBER, grammar
from exptrace.query.core.freeze import Freeze, FreezeLog
from exptrace.query.errors import (
    ExperimentsFrozen,
    RegistryConflict,
    RegistryError,
    UnknownExperiment,
)

STATUSES = ("draft", "running", "stopped", "archived")
ACTIONS = {"start": "running", "stop": "stopped", "archive": "archived"}
"""Status changes by the name people use for them (CLI, HTTP API, audit log)."""
POLICIES = ("notify", "rollback")
"""What the watcher does when a variant fails: tell people (the default), or also roll the
variant back and log the decision."""
_ACTION_OF = {status: action for action, status in ACTIONS.items()}
TRANSITIONS = {
    "draft": {"running", "archived"},
    "running": {"stopped"},
    "stopped": {"running", "archived"},
    "archived": set(),
}
SLOS = {
    "availability": "share of requests that succeed, between 0 and 1 (e.g. 0.999)",
    "latency_p95_ms": "95th percentile latency target in milliseconds (> 0)",
    "error_rate_margin": "guardrail: the error rate may be at most this much worse than "
    "control's, relative (> 0; default 0.2, +20%)",
    "latency_margin": "guardrail: each latency quantile may be at most this much slower than "
    "control's, relative (> 0; default 0.05, +5%)",
    "expected_units": "units (all arms) the experiment plans to reach: the always-valid "
    "comparison then keeps most of the fixed-horizon power there (> 0; fix it before the "
    "start; without it the report uses the mixture alone)",
}
"""SLO targets and guardrail margins an experiment may carry, with what each means. The
margins are non-inferiority margins: a report says ``pass`` only when each metric is shown
to be less worse than its margin (defaults in :mod:`exptrace.query.core.inference`)."""
MARGINS = ("error_rate_margin", "latency_margin")
"""The entries of :data:`SLOS` that are guardrail margins."""
_COLUMNS = {
    "experiment_id": "String",
    "version": "UInt64",
    "name": "String",
    "owner": "String",
    "description": "String",
    "status": "String",
    "variants": "Map(String, Float64)",
    "control": "String",
    "artifacts": "Map(String, Map(String, String))",
    "scope": "Array(String)",
    "slo": "Map(String, Float64)",
    "unit": "String",
    "start_time": "Nullable(DateTime64(3))",
    "end_time": "Nullable(DateTime64(3))",
    "changed_at": "DateTime64(3)",
    "changed_by": "String",
}
"""The registry table's columns as this module reads and writes them, with their types."""
# The SQL is built from the constants above only; every value is a bound parameter.
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM exptrace_experiments "  # noqa: S608
_INSERT = (
    f"INSERT INTO exptrace_experiments ({', '.join(_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(f'{{{name}:{kind}}}' for name, kind in _COLUMNS.items())})"
)


@dataclass(frozen=True)
class Experiment:
    """One experiment as registered: variants with weights, artifacts per variant, SLOs."""

    id: str
    name: str = ""
    owner: str = ""
    description: str = ""
    status: str = "draft"
    variants: dict[str, float] = field(default_factory=lambda: {"control": 50.0, "treatment": 50.0})
    control: str = ""
    """The variant the others are compared with; empty: the first variant."""
    artifacts: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per variant: model version, image, commit, data version, or anything else."""
    scope: list[str] = field(default_factory=list)
    """Services the experiment runs in (empty: any)."""
    slo: dict[str, float] = field(default_factory=dict)
    """``availability`` (e.g. 0.999) and ``latency_p95_ms`` targets; the guardrail margins
    ``error_rate_margin`` and ``latency_margin`` (relative to control, see :data:`SLOS`)."""
    unit: str = UNIT_MEMBER
    """The span attribute that names the randomization unit (``user.id``, ``session.id``...,
    one of :data:`~exptrace.ingest.UNIT_ATTRIBUTES`): what the report counts as
    independent."""
    start_time: str | None = None
    end_time: str | None = None
    version: int = 0
    changed_at: str | None = None
    changed_by: str = ""

    def __post_init__(self) -> None:
        if not self.control and isinstance(self.variants, dict) and self.variants:
            object.__setattr__(self, "control", next(iter(self.variants)))

    def validate(self) -> None:
        """Raise :class:`RegistryError` unless every field has its type and meaning; checked
        before any SQL, so a bad record never reaches the store."""
        self._validate_types()
        if not grammar.is_token(self.id):
            raise RegistryError(f"experiment id {self.id!r} must be {grammar.describe()}")
        if not isinstance(self.unit, str) or not grammar.is_token(self.unit):
            raise RegistryError(f"unit attribute {self.unit!r} must be {grammar.describe()}")
        if self.unit not in UNIT_ATTRIBUTES:
            raise RegistryError(
                f"unit attribute {self.unit!r} must be one of {', '.join(UNIT_ATTRIBUTES)}: "
                f"the attributes kept per request (any other id can travel as {UNIT_MEMBER})"
            )
        if self.status not in STATUSES:
            raise RegistryError(f"status must be one of {', '.join(STATUSES)}")
        if not self.variants:
            raise RegistryError("an experiment needs at least one variant")
        for variant, weight in self.variants.items():
            if not grammar.is_token(variant):
                raise RegistryError(f"variant {variant!r} must be {grammar.describe()}")
            if not _number(weight) or weight < 0:
                raise RegistryError(f"weight of variant {variant!r} must be a number >= 0")
        total = sum(self.variants.values())
        if total <= 0 or not math.isfinite(total):
            raise RegistryError("variant weights must not all be zero, nor add up past a float")
        if self.control not in self.variants:
            raise RegistryError(f"control {self.control!r} is not one of the variants")
        unknown = set(self.artifacts) - set(self.variants)
        if unknown:
            raise RegistryError(f"artifacts name unknown variants: {', '.join(sorted(unknown))}")
        unknown_slos = set(self.slo) - set(SLOS)
        if unknown_slos:
            raise RegistryError(
                f"unknown SLO {', '.join(sorted(unknown_slos))}: use {' or '.join(SLOS)}"
            )
        for name, target in self.slo.items():
            if not _number(target):
                raise RegistryError(f"slo {name} must be a number")
        availability = self.slo.get("availability")
        if availability is not None and not 0 < availability < 1:
            raise RegistryError("slo availability must be between 0 and 1, e.g. 0.999")
        if self.slo.get("latency_p95_ms", 1) <= 0:
            raise RegistryError("slo latency_p95_ms must be above 0")
        if self.slo.get("expected_units", 1) <= 0:
            raise RegistryError("slo expected_units must be above 0, e.g. 20000")
        for margin in MARGINS:
            if self.slo.get(margin, 1) <= 0:
                raise RegistryError(f"slo {margin} must be above 0, e.g. 0.2 for +20%")

    def _validate_types(self) -> None:
        # The fields a client gives; times, versions and authors are the registry's own.
        for name in ("id", "name", "owner", "description", "status", "control"):
            if not isinstance(getattr(self, name), str):
                raise RegistryError(f"{name} must be a string, got {_kind(getattr(self, name))}")
        if not isinstance(self.variants, dict):
            raise RegistryError(
                'variants must map each name to its weight: {"control": 50, "B": 50}'
            )
        if not isinstance(self.slo, dict):
            raise RegistryError('slo must map targets to numbers: {"availability": 0.999}')
        if not isinstance(self.scope, list) or not all(isinstance(s, str) for s in self.scope):
            raise RegistryError('scope must be a list of service names: ["checkout"]')
        if not isinstance(self.artifacts, dict) or not all(
            isinstance(kinds, dict) and all(isinstance(v, str) for v in kinds.values())
            for kinds in self.artifacts.values()
        ):
            raise RegistryError(
                'artifacts must map variants to kinds and text values: {"B": {"model": "v7"}}'
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Registry:
    """Create, change and read experiments; every change is a new version plus an audit row."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()

    def list(self, status: str | None = None) -> list[Experiment]:
        """The latest version of every experiment, or of those in ``status``."""
        if status is not None and status not in STATUSES:
            raise RegistryError(f"status {status!r} is none of {', '.join(STATUSES)}")
        rows = self.store.query(
            _SELECT + "ORDER BY experiment_id, version DESC LIMIT 1 BY experiment_id"
        ).rows
        experiments = [_from_row(row) for row in rows]
        return [e for e in experiments if status is None or e.status == status]

    def get(self, experiment_id: str) -> Experiment:
        rows = self.store.query(
            _SELECT + "WHERE experiment_id = {id:String} ORDER BY version DESC LIMIT 1",
            {"id": experiment_id},
        ).rows
        if not rows:
            raise UnknownExperiment(f"no experiment {experiment_id!r} is registered")
        return _from_row(rows[0])

    def find(self, experiment_id: str) -> Experiment | None:
        try:
            return self.get(experiment_id)
        except UnknownExperiment:
            return None

    def create(self, experiment: Experiment, actor: str) -> Experiment:
        experiment = replace(experiment, status=experiment.status or "draft")
        experiment.validate()
        with self._lock:
            if self.find(experiment.id) is not None:
                raise RegistryConflict(f"experiment {experiment.id!r} exists already")
            return self._write(experiment, None, "create", actor)

    def update(self, experiment_id: str, actor: str, **changes: Any) -> Experiment:
        """Change fields (not id, version or status: use start/stop/archive for status)."""
        forbidden = {"id", "version", "status", "changed_at", "changed_by"} & set(changes)
        if forbidden:
            raise RegistryError(f"cannot change {', '.join(sorted(forbidden))} with update")
        with self._lock:
            old = self.get(experiment_id)
            new = replace(old, **changes)
            new.validate()
            return self._write(new, old, "update", actor)

    def set_status(self, experiment_id: str, status: str, actor: str) -> Experiment:
        with self._lock:
            old = self.get(experiment_id)
            if status not in TRANSITIONS.get(old.status, set()):
                raise RegistryConflict(f"cannot go from {old.status} to {status}")
            freeze = FreezeLog(self.store).current() if status == "running" else None
            if freeze is not None and freeze.frozen:
                raise ExperimentsFrozen(f"cannot start {experiment_id}: {freeze.describe()}")
            now = _now()
            changes: dict[str, Any] = {"status": status}
            if status == "running":
                changes["end_time"] = None  # running again: the old stop no longer ends it
                if old.start_time is None:
                    changes["start_time"] = now
            if status == "stopped":
                changes["end_time"] = now
            return self._write(replace(old, **changes), old, _ACTION_OF[status], actor)

    def start(self, experiment_id: str, actor: str) -> Experiment:
        return self.set_status(experiment_id, "running", actor)

    def stop(self, experiment_id: str, actor: str) -> Experiment:
        return self.set_status(experiment_id, "stopped", actor)

    def archive(self, experiment_id: str, actor: str) -> Experiment:
        return self.set_status(experiment_id, "archived", actor)

    def rollback(
        self, experiment_id: str, variant: str | None, reason: str, actor: str
    ) -> dict[str, Any]:
        """Send ``variant``'s units (every treatment's, when None) to control from now on: an
        audit entry (action ``rollback``, old and new: the rolled-back variants before and
        after, with the reason) that the assignment config carries to services."""
        require_reason(reason)
        with self._lock:
            experiment = self.get(experiment_id)
            treatments = [v for v in experiment.variants if v != experiment.control]
            if variant is not None and variant not in treatments:
                raise RegistryError(
                    f"{variant!r} is not a treatment of {experiment_id} "
                    f"(treatments: {', '.join(treatments) or 'none'})"
                )
            before = self.rollbacks().get(experiment_id, [])
            variants = [v for v in ([variant] if variant else treatments) if v not in before]
            if not variants:
                raise RegistryConflict(f"{variant or 'every treatment'} is rolled back already")
            old = json.dumps({"rolled_back": before})
            new = json.dumps({"rolled_back": before + variants, "reason": reason})
            self._audit(_now(), actor, experiment_id, "rollback", old, new)
            return {
                "experiment": experiment_id,
                "control": experiment.control,
                "rolled_back": variants,
                "reason": reason,
            }

    def rollbacks(self) -> dict[str, list[str]]:
        """Rolled-back variants per experiment: the latest rollback entry's."""
        rows = self.store.query(
            "SELECT experiment_id, new FROM exptrace_audit WHERE action = 'rollback' "
            "ORDER BY at DESC LIMIT 1 BY experiment_id"
        ).rows
        return {experiment_id: json.loads(entry)["rolled_back"] for experiment_id, entry in rows}

    def first_rollbacks(self) -> dict[str, str]:
        """When each rolled-back experiment was first rolled back (as :meth:`first_rollback`)."""
        rows = self.store.query(
            "SELECT experiment_id, toString(min(at)) FROM exptrace_audit "
            "WHERE action = 'rollback' GROUP BY experiment_id"
        ).rows
        return dict(rows)

    def first_rollback(self, experiment_id: str) -> str | None:
        """When ``experiment_id`` was first rolled back (UTC, as the registry writes times), or
        None: from then on a rolled-back variant's units are sent to control."""
        rows = self.store.query(
            "SELECT toString(min(at)) FROM exptrace_audit "
            "WHERE experiment_id = {id:String} AND action = 'rollback' HAVING count() > 0",
            {"id": experiment_id},
        ).rows
        return rows[0][0] if rows else None

    def set_policy(self, experiment_id: str, policy: str, actor: str) -> dict[str, Any]:
        """What the watcher does when ``experiment_id`` fails (one of :data:`POLICIES`): an
        audit entry (action ``policy``, old and new policy)."""
        if policy not in POLICIES:
            raise RegistryError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        with self._lock:
            self.get(experiment_id)  # UnknownExperiment when it is not registered
            before = self.policies().get(experiment_id, POLICIES[0])
            self._audit(
                _now(),
                actor,
                experiment_id,
                "policy",
                json.dumps({"policy": before}),
                json.dumps({"policy": policy}),
            )
            return {"experiment": experiment_id, "policy": policy}

    def policies(self) -> dict[str, str]:
        """Each experiment's watch policy, where one was set (the others: ``notify``)."""
        rows = self.store.query(
            "SELECT experiment_id, new FROM exptrace_audit WHERE action = 'policy' "
            "ORDER BY at DESC LIMIT 1 BY experiment_id"
        ).rows
        return {experiment_id: json.loads(entry)["policy"] for experiment_id, entry in rows}

    def freeze(self, actor: str, reason: str) -> Freeze:
        """Freeze experiments: none starts until :meth:`unfreeze` (running ones go on)."""
        require_reason(reason)
        with self._lock:
            log = FreezeLog(self.store)
            if log.current().frozen:
                raise RegistryConflict(log.current().describe())
            return log.append(True, actor, reason, _now())

    def unfreeze(self, actor: str, reason: str = "") -> Freeze:
        with self._lock:
            log = FreezeLog(self.store)
            if not log.current().frozen:
                raise RegistryConflict("experiments are not frozen")
            return log.append(False, actor, reason, _now())

    def history(self, experiment_id: str | None = None) -> list[dict[str, Any]]:
        """Audit rows of one experiment (:class:`UnknownExperiment` if it has none), or of all."""
        rows = self.store.query(
            "SELECT at, actor, experiment_id, action, old, new FROM exptrace_audit "
            "WHERE {id:String} = '' OR experiment_id = {id:String} ORDER BY at, experiment_id",
            {"id": experiment_id or ""},
        ).dicts()
        if experiment_id and not rows:
            raise UnknownExperiment(f"no experiment {experiment_id!r} is registered")
        return rows

    def events(self, start: str, end: str) -> list[dict[str, Any]]:
        """Registry changes between ``start`` and ``end`` (for incident attribution)."""
        return self.store.query(
            "SELECT at, actor, experiment_id, action FROM exptrace_audit "
            "WHERE at >= {start:DateTime64(9)} AND at < {end:DateTime64(9)} ORDER BY at",
            {"start": start, "end": end},
        ).dicts()

    def _write(
        self, new: Experiment, old: Experiment | None, action: str, actor: str
    ) -> Experiment:
        new = replace(
            new, version=(old.version if old else 0) + 1, changed_at=_now(), changed_by=actor
        )
        values = {
            name: getattr(new, "id" if name == "experiment_id" else name) for name in _COLUMNS
        }
        self.store.command(_INSERT, values)
        self._audit(
            new.changed_at or _now(),
            actor,
            new.id,
            action,
            json.dumps(old.to_dict(), sort_keys=True) if old else "",
            json.dumps(new.to_dict(), sort_keys=True),
        )
        for dictionary in ("exptrace_artifact_links", "exptrace_known_experiments"):
            with contextlib.suppress(StoreError):  # ingest sees the change now, not in 30 s
                self.store.command(f"SYSTEM RELOAD DICTIONARY {dictionary}")
        return new

    def _audit(
        self, at: str, actor: str, experiment_id: str, action: str, old: str, new: str
    ) -> None:
        self.store.command(
            "INSERT INTO exptrace_audit (at, actor, experiment_id, action, old, new) VALUES "
            "({at:DateTime64(3)}, {actor:String}, {id:String}, {action:String}, {old:String}, "
            "{new:String})",
            {
                "at": at,
                "actor": actor,
                "id": experiment_id,
                "action": action,
                "old": old,
                "new": new,
            },
        )


def require_reason(reason: Any) -> None:
    """Rollbacks, freezes and decisions say why: a non-empty string."""
    if not isinstance(reason, str) or not reason.strip():
        raise RegistryError("a reason is required: say why (it goes to the log)")


def known(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` as is, unless its experiment is neither registered nor seen in its window."""
    if not report.get("registered") and not report.get("cohorts"):
        raise UnknownExperiment(
            f"no experiment {report['experiment']!r} is registered or seen in this window"
        )
    return report


def _number(value: Any) -> bool:
    """A finite JSON number, not a boolean (``true`` is not a weight)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _from_row(row: list[Any]) -> Experiment:
    data = dict(zip(_COLUMNS, row, strict=True))
    data["id"] = data.pop("experiment_id")
    data["variants"] = {k: float(v) for k, v in data["variants"].items()}
    data["slo"] = {k: float(v) for k, v in data["slo"].items()}
    data["version"] = int(data["version"])
    return Experiment(**data)
