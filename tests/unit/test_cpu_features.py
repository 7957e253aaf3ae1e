"""The int8 kernel onnxruntime picks, read from CPUID the way its MLAS_PLATFORM does, for the CPUs
this product meets; and when the runtime asks onnxruntime for exact (uint8) integer products."""

import pytest

from stream_classifier.model.cpu_features import CpuFeatures, features_from_cpuid
from stream_classifier.model.manifest import Manifest
from stream_classifier.model.runtime import needs_exact_int8_gemm

AVX = 0x18000000 | 1 << 12  # leaf 1 ECX: OSXSAVE, AVX, FMA
AVX2 = 1 << 5  # leaf 7 EBX
AVX512 = 1 << 16 | 1 << 17 | 1 << 30 | 1 << 31  # F, DQ, BW, VL
VNNI512 = 1 << 11  # leaf 7 ECX
AMX = 1 << 24 | 1 << 25  # leaf 7 EDX: AMX-TILE, AMX-INT8
AVX_VNNI = 1 << 4  # leaf 7.1 EAX


def cpu(ecx1=AVX, ebx7=AVX2, ecx7=0, edx7=0, eax7_1=0, vendor=b"GenuineIntel"):
    def cpuid(leaf, subleaf=0):
        if leaf == 0:
            return (
                0xD,
                int.from_bytes(vendor[0:4], "little"),
                int.from_bytes(vendor[8:12], "little"),
                int.from_bytes(vendor[4:8], "little"),
            )
        if leaf == 1:
            return (0, 0, ecx1, 0)
        if leaf == 7:
            return (eax7_1, 0, 0, 0) if subleaf == 1 else (0, ebx7, ecx7, edx7)
        return (0, 0, 0, 0)

    return cpuid


@pytest.mark.parametrize(
    "name, cpuid, xcr0, kernel, saturates",
    [
        ("Haswell / AMD Zen 2-3", cpu(), 0x7, "avx2-vpmaddubsw", True),
        ("Skylake-SP", cpu(ebx7=AVX2 | AVX512), 0xE7, "avx512-vpmaddubsw", True),
        ("Cascade Lake / Zen 4", cpu(ebx7=AVX2 | AVX512, ecx7=VNNI512), 0xE7, "avx512-vnni", False),
        ("Sapphire Rapids", cpu(ebx7=AVX2 | AVX512, ecx7=VNNI512, edx7=AMX), 0x600E7, "amx", False),
        ("AMX present, tile state off", cpu(ebx7=AVX2 | AVX512, ecx7=VNNI512, edx7=AMX), 0xE7, "avx512-vnni", False),
        ("Alder Lake", cpu(eax7_1=AVX_VNNI), 0x7, "avx-vnni", False),
        ("AVX-512 the OS does not save", cpu(ebx7=AVX2 | AVX512, ecx7=VNNI512), 0x7, "avx2-vpmaddubsw", True),
        ("no AVX2", cpu(ecx1=AVX, ebx7=0), 0x7, "sse", False),
    ],
)
def test_the_kernel_follows_mlas_dispatch(name, cpuid, xcr0, kernel, saturates):
    features = features_from_cpuid(cpuid, xcr0)
    assert features.int8_kernel == kernel, name
    assert features.int8_saturates is saturates
    assert features.vendor == "GenuineIntel"


def _manifest(quantization):
    return Manifest(
        model_id="m",
        engine="embedding",
        source={},
        max_length=8,
        inputs=["input_ids"],
        output="embeddings",
        fingerprint="f",
        opset=17,
        quantization=quantization,
    )


@pytest.mark.parametrize(
    "levels, saturating_cpu, variant, exact",
    [
        (None, True, "model.onnx", True),  # built before the 7-bit weights: full range
        (127, True, "model.onnx", True),
        (64, True, "model.onnx", False),
        (None, False, "model.onnx", False),
        (None, True, "model.fp32.onnx", False),
    ],
)
def test_full_range_models_run_exact_where_the_gemm_saturates(monkeypatch, levels, saturating_cpu, variant, exact):
    kernel = "avx2-vpmaddubsw" if saturating_cpu else "avx512-vnni"
    monkeypatch.setattr("stream_classifier.model.runtime.cpu_features", lambda: CpuFeatures("x", (), kernel))
    quantization = {} if levels is None else {"weight_levels": levels}
    assert needs_exact_int8_gemm(_manifest(quantization), variant) is exact
