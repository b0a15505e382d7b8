"""Prometheus metrics of one node: HTTP requests and latencies, casty's own counts, members.

Each app has a registry of its own, so several nodes (or test apps) in one process never share
series. casty's counts and the member table are read when `/metrics` is scraped, not kept up to
date on every message.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator

from casty import Event, Member, Stats
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# The `_created` series double every counter for a timestamp no dashboard of ours reads.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class NodeMetrics:
    """The node's series, and the registry `/metrics` renders."""

    def __init__(
        self, stats: Callable[[], Stats | None], members: Callable[[], tuple[Member, ...]]
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from a request's dispatch to its answer, by route template.",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events: Tally[str] = Tally()
        self.repeats: Tally[tuple[str, str]] = Tally()
        self.registry.register(_CastyCollector(stats, members, self.events, self.repeats))
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency.

        The labelled series are looked up once per route, method and status and then kept:
        `labels()` on every request costs more than the increment itself.
        """
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
        count, latency = children
        count.inc()
        latency.observe(seconds)

    def repeated(self, message: str, reason: str) -> None:
        """Count an ask sent once more, by message type and why (`unanswered`, `unavailable`)."""
        self.repeats[(message, reason)] += 1

    def observe(self, event: Event) -> None:
        """Count one casty event by its kind (MemberChanged, WriteFailed...)."""
        self.events[type(event).__name__] += 1


class _CastyCollector(Collector):
    def __init__(
        self,
        stats: Callable[[], Stats | None],
        members: Callable[[], tuple[Member, ...]],
        events: Tally[str],
        repeats: Tally[tuple[str, str]],
    ) -> None:
        self._stats = stats
        self._members = members
        self._events = events
        self._repeats = repeats

    def collect(self) -> Iterator[Metric]:
        by_status = GaugeMetricFamily(
            "casty_members",
            "Members of the cluster as this node sees them, by status.",
            labels=["status"],
        )
        seen = Tally(member.status for member in self._members())
        for status in ("alive", "suspect", "dead", "leaving"):
            by_status.add_metric([status], seen[status])
        yield by_status

        events = CounterMetricFamily(
            "casty_events", "casty events reported on this node, by kind.", labels=["kind"]
        )
        for kind, count in sorted(self._events.items()):
            events.add_metric([kind], count)
        yield events

        repeats = CounterMetricFamily(
            "casty_asks_repeated",
            "Reads and idempotent increments asked once more, by message and reason.",
            labels=["message", "reason"],
        )
        for (message, reason), count in sorted(self._repeats.items()):
            repeats.add_metric([message, reason], count)
        yield repeats

        stats = self._stats()
        if stats is None:
            return
        active = GaugeMetricFamily(
            "casty_activations", "Active keys, by actor type.", labels=["actor"]
        )
        queued = GaugeMetricFamily(
            "casty_mailbox_queued", "Queued messages, by actor type.", labels=["actor"]
        )
        for actor, counts in sorted(stats.actors.items()):
            active.add_metric([actor], counts.active)
            queued.add_metric([actor], counts.queued)
        yield active
        yield queued
        yield GaugeMetricFamily(
            "casty_asks_in_flight", "asks waiting for an answer.", value=stats.asks_in_flight
        )
        yield GaugeMetricFamily(
            "casty_connections", "Open connections to nodes and clients.", value=stats.connections
        )
        yield CounterMetricFamily(
            "casty_writes_confirmed",
            "Writes of owned keys confirmed by their replicas.",
            value=stats.writes_confirmed,
        )
        yield CounterMetricFamily(
            "casty_writes_failed",
            "Writes of owned keys that were not confirmed.",
            value=stats.writes_failed,
        )
        yield CounterMetricFamily(
            "casty_bytes_sent", "Bytes written to connections.", value=stats.bytes_sent
        )
        yield CounterMetricFamily(
            "casty_bytes_received", "Bytes read from connections.", value=stats.bytes_received
        )
