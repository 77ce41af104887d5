"""Console sign-in: one secret token per supervisor and per agent.

Tokens come from a YAML file (CALLRADAR_CONSOLE_TOKENS_FILE) and/or the same
YAML inline in CALLRADAR_CONSOLE_TOKENS::

    tokens:
      "<long random token>": {role: supervisor, name: Sam}
      "<long random token>": {role: agent, agent_id: agent-417, name: Priya}

An agent sees only calls whose calls.events ``agent_id`` is theirs; a supervisor
sees every call. Only SHA-256 digests of the tokens stay in memory, and no error
or log line ever quotes a token: errors point at the line instead.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from callradar.agents.yaml_lines import Checker, ConfigError, load_yaml

log = logging.getLogger(__name__)

ROLES = ("supervisor", "agent")
MIN_TOKEN_LENGTH = 16
ENTRY_KEYS = {"role", "agent_id", "name"}


class TokenError(ConfigError):
    """Console tokens that cannot be used; the message names the file and line, never the token."""


@dataclass(frozen=True)
class Principal:
    """Who is signed in."""

    role: str  # supervisor | agent
    agent_id: str = ""
    name: str = ""

    def can_see(self, call_agent_id: str) -> bool:
        return self.role == "supervisor" or (bool(self.agent_id) and call_agent_id == self.agent_id)

    def to_dict(self) -> dict:
        return {"role": self.role, "agent_id": self.agent_id, "name": self.name or self.agent_id or self.role}


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class TokenStore:
    def __init__(self, principals: dict[bytes, Principal]):
        self._principals = principals  # sha256(token) -> who

    def __len__(self) -> int:
        return len(self._principals)

    def authenticate(self, token: str | None) -> Principal | None:
        """Who holds ``token``, or None; compares against every entry in constant time."""
        if not token:
            return None
        digest, found = _digest(token), None
        for known, principal in self._principals.items():
            if hmac.compare_digest(known, digest):
                found = principal
        return found

    @classmethod
    def from_yaml(cls, text: str, source: str) -> TokenStore:
        try:
            doc = load_yaml(text, source, secret_keys=True)
        except ConfigError as exc:
            raise TokenError(str(exc)) from None
        check = Checker(source, TokenError)
        doc = check.top(doc, allowed={"tokens"}, required=("tokens",))
        entries = check.mapping(doc, "tokens", "tokens")
        principals = {}
        for n, token in enumerate(entries, 1):
            where = f"tokens, entry {n}"
            if not isinstance(token, str):
                check.fail(entries, token, f"{where}: a token must be text; put it in quotes")
            if len(token) < MIN_TOKEN_LENGTH:
                check.fail(entries, token, f"{where}: a token needs at least {MIN_TOKEN_LENGTH} characters "
                                           "(callradar console --init-tokens makes strong ones)")
            spec = check.mapping(entries, token, where, allowed=ENTRY_KEYS, required=("role",))
            role = spec["role"]
            if role not in ROLES:
                check.fail(spec, "role", f"{where}: role {role!r} is not supervisor or agent")
            agent_id = check.text(spec, "agent_id", f"{where}.agent_id") if "agent_id" in spec else ""
            if role == "agent" and not agent_id:
                check.fail(spec, "role", f"{where}: an agent token needs agent_id (as on calls.events)")
            name = check.text(spec, "name", f"{where}.name") if "name" in spec else ""
            principals[_digest(token)] = Principal(role, agent_id, name)
        return cls(principals)

    @classmethod
    def from_settings(cls, settings) -> TokenStore:
        """Tokens from CALLRADAR_CONSOLE_TOKENS_FILE and CALLRADAR_CONSOLE_TOKENS together."""
        principals: dict[bytes, Principal] = {}
        path = settings.console_tokens_file
        if path is not None:
            path = Path(path)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise TokenError(f"cannot read console tokens file {path}: {exc}") from None
            if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                log.warning("console tokens file %s can be read by other users; chmod 600 it", path)
            principals.update(cls.from_yaml(text, str(path))._principals)
        if settings.console_tokens:
            principals.update(cls.from_yaml(settings.console_tokens, "CALLRADAR_CONSOLE_TOKENS")._principals)
        if not principals:
            raise TokenError("no console tokens: set CALLRADAR_CONSOLE_TOKENS_FILE (or pass --tokens FILE); "
                             "make one with: callradar console --init-tokens FILE --supervisor NAME --agent AGENT_ID")
        return cls(principals)


def write_tokens_file(path: str | Path, supervisors: list[str], agents: list[str]) -> int:
    """Create a tokens file (mode 600) with a fresh random token per person; returns how many.

    Refuses to overwrite, so nobody's token changes by accident.
    """
    path = Path(path)
    if path.exists():
        raise TokenError(f"{path} already exists; remove it first or edit it by hand")
    if not supervisors and not agents:
        raise TokenError("name at least one --supervisor NAME or --agent AGENT_ID")
    lines = ["# callradar console tokens: keep this file secret (mode 600).",
             "# token -> role (supervisor | agent), agent_id (agents: as on calls.events), name", "tokens:"]
    for name in supervisors:
        lines.append(f'  "{secrets.token_urlsafe(24)}": {{role: supervisor, name: {json.dumps(name)}}}')
    for agent_id in agents:
        lines.append(f'  "{secrets.token_urlsafe(24)}": {{role: agent, agent_id: {json.dumps(agent_id)}}}')
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return len(supervisors) + len(agents)
