"""The teacher's graph, written from numpy, against the torch export it replaces.

`model build` writes the fp32 graph with onnx's helper API; where torch and transformers are
installed (the dev extra, so in `make test`) the same weights go through transformers'
BertModel and torch.onnx.export as before, and both graphs must give the same embeddings.
"""

import json
import shutil

import numpy as np
import onnx

from stream_classifier.model.engines import load_engine
from stream_classifier.model.manifest import Manifest
from stream_classifier.model.runtime import FP32_FILE, INT8_FILE
from stream_classifier_workbench.building.build import export_torch, torch_default_model
from stream_classifier_workbench.datasets.reviews import stream_texts

TEXTS = 300
TOLERANCE = 1e-5


def test_the_teacher_is_built_from_numpy_and_quantized_like_the_export(teacher_model_dir):
    manifest = Manifest.load(teacher_model_dir)
    assert manifest.source["graph"] == "numpy"
    assert "torch" not in manifest.tools
    q = manifest.quantization
    # 12 layers x 6 linear layers, query/key/value fused into one GEMM a layer, three inputs a
    # layer refined (query/key/value, both feed-forward matrices), 7-bit weights rounded by GPTQ,
    # the word-embedding table in int8
    assert (q["matmul_int8"], q["fused_groups"], q["refined"], q["gather_int8"]) == (72, 12, 36, 1)
    assert (q["weight_levels"], q["weight_rounding"]) == (64, "gptq")
    graph = onnx.load(str(teacher_model_dir / INT8_FILE), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    assert not [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights], (
        "a linear layer left in fp32"
    )


def test_numpy_graph_equals_the_torch_export_on_real_texts(teacher_model_dir, tmp_path):
    torch_dir = tmp_path / "torch-export"
    torch_dir.mkdir()
    manifest = Manifest.load(teacher_model_dir)
    model, _ = torch_default_model()
    export_torch(model, manifest, torch_dir / FP32_FILE)
    del model
    shutil.copyfile(teacher_model_dir / "tokenizer.json", torch_dir / "tokenizer.json")
    (torch_dir / "manifest.json").write_text(json.dumps(manifest.model_dump()))

    texts = stream_texts(limit=TEXTS, seed=15)
    assert len(texts) == TEXTS
    from_numpy = load_engine(teacher_model_dir, FP32_FILE, cache_entries=0).embed(texts)
    from_torch = load_engine(torch_dir, FP32_FILE, cache_entries=0).embed(texts)
    assert from_numpy.shape == (TEXTS, 384)
    difference = np.abs(from_numpy - from_torch).max()
    print(f"max |numpy graph - torch export| over {TEXTS} texts: {difference:.2e}")
    assert difference <= TOLERANCE
