"""What a user meets before the estimators: import errors and the distribution."""

import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import skseq


def _source_tree_without_core(tmp_path):
    """Copy skseq's Python sources, not its compiled core, as a checkout has them."""
    package = Path(skseq.__file__).parent
    target = tmp_path / "skseq"
    shutil.copytree(
        package,
        target,
        ignore=shutil.ignore_patterns(
            *(f"*{suffix}" for suffix in EXTENSION_SUFFIXES), "__pycache__"
        ),
    )
    compiled = tuple(EXTENSION_SUFFIXES)
    assert not [f for f in target.iterdir() if f.name.endswith(compiled)]
    return target


def _import_error_from(directory):
    # -S keeps site-packages off the path, so neither an installed skseq nor an
    # editable install's finder can supply the missing extension: the import
    # sees only the copied tree in the working directory, as `python` run from
    # a checkout's root does.
    result = subprocess.run(
        [sys.executable, "-S", "-c", "import skseq"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
    )
    assert result.returncode != 0
    return result.stderr


def test_import_without_built_core_says_how_to_build_it(tmp_path):
    """Importing an unbuilt source tree names the problem and the fix."""
    package = _source_tree_without_core(tmp_path)
    stderr = _import_error_from(tmp_path)
    message = stderr[stderr.rindex("ImportError:") :]
    assert "circular import" not in stderr
    assert "skseq._openmp_helpers) is not built" in message
    assert str(package) in message.replace("\n", " ")
    assert "pip install ." in message
    assert "pip install -e ." in message
    assert "python setup.py build_ext --inplace" in message
    assert "run Python from another directory" in message


def test_import_with_unloadable_core_reports_the_loader_error(tmp_path):
    """A core that exists but cannot load is not reported as missing."""
    package = _source_tree_without_core(tmp_path)
    broken = package / f"_openmp_helpers{EXTENSION_SUFFIXES[0]}"
    broken.write_bytes(b"not a shared library")
    stderr = _import_error_from(tmp_path)
    message = stderr[stderr.rindex("ImportError:") :]
    assert "could not be loaded" in message
    assert str(broken) in message
    assert "is not built" not in stderr
    # The loader's own error is chained, not hidden.
    assert "direct cause" in stderr


def test_distribution_ships_the_bsd_license():
    """The installed metadata names the licence and carries its text."""
    meta = metadata.metadata("skseq")
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert meta.get_all("License-File") == ["LICENSE"]
    files = metadata.files("skseq")
    licence = [f for f in files if f.name == "LICENSE"]
    assert len(licence) == 1
    text = licence[0].read_text()
    assert "Copyright (c) 2026, The skseq developers" in text
    assert "Redistribution and use in source and binary forms" in text
    assert "Neither the name of the copyright holder" in text


def test_ci_runs_the_documented_test_command():
    """.ci/run runs the README's test command, which install.rst shows too."""
    root = Path(__file__).resolve().parents[1]
    ci_lines = (root / ".ci" / "run").read_text().splitlines()
    (command,) = [
        line for line in ci_lines if line.startswith("python3 -m venv .venv ")
    ]
    assert ".venv/bin/pytest tests -q" in command
    assert ".venv/bin/pytest --doctest-modules --pyargs skseq -q" in command
    assert f"```bash\n{command}\n```" in (root / "README.md").read_text()
    assert f"\n    {command}\n" in (root / "doc" / "install.rst").read_text()


def test_ci_lints_with_the_pinned_versions():
    """CI's linters are the versions pre-commit pins."""
    root = Path(__file__).resolve().parents[1]
    ci = (root / ".ci" / "run").read_text()
    hooks = (root / ".pre-commit-config.yaml").read_text()
    for name, variable in (("ruff-pre-commit", "RUFF"), ("cython-lint", "CYTHON_LINT")):
        block = hooks[hooks.index(name) :]
        rev = block[block.index("rev: v") + len("rev: v") :].split()[0]
        assert f"{variable}={rev}\n" in ci


def test_ci_tests_the_oldest_admitted_dependencies():
    """.ci/oldest.txt pins each runtime dependency at the lower bound that
    pyproject.toml states, the bound install.rst quotes, and .ci/run installs
    the portable build against it."""
    root = Path(__file__).resolve().parents[1]
    project = (root / "pyproject.toml").read_text()
    block = project[project.index("\ndependencies = [") :]
    block = block[: block.index("]")]
    bounds = dict(re.findall(r'"([A-Za-z0-9_.-]+)>=([0-9.]+)"', block))
    assert set(bounds) == {"numpy", "scipy", "scikit-learn", "joblib", "threadpoolctl"}
    oldest = dict(
        line.split("==")
        for line in (root / ".ci" / "oldest.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(oldest) == set(bounds)
    for name, bound in bounds.items():
        # The oldest release the bound admits: 1.24 -> 1.24.0.
        pinned, stated = oldest[name].split("."), bound.split(".")
        padding = ["0"] * (len(pinned) - len(stated))
        assert pinned == stated + padding, (name, oldest[name], bound)
    install = (root / "doc" / "install.rst").read_text().replace("\n", " ")
    for bound in bounds.values():
        assert f"({bound} or later)" in install
    assert "-c .ci/oldest.txt ." in (root / ".ci" / "run").read_text()
