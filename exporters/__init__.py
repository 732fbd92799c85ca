"""flextime-exporters: Prometheus exporters for hosts, PostgreSQL, Redis and job queues."""

__version__ = "0.1.0"
