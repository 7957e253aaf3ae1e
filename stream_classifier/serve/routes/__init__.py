"""The HTTP endpoints, one module per group: classify, label sets, the live stream, operations."""
