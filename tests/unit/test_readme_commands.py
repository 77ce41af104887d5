"""The README's first two commands are the product's promise; CI must run the test one."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    fenced, inside = [], False
    for line in lines:
        if line.startswith("```"):
            inside = not inside
            continue
        if inside and line.strip() and not line.lstrip().startswith("#"):
            fenced.append(line.strip())
        if len(fenced) == 2:
            break
    return fenced


def test_readme_opens_with_the_demo_and_the_test_command():
    demo, test = readme_commands()
    assert "callradar demo" in demo
    assert "pytest" in test


def test_ci_runs_the_readme_test_command_verbatim():
    _, test = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines(), f"{test!r} is not a line of .ci/run"
