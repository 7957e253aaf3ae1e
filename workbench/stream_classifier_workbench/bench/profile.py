"""`stream-classifier bench profile`: where the engine's time goes, on the bench's real texts.

Two views of the shipped INT8 embedding engine, batches as the stream makes them:
1. Per phase of a batch: tokenization (one tokenizer call), assembling the padded id matrices,
   inference (length-sorted sub-batches, onnxruntime), scoring (cosine + softmax).
2. Inside inference: onnxruntime's own profile, time per operator type.
3. The integer GEMMs against this CPU's int8 ceiling, measured in the same run (`int8_peak`).
The Kafka side (polling, JSON decoding, producing, committing) is the stream bench's gap between
the stream and the engine alone.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from stream_classifier_workbench.bench.engine import bench_texts, in_batches


def run_profile(
    out_dir: Path, texts: int = 512, batch_size: int = 32, model: str | None = None, progress=lambda m: None
) -> dict:
    from stream_classifier.labels import DEFAULT_LABEL_FILE, load_label_set
    from stream_classifier.model.engines import load_engine
    from stream_classifier.model.location import resolve_model_dir
    from stream_classifier.model.pairs import assemble_singles
    from stream_classifier.model.runtime import SubBatching
    from stream_classifier.model.vectors import unit_rows
    from stream_classifier_workbench.bench import int8_peak

    model_dir = resolve_model_dir(model)
    engine = load_engine(model_dir, sub_batching=SubBatching(max_texts=batch_size), cache_entries=0)
    label_set = load_label_set(DEFAULT_LABEL_FILE)
    prepared = engine.prepare(label_set)
    batches = in_batches(bench_texts(texts), batch_size)
    model = engine.model

    def one_pass() -> dict[str, float]:
        spent = Counter()
        for batch in batches:
            t0 = time.perf_counter()
            rows = engine._tokenize(batch, model.manifest.text_prefix)
            t1 = time.perf_counter()
            assembled = assemble_singles(rows, engine.layout, model.max_length, model.pad_id)
            t2 = time.perf_counter()
            embedded = engine._run_sorted(
                assembled.input_ids, assembled.attention_mask, assembled.token_type_ids, assembled.lengths
            )
            t3 = time.perf_counter()
            engine._finalize(prepared.payload.scores(unit_rows(embedded)), label_set)
            t4 = time.perf_counter()
            spent.update({"tokenize": t1 - t0, "assemble (padding)": t2 - t1, "inference": t3 - t2, "scoring": t4 - t3})
        return dict(spent)

    progress("warm-up")
    one_pass()
    progress("timing the phases")
    phases = one_pass()

    progress("onnxruntime operator profile")
    model.session = model.open_session(profile_prefix=os.path.join(tempfile.mkdtemp(prefix="sc-profile-"), "ort"))
    one_pass()
    trace_path = Path(model.session.end_profiling())
    operators = Counter()
    for event in json.loads(trace_path.read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            operators[event["args"]["op_name"]] += event["dur"] / 1e6
    trace_path.unlink()

    lengths = [len(r) for batch in batches for r in engine._tokenize(batch, model.manifest.text_prefix)]
    progress("int8 matrix-multiply ceiling of this CPU (MatMulInteger micro-benchmark)")
    layers = int(model.manifest.quantization.get("matmul_int8", 0)) // 6  # six linear layers per BERT layer
    ops = int8_peak.engine_int8_ops(lengths, int8_peak.int8_macs_per_token(model.model_dir / model.variant))
    gemm_s = operators.get("MatMulIntegerToFloat", 0.0)
    report = {
        "model": model.model_id,
        "texts": sum(len(b) for b in batches),
        "batch_size": batch_size,
        "tokens": {
            "mean": float(np.mean(lengths)),
            "p50": float(np.percentile(lengths, 50)),
            "p90": float(np.percentile(lengths, 90)),
            "max": int(max(lengths)),
        },
        "phases_s": phases,
        "operators_s": dict(operators.most_common()),
        "int8": {
            "layers": layers,
            "useful_ops": ops,
            "gemm_gops": ops / gemm_s / 1e9 if gemm_s else None,
            "inference_gops": ops / phases["inference"] / 1e9,
            "peak_gops": int8_peak.measure(),
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench-profile.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def format_profile(report: dict, top: int = 12) -> str:
    tokens = report["tokens"]
    from stream_classifier.model.cpu_features import cpu_features

    lines = [
        f"CPU: {cpu_features().describe()}",
        f"{report['texts']} texts in batches of {report['batch_size']}, {report['model']}; tokens per text "
        f"mean {tokens['mean']:.0f}, p50 {tokens['p50']:.0f}, p90 {tokens['p90']:.0f}, max {tokens['max']}",
        "| phase of a batch | s | share |",
        "|---|---|---|",
    ]
    total = sum(report["phases_s"].values())
    for name, seconds in report["phases_s"].items():
        lines.append(f"| {name} | {seconds:.2f} | {100 * seconds / total:.1f}% |")
    lines += ["", "| onnxruntime operator | s | share of inference |", "|---|---|---|"]
    total = sum(report["operators_s"].values())
    for name, seconds in list(report["operators_s"].items())[:top]:
        lines.append(f"| {name} | {seconds:.2f} | {100 * seconds / total:.1f}% |")
    int8 = report.get("int8")
    if int8:
        peak = max(int8["peak_gops"].values())
        lines += [
            "",
            f"int8 GEMM work: {int8['useful_ops'] / 1e9:.1f} G ops ({int8['layers']} layers, second "
            "passes included, unpadded tokens)",
            "| int8 throughput | G ops/s | of this CPU's peak |",
            "|---|---|---|",
        ]
        for name, gops in int8["peak_gops"].items():
            lines.append(f"| micro-benchmark: {name} | {gops:.1f} | {100 * gops / peak:.0f}% |")
        if int8["gemm_gops"]:
            lines.append(
                f"| engine, inside MatMulIntegerToFloat | {int8['gemm_gops']:.1f} | "
                f"{100 * int8['gemm_gops'] / peak:.0f}% |"
            )
        lines.append(
            f"| engine, whole inference | {int8['inference_gops']:.1f} | {100 * int8['inference_gops'] / peak:.0f}% |"
        )
    return "\n".join(lines)
