"""YAML loading that remembers line numbers, so config errors can say "line 12: ...".

People edit the escalation matrix, the playbook and the console's token file by
hand; an error that names the file, the line and the problem is what lets them
fix it without reading our code. Mappings and lists load as :class:`LineDict`
and :class:`LineList` (plain dict and list subclasses) that carry the line of
each key and item. Duplicate keys, which plain PyYAML silently lets the last one
win, are refused.
"""

from __future__ import annotations

from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A hand-edited config file that cannot be used; the message names file, line and problem."""


class LineDict(dict):
    """A YAML mapping: ``line`` is where it starts, ``lines[key]`` where each key is."""

    line: int = 0
    lines: dict

    def line_of(self, key) -> int:
        return self.lines.get(key, self.line)


class LineList(list):
    """A YAML sequence: ``line`` is where it starts, ``lines[i]`` where item i is."""

    line: int = 0
    lines: list

    def line_of(self, index: int) -> int:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


class _Loader(yaml.SafeLoader):
    show_keys = True


class _SecretKeysLoader(_Loader):
    show_keys = False


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    own = {id(k) for k, _ in node.value}  # key nodes written in this mapping; flattening adds merged ones
    loader.flatten_mapping(node)  # YAML merge keys (<<), as SafeLoader does
    out = LineDict()
    out.line, out.lines = node.start_mark.line + 1, {}
    merged = set()  # keys merged in, which a key of this mapping overrides
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            raise ConfigError(f"line {line}: a key must be a plain value, not a list or mapping") from None
        if id(key_node) not in own:
            merged.add(key)
        elif key in merged:
            merged.discard(key)
        elif key in out:
            name = repr(key) if loader.show_keys else "a key"  # token files: keys are secrets
            raise ConfigError(f"line {line}: {name} appears twice (first on line {out.lines[key]})")
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = line
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load_yaml(text: str, source: str, secret_keys: bool = False):
    """Parse ``text``; syntax and duplicate-key errors become ConfigError naming ``source`` and the line.

    ``secret_keys``: the mapping keys are secrets (console tokens), so no error quotes one.
    """
    try:
        return yaml.load(text, Loader=_SecretKeysLoader if secret_keys else _Loader)  # noqa: S506 - SafeLoaders
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{source}: {where}not valid YAML: {getattr(exc, 'problem', None) or exc}") from None


def read_yaml(path: str | Path, what: str):
    """Read and parse a YAML file; ``what`` names it in errors ("escalation matrix")."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from None
    return load_yaml(text, str(path))


class Checker:
    """Shape checks for one loaded file: every failure names the file and the line.

    ``node`` is the LineDict/LineList holding the offending value and ``key`` its
    key or index there, so the line is the one the user has to edit.
    """

    def __init__(self, source: str, error: type[ConfigError] = ConfigError):
        self.source = source
        self.error = error

    def fail(self, node, key, problem: str):
        line = node.line_of(key) if isinstance(node, (LineDict, LineList)) else 0
        where = f"line {line}: " if line else ""
        raise self.error(f"{self.source}: {where}{problem}")

    def top(self, doc, allowed: set[str], required=()) -> LineDict:
        """The file's top level: a mapping with ``required`` keys and nothing outside ``allowed``."""
        if not isinstance(doc, dict):
            raise self.error(f"{self.source}: expected a mapping with {', '.join(map(repr, required))}, "
                             f"got {_kind(doc)}")
        holder = LineDict(file=doc)
        holder.line, holder.lines = 1, {}
        return self.mapping(holder, "file", "the file", allowed, required)

    def mapping(self, node, key, path: str, allowed: set[str] | None = None, required=()) -> LineDict:
        value = node[key]
        if not isinstance(value, dict):
            self.fail(node, key, f"{path}: expected a mapping, got {_kind(value)}")
        if allowed is not None:
            extra = sorted(map(str, set(value) - allowed))
            if extra:
                self.fail(value, extra[0] if extra[0] in value else None,
                          f"{path}: unknown key(s) {', '.join(extra)}; allowed: {', '.join(sorted(allowed))}")
        for name in required:
            if name not in value:
                self.fail(node, key, f"{path}: '{name}' is required")
        return value

    def text(self, node, key, path: str) -> str:
        value = node[key]
        if not isinstance(value, str) or not value.strip():
            self.fail(node, key, f"{path}: expected a non-empty string, got {_kind(value)}")
        return value.strip()

    def number(self, node, key, path: str, minimum: float = 0.0, integer: bool = False) -> float:
        value = node[key]
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type:
            self.fail(node, key, f"{path}: expected {'a whole number' if integer else 'a number'}, got {_kind(value)}")
        if value < minimum:
            self.fail(node, key, f"{path}: must be at least {minimum:g}, got {value}")
        return value


def _kind(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
