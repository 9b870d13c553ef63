"""Function configuration as the engine uses it, read from moto and cached per generation."""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from recursectl.local import errors
from recursectl.local.engine.attempt import FunctionSpec
from recursectl.local.motowire import ACCOUNT_ID, Moto
from recursectl.local.worker import interpreters

DEFAULT_MAX_RETRIES = 2  # AWS's default for async invocations
DEFAULT_MAX_EVENT_AGE = 21600  # seconds (6 hours)


@dataclass(frozen=True)
class FunctionConfig:
    spec: FunctionSpec
    reserved: int | None
    max_retries: int
    max_age: int
    # Async destinations (DestinationConfig) and the dead-letter queue (DeadLetterConfig).
    on_success: str | None = None
    on_failure: str | None = None
    dead_letter: str | None = None


def env_number(key: str, default: float) -> float:
    """A machine-wide setting from the environment of the process running the local cloud."""
    try:
        return float(os.environ.get(key, default))
    except ValueError:
        return default


@dataclass
class Limits:
    """Concurrency and lifetime knobs (`recursectl local serve` options, environment)."""

    # A per-function cap AWS does not have; None (the default) leaves only reserved
    # concurrency and the account limit, as on AWS.
    function_concurrency: int | None = None
    total_concurrency: int = 32  # worker processes this machine holds (a local limit)
    idle_timeout: float = 300.0  # seconds before an idle environment is reaped
    retry_delays: tuple[float, ...] = (1.0, 2.0)  # AWS waits ~1 and ~2 minutes; locally seconds
    # AWS's default account concurrency (1,000) and the 100 it always keeps unreserved.
    account_concurrency: int = field(
        default_factory=lambda: int(env_number("RECURSECTL_LOCAL_ACCOUNT_CONCURRENCY", 1000))
    )
    min_unreserved: int = 100
    # Seconds a new function stays Pending / an update InProgress (AWS: about a second).
    state_delay: float = field(
        default_factory=lambda: env_number("RECURSECTL_LOCAL_STATE_DELAY", 0.3)
    )


def read_config(
    moto: Moto,
    region: str,
    endpoint: str,
    name: str,
    qualifier: str | None,
    logging_configs: dict[str, dict[str, Any]] | None = None,
    dead_letters: dict[str, str] | None = None,
) -> FunctionConfig:
    """A function's configuration, read from moto over the wire (ResourceNotFound if none)."""
    base = f"/2015-03-31/functions/{quote(name, safe='')}"
    query = f"Qualifier={quote(qualifier)}" if qualifier else ""
    code, conf = moto.aws("lambda", "GET", f"{base}/configuration", region=region, query=query)
    if code == 404 or not isinstance(conf, dict):
        arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"
        if qualifier:
            arn += f":{qualifier}"
        raise errors.ResourceNotFound(f"Function not found: {arn}")
    _, conc = moto.aws(
        "lambda",
        "GET",
        f"/2019-09-30/functions/{quote(name, safe='')}/concurrency",
        region=region,
    )
    reserved = (conc or {}).get("ReservedConcurrentExecutions")
    code, eic = moto.aws(
        "lambda",
        "GET",
        f"/2019-09-25/functions/{quote(name, safe='')}/event-invoke-config",
        region=region,
    )
    eic = eic if code == 200 and isinstance(eic, dict) else {}
    variables = ((conf.get("Environment") or {}).get("Variables")) or {}
    logging_config = (logging_configs or {}).get(name) or conf.get("LoggingConfig") or {}
    spec = FunctionSpec(
        name=str(conf["FunctionName"]),
        arn=str(conf["FunctionArn"]),
        handler=str(conf.get("Handler") or "handler.handler"),
        runtime=str(conf.get("Runtime") or ""),
        memory=int(conf.get("MemorySize") or 128),
        timeout=int(conf.get("Timeout") or 3),
        variables=tuple(sorted((str(k), str(v)) for k, v in variables.items())),
        code_sha=str(conf.get("CodeSha256") or ""),
        version=str(conf.get("Version") or "$LATEST"),
        log_group=str(logging_config.get("LogGroup") or f"/aws/lambda/{conf['FunctionName']}"),
        region=region,
        endpoint=endpoint,
        log_format=str(logging_config.get("LogFormat") or "Text"),
        app_log_level=str(logging_config.get("ApplicationLogLevel") or ""),
        system_log_level=str(logging_config.get("SystemLogLevel") or ""),
        role=str(conf.get("Role") or ""),
    )
    destinations = eic.get("DestinationConfig") or {}
    return FunctionConfig(
        spec=spec,
        reserved=int(reserved) if reserved is not None else None,
        max_retries=int(eic.get("MaximumRetryAttempts", DEFAULT_MAX_RETRIES)),
        max_age=int(eic.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE)),
        on_success=(destinations.get("OnSuccess") or {}).get("Destination") or None,
        on_failure=(destinations.get("OnFailure") or {}).get("Destination") or None,
        # moto drops DeadLetterConfig: the front door keeps it (by function name)
        dead_letter=(dead_letters or {}).get(name) or None,
    )


class ConfigCache:
    """Configurations by (name, qualifier), valid until the next control-plane write."""

    def __init__(
        self,
        moto: Moto,
        region: str,
        logging_configs: dict[str, dict[str, Any]] | None = None,
        dead_letters: dict[str, str] | None = None,
    ) -> None:
        self.moto = moto
        self.logging = logging_configs
        self.dead_letters = dead_letters
        self.region = region
        self.endpoint = ""
        self.generation = 0
        self._lock = threading.Lock()
        self._configs: dict[tuple[str, str | None], tuple[int, FunctionConfig]] = {}

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._configs.clear()

    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        key = (name, qualifier)
        with self._lock:
            generation = self.generation
            cached = self._configs.get(key)
        if cached and cached[0] == generation:
            return cached[1]
        cfg = read_config(
            self.moto,
            self.region,
            self.endpoint,
            name,
            qualifier,
            self.logging,
            self.dead_letters,
        )
        with self._lock:
            self._configs[key] = (generation, cfg)
        return cfg


def runtime_note(declared: str) -> str | None:
    """Say so when the function's declared runtime is not the interpreter that runs it."""
    if declared.startswith("nodejs"):
        from recursectl.local.worker.node_env import runtime_note as node_note

        return node_note(declared)
    local = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if not declared or declared == local or interpreters.for_runtime(declared):
        return None
    return f"declared runtime {declared}; the local cloud runs it with {local} ({sys.executable})"
