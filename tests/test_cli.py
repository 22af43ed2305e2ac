"""The CLI's last line of defence: an internal error never reads as a verdict."""

from __future__ import annotations

import stat
import tempfile
from pathlib import Path

import pytest

from killproof import cli
from killproof.commands import why as why_command


def _boom(*_args: object, **_kwargs: object) -> object:
    raise RuntimeError("boom\nsecond line")


@pytest.mark.parametrize("exc", [RuntimeError("boom"), RecursionError("too deep"), KeyError("k")])
def test_an_internal_error_exits_2_with_one_line_and_a_saved_traceback(
    exc: Exception,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    def raise_it(*_args: object, **_kwargs: object) -> object:
        raise exc

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(why_command, "explain_kills", raise_it)
    # --exit-code 137 alone is a kill (exit 1) when nothing goes wrong.
    assert cli.main(["why", "--exit-code", "137"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"killproof: internal error: {type(exc).__name__}: ")
    saved = next(tmp_path.glob("killproof-crash-*.txt"))
    assert str(saved) in err
    assert "Traceback (most recent call last)" in saved.read_text()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600


def test_a_multi_line_message_is_cut_to_its_first_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(why_command, "explain_kills", _boom)
    assert cli.main(["why", "--exit-code", "137"]) == 2
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom (traceback saved to" in err
    assert "second line" not in err


def test_an_unsavable_traceback_still_gives_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    monkeypatch.setattr(why_command, "explain_kills", _boom)
    assert cli.main(["why", "--exit-code", "137"]) == 2
    assert "(the traceback could not be saved)" in capsys.readouterr().err
