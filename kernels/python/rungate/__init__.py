"""Helpers for rungate runbooks, available inside every kernel rungate starts.

Targets and their credentials come from the kernel's environment, set by the gateway
for each session (see README.md in this folder). They are read again on every request,
so the gateway can swap a credential (for example an elevated one for a single approved
cell) without the runbook noticing. Standard library only.
"""

from __future__ import annotations

import html
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

__all__ = [
    "TargetError",
    "HttpTarget",
    "PostgresTarget",
    "target",
    "targets",
    "connect",
    "table",
]

_PREFIX = "RUNGATE_TARGET_"
_KIND_SUFFIX = "_KIND"
DEFAULT_TIMEOUT = 30.0


class TargetError(Exception):
    """A target refused a request or could not be reached.

    ``status`` is the HTTP status (None when the target was unreachable) and
    ``message`` the target's own explanation (its JSON ``error`` field when present).
    """

    def __init__(self, target: str, status: Optional[int], message: str, body: Any = None):
        self.target = target
        self.status = status
        self.message = message
        self.body = body
        where = f"HTTP {status}" if status is not None else "unreachable"
        super().__init__(f"{target}: {where}: {message}")


def _env_key(name: str) -> str:
    """``demo-shop`` -> ``DEMO_SHOP``: the spelling used in environment variable names."""
    if not isinstance(name, str) or not name:
        raise ValueError("a target name must be a non-empty string")
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _setting(name: str, key: str, required: bool = True) -> Optional[str]:
    """Reads RUNGATE_TARGET_<NAME>_<KEY>, or the file named by ..._<KEY>_FILE."""
    var = f"{_PREFIX}{_env_key(name)}_{key}"
    value = os.environ.get(var)
    if value:
        return value
    path = os.environ.get(f"{var}_FILE")
    if path:
        try:
            with open(path, "r", encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as exc:
            raise TargetError(name, None, f"cannot read {var}_FILE: {exc.strerror}") from None
    if required:
        raise TargetError(name, None, f"{var} is not set; is {name!r} one of this runbook's targets?")
    return None


def targets() -> List[str]:
    """Names of the targets this kernel has credentials for, sorted."""
    names = set()
    for var, value in os.environ.items():
        if var.startswith(_PREFIX) and var.endswith(_KIND_SUFFIX) and value:
            key = var[len(_PREFIX) : -len(_KIND_SUFFIX)]
            names.add(os.environ.get(f"{_PREFIX}{key}_NAME") or key.lower().replace("_", "-"))
    return sorted(names)


def _kind(name: str) -> str:
    kind = _setting(name, "KIND", required=False)
    if not kind:
        known = ", ".join(targets()) or "none"
        raise TargetError(name, None, f"unknown target {name!r} (known: {known})")
    return kind.lower()


def _query_pairs(query: Mapping[str, Any]) -> List[tuple]:
    pairs = []
    for key, value in query.items():
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, bool):
                v = "true" if v else "false"
            pairs.append((key, str(v)))
    return pairs


class HttpTarget:
    """A JSON-over-HTTP target. ``get``/``post``/``put``/``delete`` answer decoded JSON."""

    def __init__(self, name: str, timeout: float = DEFAULT_TIMEOUT):
        self.name = name
        self.timeout = timeout

    def __repr__(self) -> str:  # never shows the token
        return f"<rungate.HttpTarget {self.name} {self.url}>"

    @property
    def url(self) -> str:
        return str(_setting(self.name, "URL")).rstrip("/")

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, json: Any = None) -> Any:  # noqa: A002 - mirrors requests' keyword
        return self.request("POST", path, body=json)

    def put(self, path: str, json: Any = None) -> Any:  # noqa: A002
        return self.request("PUT", path, body=json)

    def delete(self, path: str, **query: Any) -> Any:
        return self.request("DELETE", path, query=query)

    def request(self, method: str, path: str, query: Optional[Mapping[str, Any]] = None, body: Any = None) -> Any:
        if not path.startswith("/"):
            path = "/" + path
        url = self.url + path
        pairs = _query_pairs(query or {})
        if pairs:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(pairs)
        headers = {"Accept": "application/json", "User-Agent": "rungate-kernel"}
        token = _setting(self.name, "TOKEN", required=False)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None or method in ("POST", "PUT"):
            data = json.dumps(body if body is not None else {}).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            message, decoded = _error_message(payload, exc.reason)
            raise TargetError(self.name, exc.code, message, decoded) from None
        except urllib.error.URLError as exc:
            raise TargetError(self.name, None, f"cannot reach {self.url}: {exc.reason}") from None
        except TimeoutError:
            raise TargetError(self.name, None, f"no answer from {self.url} within {self.timeout:g} s") from None
        if not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            return raw.decode("utf-8", errors="replace")


