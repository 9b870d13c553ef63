"""The packaged chain helper loaded by path, under a name of its own, for tests that read its
values; taken off again without importing botocore (botocore.client costs ~0.3 s to import, a
unit test must not pay for it). Loading the helper installs its guard: on botocore.client if
that is already loaded, else a meta-path hook that patches it on import. Both are undone."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

HELPER = Path(__file__).parents[2] / "templates" / "python" / "recursectl_chain.py"


def exec_helper(name: str, *, register: bool) -> ModuleType:
    """A fresh copy of the helper run as module `name`; `register`: in sys.modules while it
    runs and after, as the runtime imports it (taken out again if it raises)."""
    spec = importlib.util.spec_from_file_location(name, HELPER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    writes = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # no __pycache__ in templates/: the wheel takes it whole
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if register:
            del sys.modules[name]
        raise
    finally:
        sys.dont_write_bytecode = writes
    return module


@contextmanager
def helper_copy(name: str) -> Iterator[ModuleType]:
    # Registered, as the runtime imports it: the job module (loaded by path on first use)
    # is handed the helper from sys.modules.
    module = exec_helper(name, register=True)
    try:
        yield module
    finally:
        sys.modules.pop(name, None)
        sys.modules.pop(f"{name}__job", None)
        sys.modules.pop(f"{name}__dynamo", None)
        sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_PatchOnImport"]
        client = sys.modules.get("botocore.client")
        if client is not None:  # another test loaded botocore: the guard went on directly
            current = client.BaseClient.__dict__["_make_api_call"]
            while hasattr(current, "_recursectl_original"):
                current = current._recursectl_original
            client.BaseClient._make_api_call = current
