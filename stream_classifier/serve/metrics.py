"""The stream's metrics plus what only the HTTP service has: requests by outcome, the queue."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from stream_classifier.observability import LATENCY_BUCKETS, Metrics


class ServeMetrics(Metrics):
    def __init__(self):
        super().__init__()
        r = self.registry
        self.serve_requests = Counter(
            "sc_serve_requests", "HTTP classify requests by status code", ["status"], registry=r
        )
        self.serve_texts = Counter("sc_serve_texts", "Texts in classify requests that were answered", registry=r)
        self.serve_queue = Gauge("sc_serve_queue_texts", "Texts waiting for the engine worker", registry=r)
        self.serve_latency = Histogram(
            "sc_serve_request_seconds", "Classify request latency (answered ones)", buckets=LATENCY_BUCKETS, registry=r
        )
        self.live_records = Counter("sc_serve_live_records", "Records the live view read", ["kind"], registry=r)
        self.review_pending = Gauge(
            "sc_review_queue_items", "Review candidates held for the page, per label set", ["label_set"], registry=r
        )
        self.review_answers = Counter(
            "sc_review_answers",
            "Review answers by kind (confirmed, corrected, dismissed), per label set",
            ["label_set", "answer"],
            registry=r,
        )
