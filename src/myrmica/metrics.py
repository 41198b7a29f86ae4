"""Prometheus metrics, one registry per server."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.definitions_saved = Counter("myrmica_job_definitions_saved", "Job definition versions saved",
                                         registry=self.registry)
        self.requests_submitted = Counter("myrmica_job_requests_submitted", "Job requests submitted",
                                          registry=self.registry)
        self.requests_finished = Counter("myrmica_job_requests_finished", "Job requests that ended",
                                         ["state"], registry=self.registry)
        self.tasks_finished = Counter("myrmica_task_executions_finished", "Task executions that ended",
                                      ["method", "state"], registry=self.registry)
        self.submit_to_start = Histogram("myrmica_submit_to_start_seconds", "Time from submit to first task",
                                         registry=self.registry,
                                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5))
        self.ants_live = Gauge("myrmica_ants_live", "Ants with a fresh heartbeat", registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
