"""The ``graphwire`` command: generate, inspect, export, render and prune graphs; run the demo.

::

    graphwire generate ws --n 32 --k 4 --p 0.75 --seed 1 -o g.json
    graphwire info g.json [--json]
    graphwire export g.json -o g.dot
    graphwire render g.json -o g.svg [--rankdir LR]
    graphwire prune g.json --keep 0.5 [--attr weight] [--ensure-path] [--drop-unlearned] -o pruned.json
    graphwire plot history.json -o evolution.png [--attr weight]
    graphwire plot g.json --adjacency -o adj.png [--attr weight] [--per-stage]
    graphwire plot g.json --degrees [--pruned pruned.json] -o degrees.png
    graphwire html g.json [--history history.json] -o wiring.html
    graphwire demo [demo options...]
    graphwire search run|worker|report ...   (see graphwire.search.cli)

Bad input prints ``graphwire: error: <message>`` on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any, Sequence

import networkx as nx

from .errors import DeadNodeError, GraphwireError, ParameterError
from .graph import generations, inputs, outputs, topological_order
from .io import load, render, to_dot, to_json
from .io.readers import FORMATS

__all__ = ["main", "build_parser"]

DOT_SUFFIXES = (".dot", ".gv")
JSON_SUFFIXES = (".json",)

#: family -> (generator name, {option: default}); None marks a required option.
FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "complete": ("complete", {"n": 32}),
    "chain": ("chain", {"n": 32}),
    "resnet": ("resnet", {"n": 32}),
    "densenet": ("densenet", {"n": 32}),
    "erdos_renyi": ("erdos_renyi", {"n": 32, "p": 0.2, "algorithm": "auto"}),
    "barabasi_albert": ("barabasi_albert", {"n": 32, "m": 5}),
    "watts_strogatz": ("watts_strogatz", {"n": 32, "k": 4, "p": 0.75}),
    "layered": ("layered", {"sizes": None, "max_skip": None, "density": 1.0}),
}
ALIASES = {"er": "erdos_renyi", "ba": "barabasi_albert", "ws": "watts_strogatz"}
SEEDED = {"erdos_renyi", "barabasi_albert", "watts_strogatz", "layered"}
GEN_OPTIONS = ("n", "p", "k", "m", "sizes", "max_skip", "density", "algorithm")
LEARNED_EDGE = ("weight", "active", "ddw_mean", "ddw_std", "p_open", "op_weights", "op")
LEARNED_NODE = ("depth_prob", "exec_rate")


class _UsageError(Exception):
    def __init__(self, message: str, prog: str):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors come back to :func:`main` instead of exiting."""

    def error(self, message: str):  # type: ignore[override]
        raise _UsageError(message, self.prog)


_TOP_OPTIONS = ("-h", "--help", "--version")


def _check_leading_options(args: list[str], commands: list[str]) -> None:
    """Name an unknown option given before the command (argparse would only say the command is missing)."""
    for a in args:
        if not a.startswith("-"):
            return
        if a not in _TOP_OPTIONS:
            raise _UsageError(f"unknown option {a!r}: graphwire takes a command first ({', '.join(commands)}), "
                              "then its options", "graphwire")


# ---------------------------------------------------------------- helpers
def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _load(path: str) -> nx.DiGraph:
    return load(path, format=FORMATS.get(Path(path).suffix.lower(), "json"))


def _save(G: nx.DiGraph, out: str) -> None:
    suffix = Path(out).suffix.lower()
    if suffix == ".graphml":
        from .io import to_graphml

        to_graphml(G, out)
    elif suffix in DOT_SUFFIXES:
        to_dot(G, out)
    elif suffix in JSON_SUFFIXES:
        to_json(G, out)
    else:
        raise ParameterError(
            f"cannot tell the format of the output {out!r} from its suffix: use .json, .dot or .graphml "
            "(graphwire render writes .svg/.png/.pdf)")


def _depth(G: nx.DiGraph) -> int:
    """Edges on the longest path (unweighted: the learned ``weight`` must not count here)."""
    longest: dict = {}
    for n in topological_order(G):
        longest[n] = max((longest[p] + 1 for p in G.predecessors(n)), default=0)
    return max(longest.values(), default=0)


