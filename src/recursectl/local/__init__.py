"""The embedded local cloud: moto for the control plane, real awslambdaric workers for Invoke.

Standalone: imports neither recursectl.cli nor recursectl.aws.
"""
