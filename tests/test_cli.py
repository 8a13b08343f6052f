import subprocess
import sys

import pytest

from cbqa.cli import COMMANDS, main


def test_top_level_help_lists_commands(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f"  {name} " in out


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_subcommand_help(name: str) -> None:
    r = subprocess.run([sys.executable, "-m", "cbqa", name, "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "usage" in r.stdout.lower()


def test_unknown_command_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
