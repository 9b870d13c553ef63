"""CLI tests use the same real front door as the functional tests."""

from tests.functional.conftest import _front_door, endpoint

__all__ = ["_front_door", "endpoint"]
