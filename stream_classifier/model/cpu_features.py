"""Which integer GEMM kernel onnxruntime runs on this CPU, read the way onnxruntime reads it.

onnxruntime's MLAS picks its uint8 x int8 GEMM kernel from CPUID and the OS-enabled register
state (XCR0) once per process (`MLAS_PLATFORM` in onnxruntime/core/mlas/lib/platform.cpp):

| kernel              | when                                   | how a byte product is summed            |
|---------------------|----------------------------------------|-----------------------------------------|
| amx                 | AMX-TILE + AMX-INT8, XTILE state on     | tiles into int32: exact                 |
| avx512-vnni         | AVX-512 BW/DQ/VL + AVX512-VNNI         | vpdpbusd, 4 products into int32: exact  |
| avx512-vpmaddubsw   | AVX-512 BW/DQ/VL without VNNI          | vpmaddubsw: pairs into int16, SATURATED |
| avx-vnni            | AVX2 + AVX-VNNI (no AVX-512)            | vpdpbusds into int32: exact             |
| avx2-vpmaddubsw     | AVX2 without any VNNI                  | vpmaddubsw: pairs into int16, SATURATED |
| sse                 | older x86                              | widened to int16 first: exact           |

`vpmaddubsw` multiplies an unsigned activation byte by a signed weight byte and adds each
adjacent pair of products into a signed 16-bit lane, saturating at +-32,767: with activations
up to 255 and weights up to 127 a pair can reach 64,770. The quantizer bounds weights to
[-64, 64] so no pair passes 2 x 255 x 64 = 32,640 (model/quantize.py).

CPUID is read with the instruction itself (a few bytes of machine code run through ctypes),
not from /proc/cpuinfo: under an emulator such as `qemu-x86_64 -cpu Haswell` /proc/cpuinfo
still shows the host, while onnxruntime sees the emulated CPU, and so does this module.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import platform
import sys
from dataclasses import dataclass

# x86-64 System V: cpuid(leaf=edi, subleaf=esi, out=rdx -> 4 x uint32)
_CPUID_CODE = bytes(
    [
        0x53,  # push rbx
        0x49,
        0x89,
        0xD0,  # mov r8, rdx
        0x89,
        0xF8,  # mov eax, edi
        0x89,
        0xF1,  # mov ecx, esi
        0x0F,
        0xA2,  # cpuid
        0x41,
        0x89,
        0x00,  # mov [r8], eax
        0x41,
        0x89,
        0x58,
        0x04,  # mov [r8+4], ebx
        0x41,
        0x89,
        0x48,
        0x08,  # mov [r8+8], ecx
        0x41,
        0x89,
        0x50,
        0x0C,  # mov [r8+12], edx
        0x5B,  # pop rbx
        0xC3,  # ret
    ]
)
# xgetbv(0) -> rax = edx:eax
_XGETBV_CODE = bytes([0x31, 0xC9, 0x0F, 0x01, 0xD0, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0xC3])

SATURATING_KERNELS = ("avx2-vpmaddubsw", "avx512-vpmaddubsw")


@dataclass(frozen=True)
class CpuFeatures:
    vendor: str
    flags: tuple[str, ...]  # the instruction sets that decide onnxruntime's int8 kernel
    int8_kernel: str  # see the table above; "unknown" where CPUID cannot be read
    brand: str = ""  # CPUID's brand string, e.g. "AMD EPYC 9B14"

    @property
    def int8_saturates(self) -> bool:
        return self.int8_kernel in SATURATING_KERNELS

    def describe(self) -> str:
        flags = " ".join(self.flags) or "none of avx2/avx512/vnni/amx"
        note = " (saturating pairs)" if self.int8_saturates else ""
        return f"{self.brand or self.vendor}: {flags}; onnxruntime int8 GEMM: {self.int8_kernel}{note}"

    def as_dict(self) -> dict:
        return {
            "vendor": self.vendor,
            "brand": self.brand,
            "flags": list(self.flags),
            "int8_kernel": self.int8_kernel,
            "int8_saturates": self.int8_saturates,
        }


class _Machine:
    """The two instructions, mapped executable once."""

    def __init__(self) -> None:
        self._buffer = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        self._buffer.write(_CPUID_CODE + _XGETBV_CODE)
        base = ctypes.addressof(ctypes.c_char.from_buffer(self._buffer))
        self._cpuid = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32))(base)
        self._xgetbv = ctypes.CFUNCTYPE(ctypes.c_uint64)(base + len(_CPUID_CODE))

    def cpuid(self, leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
        out = (ctypes.c_uint32 * 4)()
        self._cpuid(leaf, subleaf, out)
        return out[0], out[1], out[2], out[3]

    def xcr0(self) -> int:
        return int(self._xgetbv())


def _bit(value: int, n: int) -> bool:
    return bool(value >> n & 1)


def features_from_cpuid(cpuid, xcr0: int) -> CpuFeatures:
    """The kernel choice of MLAS_PLATFORM's constructor, from CPUID leaves 0, 1, 7.0 and 7.1."""
    max_leaf, b, c, d = cpuid(0)
    vendor = b.to_bytes(4, "little") + d.to_bytes(4, "little") + c.to_bytes(4, "little")
    vendor_name = vendor.decode("ascii", "replace")
    _, _, ecx1, _ = cpuid(1)
    ebx7 = ecx7 = edx7 = eax7_1 = 0
    if max_leaf >= 7:
        _, ebx7, ecx7, edx7 = cpuid(7, 0)
        eax7_1 = cpuid(7, 1)[0]
    os_avx = (ecx1 & 0x18000000) == 0x18000000 and (xcr0 & 0x6) == 0x6
    avx2 = os_avx and _bit(ecx1, 12) and _bit(ebx7, 5)
    avx512 = avx2 and _bit(ebx7, 16) and (xcr0 & 0xE0) == 0xE0
    avx512_core = avx512 and (ebx7 & 0xC0020000) == 0xC0020000
    avx512_vnni = avx512_core and _bit(ecx7, 11)
    avx_vnni = avx2 and _bit(eax7_1, 4)
    amx = avx2 and _bit(edx7, 24) and _bit(edx7, 25) and (xcr0 & 0x60000) == 0x60000
    present = {
        "avx2": avx2,
        "avx512f": avx512,
        "avx512bw": avx512_core,
        "avx512_vnni": avx512_vnni,
        "avx_vnni": avx_vnni,
        "amx_int8": amx,
    }
    if not avx2:
        kernel = "sse"
    elif amx:
        kernel = "amx"
    elif avx512_core:
        kernel = "avx512-vnni" if avx512_vnni else "avx512-vpmaddubsw"
    elif avx_vnni:
        kernel = "avx-vnni"
    else:
        kernel = "avx2-vpmaddubsw"
    brand = b""
    if cpuid(0x80000000)[0] >= 0x80000004:
        for leaf in (0x80000002, 0x80000003, 0x80000004):
            brand += b"".join(r.to_bytes(4, "little") for r in cpuid(leaf))
    return CpuFeatures(
        vendor_name,
        tuple(name for name, on in present.items() if on),
        kernel,
        brand.split(b"\0")[0].decode("ascii", "replace").strip(),
    )


@functools.lru_cache(maxsize=1)
def cpu_features() -> CpuFeatures:
    if platform.machine().lower() not in ("x86_64", "amd64") or sys.platform == "win32":
        return CpuFeatures(platform.machine() or "unknown", (), "not-x86")
    try:
        machine = _Machine()
        return features_from_cpuid(machine.cpuid, machine.xcr0())
    except (OSError, ValueError):  # an OS that refuses executable memory
        return CpuFeatures("unknown", (), "unknown")
