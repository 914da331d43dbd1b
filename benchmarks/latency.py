"""Throughput and latency percentiles of a timed run of requests or calls."""

from __future__ import annotations

import statistics


def summary(latencies: list[float], wall: float) -> dict[str, float]:
    """Requests per second, p50 and p99 (ms) of a run.

    Args:
        latencies: seconds per request or call.
        wall: seconds the whole run took.

    Returns:
        `{"rps", "p50_ms", "p99_ms"}`.
    """
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / wall,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    }
