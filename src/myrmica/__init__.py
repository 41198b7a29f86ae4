"""Myrmica: a job-orchestration engine."""

__version__ = "0.1.0"
