"""The worker's Prometheus metrics, in one registry that `GET /metrics` serves (web/metrics.py).

Counters are incremented where the thing happens (ingest, the run agent, the watchdog); gauges that
describe a state (runs active, sink backlog, each run's unapplied records) are set when scraped or
by the timer that already computes them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

readings_ingested = Counter("sp_readings_ingested", "Readings acknowledged to clients (in Kafka)",
                            ["device"], registry=REGISTRY)
readings_rejected = Counter("sp_readings_rejected", "Readings refused at the gateway, by reason",
                            ["device", "reason"], registry=REGISTRY)
records_processed = Counter("sp_records_processed", "Records the run agent applied, by kind",
                            ["kind"], registry=REGISTRY)
records_recovered = Counter("sp_records_recovered",
                            "Records Faust did not deliver that the run agent read back from Kafka, by how "
                            "they were found (gap: an offset gap; watchdog: a stalled run; control: a control gap)",
                            ["how"], registry=REGISTRY)
webhook_attempts = Counter("sp_webhook_attempts", "Webhook POSTs sent, by result (accepted, failed)",
                           ["result"], registry=REGISTRY)
webhook_deliveries = Counter("sp_webhook_deliveries", "Webhook deliveries finished, by outcome (delivered, dead)",
                             ["outcome"], registry=REGISTRY)
catch_ups_sent = Counter("sp_watchdog_catch_ups", "Catch-ups the watchdog sent for stalled runs", registry=REGISTRY)
run_unapplied_records = Gauge("sp_run_unapplied_records",
                              "Records in Kafka a run owned by this worker has not applied (its lag)",
                              ["topic", "partition"], registry=REGISTRY)
runs_active = Gauge("sp_runs_active", "Active runs this worker owns", registry=REGISTRY)
sink_rows_written = Gauge("sp_sink_rows_written", "Rows the archive sink has written to Cassandra",
                          registry=REGISTRY)
sink_unwritten_records = Gauge("sp_sink_unwritten_records",
                               "Records in this worker's sink partitions not yet written to Cassandra",
                               registry=REGISTRY)
request_seconds = Histogram("sp_request_seconds", "Time to answer an HTTP request, by route and method",
                            ["route", "method"], registry=REGISTRY,
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0))
loop_lag_seconds = Histogram("sp_event_loop_lag_seconds",
                             "How late the worker's event loop woke a 10 ms timer: what a query can wait "
                             "behind ingest, the run agent and the sink, which share the loop",
                             registry=REGISTRY,
                             buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