def _error_message(payload: bytes, reason: Any) -> tuple:
    text = payload.decode("utf-8", errors="replace").strip()
    try:
        decoded = json.loads(text)
    except ValueError:
        return (text[:500] or str(reason)), text
    if isinstance(decoded, dict):
        for key in ("error", "message", "detail", "title"):
            if isinstance(decoded.get(key), str):
                return decoded[key], decoded
    return text[:500], decoded


class PostgresTarget:
    """A PostgreSQL target; ``connect()`` opens a psycopg connection with the session's role."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:  # never shows the DSN (it carries a password)
        return f"<rungate.PostgresTarget {self.name}>"

    def connect(self, **kwargs: Any) -> Any:
        try:
            import psycopg  # type: ignore[import-not-found]
        except ImportError:
            raise TargetError(
                self.name,
                None,
                "psycopg is not installed in this kernel's environment; add psycopg[binary] to kernels/requirements.txt",
            ) from None
        return psycopg.connect(str(_setting(self.name, "DSN")), **kwargs)


def target(name: str, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """The target called ``name`` (an :class:`HttpTarget` or a :class:`PostgresTarget`)."""
    kind = _kind(name)
    if kind == "http":
        return HttpTarget(name, timeout=timeout)
    if kind == "postgres":
        return PostgresTarget(name)
    raise TargetError(name, None, f"unsupported target kind {kind!r}")


def connect(name: str, **kwargs: Any) -> Any:
    """A database connection to the postgres target ``name``."""
    t = target(name)
    if not isinstance(t, PostgresTarget):
        raise TargetError(name, None, "connect() is for postgres targets; use target(name).get(...) for http ones")
    return t.connect(**kwargs)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)


def _text_table(columns: Sequence[str], rows: Sequence[Sequence[str]], note: str) -> str:
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(v)) for w, v in zip(widths, row)]
    widths = [min(w, 60) for w in widths]

    def fmt(values: Iterable[str]) -> str:
        return "  ".join((v if len(v) <= w else v[: w - 1] + "…").ljust(w) for v, w in zip(values, widths)).rstrip()

    lines = [fmt(columns), fmt("-" * w for w in widths)] + [fmt(r) for r in rows]
    if note:
        lines.append(note)
    return "\n".join(lines)


def table(rows: Any, columns: Optional[Sequence[str]] = None, max_rows: int = 200, title: Optional[str] = None) -> None:
    """Shows a list of dicts (or one dict) as a table: HTML in Jupyter, text elsewhere."""
    if isinstance(rows, Mapping):
        rows = [rows]
    rows = list(rows or [])
    if columns is None:
        seen: Dict[str, None] = {}
        for r in rows:
            if isinstance(r, Mapping):
                for k in r.keys():
                    seen.setdefault(str(k), None)
        columns = list(seen) or ["value"]
    shown = rows[:max_rows]
    cells = [
        [_cell(r.get(c)) if isinstance(r, Mapping) else _cell(r) for c in columns]
        for r in shown
    ]
    note = f"({len(rows)} rows, first {max_rows} shown)" if len(rows) > max_rows else f"({len(rows)} rows)"
    text = _text_table(columns, cells, note)
    if title:
        text = f"{title}\n{text}"
    try:
        from IPython import get_ipython  # type: ignore[import-not-found]
        from IPython.display import display  # type: ignore[import-not-found]
    except ImportError:
        get_ipython = None  # type: ignore[assignment]
    if get_ipython is None or get_ipython() is None:
        print(text)
        return
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in cells)
    caption = f"<caption>{html.escape(title)}</caption>" if title else ""
    markup = (
        f'<table class="rungate-table">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        f"<p><small>{html.escape(note)}</small></p>"
    )
    display({"text/html": markup, "text/plain": text}, raw=True)
