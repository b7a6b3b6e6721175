"""Pair the spec's weighted ops with a Keras source's layers, and report by which evidence each pair was made.

A source with the model's graph pairs by structure (pair_structure.py); a weights-only source by class and
shapes, names or map pins, where that is sound (pair_order.py); map files in map_file.py. Every pair carries
its evidence (``structure``, ``shapes``, ``names``, ``map``), shown by ``netc weights match`` and ``netc check``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from netc.diagnostics import Diagnostic, NetcError
from netc.ir.weights import WeightValues
from netc.semantic.analyze import CheckedModel
from netc.weights.bind import block_of
from netc.weights.keras_graph import WNode, fmt_shape, ir_dag
from netc.weights.source import KerasSource
from netc.weights.map_file import MAP_HEADER, _check_pins, read_map, write_map  # noqa: F401 (re-exported)
from netc.weights.pair_order import _pair_by_order, keras_order
from netc.weights.pair_structure import _pair_by_structure


@dataclass
class Pairing:
    """The spec's weighted nodes paired with the source's, in spec order."""

    source: KerasSource
    pairs: list[tuple[WNode, WNode]]
    warnings: list[Diagnostic]
    evidence: list[str] = field(default_factory=list)   # per pair: structure | shapes | names | map

    def evidence_counts(self) -> dict[str, int]:
        """How many layers each kind of evidence paired, e.g. ``{"structure": 258, "map": 2}``."""
        out: dict[str, int] = {}
        for e in self.evidence:
            out[e] = out.get(e, 0) + 1
        return out

    def values(self) -> WeightValues:
        """Every spec weight's value from its partner (float32, IR layout)."""
        out: WeightValues = {}
        for ir, src in self.pairs:
            node = ir.node
            for role, w in node.weights.items():
                try:
                    arr = np.asarray(src.read(role))
                except NetcError as err:
                    raise NetcError(err.message, node.origin.span, notes=[f"{block_of(node)} needs it"]) from None
                if arr.size != w.size:
                    raise NetcError(f"source variable `{src.variables.get(role, role)}` has shape "
                                    f"{fmt_shape(arr.shape)}, {block_of(node)} needs {fmt_shape(w.ext_shape)}",
                                    node.origin.span)
                if not (np.issubdtype(arr.dtype, np.floating)
                        or (role == "count" and np.issubdtype(arr.dtype, np.integer))):   # Normalization's count
                    raise NetcError(f"source variable `{src.variables.get(role, role)}` holds {arr.dtype} values",
                                    node.origin.span)
                out[w.name] = np.ascontiguousarray(arr, dtype=np.float32).reshape(w.shape)
        return out

    def rows(self) -> list[dict]:
        """One row per spec weight: block, line, netc name, source layer and variable, shape."""
        rows = []
        for (ir, src), by in zip(self.pairs, self.evidence or ["structure"] * len(self.pairs)):
            node = ir.node
            span = node.origin.span
            for role, w in node.weights.items():
                rows.append({"block": node.origin.text, "stack": node.origin.stack, "line": span.line if span else None,
                             "weight": w.name, "layer": src.name, "type": src.type, "by": by,
                             "variable": src.variables.get(role, "?"), "shape": list(w.ext_shape)})
        return rows

    def mapping(self) -> dict[str, str]:
        return {ir.name: src.name for ir, src in self.pairs}


def match(checked: CheckedModel, source: KerasSource, pins: dict[str, str] | None = None) -> Pairing:
    """Pair ``checked``'s weighted ops with ``source``'s (a NetcError at the first difference)."""
    dag = ir_dag(checked.graph)
    pins = pins if pins is not None else {}   # a PinMap keeps where each entry is written
    _check_pins(dag, source.dag, pins)
    source.dag.source_kind = source.kind
    if source.topology:
        pairs, warnings = _pair_by_structure(dag, source.dag, pins)
        evidence = ["map" if n.name in pins else "structure" for n, _ in pairs]
    else:
        triples, warnings = _pair_by_order(dag, source.dag, pins, keras_order(checked.graph, dag), checked.graph)
        pairs, evidence = [(n, s) for n, s, _ in triples], [e for _, _, e in triples]
    warnings = [Diagnostic(n, None, severity="warning") for n in source.notes] + warnings
    return Pairing(source, pairs, warnings, evidence)


def load_keras_weights(checked: CheckedModel, path: str, weights_map: str | None = None) -> WeightValues:
    """Values for every weight of ``checked`` from a Keras model, ``.weights.h5`` or SavedModel; the
    pairing's warnings (an epsilon or padding that differs, a pairing by order) join ``checked.warnings``."""
    from netc.weights.keras_source import open_source
    return load_paired(checked, open_source(path), weights_map)


def load_paired(checked: CheckedModel, source: KerasSource, weights_map: str | None = None) -> WeightValues:
    """Values for every weight of ``checked`` paired from ``source`` (see :func:`load_keras_weights`)."""
    pairing = match(checked, source, read_map(weights_map) if weights_map else None)
    values = pairing.values()
    checked.warnings.extend(pairing.warnings)
    checked.warnings.append(Diagnostic(pairing_summary(pairing), None, severity="note"))
    return values


def pairing_summary(pairing: Pairing) -> str:
    """``SavedModel `sm`: 10 layers paired by structure``: the format netc recognised and its evidence."""
    return (f"{pairing.source.kind} `{pairing.source.path}`: {len(pairing.pairs)} layers paired by "
            f"{describe_evidence(pairing)}")


EVIDENCE = {"structure": "structure", "shapes": "shapes (the only layer of its class and shapes)",
            "names": "names", "creation order": "creation order (the variables' names, in the spec's order)",
            "layer order": "layer order (the file's numbering of `model.layers`, reproduced from the spec's graph)",
            "map": "the map file",
            "registration order": "registration order (the state_dict's order and shapes)",
            "module tree": "module tree and shapes (the one order of the names' tree that fits)"}


def describe_evidence(pairing: Pairing) -> str:
    """``structure`` or ``shapes (...) 250, names 8, the map file 2``: what paired the layers."""
    counts = pairing.evidence_counts()
    if len(counts) == 1:
        return EVIDENCE[next(iter(counts))]
    return ", ".join(f"{EVIDENCE[k]} {v}" for k, v in counts.items())


def format_pairing(pairing: Pairing) -> str:
    """The `netc weights match` table: spec line and block, netc weight, source layer and variable, shape."""
    head = ["line", "block", "netc weight", "source layer (type)", "variable", "shape", "by"]
    rows = [head]
    for r in pairing.rows():
        rows.append([str(r["line"] or "-"), f"{r['stack']}# {r['block']}" if r["stack"] else r["block"],
                     r["weight"], f"{r['layer']} ({r['type']})", r["variable"], fmt_shape(r["shape"]), r["by"]])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [pairing_summary(pairing), ""]
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[j]) for j, c in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"
