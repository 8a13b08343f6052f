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
def test_each_subcommand_help(name: str, capsys) -> None:
    # in this process: a fresh interpreter per command cost ~40 s, mostly importing Lightning (LightningCLI builds
    # pretrain/finetune's parser from the Trainer's and model's signatures) twice; `python -m cbqa` itself is run below
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    out = capsys.readouterr()
    assert e.value.code == 0, out.err
    assert out.out.startswith(f"usage: cbqa {name} "), out.out[:200]


def test_module_entry_point_help() -> None:
    r = subprocess.run([sys.executable, "-m", "cbqa", "world", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "usage: cbqa world" in r.stdout


def test_unknown_command_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
