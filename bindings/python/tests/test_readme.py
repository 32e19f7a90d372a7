"""README.md's Python blocks run as written, twice in the same folder (re-runnable).

scripts/python.sh also type-checks the same extracted program with ``mypy --strict``.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _program() -> str:
    spec = importlib.util.spec_from_file_location("readme_blocks", ROOT / "scripts" / "readme_blocks.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text: str = mod.program("python", ROOT / "README.md")
    return text


def test_readme_python_blocks_run_twice(tmp_path: Path) -> None:
    prog = tmp_path / "readme_python.py"
    prog.write_text(_program(), encoding="utf-8")
    expected = [
        "Credential(kind='password', secret=[REDACTED])",
        "Mail <EMAIL_1> the report -> Sent to jane@example.com",
    ]
    for run in (1, 2):
        r = subprocess.run(
            [sys.executable, str(prog)], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert r.returncode == 0, f"run {run}:\n{r.stderr}"
        assert r.stdout.splitlines() == expected, f"run {run}: {r.stdout!r}"
        assert "hunter2" not in r.stdout + r.stderr
    assert (tmp_path / "tenantguard-data" / "keys.json").exists()
