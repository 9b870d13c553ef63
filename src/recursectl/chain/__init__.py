"""The core domain, pure (no I/O): parse log events, link invocations into chains, stats."""
