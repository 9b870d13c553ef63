"""The job API is a module of its own (recursectl_job.py, recursectl_chain.job.cjs), packaged
next to the helper and loaded only when a job runs: on the local cloud, in Python and Node, a
plain invocation of a guarded function leaves it unloaded, and a job's hop in the same
environment loads it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.jobs import deploy_job_function

PY_HANDLER = r"""
import sys
import recursectl_chain

def handler(event, context):
    if event.get("job"):
        job = recursectl_chain.job(event, context)
        return job.done({"loaded": "recursectl_job" in sys.modules})
    return {"loaded": "recursectl_job" in sys.modules}
"""

NODE_HANDLER = r"""
const { job: startJob } = require('./recursectl_chain.cjs');
const loaded = () => Object.keys(require.cache).some((f) => f.endsWith('recursectl_chain.job.cjs'));
exports.handler = async (event, context) => {
  if (event.job) {
    const job = await startJob(event, context);
    return job.done({ loaded: loaded() });
  }
  return { loaded: loaded() };
};
"""

RUNTIMES = {"python": ("python3.11", PY_HANDLER), "node": ("nodejs20.x", NODE_HANDLER)}


@pytest.fixture(params=sorted(RUNTIMES))
def runtime(request: pytest.FixtureRequest) -> str:
    if request.param == "node":
        request.getfixturevalue("node_ready")
    return str(request.param)


def _invoke(lam: Any, name: str, event: dict[str, Any]) -> Any:
    got = lam.invoke(FunctionName=name, Payload=json.dumps(event))
    assert "FunctionError" not in got, got["Payload"].read()
    return json.loads(got["Payload"].read())


def test_a_plain_invocation_never_loads_the_job_module_and_a_jobs_hop_does(
    endpoint: str, runtime: str
) -> None:
    lambda_runtime, source = RUNTIMES[runtime]
    fn = deploy_job_function(endpoint, f"lazy-{runtime}", source, runtime=lambda_runtime)
    # Twice: a cold environment, then the warm one (a chain context of its own each time).
    assert _invoke(fn.lam, fn.name, {}) == {"loaded": False}
    assert _invoke(fn.lam, fn.name, {"n": 2}) == {"loaded": False}
    assert _invoke(fn.lam, fn.name, {"job": True}) == {"loaded": True}


DYNAMO_HANDLER = r"""
import sys
import recursectl_chain

def handler(event, context):
    if event.get("job"):
        recursectl_chain.job(event, context).done({})
    return {"dynamo": "recursectl_dynamo" in sys.modules}
"""


def test_the_python_helpers_dynamodb_client_is_loaded_on_its_first_call(endpoint: str) -> None:
    """recursectl_dynamo.py: compiled by an environment only when it first writes (~1.4 ms a
    cold start otherwise); a job's hop writes its records through it."""
    fn = deploy_job_function(endpoint, "lazy-dynamo", DYNAMO_HANDLER, runtime="python3.11")
    assert _invoke(fn.lam, fn.name, {}) == {"dynamo": False}
    assert _invoke(fn.lam, fn.name, {"job": True}) == {"dynamo": True}
