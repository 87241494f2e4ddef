"""One visual language for every picture of a wiring: the SVG/PNG (:func:`graphwire.io.to_dot`), the
interactive page (:func:`graphwire.io.to_html`) and the plots (:mod:`graphwire.viz`).

- **Scale.** A learned value is drawn by its *strength* ``s = |value| / scale``: edge width
  ``0.5 + 3.5 s`` (points), colour from grey (``s = 0``) to dark blue (``s = 1``; red for a negative
  value) and opacity from 25 % to 100 %. For gates (every value in [0, 1]) the scale is absolute,
  ``scale = 1``, so a gate of 0.5 looks the same in every picture and at every training snapshot;
  for other values (DNW's raw weights...) it is the largest magnitude shown.
- **Marks.** Inactive edges (``active=False``, not used at inference) are dashed; edges whose gate
  could not learn (``learned=False``: a node's only input behind its BatchNorm) are dotted grey
  and labelled "fixed", whatever their value.
- **Nodes.** The network input points in (``invhouse``, green), the output is a house (orange).
- **Legend.** :func:`legend_rows` is the key every picture carries, in the same words.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

__all__ = ["GREY", "BLUE", "RED", "FIXED", "INACTIVE", "FILLS", "SHAPES", "WIDTH", "ALPHA", "is_value", "gate_scale",
           "strength", "edge_colour", "hex_colour", "edge_look", "legend_rows"]

GREY, BLUE, RED = (0xBB, 0xBB, 0xBB), (0x08, 0x30, 0x6B), (0xA5, 0x0F, 0x15)
#: colour of a "fixed" edge (a gate that could not learn) and of an inactive edge without a value
FIXED, INACTIVE = (0x8C, 0x8C, 0x8C), (0x99, 0x99, 0x99)
FILLS = {"input": "#d9f2d9", "output": "#fde2c8", "hidden": "#f4f6fb"}
SHAPES = {"input": "invhouse", "output": "house"}
#: edge width ``WIDTH[0] + WIDTH[1] * s`` and opacity ``ALPHA[0] + ALPHA[1] * s`` for strength ``s``
WIDTH = (0.5, 3.5)
ALPHA = (0.25, 0.75)


def is_value(v: Any) -> bool:
    """A finite real number (not a bool): an attribute value the pictures can scale by."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def gate_scale(values: Iterable[Any]) -> float:
    """The scale of a set of learned values: 1 when they are all in [0, 1] (gates, absolute), else the
    largest magnitude (1 when there is none)."""
    vals = [float(v) for v in values if is_value(v)]
    if not vals or all(0.0 <= v <= 1.0 for v in vals):
        return 1.0
    return max(abs(v) for v in vals) or 1.0


def strength(value: Any, scale: float) -> float:
    """``|value| / scale`` clipped to [0, 1] (0 for a missing value)."""
    if not is_value(value) or scale <= 0:
        return 0.0
    return min(1.0, abs(float(value)) / scale)


def _lerp(a: tuple, b: tuple, t: float) -> tuple:
    return tuple(x + (y - x) * t for x, y in zip(a, b))


def edge_colour(value: Any, scale: float, *, active: bool = True) -> tuple[tuple[float, float, float], float]:
    """``(rgb 0..255, alpha 0..1)`` of an edge with this value."""
    s = strength(value, scale)
    rgb = _lerp(GREY, RED if is_value(value) and value < 0 else BLUE, s)
    alpha = ALPHA[0] + ALPHA[1] * s
    if not active:
        rgb, alpha = _lerp(rgb, (0xFF, 0xFF, 0xFF), 0.4), max(0.2, alpha * 0.5)
    return rgb, alpha


def hex_colour(rgb: tuple, alpha: float | None = None) -> str:
    """``#rrggbb`` (or ``#rrggbbaa`` with ``alpha`` in 0..1)."""
    r, g, b = (max(0, min(255, round(c))) for c in rgb)
    out = f"#{r:02x}{g:02x}{b:02x}"
    return out if alpha is None else out + f"{max(0, min(255, round(alpha * 255))):02x}"


def edge_look(data: dict, scale: float) -> dict[str, Any]:
    """How one edge is drawn: ``width`` (points), ``colour`` (``#rrggbbaa``), ``dash`` (None,
    ``"dashed"`` or ``"dotted"``), ``fixed`` (the gate could not learn), ``active``."""
    fixed = data.get("learned") is False
    active = data.get("active", True) is not False
    if fixed:
        return {"width": 1.0, "colour": hex_colour(FIXED, 0.7), "dash": "dashed" if not active else "dotted",
                "fixed": True, "active": active}
    value = data.get("weight")
    if not is_value(value):
        colour = hex_colour(INACTIVE, 0.6) if not active else hex_colour((0x44, 0x44, 0x44))
        return {"width": 1.0, "colour": colour, "dash": None if active else "dashed", "fixed": False,
                "active": active}
    s = strength(value, scale)
    rgb, alpha = edge_colour(value, scale, active=active)
    return {"width": WIDTH[0] + WIDTH[1] * s, "colour": hex_colour(rgb, alpha), "dash": None if active else "dashed",
            "fixed": False, "active": active}


def legend_rows(datas: list[dict], *, attr: str = "weight", scale: float = 1.0, labels: bool = False,
                roles: Iterable[str] = ()) -> list[tuple[str, str]]:
    """The key of a picture of edges with these attribute dicts: ``(sample, text)`` rows, ``sample``
    one of ``thick``, ``thin``, ``negative``, ``number``, ``fixed``, ``all-learned``, ``inactive`` or
    ``roles:<role>,...``. Empty when no edge carries a learned value."""
    weighted = [d for d in datas if is_value(d.get(attr)) and d.get("learned") is not False]
    if not weighted:
        return []
    gates = all(0.0 <= float(d[attr]) <= 1.0 for d in weighted)
    name = "gate" if gates and attr == "weight" else attr
    scale_text = "absolute: 1 is the thickest" if gates else f"thickest = {scale:.2g}, the largest shown"
    rows = [("thick", f"edge width and colour: the learned {name} ({scale_text}); fainter is weaker"),
            ("thin", f"thin and grey: {name} near 0, the network is closing that edge")]
    if any(float(d[attr]) < 0 for d in weighted):
        rows.append(("negative", f"red: a negative {name}"))
    if labels:
        rows.append(("number", f"numbers beside the edges: the {name}"))
    if any(d.get("learned") is False for d in datas):
        rows.append(("fixed", 'dotted grey, "fixed": structural, its gate could not learn '
                              "(a node's only input, undone by the node's BatchNorm)"))
    elif datas and all(d.get("learned") is True for d in datas):
        rows.append(("all-learned", "every edge's gate was learned: none is fixed by normalisation"))
    if any(d.get("active") is False for d in datas):
        rows.append(("inactive", "dashed: inactive, not used at inference"))
    shown = [r for r in ("input", "output") if r in set(roles)]
    if shown:
        rows.append(("roles:" + ",".join(shown), "node shapes: the network input (pointing in) and output (a house)"))
    return rows
