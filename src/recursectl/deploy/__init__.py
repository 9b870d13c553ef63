"""Deploying: desired state -> plan (pure) -> apply -> result; env vars; operations."""
