"""The README's generated flag table and metric reference match the code, and its
test command is what CI runs."""

import subprocess
import sys

from conftest import ROOT


def test_generated_sections_are_up_to_date():
    proc = subprocess.run([sys.executable, "-m", "exporters.docs", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash .ci/run" in readme
    assert "python3 -m pytest" in ci and "pip install" in ci and "-e '.[test]'" in ci
