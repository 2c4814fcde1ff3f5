// prettier-ignore
/**
 * The Python half of the linter, run as `python -I -S -c PYTHON_ANALYZER` (see python-analyzer.ts).
 * Kept as a string so that it ships inside dist/ with the code that runs it.
 */
export const PYTHON_ANALYZER = String.raw`"""rungate lint: finds what notebook cells do, with CPython's own parser (ast).

Reads {"notebooks": [{"key": str, "cells": [{"index": int, "source": str}]}]} on stdin,
writes {"notebooks": [{"key": str, "cells": [{"index", "error", "actions"}]}]} on stdout.
Nothing is executed: sources are only parsed. Cells are walked in notebook order with
one namespace per notebook, as a kernel runs them, so a name bound in one cell (a target,
a connection, a string of SQL) is known in the next.
"""
import ast
import json
import re
import shlex
import sys

MAX_VALUES = 8
SHELL_MAGICS = {"sx", "system", "sc"}
SHELL_CELL_MAGICS = {"bash", "sh", "script", "system"}
PY_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
SQL_MAGICS = {"sql"}
HTTP_METHODS = {"get": "GET", "post": "POST", "put": "PUT", "patch": "PATCH", "delete": "DELETE", "head": "HEAD", "options": "OPTIONS"}
SHELL_CALLS = {
    "subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
    "subprocess.Popen", "subprocess.getoutput", "subprocess.getstatusoutput",
    "os.system", "os.popen", "os.execv", "os.execvp", "os.execvpe", "os.execl", "os.execlp",
    "os.spawnv", "os.spawnvp", "os.spawnl", "os.spawnlp",
}
HTTP_LIBS = {"requests", "httpx"}
PG_CONNECT = {"psycopg.connect", "psycopg2.connect", "psycopg.Connection.connect", "pg8000.connect", "asyncpg.connect"}
SQL_READERS = {"pandas.read_sql", "pandas.read_sql_query"}
SQL_WRAPPERS = {"psycopg.sql.SQL", "psycopg2.sql.SQL", "sqlalchemy.text", "sqlalchemy.sql.text"}
EXECUTE_METHODS = {"execute", "executemany", "mogrify", "copy_expert", "copy"}


class Value:
    """What a name may hold. kind: module, func, target, pgconn, cursor, http, ipython, str."""

    def __init__(self, kind, detail=None, strings=None, origin=None):
        self.kind = kind
        self.detail = detail
        self.strings = strings or []
        self.origin = origin


def placeholder(n):
    return "__rg_p%d" % n


class Analyzer:
    def __init__(self):
        self.env = {}
        self.cell = None
        self.actions = []
        self.conditional = 0
        self.counter = 0

    # ---- names -------------------------------------------------------------------
    def bind(self, name, value):
        if value is None:
            if not self.conditional:
                self.env.pop(name, None)
            return
        old = self.env.get(name)
        if self.conditional and old is not None and old.kind == "str" and value.kind == "str":
            merged = (old.strings + [s for s in value.strings if s not in old.strings])[:MAX_VALUES]
            self.env[name] = Value("str", strings=merged, origin=value.origin)
        else:
            self.env[name] = value

    def qualname(self, node):
        """Dotted name of a module attribute: sp.run -> subprocess.run (with import aliases)."""
        if isinstance(node, ast.Name):
            v = self.env.get(node.id)
            if v is not None and v.kind in ("module", "func"):
                return v.detail
            return None
        if isinstance(node, ast.Attribute):
            base = self.qualname(node.value)
            return base + "." + node.attr if base else None
        return None

    # ---- values ------------------------------------------------------------------
    def strings_of(self, node):
        v = self.eval(node)
        if v is not None and v.kind == "str":
            return v
        return None

    def eval(self, node):
        if node is None:
            return None
        if isinstance(node, ast.Constant):
            return Value("str", strings=[node.value]) if isinstance(node.value, str) else None
        if isinstance(node, ast.JoinedStr):
            parts = [""]
            for piece in node.values:
                if isinstance(piece, ast.Constant) and isinstance(piece.value, str):
                    parts = [p + piece.value for p in parts]
                else:
                    inner = self.strings_of(piece.value) if isinstance(piece, ast.FormattedValue) else None
                    if inner is not None and len(inner.strings) == 1:
                        parts = [p + inner.strings[0] for p in parts]
                    else:
                        self.counter += 1
                        parts = [p + placeholder(self.counter) for p in parts]
            return Value("str", strings=parts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            a, b = self.strings_of(node.left), self.strings_of(node.right)
            if a is not None and b is not None:
                return Value("str", strings=[x + y for x in a.strings for y in b.strings][:MAX_VALUES])
            if a is not None or b is not None:
                self.counter += 1
                p = placeholder(self.counter)
                left = a.strings if a is not None else [p]
                right = b.strings if b is not None else [p]
                return Value("str", strings=[x + y for x in left for y in right][:MAX_VALUES])
            return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            return self.strings_of(node.left)
        if isinstance(node, ast.IfExp):
            a, b = self.eval(node.body), self.eval(node.orelse)
            if a is not None and b is not None and a.kind == "str" and b.kind == "str":
                return Value("str", strings=(a.strings + b.strings)[:MAX_VALUES])
            return a or b
        if isinstance(node, ast.Await):
            return self.eval(node.value)
        if isinstance(node, ast.Name):
            return self.env.get(node.id)
        if isinstance(node, ast.Call):
            return self.call_value(node)
        return None

    def call_value(self, node):
        func = node.func
        q = self.qualname(func)
        if q in ("rungate.target",):
            name = self.strings_of(node.args[0]) if node.args else None
            return Value("target", detail=name.strings[0] if name and len(name.strings) == 1 else None)
        if q == "rungate.connect" or q in PG_CONNECT:
            return Value("pgconn")
        if q in SQL_WRAPPERS:
            return self.strings_of(node.args[0]) if node.args else None
        if q and q.split(".")[0] in HTTP_LIBS and q.split(".")[-1] in ("Session", "Client", "AsyncClient"):
            return Value("http", detail=q.split(".")[0])
        if q == "IPython.get_ipython" or (isinstance(func, ast.Name) and func.id == "get_ipython"):
            return Value("ipython")
        if isinstance(func, ast.Attribute):
            obj = self.eval(func.value)
            if obj is not None and obj.kind == "target" and func.attr == "connect":
                return Value("pgconn")
            if obj is not None and obj.kind == "pgconn" and func.attr == "cursor":
                return Value("cursor")
            if obj is not None and obj.kind in ("pgconn", "cursor") and func.attr in ("execute",):
                return Value("cursor")
            if obj is not None and obj.kind == "str" and func.attr == "format":
                out = []
                for s in obj.strings:
                    self.counter += 1
                    out.append(re.sub(r"\{[^{}]*\}", placeholder(self.counter), s))
                return Value("str", strings=out)
            if obj is not None and obj.kind == "str" and func.attr in ("strip", "lower", "upper", "rstrip", "lstrip"):
                return obj
        return None

    # ---- actions -----------------------------------------------------------------
    def record(self, node, kind, **fields):
        action = {
            "kind": kind,
            "line": node.lineno,
            "col": node.col_offset + 1,
            "endLine": getattr(node, "end_lineno", None) or node.lineno,
            "endCol": (getattr(node, "end_col_offset", None) or node.col_offset) + 1,
        }
        action.update(fields)
        self.actions.append(action)

    def sql_action(self, node, arg, via):
        if arg is None:
            return
        v = self.eval(arg)
        if v is not None and v.kind == "str":
            self.record(node, "sql", sql=v.strings, via=via, origin=v.origin)
        else:
            self.record(node, "sql", sql=None, via=via, origin=None)

    def shell_action(self, node, arg, via):
        argv = None
        command = None
        if isinstance(arg, (ast.List, ast.Tuple)):
            items = [self.strings_of(e) for e in arg.elts]
            if all(i is not None and len(i.strings) == 1 for i in items):
                argv = [i.strings[0] for i in items]
        elif arg is not None:
            v = self.strings_of(arg)
            if v is not None and len(v.strings) == 1:
                command = v.strings[0]
        self.record(node, "shell", segments=segments(argv, command), via=via)

    def http_action(self, node, method, target, via):
        self.record(node, "http", method=method, target=target, via=via)

    def on_call(self, node):
        func = node.func
        q = self.qualname(func)
        first = node.args[0] if node.args else None
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        if q in SHELL_CALLS:
            self.shell_action(node, first if first is not None else kw.get("args"), q)
            return
        if q in SQL_READERS:
            self.sql_action(node, first if first is not None else kw.get("sql"), q)
            return
        if q and q.split(".")[0] in HTTP_LIBS:
            last = q.split(".")[-1]
            if last in HTTP_METHODS:
                self.http_action(node, HTTP_METHODS[last], None, q)
            elif last == "request":
                m = self.strings_of(first) if first is not None else self.strings_of(kw.get("method"))
                self.http_action(node, m.strings[0].upper() if m and len(m.strings) == 1 else None, None, q)
            return
        if not isinstance(func, ast.Attribute):
            return
        obj = self.eval(func.value)
        attr = func.attr
        via = self.describe(func)
        if obj is not None and obj.kind in ("target", "http"):
            target = obj.detail if obj.kind == "target" else None
            if attr in HTTP_METHODS:
                self.http_action(node, HTTP_METHODS[attr], target, via)
            elif attr == "request":
                m = self.strings_of(first) if first is not None else self.strings_of(kw.get("method"))
                self.http_action(node, m.strings[0].upper() if m and len(m.strings) == 1 else None, target, via)
            return
        if obj is not None and obj.kind in ("pgconn", "cursor") and attr in EXECUTE_METHODS:
            self.sql_action(node, first if first is not None else kw.get("query"), via)
            return
        if obj is not None and obj.kind == "ipython":
            if attr in ("system", "getoutput"):
                self.shell_action(node, first, "!")
            elif attr == "run_cell_magic" and len(node.args) >= 3:
                name = self.strings_of(node.args[0])
                body = self.strings_of(node.args[2])
                if name and body and len(name.strings) == 1 and len(body.strings) == 1:
                    if name.strings[0] in SHELL_CELL_MAGICS:
                        self.record(node, "shell", segments=segments(None, body.strings[0]), via="%%" + name.strings[0])
                    elif name.strings[0] in SQL_MAGICS:
                        self.record(node, "sql", sql=[body.strings[0]], via="%%sql", origin=None)
            return
        if obj is None and attr in ("execute", "executemany") and first is not None:
            # An unknown DB-API object: SQL only when the argument is a string we can read.
            v = self.strings_of(first)
            if v is not None:
                self.record(node, "sql", sql=v.strings, via=via, origin=v.origin)

    def describe(self, node):
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):
            return self.describe(node.value) + "." + node.attr
        if isinstance(node, ast.Call):
            return self.describe(node.func) + "()"
        return "..."

    # ---- statements --------------------------------------------------------------
    def calls_in(self, node):
        """Calls in an expression, outermost first, without entering nested statements."""
        out = []
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, ast.Call):
                out.append(n)
            for child in ast.iter_child_nodes(n):
                if not isinstance(child, ast.stmt):
                    stack.append(child)
        out.sort(key=lambda c: (c.lineno, c.col_offset))
        return out

    def expr(self, node):
        if node is None:
            return
        for call in self.calls_in(node):
            self.on_call(call)

    def body(self, stmts, conditional):
        self.conditional += 1 if conditional else 0
        try:
            for s in stmts:
                self.stmt(s)
        finally:
            self.conditional -= 1 if conditional else 0

    def stmt(self, s):
        if isinstance(s, ast.Import):
            for a in s.names:
                if a.asname:
                    self.bind(a.asname, Value("module", detail=a.name))
                else:
                    top = a.name.split(".")[0]
                    self.bind(top, Value("module", detail=top))
            return
        if isinstance(s, ast.ImportFrom):
            if s.module:
                for a in s.names:
                    self.bind(a.asname or a.name, Value("func", detail=s.module + "." + a.name))
            return
        if isinstance(s, ast.Assign):
            self.expr(s.value)
            value = self.eval(s.value)
            for t in s.targets:
                if isinstance(t, ast.Name):
                    if value is not None and value.kind == "str":
                        value = Value("str", strings=value.strings, origin=[t.id, self.cell, s.lineno])
                    self.bind(t.id, value)
                else:
                    self.expr(t)
            return
        if isinstance(s, ast.AnnAssign):
            self.expr(s.value)
            if isinstance(s.target, ast.Name) and s.value is not None:
                self.bind(s.target.id, self.eval(s.value))
            return
        if isinstance(s, ast.AugAssign):
            self.expr(s.value)
            if isinstance(s.target, ast.Name) and isinstance(s.op, ast.Add):
                self.bind(s.target.id, self.eval(ast.BinOp(left=ast.Name(id=s.target.id, ctx=ast.Load()), op=ast.Add(), right=s.value)))
            return
        if isinstance(s, (ast.With, ast.AsyncWith)):
            for item in s.items:
                self.expr(item.context_expr)
                if isinstance(item.optional_vars, ast.Name):
                    v = self.eval(item.context_expr)
                    if v is not None and v.kind == "pgconn" and isinstance(item.context_expr, ast.Call) and isinstance(item.context_expr.func, ast.Attribute) and item.context_expr.func.attr == "cursor":
                        v = Value("cursor")
                    self.bind(item.optional_vars.id, v)
            self.body(s.body, False)
            return
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for d in s.decorator_list:
                self.expr(d)
            self.body(s.body, True)
            return
        # if / for / while / try / match: every branch may run.
        for field, value in ast.iter_fields(s):
            if isinstance(value, list) and value and all(isinstance(v, ast.stmt) for v in value):
                self.body(value, True)
            elif isinstance(value, list):
                for v in value:
                    if isinstance(v, ast.excepthandler):
                        self.body(v.body, True)
                    elif hasattr(ast, "match_case") and isinstance(v, ast.match_case):
                        self.body(v.body, True)
                    elif isinstance(v, ast.AST):
                        self.expr(v)
            elif isinstance(value, ast.expr):
                if isinstance(s, (ast.For, ast.AsyncFor)) and field == "target":
                    if isinstance(value, ast.Name):
                        self.bind(value.id, None)
                    continue
                self.expr(value)


def segments(argv, command):
    """Commands of a shell line, each as argv; None when built at run time."""
    if argv is not None:
        if len(argv) >= 3 and argv[0].rsplit("/", 1)[-1] in ("sh", "bash") and argv[1] == "-c":
            return segments(None, argv[2])
        return [argv]
    if command is None:
        return None
    try:
        lex = shlex.shlex(command, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        tokens = list(lex)
    except ValueError:
        return None
    out, cur = [], []
    for t in tokens:
        if t and all(ch in "|&;()<>" for ch in t):
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur:
        out.append(cur)
    return out


MAGIC_LINE = re.compile(r"^(\s*)(?:([\w.,\s\[\]]+?)\s*=\s*)?([!%])(.*)$")


def transform(source):
    """IPython syntax to Python, line for line; the ! and % lines become actions."""
    lines = source.split("\n")
    actions = []
    first = next((i for i, l in enumerate(lines) if l.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        head = lines[first].strip()[2:].split()
        name = head[0] if head else ""
        body_start = first + 1
        body = "\n".join(lines[body_start:])
        if name in SHELL_CELL_MAGICS:
            for i in range(body_start, len(lines)):
                if lines[i].strip():
                    actions.append(("shell", i + 1, len(lines[i]) - len(lines[i].lstrip()) + 1, lines[i].strip(), "%%" + name))
            return None, actions
        if name in SQL_MAGICS:
            actions.append(("sql", body_start + 1, 1, body, "%%sql"))
            return None, actions
        if name not in PY_CELL_MAGICS:
            return None, actions
        lines[first] = ""
    out = []
    for i, line in enumerate(lines):
        m = MAGIC_LINE.match(line)
        if m and not line.lstrip().startswith("#"):
            indent, target, sigil, rest = m.groups()
            col = len(indent) + 1
            if sigil == "!" and not rest.startswith("="):
                actions.append(("shell", i + 1, col, rest.strip(), "!"))
                out.append(indent + ((target + " = None") if target else "pass"))
                continue
            if sigil == "%" and (target is None or target.strip()) and re.match(r"^%?\w", rest):
                word = rest.lstrip("%").split(None, 1)
                name = word[0] if word else ""
                arg = word[1] if len(word) > 1 else ""
                if name in SHELL_MAGICS:
                    actions.append(("shell", i + 1, col, arg, "%" + name))
                elif name in SQL_MAGICS:
                    actions.append(("sql", i + 1, col, arg, "%sql"))
                out.append(indent + ((target + " = None") if target else "pass"))
                continue
        out.append(line)
    return "\n".join(out), actions


def analyze_notebook(cells):
    analyzer = Analyzer()
    results = []
    for cell in cells:
        analyzer.cell = cell["index"]
        analyzer.actions = []
        error = None
        try:
            code, magic = transform(cell["source"])
            for kind, line, col, text, via in magic:
                pos = {"line": line, "col": col, "endLine": line, "endCol": col + len(text) + 1}
                if kind == "shell":
                    analyzer.actions.append(dict(pos, kind="shell", segments=segments(None, text), via=via))
                else:
                    analyzer.actions.append(dict(pos, kind="sql", sql=[text], via=via, origin=None))
            if code is not None:
                # IPython runs top-level await; so does the parse.
                flags = ast.PyCF_ONLY_AST | getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
                tree = compile(code, "cell", "exec", flags=flags, dont_inherit=True)
                analyzer.body(tree.body, False)
        except SyntaxError as exc:
            error = {"line": exc.lineno or 1, "col": exc.offset or 1, "message": exc.msg}
        except (RecursionError, MemoryError, ValueError) as exc:
            error = {"line": 1, "col": 1, "message": "cannot be parsed: %s" % type(exc).__name__}
        analyzer.actions.sort(key=lambda a: (a["line"], a["col"]))
        results.append({"index": cell["index"], "error": error, "actions": analyzer.actions})
    return results


def main():
    request = json.load(sys.stdin)
    out = {"python": "%d.%d.%d" % sys.version_info[:3], "notebooks": []}
    for nb in request["notebooks"]:
        out["notebooks"].append({"key": nb["key"], "cells": analyze_notebook(nb["cells"])})
    json.dump(out, sys.stdout)


main()
`;
