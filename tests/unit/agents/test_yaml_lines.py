"""YAML loading with line numbers (agents/yaml_lines.py): what a swap of the parser must keep."""

from __future__ import annotations

import pytest

from callradar.agents.yaml_lines import Checker, ConfigError, LineDict, LineList, load_yaml, read_yaml


def test_every_key_and_item_knows_its_line():
    doc = load_yaml("# comment\nrules:\n  a: 1\n\n  b:\n    - x\n    -\n      y: 2\n", "f.yaml")
    assert isinstance(doc, LineDict) and doc.line == 2 and doc.line_of("rules") == 2
    rules = doc["rules"]
    assert rules.line_of("a") == 3 and rules.line_of("b") == 5
    items = rules["b"]
    assert isinstance(items, LineList) and items.lines == [6, 8]  # an item's line is where its content starts
    assert items[1].line_of("y") == 8
    assert items.line_of(5) == items.line  # out of range: where the list starts


def test_merge_keys_load_as_safe_load_does():
    doc = load_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n", "f.yaml")
    assert dict(doc["other"]) == {"x": 1, "y": 3}  # a key of the mapping overrides a merged one
    assert doc["other"].line_of("y") == 4
    with pytest.raises(ConfigError, match=r"line 5: 'y' appears twice \(first on line 4\)"):
        load_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n  y: 4\n", "f.yaml")


def test_yaml_1_1_scalars_as_pyyaml_reads_them():
    """A YAML 1.2 parser would read these as text and 10: a silent change for people's files."""
    doc = load_yaml("enabled: yes\nlegacy: off\nmode: 010\n", "f.yaml")
    assert doc == {"enabled": True, "legacy": False, "mode": 8}


def test_duplicate_and_unhashable_keys_are_refused_with_their_line():
    with pytest.raises(ConfigError, match=r"^f.yaml: line 4: 'a' appears twice \(first on line 2\)$"):
        load_yaml("rules:\n  a: 1\n  b: 2\n  a: 3\n", "f.yaml")
    with pytest.raises(ConfigError, match=r"^f.yaml: line 1: a key must be a plain value"):
        load_yaml("? [a, b]\n: 1\n", "f.yaml")


def test_secret_keys_are_never_quoted():
    secret = "long-enough-secret-token"
    with pytest.raises(ConfigError) as err:
        load_yaml(f'tokens:\n  "{secret}": 1\n  "{secret}": 2\n', "tokens.yaml", secret_keys=True)
    assert str(err.value) == "tokens.yaml: line 3: a key appears twice (first on line 2)"


def test_syntax_errors_name_line_and_column(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("rules:\n\ta: 1\n")
    with pytest.raises(ConfigError, match=r"m.yaml: line 2, column 1: not valid YAML: found character '\\t'"):
        read_yaml(path, "escalation matrix")
    with pytest.raises(ConfigError, match="cannot read escalation matrix"):
        read_yaml(tmp_path / "missing.yaml", "escalation matrix")


def test_checker_names_the_line_to_edit():
    doc = load_yaml("limits:\n  calls: 3\n  wait: soon\n", "f.yaml")
    check = Checker("f.yaml")
    limits = check.mapping(check.top(doc, {"limits"}, ("limits",)), "limits", "limits")
    assert check.number(limits, "calls", "limits.calls", integer=True) == 3
    with pytest.raises(ConfigError, match=r"^f.yaml: line 3: limits.wait: expected a number, got the text 'soon'$"):
        check.number(limits, "wait", "limits.wait")
