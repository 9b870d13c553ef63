"""What botocore's bundled service models say (data shipped with botocore, no AWS call)."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def lambda_runtimes() -> tuple[str, ...]:
    """Every runtime identifier in botocore's Lambda model (its `Runtime` enum).

    The model still lists every runtime Lambda ever had; `recursectl.build.runtimes` subtracts the
    deprecated ones.
    """
    from botocore.loaders import Loader

    model = Loader().load_service_model("lambda", "service-2")
    return tuple(str(name) for name in model["shapes"]["Runtime"]["enum"])
