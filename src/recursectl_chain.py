"""recursectl's chain helper, importable wherever recursectl is installed.

A handler written by `recursectl init` imports `recursectl_chain`; on Lambda (and on the local
cloud) deploy packages the helper next to the handler. This module makes the same import work
on the developer's machine too (`python -c "import handler"`, a REPL, the project's own tests):
it loads the one helper recursectl ships (templates/python/recursectl_chain.py) under this name.
"""

from __future__ import annotations

import importlib.util
import sys

from recursectl.build.package import HELPER, helper_dir

_spec = importlib.util.spec_from_file_location(__name__, helper_dir() / HELPER)
if _spec is None or _spec.loader is None:  # pragma: no cover - a broken installation
    raise ImportError("recursectl's chain helper is missing; reinstall recursectl")
_module = importlib.util.module_from_spec(_spec)
sys.modules[__name__] = _module  # the helper itself, not this loader, is `recursectl_chain`
_spec.loader.exec_module(_module)
