"""A non-editable install works: build a wheel, install it into a fresh venv, run it elsewhere.

The editable install the other tests use would hide a missing package or data file, because it
reads the source tree. Here the wheel is built from a copy of the tree (as `pip install .` does),
its contents are checked against the tree, and the installed `refjit` runs from a directory
outside the repository. To keep the test offline-friendly and fast, the fresh venv reuses this
venv's dependencies (unicorn, capstone) through a .pth file instead of downloading them; the build
itself uses pip's isolated build environment (setuptools from the configured index).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import capstone
import pytest
import unicorn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where each source folder lands inside the installed package (pyproject's package-dir).
INSTALLED_AS = {"refjit": "refjit", "backends": "refjit/backends", "specs": "refjit/specs"}
NOT_SOURCE = (".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
              ".hypothesis", "local")


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    wheels = tmp / "wheels"
    sh([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(src)])
    [wheel] = list(wheels.glob("refjit-*.whl"))

    venv = tmp / "venv"
    sh([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = str(venv / "bin" / "python")
    purelib = sh([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    deps = sorted({os.path.dirname(os.path.dirname(m.__file__)) for m in (unicorn, capstone)})
    with open(os.path.join(purelib, "refjit-test-deps.pth"), "w") as f:
        f.write("\n".join(deps) + "\n")
    sh([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", str(wheel)])

    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {"src": src, "wheel": wheel, "venv": venv, "python": python, "cwd": str(elsewhere), "env": env}


def run(installed, cmd: list[str], stdin: str = "") -> subprocess.CompletedProcess:
    return sh(cmd, input=stdin, cwd=installed["cwd"], env=installed["env"])


def test_wheel_holds_every_module_and_data_file_of_the_tree(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    expected = []
    for folder, target in INSTALLED_AS.items():
        root = installed["src"] / folder
        for path in root.rglob("*"):
            if path.is_file() and path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
                expected.append(f"{target}/{path.relative_to(root).as_posix()}")
    missing = sorted(n for n in expected if n not in names)
    assert not missing, f"not in the wheel (add the package or data to pyproject.toml): {missing}"
    for must in ("refjit/backends/x86_64/asm.py", "refjit/backends/x86_64/text.py",
                 "refjit/backends/aarch64/asm.py", "refjit/backends/aarch64/text.py",
                 "refjit/specs/cpython-3.14/uops.json"):
        assert must in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(installed["wheel"]).read(entry_points).decode()
    assert "refjit = refjit.cli:main" in text


def test_installed_package_is_the_wheel_not_the_tree(installed):
    out = run(installed, [installed["python"], "-c",
                          "import refjit, refjit.backends.x86_64.text, refjit.backends.aarch64.text; "
                          "print(refjit.__file__)"]).stdout.strip()
    assert out.startswith(str(installed["venv"])), out
    assert not out.startswith(REPO), out


def test_every_installed_module_imports(installed):
    # From outside the tree, with nothing but the wheel's files and the declared dependencies.
    code = ("import importlib, pkgutil, refjit\n"
            "names = [m.name for m in pkgutil.walk_packages(refjit.__path__, 'refjit.')\n"
            "         if not m.name.endswith('__main__')]\n"
            "for name in names:\n"
            "    importlib.import_module(name)\n"
            "print(len(names))\n")
    out = run(installed, [installed["python"], "-c", code]).stdout.strip()
    assert int(out) >= 10


def test_installed_specs_load(installed):
    with open(installed["src"] / "specs" / "cpython-3.14" / "uops.json") as f:
        n_uops = len(json.load(f))
    code = ("from refjit.profile import load_profile\n"
            "for arch in ('x86_64', 'aarch64'):\n"
            "    print(len(load_profile('3.14', arch).uops))\n")
    out = run(installed, [installed["python"], "-c", code]).stdout.split()
    assert out == [str(n_uops), str(n_uops)]


def test_installed_console_script_runs_demo_and_asm(installed):
    refjit = str(installed["venv"] / "bin" / "refjit")
    demo = run(installed, [refjit, "demo"])
    assert demo.returncode == 0 and "total = 199990000" in demo.stdout and "all agree" in demo.stdout
    # RET is C3 (Intel SDM) and D65F03C0 (Arm ARM, RET with Rn = x30).
    assert run(installed, [refjit, "asm", "--arch", "x86_64"], "retq\n").stdout == "c3\n"
    assert run(installed, [refjit, "asm", "--arch", "aarch64"], "ret\n").stdout == "c0035fd6\n"
    assert run(installed, [installed["python"], "-m", "refjit", "asm", "--arch", "aarch64"],
               "nop\n").stdout == "1f2003d5\n"
