"""The worker side: execution environments, spawn, the Runtime API, pipes, the sandbox, the log
sink."""
