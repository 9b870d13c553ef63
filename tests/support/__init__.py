"""Helpers shared by the test tiers (imported by tests and conftests alike)."""
