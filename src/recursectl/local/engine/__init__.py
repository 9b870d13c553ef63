"""The engine: Invoke as Lambda does it: queues, slots, the pool, lineage, destinations,
attempts."""
