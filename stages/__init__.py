"""The DVC stage scripts, one per stage: `sh stages/python.sh -m stages.<name>`, run by `dvc repro`.

Importing this package checks first that the interpreter has the project's dependencies, so a stage
started by the wrong interpreter stops at once, saying how to fix it, before it reads or writes a file.

It also pins the numeric kernels, before numpy is imported. OpenBLAS and numpy pick their kernels by the CPU
(AVX-512 where there is one, AVX2 elsewhere), and the kernels round differently: measured on the sample, the
model file's bytes and statistics in the reports differ by 1e-16 to 1e-13 (relative) between the two, with the
same code, params, data and thread counts (the stages already cap BLAS and OpenMP threads; 1 or 2 threads
gave the same bytes). On x86-64 with AVX2 and FMA (Intel since Haswell, 2013; every AMD Zen) the stages
therefore run OpenBLAS's Haswell kernels and numpy's AVX2 paths, so such machines write the same model and
reports. Elsewhere (another architecture, an older CPU, a variable the user set) nothing is pinned, and the
reports' fixed significant digits (creditrisk/io.py) hide the last-bit noise.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from collections.abc import MutableMapping
from pathlib import Path

REQUIRED_MODULES = ("pandas", "pyarrow", "numpy", "sklearn", "scipy", "yaml", "skops", "openpyxl", "creditrisk")
PORTABLE_KERNELS = {
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
}
"""The x86-64 AVX2 kernels: OpenBLAS's Haswell ones (it runs the named kernels unchecked, so only where the CPU
has AVX2 and FMA), and numpy without its AVX-512 dispatch targets (numpy's names for them in the pinned
version; naming a target the CPU lacks is allowed)."""
PORTABLE_CPU_FLAGS = frozenset({"avx2", "fma"})


def missing_modules() -> list[str]:
    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags as Linux lists them; none where there is no /proc/cpuinfo."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return frozenset()
    return next((frozenset(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")),
                frozenset())


def pin_portable_kernels(environ: MutableMapping[str, str], machine: str, flags: frozenset[str]) -> dict[str, str]:
    """Set `PORTABLE_KERNELS` in `environ` where the CPU runs them, leaving any the user set; returns what it set."""
    if machine not in ("x86_64", "AMD64") or not PORTABLE_CPU_FLAGS <= flags:
        return {}
    pinned = {name: value for name, value in PORTABLE_KERNELS.items() if name not in environ}
    environ.update(pinned)
    return pinned


if missing := missing_modules():
    sys.exit(f"stage: the interpreter {sys.executable} lacks the project's dependencies "
             f"({', '.join(missing)}). Run `make setup`, then `source .venv/bin/activate` before calling "
             "`dvc`, or use `make repro`.")
pin_portable_kernels(os.environ, platform.machine(), cpu_flags())
