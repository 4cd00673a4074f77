"""The app stays readable: no function over 60 lines, no module over 400 (STYLE.md, Size)."""

import ast
import pathlib

import msrec.app

APP = pathlib.Path(msrec.app.__file__).parent
FUNCTION_LINES, MODULE_LINES = 60, 400


def sizes(path: pathlib.Path) -> tuple[int, dict[str, int]]:
    """The module's line count and each function's (decorators and docstring included)."""
    text = path.read_text(encoding="utf-8")
    functions = {
        f"{path.name}:{node.name}": node.end_lineno
        - min([node.lineno] + [d.lineno for d in node.decorator_list])
        + 1
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    return len(text.splitlines()), functions


def test_no_function_over_60_lines_and_no_module_over_400():
    modules = sorted(APP.glob("*.py"))
    assert len(modules) > 5
    too_long = {}
    for path in modules:
        lines, functions = sizes(path)
        if lines > MODULE_LINES:
            too_long[path.name] = lines
        too_long |= {name: n for name, n in functions.items() if n > FUNCTION_LINES}
    assert too_long == {}


def test_the_measure_counts_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    (tmp_path / "long.py").write_text(f"@staticmethod\ndef long():\n{body}\n")
    assert sizes(tmp_path / "long.py") == (63, {"long.py:long": 63})
