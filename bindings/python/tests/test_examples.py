"""The README's Python examples run as written."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("name", ["quickstart.py", "governance.py"])
def test_example_runs(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    out = capsys.readouterr().out
    assert "hunter2" not in out
    if name == "governance.py":
        assert out.splitlines() == [
            "Mail <EMAIL_1> the report",
            "Sent to jane@example.com",
            "provider_not_allowed",
        ]
