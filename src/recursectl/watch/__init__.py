"""Watching a chain: the poller, the Live Tail feed, follow, the live view, render, the timeline
page."""
