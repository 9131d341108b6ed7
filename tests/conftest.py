"""Shared test fixtures."""

import json
import os
import subprocess
import sys

import pytest


@pytest.fixture
def replica_results(tmp_path):
    """Run a script that trains on one device and on two replicas and prints
    ``RESULT{json}`` with ``{"default": {...}, "mirrored": {...}}``; return that dict.

    A subprocess: the CPU must be split into two logical devices before TensorFlow
    initialises, which this test process has already done.
    """

    def run(source, *args):
        script = tmp_path / "replicas.py"
        script.write_text(source)
        proc = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                              text=True, timeout=300,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        assert proc.returncode == 0, proc.stderr[-3000:]
        line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT"))
        results = json.loads(line[len("RESULT"):])
        assert results["default"]["replicas"] == 1 and results["mirrored"]["replicas"] == 2
        return results

    return run
