"""Prometheus metrics of one process, in a registry of its own (no global state between apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Buckets in seconds, dense under 50 ms where the API's goals are (p99 ≤ 25 ms for submit-need).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Requests and latency per route, and the outbox depth by status."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dangqun_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dangqun_http_request_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "dangqun_outbox_messages",
            "Outbox messages by delivery status",
            ["status"],
            registry=self.registry,
        )

    def observe_request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def set_outbox_depth(self, counts: dict[str, int]) -> None:
        for status, count in counts.items():
            self.outbox_depth.labels(status).set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
