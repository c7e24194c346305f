"""The `dvc` commands the README shows work as written, and a stage never runs on the wrong interpreter.

Stage commands are `sh stages/python.sh -m stages.<name>`: the launcher picks the active virtual
environment, else the checkout's `.venv`, else `python3`; `stages/__init__.py` stops a stage whose
interpreter lacks the project's dependencies before the stage reads or writes anything.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shipped import REPO_ROOT
from tests.workspace import SMALL_SAMPLE, edit_params, make_downstream_cheap, project_files

LAUNCHER = REPO_ROOT / "stages" / "python.sh"


def fake_interpreter(path: Path, name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {name} \"$@\"\n")
    path.chmod(0o755)


def launch(cwd: Path, environment: dict[str, str]) -> str:
    return subprocess.run(["sh", str(LAUNCHER), "-m", "stages.x"], cwd=cwd, env=environment,
                          capture_output=True, text=True, check=True).stdout.strip()


def test_the_launcher_prefers_the_active_venv_then_the_checkout_venv_then_python3(tmp_path: Path) -> None:
    bare = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    fake_interpreter(tmp_path / "bin" / "python3", "path-python3")
    bare["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{bare['PATH']}"
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    assert launch(checkout, bare) == "path-python3 -m stages.x"
    fake_interpreter(checkout / ".venv" / "bin" / "python", "checkout-venv")
    assert launch(checkout, bare) == "checkout-venv -m stages.x"
    fake_interpreter(tmp_path / "active" / "bin" / "python", "active-venv")
    assert launch(checkout, {**bare, "VIRTUAL_ENV": str(tmp_path / "active")}) == "active-venv -m stages.x"


def test_a_stage_on_an_interpreter_without_the_dependencies_stops_at_once_saying_how_to_fix_it() -> None:
    # -S: no site-packages, as a system python without the project's packages
    started = subprocess.run([sys.executable, "-S", "-m", "stages.prepare"], cwd=REPO_ROOT,
                             capture_output=True, text=True)
    assert started.returncode == 1
    assert "lacks the project's dependencies (pandas" in started.stderr
    assert "make setup" in started.stderr and "source .venv/bin/activate" in started.stderr
    assert "Traceback" not in started.stderr


def readme_dvc_commands() -> list[str]:
    """The commands of the README's line that says how to type `dvc` yourself."""
    line = next(line for line in (REPO_ROOT / "README.md").read_text().splitlines()
                if "`source .venv/bin/activate`" in line and "dvc exp run" in line)
    return re.findall(r"`((?:source|dvc) [^`]+)`", line)


def test_the_readme_says_to_activate_the_venv_before_dvc_commands() -> None:
    commands = readme_dvc_commands()
    assert commands[0] == "source .venv/bin/activate"
    assert any(command.startswith("dvc exp run -S ") for command in commands)
    assert "dvc metrics diff v1.0.0 v1.1.0" in commands


def working_tree_clone(destination: Path) -> Path:
    """A clone of the history (with its release tags) holding this working tree's files, committed."""
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(destination)], check=True)
    for name in project_files(REPO_ROOT):
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, destination / name)
    for key, value in (("user.name", "t"), ("user.email", "t@example.invalid")):  # as a user's own git has
        subprocess.run(["git", "config", key, value], cwd=destination, check=True)
    subprocess.run(["git", "add", "-A"], cwd=destination, check=True)
    subprocess.run(["git", "commit", "-qm", "working tree", "--allow-empty"], cwd=destination, check=True)
    return destination


@pytest.mark.slow
def test_the_readme_dvc_commands_run_in_a_fresh_shell_exactly_as_documented(tmp_path: Path) -> None:
    repo = working_tree_clone(tmp_path / "clone")
    edit_params(repo, "generate", **SMALL_SAMPLE)
    make_downstream_cheap(repo)
    subprocess.run(["git", "commit", "-qam", "small sample"], cwd=repo, check=True)
    (repo / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    fresh_shell = {"HOME": str(tmp_path), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
                   "DVC_NO_ANALYTICS": "1"}
    activate, *commands = readme_dvc_commands()
    outputs = {}
    for command in commands:
        done = subprocess.run(["bash", "--noprofile", "--norc", "-c", f"{activate} && {command}"], cwd=repo,
                              env=fresh_shell, capture_output=True, text=True, timeout=900)
        outputs[command] = done.stdout + done.stderr
        assert done.returncode == 0, f"{command}:\n{outputs[command]}"
    assert "roc_auc" in outputs["dvc metrics diff v1.0.0 v1.1.0"]
    assert "Running stage 'train'" in outputs["dvc repro"]
    experiment = next(command for command in commands if command.startswith("dvc exp run"))
    assert re.findall(r"Running stage '([^']+)'", outputs[experiment]) == ["drift"], outputs[experiment]


def test_the_stages_pin_portable_kernels_only_where_the_cpu_runs_them(tmp_path: Path) -> None:
    from stages import cpu_flags, pin_portable_kernels, PORTABLE_KERNELS

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f\nprocessor\t: 1\n")
    assert cpu_flags(cpuinfo) == {"fpu", "sse2", "avx", "avx2", "fma", "avx512f"}
    assert cpu_flags(tmp_path / "absent") == frozenset()
    environ: dict[str, str] = {}
    assert pin_portable_kernels(environ, "x86_64", cpu_flags(cpuinfo)) == PORTABLE_KERNELS == environ
    chosen = {"OPENBLAS_CORETYPE": "SkylakeX"}
    assert pin_portable_kernels(chosen, "x86_64", cpu_flags(cpuinfo)) == {
        "NPY_DISABLE_CPU_FEATURES": PORTABLE_KERNELS["NPY_DISABLE_CPU_FEATURES"]}
    assert chosen["OPENBLAS_CORETYPE"] == "SkylakeX", "a kernel the user chose is kept"
    for machine, flags in (("aarch64", frozenset({"avx2", "fma"})), ("x86_64", frozenset({"sse2", "avx"}))):
        untouched: dict[str, str] = {}
        assert pin_portable_kernels(untouched, machine, flags) == {} and untouched == {}


def test_a_stage_process_runs_openblas_haswell_kernels_and_numpy_without_avx512() -> None:
    from stages import cpu_flags, PORTABLE_CPU_FLAGS

    if os.uname().machine != "x86_64" or not PORTABLE_CPU_FLAGS <= cpu_flags():
        pytest.skip("the kernels are pinned on x86-64 with AVX2 and FMA only; this machine is not one")
    probe = ("import stages, json, numpy, threadpoolctl; print(json.dumps([sorted({i['architecture'] for i in "
             "threadpoolctl.threadpool_info() if i['internal_api'] == 'openblas'}), numpy.lib.introspect."
             "opt_func_info(func_name='^exp$', signature='float64')['exp']['dd']['current']]))")
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")}
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, env=environment, capture_output=True,
                          text=True, check=True)
    architectures, exp_kernel = json.loads(done.stdout)
    assert architectures == ["Haswell"] and exp_kernel == "X86_V3", "OpenBLAS's Haswell kernels, numpy's AVX2 exp"
