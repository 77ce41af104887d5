"""The command's verbs: one module each under pipeline/cli, every one reachable."""

from pathlib import Path

import pytest

from callradar.pipeline.cli import main as cli

CLI_DIR = Path(cli.__file__).resolve().parent


def test_every_verb_module_exists_and_registers_its_verb():
    parser = cli.build_parser()
    verbs = next(a for a in parser._actions if a.dest == "command").choices
    for module in cli.COMMAND_MODULES:
        verb = module.rpartition(".")[2]
        assert (CLI_DIR / f"{verb}.py").is_file(), f"{module} is listed but pipeline/cli/{verb}.py is missing"
        assert verb in verbs, f"pipeline/cli/{verb}.py does not register the verb {verb!r}"


def test_every_module_in_the_cli_folder_is_a_listed_verb():
    listed = {m.rpartition(".")[2] for m in cli.COMMAND_MODULES}
    on_disk = {p.stem for p in CLI_DIR.glob("*.py")} - {"__init__", "main"}
    assert on_disk == listed, f"verb modules not listed in COMMAND_MODULES: {sorted(on_disk - listed)}"


def test_no_verb_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["label", "--help"], ["train", "risk", "--help"], ["archive", "--help"]])
def test_moved_verbs_answer_help(argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 0
