"""What services assign, as the registry says: the config the registry-backed assigner polls.

One JSON document: per experiment its status, variants and weights, control and rolled-back
variants. Its ETag is a hash of the document, so an unchanged registry answers 304.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from exptrace.query.core.registry import Registry


def assignment_config(registry: Registry) -> dict[str, Any]:
    """Every registered experiment as the assigner needs it."""
    rolled_back = registry.rollbacks()
    return {
        "experiments": {
            e.id: {
                "status": e.status,
                "variants": e.variants,
                "control": e.control,
                "rolled_back": sorted(set(rolled_back.get(e.id, ()))),
            }
            for e in registry.list()
        }
    }


def encode(config: dict[str, Any]) -> tuple[bytes, str]:
    """The config's JSON body and its strong ETag (quoted, as HTTP has it)."""
    body = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'
