"""agents/yaml_lines.py (PyYAML with line-keeping constructors) against ruamel.yaml, in one run.

    nice -n 5 .venv/bin/python bench/yaml_lines.py

ruamel.yaml is for this comparison only, not a project dependency (ours was kept: docs/benchmarks.md):
``.venv/bin/uv pip install --python .venv/bin/python ruamel.yaml`` first.

The escalation matrix, the playbook and the console's token file are edited by hand, and
their errors name the line (``line 12: ...``). Candidates, each giving LineDict/LineList:
- ours: yaml_lines.load_yaml as shipped (PyYAML's pure-Python SafeLoader, line-keeping constructors);
- ours on libyaml: the same constructors on PyYAML's C parser (CSafeLoader);
- ruamel.yaml: its round-trip loader, which keeps ``.lc`` line numbers per key and item,
  converted to LineDict/LineList so the callers stay as they are.
Reported: milliseconds per load of agents/playbook.yaml and agents/escalation_matrix.yaml
(best of ``--repeats`` passes of ``--loads`` loads), whether each gives the same values and
lines as ours, values that YAML 1.1 (PyYAML) and 1.2 (ruamel's default) read differently, and
the error message each gives on a set of broken files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RuamelError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callradar.agents import yaml_lines  # noqa: E402
from callradar.agents.yaml_lines import ConfigError, LineDict, LineList, load_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FILES = ["agents/playbook.yaml", "agents/escalation_matrix.yaml"]
BROKEN = {
    "duplicate key": "rules:\n  a: 1\n  b: 2\n  a: 3\n",
    "duplicate secret key": 'tokens:\n  "long-enough-secret-token": {role: agent}\n'
                            '  "long-enough-secret-token": {role: supervisor}\n',
    "unclosed flow list": "rules:\n  unclosed: [\n",
    "bad indentation": "rules:\n  a: 1\n b: 2\n",
    "tab indent": "rules:\n\ta: 1\n",
    "unterminated quote": 'hierarchy: ["agent\n',
    "list key": "? [a, b]\n: 1\n",
}
YAML_1_1_VS_1_2 = "enabled: yes\nlegacy: off\nmode: 010\non: 1\n"


class _CLoader(yaml.CSafeLoader):
    show_keys = True


class _CSecretLoader(_CLoader):
    show_keys = False


_CLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, yaml_lines._mapping)
_CLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, yaml_lines._sequence)


def load_c(text: str, source: str, secret_keys: bool = False):
    """load_yaml with the C parser underneath."""
    saved = yaml_lines._Loader, yaml_lines._SecretKeysLoader
    yaml_lines._Loader, yaml_lines._SecretKeysLoader = _CLoader, _CSecretLoader
    try:
        return load_yaml(text, source, secret_keys)
    finally:
        yaml_lines._Loader, yaml_lines._SecretKeysLoader = saved


def _plain(value):
    """ruamel's scalar subclasses as the plain types the callers check for."""
    if isinstance(value, bool) or value is None:
        return value
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _convert(node):
    if isinstance(node, CommentedMap):
        out = LineDict()
        out.line, out.lines = node.lc.line + 1, {}
        for key, value in node.items():
            out[_plain(key)] = _convert(value)
            try:
                out.lines[_plain(key)] = node.lc.key(key)[0] + 1
            except KeyError:  # a key merged in with <<
                out.lines[_plain(key)] = out.line
        return out
    if isinstance(node, CommentedSeq):
        out = LineList(_convert(v) for v in node)
        out.line, out.lines = node.lc.line + 1, [node.lc.item(i)[0] + 1 for i in range(len(node))]
        return out
    return _plain(node)


def load_ruamel(text: str, source: str, secret_keys: bool = False):
    """load_yaml's interface on ruamel.yaml's round-trip loader."""
    parser = YAML(typ="rt")
    parser.allow_duplicate_keys = False
    try:
        return _convert(parser.load(text))
    except RuamelError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if secret_keys:
            problem = problem.split('"')[0]  # its duplicate-key message quotes the key
        raise ConfigError(f"{source}: {where}not valid YAML: {problem}") from None
    except TypeError as exc:  # an unhashable key
        raise ConfigError(f"{source}: {exc}") from None


CANDIDATES = {"ours (PyYAML, pure Python)": load_yaml, "ours on libyaml (CSafeLoader)": load_c,
              "ruamel.yaml round-trip": load_ruamel}


def same(a, b) -> bool:
    """Equal values, and equal lines at every level."""
    if isinstance(a, LineDict) or isinstance(b, LineDict):
        return (isinstance(a, LineDict) and isinstance(b, LineDict) and a.line == b.line and a.lines == b.lines
                and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a))
    if isinstance(a, LineList) or isinstance(b, LineList):
        return (isinstance(a, LineList) and isinstance(b, LineList) and a.line == b.line and a.lines == b.lines
                and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b)))
    return type(a) is type(b) and a == b


def ms_per_load(load, text: str, loads: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(loads):
            load(text, "f.yaml")
        best = min(best, time.perf_counter() - t0)
    return best / loads * 1e3


def message(load, text: str, secret: bool) -> str:
    try:
        load(text, "f.yaml", secret)
    except ConfigError as exc:
        return str(exc).replace("\n", " ")
    return "(no error)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/yaml_lines.json"))
    args = parser.parse_args()

    result = {"command": "bench/yaml_lines.py " + " ".join(sys.argv[1:]),
              "versions": {"pyyaml": version("pyyaml"), "ruamel.yaml": version("ruamel.yaml")},
              "ms_per_load": {}, "same_as_ours": {}, "yaml_1_1_vs_1_2": {}, "errors": {}}
    for name in FILES:
        text = (ROOT / name).read_text()
        reference = load_yaml(text, name)
        result["ms_per_load"][name] = {c: round(ms_per_load(f, text, args.loads, args.repeats), 2)
                                       for c, f in CANDIDATES.items()}
        result["same_as_ours"][name] = {c: same(reference, f(text, name)) for c, f in CANDIDATES.items()}
        print(f"{name} ({len(text.splitlines())} lines): ms per load {result['ms_per_load'][name]}; "
              f"same values and lines as ours: {result['same_as_ours'][name]}")
    result["yaml_1_1_vs_1_2"] = {c: {str(k): v for k, v in f(YAML_1_1_VS_1_2, "f.yaml").items()}
                                 for c, f in CANDIDATES.items()}
    print(f"{YAML_1_1_VS_1_2!r} reads as: {result['yaml_1_1_vs_1_2']}")
    for case, text in BROKEN.items():
        result["errors"][case] = {c: message(f, text, "secret" in case) for c, f in CANDIDATES.items()}
        print(f"{case}:")
        for c, m in result["errors"][case].items():
            print(f"  {c:30s} {m}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
