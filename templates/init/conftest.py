"""pytest setup written by `recursectl init`: makes recursectl's chain helper importable.

On Lambda, `recursectl deploy` packages `recursectl_chain.py` next to the handler; in tests
it comes from the recursectl installation (this file is not packaged: conftest.py is excluded).
"""

from __future__ import annotations

import sys

try:
    import recursectl_chain  # noqa: F401  (a copy on the path already)
except ImportError:
    try:
        from recursectl.build.package import helper_dir
    except ImportError as exc:  # pragma: no cover - recursectl not installed here
        raise ImportError(
            "the tests need recursectl installed (pip install recursectl) for recursectl_chain"
        ) from exc
    sys.path.insert(0, str(helper_dir()))
