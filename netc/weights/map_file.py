"""Map files: YAML ``spec op: source layer`` pins for a Keras import, read safely and written atomically."""
from __future__ import annotations

from typing import TYPE_CHECKING

from netc.diagnostics import NetcError, Span
from netc.weights.keras_graph import Dag

if TYPE_CHECKING:  # pragma: no cover
    from netc.weights.keras_match import Pairing


MAP_HEADER = ("# netc weights map: spec weighted op -> source layer (written by `netc weights match "
              "--write-map`).\n# Keep the entries that pin an ambiguous pair, or all of them.\n")


def read_map(path: str) -> dict[str, str]:
    """A map file: YAML ``spec op name: source layer name``, read like specs are (UTF-8 checked, PyYAML's safe
    loader with bounded nesting)."""
    import yaml

    from netc.frontends.load import decode
    from netc.frontends.yaml_nodes import BoundedLoader, DepthError
    try:
        with open(path, "rb") as fh:
            text = decode(fh.read(), path, "yaml")
    except OSError as err:
        raise NetcError(f"cannot read map file `{path}`: {err.strerror or err}") from None
    try:
        data = yaml.load(text, Loader=BoundedLoader)   # noqa: S506 - a SafeLoader subclass
    except DepthError as err:
        raise NetcError(f"map file `{path}` nests too deeply (a map is one level of `op: layer` pairs)",
                        Span(path, err.mark.line + 1, err.mark.column + 1)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        span = Span(path, mark.line + 1, mark.column + 1) if mark else None
        raise NetcError(f"map file `{path}` is not valid YAML: {getattr(err, 'problem', err)}", span) from None
    if data is None:
        return PinMap()
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise NetcError(f"map file `{path}` must be a YAML mapping of `spec op: source layer` strings")
    return PinMap(data, path=path, text=text)


class PinMap(dict):
    """A map file's pins, each with where it is written (for errors with the line and a caret)."""

    def __init__(self, data: dict | None = None, path: str = "", text: str = ""):
        super().__init__(data or {})
        self.path, self.lines = path, text.splitlines()

    def error(self, key: str, message: str, notes: list[str] | None = None) -> NetcError:
        """A NetcError at the line of ``key``'s entry."""
        for i, line in enumerate(self.lines):
            col = line.find(key)
            if col >= 0 and line[:col].strip(" '\"") == "" and ":" in line[col + len(key):]:
                span = Span(self.path, i + 1, col + 1, end_col=col + 1 + len(key))
                err = NetcError(message, span, notes=notes or [])
                return err.with_source(self.path, self.lines)
        return NetcError(message, notes=notes or [])


def write_map(pairing: Pairing, path: str) -> None:
    """Write the pairing as a map file (netc/atomic.py: checked first, written atomically, mode 0644)."""
    import yaml

    from netc.atomic import atomic_file, check_target
    check_target(path)
    text = MAP_HEADER + yaml.safe_dump(pairing.mapping(), sort_keys=False, default_flow_style=False)
    with atomic_file(path, suffix=".yaml.tmp") as (_, fh):
        fh.write(text.encode("utf-8"))


def _check_pins(dag: Dag, src: Dag, pins: dict[str, str]) -> None:
    import difflib
    ir_names = {n.name for n in dag.nodes}
    src_names = {n.name for n in src.nodes}
    def plain(key: str, msg: str, notes: list[str] | None = None) -> NetcError:
        return NetcError(msg, notes=notes or [])
    fail = pins.error if isinstance(pins, PinMap) else plain
    for k, v in pins.items():
        if k not in ir_names:
            close = difflib.get_close_matches(k, sorted(ir_names), n=1)
            raise fail(k, f"map entry `{k}`: the spec has no weighted op of that name"
                       + (f"; did you mean `{close[0]}`?" if close else ""))
        if v not in src_names:
            close = difflib.get_close_matches(v, sorted(src_names), n=1)
            raise fail(k, f"map entry `{k}: {v}`: the source has no weighted layer `{v}`"
                       + (f"; did you mean `{close[0]}`?" if close else ""))
