"""What the command line loads before it runs a command: importing ``arrowtail`` and its command
line does not import pyarrow or numpy (``arrowtail.Pipeline`` is still there, loaded on first
use), and ``main`` settles OpenBLAS to one thread before numpy can start one per core and, on
Linux, Arrow's memory pool to jemalloc before Arrow first allocates."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _python(code: str, extra: dict[str, str] | None = None) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENBLAS_NUM_THREADS", "ARROW_DEFAULT_MEMORY_POOL")
    }
    env.update(extra or {})
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_command_line_loads_neither_pyarrow_nor_numpy() -> None:
    code = (
        "import sys, arrowtail, arrowtail.cli\n"
        "print(sorted(m for m in ('pyarrow', 'numpy') if m in sys.modules))\n"
        "from arrowtail import Pipeline\n"
        "print(Pipeline.__module__, 'pyarrow' in sys.modules)"
    )
    assert _python(code).splitlines() == ["[]", "arrowtail.pipeline True"]


def test_main_sets_one_openblas_thread_before_numpy_loads_and_keeps_a_users_choice() -> None:
    # A finder first in line notes the setting at the moment numpy is looked up.
    code = (
        "import contextlib, io, os, sys\n"
        "seen = []\n"
        "class Watch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'numpy':\n"
        "            seen.append(os.environ.get('OPENBLAS_NUM_THREADS'))\n"
        "sys.meta_path.insert(0, Watch())\n"
        "from arrowtail import cli\n"
        "def run_help():\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        cli.main(['run', '--help'])\n"
        "run_help()\n"
        "import numpy\n"
        "print(seen)\n"
        "os.environ['OPENBLAS_NUM_THREADS'] = '4'\n"
        "run_help()\n"
        "print(os.environ['OPENBLAS_NUM_THREADS'])"
    )
    assert _python(code).splitlines() == ["['1']", "4"]


@pytest.mark.skipif(sys.platform != "linux", reason="the pool is chosen on Linux only")
def test_main_chooses_arrows_jemalloc_pool_and_keeps_a_users_choice() -> None:
    code = (
        "import contextlib, io\n"
        "from arrowtail import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    cli.main(['run', '--help'])\n"
        "import pyarrow as pa\n"
        "print(pa.default_memory_pool().backend_name, pa.array([1, 2]).sum().as_py())"
    )
    assert _python(code) == "jemalloc 3"
    assert _python(code, {"ARROW_DEFAULT_MEMORY_POOL": "system"}) == "system 3"


def test_an_unknown_attribute_of_the_package_is_an_attribute_error() -> None:
    code = (
        "import arrowtail\n"
        "try:\n"
        "    arrowtail.Nothing\n"
        "except AttributeError as exc:\n"
        "    print(exc)"
    )
    assert _python(code) == "module 'arrowtail' has no attribute 'Nothing'"
