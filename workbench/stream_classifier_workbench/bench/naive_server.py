"""The origin's design, as the bench's baseline: a FastAPI handler that runs the engine once per request.

A blocking handler (FastAPI runs it in its thread pool), no queue, no batching across requests:
each request's texts go straight to `engine.classify`. Same engine, same model, same label set.

    python -m stream_classifier_workbench.bench.naive_server --model DIR --labels FILE --port N
"""

from __future__ import annotations

import argparse
import sys

from fastapi import FastAPI
from pydantic import BaseModel

from stream_classifier.labels import load_label_set
from stream_classifier.model.engines import ZeroShotEngine, load_engine


class NaiveRequest(BaseModel):
    texts: list[str]
    label_set: str | None = None


def create_naive_app(engine: ZeroShotEngine, label_set) -> FastAPI:
    app = FastAPI(title="naive per-request handler")

    @app.post("/v1/classify")
    def classify(body: NaiveRequest):
        result = engine.classify(body.texts, label_set)
        return {"results": [result.as_dict(i) for i in range(len(body.texts))]}

    @app.get("/readyz")
    def readyz():
        return "ready"

    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cache-entries", type=int, default=0)
    args = parser.parse_args(argv)
    engine = load_engine(args.model, cache_entries=args.cache_entries)
    app = create_naive_app(engine, load_label_set(args.labels))
    print(f"serving on http://127.0.0.1:{args.port}/", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
