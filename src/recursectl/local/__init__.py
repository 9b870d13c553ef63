"""The embedded local cloud: moto for the control plane, real awslambdaric workers for Invoke.

Standalone: imports neither recursectl.cli nor recursectl.aws. The module map and the flow of
an Event invoke are in docs/architecture.md ("The local cloud, as built").

Threads of the local cloud (one process):
- front door: the accept loop (the daemon's main thread) and one thread per client
  connection (`netserver`, at most 512) running `FrontDoor.handle`; a sync Invoke runs on
  its connection's thread, waiting for the result.
- async pool (`async-*`, up to 256): one per running Event invocation (`asyncq`).
- Runtime API servers: one accept thread per environment, plus one connection thread for its
  awslambdaric client (which long-polls /next there).
- spawner: forks every worker, from one long-lived thread (PDEATHSIG is per thread).
- pipe reader: one epoll thread for every worker's stdout and telemetry pipes.
- log writer: one thread batching PutLogEvents into moto (`logsink`).
- destinations: one thread sending invocation records and dead letters (`destinations`).
- reaper: once a second, retires idle environments, expires old events and (in the
  daemon, a subreaper) kills and reaps orphaned handler processes.
- retry timers: one short-lived `threading.Timer` per async retry.
State shared between them is behind `EngineCore._lock`; moto behind `Moto._lock`.
"""
