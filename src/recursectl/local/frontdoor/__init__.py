"""The front door: HTTP, routes, the control plane around moto, the logs API, Live Tail, IAM and
access checks."""