def _describe_generator(gen: Any) -> str:
    if not isinstance(gen, dict):
        return "none"
    name = gen.get("name", "?")
    if name == "stack" and isinstance(gen.get("stages"), list):
        stages = gen["stages"]
        seed = f" seed={gen['seed']}" if gen.get("seed") is not None else ""
        kinds = [_describe_generator({k: v for k, v in s.items() if k != "seed"}) if isinstance(s, dict)
                 else "a given graph" for s in stages]
        if len(set(kinds)) == 1:
            return f"stack of {len(stages)} stages of {kinds[0]}{seed}"
        return f"stack of {len(stages)} stages ({'; '.join(kinds)}){seed}"
    params = gen.get("params", {})
    parts = [name] + [f"{k}={v}" for k, v in (params.items() if isinstance(params, dict) else [])]
    if gen.get("seed") is not None:
        parts.append(f"seed={gen['seed']}")
    return " ".join(parts)


def _stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {"min": 0, "mean": 0.0, "max": 0}
    return {"min": min(values), "mean": round(statistics.fmean(values), 3), "max": max(values)}


def graph_info(G: nx.DiGraph) -> dict:
    """The numbers ``graphwire info`` prints, as a JSON-ready dict."""
    gens = generations(G)
    ins, outs = inputs(G), outputs(G)
    in_set, out_set = set(ins), set(outs)
    stages = sorted({d["stage"] for _, d in G.nodes(data=True) if isinstance(d.get("stage"), int)})
    learned: dict[str, dict] = {}
    for key in LEARNED_EDGE:
        vals = [d[key] for _, _, d in G.edges(data=True) if key in d]
        if not vals:
            continue
        entry: dict[str, Any] = {"edges": len(vals)}
        if key == "active":
            entry["true"] = sum(1 for v in vals if v is True)
        elif key not in ("op_weights", "op"):
            nums = [float(v) for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if nums:
                entry.update(min=min(nums), mean=round(statistics.fmean(nums), 6), max=max(nums))
        learned[f"edge.{key}"] = entry
    for key in LEARNED_NODE:
        vals = [d[key] for _, d in G.nodes(data=True) if key in d]
        if vals:
            learned[f"node.{key}"] = {"nodes": len(vals)}
    record = G.graph.get("graphwire") if isinstance(G.graph.get("graphwire"), dict) else {}
    return {
        "nodes": G.number_of_nodes(),
        "edges": G.number_of_edges(),
        "inputs": ins,
        "outputs": outs,
        "depth": _depth(G),
        "generations": len(gens),
        "max_width": max(len(g) for g in gens),
        "in_degree": _stats([d for n, d in G.in_degree() if n not in in_set]),
        "out_degree": _stats([d for n, d in G.out_degree() if n not in out_set]),
        "stages": stages,
        "generator": record.get("generator"),
        "pruned": record.get("pruned"),
        "learned": learned,
    }


def _short_list(items: list, limit: int = 8) -> str:
    shown = ", ".join(str(x) for x in items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}] ({len(items)})"


def _summary(G: nx.DiGraph) -> str:
    return f"{G.number_of_nodes()} nodes, {G.number_of_edges()} edges, depth {_depth(G)}"


# ---------------------------------------------------------------- commands
def _parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s != ""]
    except ValueError:
        raise ParameterError(f"--sizes must be comma-separated integers such as 32,192,192, got {text!r}") from None
    if not sizes:
        raise ParameterError(f"--sizes must list at least one block size, got {text!r}")
    return sizes


