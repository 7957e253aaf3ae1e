"""`stream-classifier serve`: the HTTP API that batches across requests, and the live web page."""
