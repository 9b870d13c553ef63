"""The seed-style Node handlers the tests run.

The project's own example (examples/seed/) is always there; the original seed is read from
../shared/seed/ when that folder is beside the repository (a clone alone does not have it).
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEED_HANDLERS = {
    "example": REPO / "examples" / "seed" / "handler.js",
    "shared-seed": REPO.parent / "shared" / "seed" / "handler.js",
}
