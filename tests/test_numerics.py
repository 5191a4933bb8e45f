"""Portable numerics (gancore.numerics): the same bits whatever the CPU's widest vector instructions, one
thread for torch, MKL and OpenBLAS whatever the machine's cores, and a clear error when the environment
is not pinned."""

import platform
import subprocess
import sys

import pytest
import torch

from gancore import numerics

# A few steps of an MLP GAN and a convolutional one (matrix products, convolutions, batch norm,
# reductions, Adam), then NumPy's linear algebra: prints checksums with all their bits.
PROBE = """
import torch
from torch import nn
import gancore  # applies portable numerics when GANCORE_NUMERICS=portable
torch.manual_seed(0)
mlp = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
conv = nn.Sequential(nn.ConvTranspose2d(8, 16, 4, 1, 0), nn.BatchNorm2d(16), nn.ReLU(),
                     nn.ConvTranspose2d(16, 1, 4, 2, 1), nn.Tanh(), nn.Conv2d(1, 8, 4, 2, 1), nn.LeakyReLU(0.2),
                     nn.Flatten(), nn.Linear(8 * 4 * 4, 1))
params = list(mlp.parameters()) + list(conv.parameters())
opt = torch.optim.Adam(params, 1e-2)
for _ in range(25):
    loss = mlp(torch.randn(256, 2)).pow(2).mean() + conv(torch.randn(64, 8, 1, 1)).sigmoid().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
import numpy as np
a = np.random.default_rng(0).normal(size=(300, 300))
w = np.linalg.eigvalsh(a @ a.T)  # OpenBLAS / LAPACK
print(torch.backends.mkldnn.enabled, repr(sum(p.double().sum().item() for p in params)), repr(float(w.sum())))
"""


def _run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE], env=numerics.environment(False) | env, capture_output=True, text=True,
                          timeout=300)


needs_avx2 = pytest.mark.skipif(
    platform.machine() != "x86_64" or torch.backends.cpu.get_cpu_capability() not in {"AVX2", "AVX512"},
    reason="portable numerics pin the AVX2 code paths of x86-64; this CPU has none")


@needs_avx2
def test_portable_bits_do_not_depend_on_wider_instructions():
    portable = {numerics.SWITCH: "portable", **numerics.ENVIRONMENT}
    runs = [_run(portable),
            # as on a CPU whose widest instructions are AVX2
            _run(portable | {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"})]
    for run in runs:
        assert run.returncode == 0, run.stderr
    outputs = [run.stdout.split() for run in runs]
    assert outputs[0][0] == "False"  # convolutions off oneDNN
    assert outputs[0] == outputs[1]


THREADS = """
import scipy.linalg, threadpoolctl, torch
import gancore
blas = {(p["num_threads"], p.get("architecture")) for p in threadpoolctl.threadpool_info()
        if p["internal_api"] == "openblas"}
print(torch.get_num_threads(), len(blas), *sorted(blas))
"""


def test_portable_mode_runs_one_thread_and_openblas_avx2_kernels():
    run = subprocess.run([sys.executable, "-c", THREADS], env=numerics.environment(True), capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    torch_threads, n_blas, blas = run.stdout.strip().split(" ", 2)
    assert torch_threads == "1" and int(n_blas) >= 1
    assert blas == "(1, 'Haswell')"  # NumPy's and SciPy's OpenBLAS: one thread, AVX2 kernels


def test_portable_mode_refuses_another_thread_count():
    run = _run({numerics.SWITCH: "portable", **numerics.ENVIRONMENT, "OMP_NUM_THREADS": "2"})
    assert run.returncode != 0
    assert "OMP_NUM_THREADS=1" in run.stderr


def test_switch_without_the_environment_is_a_clear_error():
    run = _run({numerics.SWITCH: "portable"})
    assert run.returncode != 0
    assert all(f"{k}={v}" in run.stderr for k, v in numerics.ENVIRONMENT.items())


def test_missing_and_describe(monkeypatch):
    for name, value in numerics.ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(numerics.SWITCH, "portable")
    assert numerics.missing() == []
    assert numerics.describe().startswith("portable (")
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    assert numerics.missing() == ["MKL_CBWR=AVX2,STRICT"]
    assert numerics.describe().startswith("default (")


def test_environment_sets_or_removes_the_pins(monkeypatch):
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    monkeypatch.setenv("KEEP_ME", "1")
    portable, default = numerics.environment(True), numerics.environment(False)
    assert portable[numerics.SWITCH] == "portable" and portable["MKL_CBWR"] == "AVX2,STRICT"
    assert numerics.SWITCH not in default and "MKL_CBWR" not in default and "ATEN_CPU_CAPABILITY" not in default
    assert portable["KEEP_ME"] == default["KEEP_ME"] == "1"