def cmd_generate(args: argparse.Namespace) -> int:
    from . import generators

    family = ALIASES.get(args.family, args.family)
    gen_name, defaults = FAMILIES[family]
    given = {k: getattr(args, k) for k in GEN_OPTIONS if getattr(args, k) is not None}
    stray = [k for k in given if k not in defaults]
    if stray:
        raise ParameterError(
            f"{', '.join(_option(k) for k in stray)} does not apply to the family {family!r} "
            f"(it takes {', '.join(_option(k) for k in defaults)})")
    params: dict[str, Any] = {}
    for key, default in defaults.items():
        value = given.get(key, default)
        if key == "sizes":
            if value is None:
                raise ParameterError("the family 'layered' needs --sizes, e.g. --sizes 32,192,192")
            value = _parse_sizes(value)
        params[key] = value
    func = getattr(generators, gen_name)
    if args.stages is not None:
        G = generators.stack(func, args.stages, seed=args.seed, same_graph=args.same_graph, **params)
    else:
        if args.same_graph:
            raise ParameterError("--same-graph only applies with --stages")
        if family in SEEDED:
            params["seed"] = args.seed
        G = func(**params)

    record = G.graph.get("graphwire", {}).get("generator")
    line = f"{_describe_generator(record)}: {_summary(G)}"
    if args.output in (None, "-"):
        sys.stdout.write(to_json(G))
        print(line, file=sys.stderr)
    else:
        _save(G, args.output)
        print(f"wrote {args.output}: {line}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    G = _load(args.graph)
    info = graph_info(G)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    rows = [
        ("nodes", info["nodes"]),
        ("edges", info["edges"]),
        ("inputs", _short_list(info["inputs"])),
        ("outputs", _short_list(info["outputs"])),
        ("depth", f"{info['depth']} (longest input -> output path, in edges)"),
        ("generations", f"{info['generations']} (max width {info['max_width']})"),
        ("in-degree", "min {min}, mean {mean}, max {max} (non-input nodes)".format(**info["in_degree"])),
        ("out-degree", "min {min}, mean {mean}, max {max} (non-output nodes)".format(**info["out_degree"])),
        ("stages", _short_list(info["stages"]) if info["stages"] else "none"),
        ("generator", _describe_generator(info["generator"])),
    ]
    if info["pruned"]:
        p = info["pruned"]
        rows.append(("pruned", f"by {p.get('attr')!r}: {p.get('edges_before')} -> {p.get('edges_after')} edges"))
    learned = []
    for key, entry in info["learned"].items():
        extra = ""
        if "min" in entry:
            extra = f", {entry['min']:.4g}..{entry['max']:.4g}"
        elif "true" in entry:
            extra = f", {entry['true']} true"
        learned.append(f"{key} ({entry.get('edges', entry.get('nodes'))}{extra})")
    rows.append(("learned", "; ".join(learned) if learned else "none"))
    print(args.graph)
    for name, value in rows:
        print(f"  {name:<12} {value}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    G = _load(args.graph)
    _save(G, args.output)
    print(f"wrote {args.output}: {_summary(G)}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    G = _load(args.graph)
    out = render(G, args.output, args.format, rankdir=args.rankdir)
    print(f"wrote {out}: {_summary(G)}")
    return 0


def _parse_keep(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ParameterError(
            f"--keep must be an edge count (e.g. 12) or a fraction in (0, 1] (e.g. 0.5), got {text!r}") from None


def cmd_prune(args: argparse.Namespace) -> int:
    from .transforms import prune

    if args.threshold is not None and args.keep is not None:
        raise ParameterError("give either --threshold or --keep, not both")
    if args.threshold is None and args.keep is None and args.attr != "active":
        raise ParameterError("prune needs --threshold T or --keep K (a count like 12 or a fraction like 0.5)")
    keep = _parse_keep(args.keep) if args.keep is not None else None
    G = _load(args.graph)
    try:
        H = prune(G, threshold=args.threshold, keep=keep, attr=args.attr, per_node=args.per_node,
                  ensure_path=args.ensure_path, keep_unlearned=not args.drop_unlearned)
    except DeadNodeError as e:
        if args.ensure_path:
            raise
        raise ParameterError(f"{str(e).split('; pass ensure_path')[0]}; pass --ensure-path to keep the widest "
                             "input->output path as well") from None
    _save(H, args.output)
    print(f"wrote {args.output}: pruned {G.number_of_edges()} -> {H.number_of_edges()} edges, "
          f"{G.number_of_nodes()} -> {H.number_of_nodes()} nodes (depth {_depth(H)})")
    unlearned = H.graph["graphwire"]["pruned"].get("kept_unlearned", 0)
    if unlearned:
        print(f"kept {unlearned} edge(s) marked learned=false (gates that could not learn, not ranked); "
              "--drop-unlearned prunes them like the others")
    return 0


def _is_history(path: str) -> bool:
    """Whether ``path`` is a saved training history (``History.save``) rather than a graph."""
    if Path(path).suffix.lower() in DOT_SUFFIXES:
        return False
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError, RecursionError):
        return False  # the graph loader reports the problem
    return isinstance(data, dict) and data.get("format") == "graphwire.history"


def cmd_plot(args: argparse.Namespace) -> int:
    from . import viz

    if _is_history(args.input):
        if args.adjacency or args.degrees or args.pruned is not None:
            raise ParameterError(
                f"{args.input} is a training history: --adjacency/--degrees/--pruned need a graph file")
        from .io.history import History

        history = History.load(args.input)
        viz.plot_edge_history(history, args.attr, path=args.output)
        print(f"wrote {args.output}: {args.attr} of {len(history.edges)} edges over {len(history.snapshots)} snapshots")
        return 0
    if args.adjacency and args.degrees:
        raise ParameterError("choose --adjacency or --degrees, not both")
    G = _load(args.input)
    if args.degrees:
        P = _load(args.pruned) if args.pruned is not None else None
        if P is not None:
            viz.check_pruning(G, P, what=f"--pruned {args.pruned}", of=args.input)
        viz.plot_degrees(G, P, path=args.output)
        print(f"wrote {args.output}: degree histograms of {_summary(G)}"
              + (f" and of the pruned graph ({P.number_of_edges()} edges)" if P is not None else ""))
        return 0
    if args.pruned is not None:
        raise ParameterError("--pruned only applies with --degrees")
    viz.plot_adjacency(G, args.attr, per_stage=args.per_stage, path=args.output)
    print(f"wrote {args.output}: adjacency matrix of {_summary(G)} coloured by {args.attr!r}")
    return 0


def cmd_html(args: argparse.Namespace) -> int:
    from .io import to_html

    G = _load(args.graph)
    history = None
    if args.history is not None:
        from .io.history import History

        history = History.load(args.history)
    to_html(G, history, args.output, attr=args.attr, rankdir=args.rankdir, title=args.title)
    snaps = f", {len(history.snapshots)} snapshots" if history is not None else ""
    print(f"wrote {args.output}: {_summary(G)}{snaps}")
    return 0


def _run_demo(rest: list[str]) -> int:
    try:
        from . import demo
    except ImportError as e:
        raise ParameterError(f"the demo is not available: importing graphwire.demo failed ({e})") from None
    rc = demo.main(rest)
    return int(rc) if isinstance(rc, int) else 0


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="graphwire",
        description="Generate, inspect, export, render, prune and plot neural-network wiring graphs.",
    )
    parser.add_argument("--version", action="version", version=f"graphwire {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    families = sorted(FAMILIES) + sorted(ALIASES)
    g = sub.add_parser("generate", help="generate a graph and write it as JSON or DOT",
                       description="Generate a graph. Defaults: --n 32; er --p 0.2; ba --m 5; ws --k 4 --p 0.75.")
    g.add_argument("family", choices=families, metavar="FAMILY", help="one of: " + ", ".join(families))
    g.add_argument("--n", type=int, help="number of hidden nodes (default 32)")
    g.add_argument("--p", type=float, help="edge / rewiring probability (er, ws)")
    g.add_argument("--k", type=int, help="ring neighbours (ws)")
    g.add_argument("--m", type=int, help="edges per new node (ba)")
    g.add_argument("--sizes", help="block sizes for layered, e.g. 32,192,192")
    g.add_argument("--max-skip", dest="max_skip", type=int, help="layered: furthest block an edge may skip to")
    g.add_argument("--density", type=float, help="layered: probability of keeping each allowed edge")
    g.add_argument("--algorithm", choices=("auto", "gnp", "fast_gnp"),
                   help="er sampler: gnp (a coin flip per node pair), fast_gnp (O(n + m)), or auto "
                        "(fast_gnp when p < 0.2; default); the one used is recorded")
    g.add_argument("--stages", type=int, help="chain this many generated stages (graphwire.generators.stack)")
    g.add_argument("--same-graph", dest="same_graph", action="store_true", help="with --stages: one graph for every stage")
    g.add_argument("--seed", type=int, help="random seed (drawn and recorded when omitted)")
    g.add_argument("-o", "--output", help="output file, .json or .dot (default: JSON on stdout)")
    g.set_defaults(func=cmd_generate)

    i = sub.add_parser("info", help="print a graph's size, depth, degrees and learned attributes")
    i.add_argument("graph", help="a .json or .dot graph file")
    i.add_argument("--json", action="store_true", help="print the numbers as JSON")
    i.set_defaults(func=cmd_info)

    e = sub.add_parser("export", help="convert a graph between JSON, DOT and GraphML (format from the -o suffix)")
    e.add_argument("graph", help="a .json or .dot graph file")
    e.add_argument("-o", "--output", required=True, help="output file, .json, .dot or .graphml")
    e.set_defaults(func=cmd_export)

    r = sub.add_parser("render", help="draw a graph to SVG/PNG/PDF with Graphviz dot")
    r.add_argument("graph", help="a .json or .dot graph file")
    r.add_argument("-o", "--output", required=True, help="output picture, .svg/.png/.pdf")
    r.add_argument("--format", choices=("svg", "png", "pdf"), help="picture format (default: from the -o suffix)")
    r.add_argument("--rankdir", choices=("LR", "TB", "RL", "BT"), type=str.upper,
                   help="layout direction (default: LR for deep narrow graphs, else TB)")
    r.set_defaults(func=cmd_render)

    p = sub.add_parser("prune", help="drop weak edges and the nodes left off every input->output path")
    p.add_argument("graph", help="a .json or .dot graph file with learned edge attributes")
    p.add_argument("--threshold", type=float, help="drop edges whose attribute is below T")
    p.add_argument("--keep", help="keep the strongest K edges: a count (12) or a fraction (0.5)")
    p.add_argument("--attr", default="weight", help="edge attribute to rank by (default: weight)")
    p.add_argument("--per-node", dest="per_node", choices=("in", "out"), help="apply --keep to each node's in/out edges")
    p.add_argument("--ensure-path", dest="ensure_path", action="store_true",
                   help="also keep, for every output, the input->output path whose weakest edge is strongest")
    p.add_argument("--drop-unlearned", dest="drop_unlearned", action="store_true",
                   help="also prune edges marked learned=false (gates that could not learn; kept by default)")
    p.add_argument("-o", "--output", required=True, help="output file, .json or .dot")
    p.set_defaults(func=cmd_prune)

    pl = sub.add_parser("plot", help="plot a training history (edge evolution) or a graph (adjacency, degrees)",
                        description="A history.json gives the evolution of every edge over training; a graph "
                                    "gives its adjacency matrix (default) or, with --degrees, degree histograms. "
                                    "The format follows the -o suffix (.png, .svg, .pdf).")
    pl.add_argument("input", help="history.json (graphwire.io.History.save) or a .json/.dot graph")
    pl.add_argument("-o", "--output", required=True, help="output picture, e.g. evolution.png")
    pl.add_argument("--attr", default="weight",
                    help="the per-edge value to plot (history) or to colour the matrix by (graph) (default: weight)")
    pl.add_argument("--adjacency", action="store_true", help="graph: adjacency matrix (the default for graphs)")
    pl.add_argument("--per-stage", dest="per_stage", action="store_true", help="graph: one matrix per stage")
    pl.add_argument("--degrees", action="store_true", help="graph: in/out-degree histograms")
    pl.add_argument("--pruned", help="with --degrees: a pruned graph to compare with")
    pl.set_defaults(func=cmd_plot)

    h = sub.add_parser("html", help="write an interactive HTML page of the wiring (slider over a training history)")
    h.add_argument("graph", help="a .json or .dot graph file")
    h.add_argument("--history", help="history.json from training: adds a slider over its snapshots")
    h.add_argument("-o", "--output", required=True, help="output page, e.g. wiring.html")
    h.add_argument("--attr", default="weight", help="edge value shown as width/opacity (default: weight)")
    h.add_argument("--rankdir", choices=("LR", "TB", "RL", "BT"), type=str.upper, help="layout direction")
    h.add_argument("--title", help="page title")
    h.set_defaults(func=cmd_html)

    d = sub.add_parser("demo", help="run the end-to-end demo (options are passed to graphwire.demo)",
                       add_help=False)
    d.add_argument("args", nargs=argparse.REMAINDER, help="demo options, e.g. -o OUT --fast --epochs N --seed S")
    d.set_defaults(func=None)
    from .search.cli import add_parser as _add_search
    _add_search(sub)
    return parser


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 2 bad input)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] == "demo":  # everything after `demo` belongs to the demo
            return _run_demo(args_list[1:])
        parser = build_parser()
        try:
            _check_leading_options(args_list, _commands(parser))
            args = parser.parse_args(args_list)
        except _UsageError as e:
            print(f"graphwire: error: {e} (see '{e.prog} --help')", file=sys.stderr)
            return 2
        except SystemExit as e:  # --help / --version
            return e.code if isinstance(e.code, int) else 0
        return int(args.func(args) or 0)
    except GraphwireError as e:
        print(f"graphwire: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `graphwire info g.json | head`: stop quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 1
    except OSError as e:
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        print(f"graphwire: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # python -m graphwire.cli
    raise SystemExit(main())
