"""The watcher's findings as Prometheus gauges on ``/metrics``, for teams who alert from
Prometheus (``deploy/prometheus/exptrace-rules.yml``)."""

from __future__ import annotations

from exptrace.query.core import FIRING, SEVERITY, Watcher

FAILING = "exptrace_experiment_failing"
LAST_ROUND = "exptrace_watch_last_round_timestamp_seconds"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition(watcher: Watcher) -> str:
    """1 per experiment, variant and rule that fails in the last round, else 0; and when that
    round ended (absent before the first)."""
    lines = [
        f"# HELP {FAILING} 1 when the variant fails the rule over the experiment's whole run "
        "(the watcher's last round), else 0.",
        f"# TYPE {FAILING} gauge",
    ]
    for f in watcher.latest:
        labels = {
            "experiment": f.experiment,
            "variant": f.variant or "all",
            "rule": f.rule,
            "severity": SEVERITY[f.rule],
        }
        text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        lines.append(f"{FAILING}{{{text}}} {int(f.state == FIRING)}")
    lines += [
        f"# HELP {LAST_ROUND} When the watcher's last round ended (Unix seconds).",
        f"# TYPE {LAST_ROUND} gauge",
    ]
    if watcher.last_round_at is not None:
        lines.append(f"{LAST_ROUND} {watcher.last_round_at:.3f}")
    return "\n".join(lines)
