"""Rollout gates: may a rollout go on? Read from the watcher's stored findings.

``pass``: every rule of the variant (and the experiment's SRM check) passes over the whole
run; ``fail``: one of them fails, or the variant was rolled back; ``inconclusive``: neither
yet (keep waiting). Argo Rollouts' web metric provider reads the answer; Flagger's webhooks
get it as status codes (``gates_api``).
"""

from __future__ import annotations

from typing import Any

from exptrace.query.core.freeze import FreezeLog
from exptrace.query.core.registry import Registry
from exptrace.query.core.watch import FIRING, RULES, SRM, Watcher
from exptrace.query.errors import BadInput

FLAGGER_HOOKS = ("confirm-rollout", "rollout", "confirm-promotion", "rollback")
"""The Flagger webhook types exptrace answers."""


def verdict(watcher: Watcher, experiment: str, variant: str = "") -> dict[str, Any]:
    """The gate's answer for ``variant`` (every treatment when empty) of ``experiment``."""
    registered = watcher.registry.get(experiment)  # UnknownExperiment: 404
    treatments = [v for v in registered.variants if v != registered.control]
    if variant and variant not in treatments:
        raise BadInput(f"{variant!r} is not a treatment of {experiment}")
    asked = [variant] if variant else treatments
    rows = [r for r in watcher.state(experiment) if r["variant"] in asked or r["rule"] == SRM]
    states = {f"{r['variant'] or 'all'}/{r['rule']}": r["state"] for r in rows}
    if any(s in (FIRING, "rolled_back") for s in states.values()):
        result = "fail"
    elif all(states.get(f"{v}/{rule}") == "pass" for v in asked for rule in RULES) and all(
        s == "pass" for s in states.values()
    ):
        result = "pass"
    else:
        result = "inconclusive"
    return {
        "result": result,
        "experiment": experiment,
        "variants": asked,
        "status": registered.status,
        "rules": states,
    }


def flagger(
    watcher: Watcher, registry: Registry, hook: str, experiment: str, variant: str
) -> tuple[bool, dict[str, Any]]:
    """Whether Flagger's ``hook`` should go on (True) or halt, and why.

    ``confirm-rollout``: go unless the variant fails or experiments are frozen.
    ``rollout`` (a check during analysis): go unless it fails. ``confirm-promotion``: go only
    once it passes (inconclusive: wait). ``rollback``: "go" means roll back now, when it fails.
    """
    if hook not in FLAGGER_HOOKS:
        raise BadInput(f"unknown Flagger hook {hook!r}: use one of {', '.join(FLAGGER_HOOKS)}")
    answer = verdict(watcher, experiment, variant)
    result = answer["result"]
    if hook == "confirm-rollout":
        frozen = FreezeLog(registry.store).current()
        go = result != "fail" and not frozen.frozen
        if frozen.frozen:
            answer["reason"] = frozen.describe()
    elif hook == "rollout":
        go = result != "fail"
    elif hook == "confirm-promotion":
        go = result == "pass"
    else:
        go = result == "fail"
    return go, {**answer, "hook": hook, "go": go}
