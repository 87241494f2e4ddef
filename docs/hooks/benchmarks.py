"""MkDocs hook: the benchmark tables of docs/benchmarks.md, generated from benchmarks/results/*.json.

A line ``<!-- bench: NAME -->`` in a page is replaced at build time by the table of the record
``benchmarks/results/NAME-cpu.json`` (or ``NAME-cuda.json``...), followed by the machine it was
measured on and the command that measures it. A record that is missing or does not have the
fields its table needs fails the build with the file named, so a stale page cannot be published.
``<!-- bench: index -->`` lists every record in the folder with its machine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
MARKER = re.compile(r"^<!--\s*bench:\s*([\w.-]+)\s*-->\s*$", re.M)

#: the command that writes each record (the records older scripts wrote do not hold it)
COMMANDS = {
    "executors": "nice -n 5 python benchmarks/executors.py --repeats 7 --threads 1 2",
    "ddw": "python benchmarks/ddw.py",
    "dnw": "python benchmarks/dnw.py --threads 1 --configs x0.225 x0.49 x0.49-channels",
    "sparse_threshold": "python benchmarks/sparse_threshold.py",
    "scale": "nice -n 5 python benchmarks/scale.py",
    "generators": "OMP_NUM_THREADS=1 python benchmarks/generators.py",
    "search": "OMP_NUM_THREADS=1 python benchmarks/search.py",
    "search_tabular": "OMP_NUM_THREADS=1 python examples/search_tabular.py --runs 100 --budget 100",
    "search_mnist1d": "OMP_NUM_THREADS=1 python examples/search_mnist1d.py --trials 24 --epochs 2",
    "dnw_mnist1d": "python examples/dnw_mnist1d.py --epochs 60 --seeds 3 --workers 2",
}


class BenchmarkError(Exception):
    pass


def record_path(name: str) -> Path:
    found = sorted(RESULTS.glob(f"{name}-*.json"))
    exact = [p for p in found if re.fullmatch(rf"{re.escape(name)}-(cpu|cuda|mps)\.json", p.name)]
    if not exact:
        raise BenchmarkError(f"benchmarks page: no record benchmarks/results/{name}-<device>.json")
    return exact[0]


def load(name: str) -> tuple[dict, Path]:
    path = record_path(name)
    return json.loads(path.read_text()), path


def machine_line(m: dict) -> str:
    cpu = m.get("cpu_model") or m.get("processor") or "CPU"
    parts = [f"{cpu}, {m['cpu_count']} cores" if "cpu_count" in m else cpu]
    dev = m.get("device_name") if m.get("device") == "cuda" else m.get("device")
    if dev:
        parts.append(f"device {dev}")
    if "torch" in m:
        parts.append(f"torch {m['torch']}")
    threads = m.get("torch_threads", m.get("threads", m.get("threads_per_worker")))
    if threads is not None:
        parts.append(f"{threads} torch thread{'s' if threads != 1 else ''}")
    if m.get("date"):
        parts.append(str(m["date"])[:10])
    return ", ".join(parts)


def footer(name: str, data: dict, path: Path) -> str:
    command = data.get("command") or COMMANDS[name]
    machine = dict(data["machine"])
    results = data.get("results")
    if isinstance(results, dict) and isinstance(results.get("threads"), int):
        machine["torch_threads"] = results["threads"]   # the run's own thread count
    rel = path.relative_to(ROOT).as_posix()
    return (f"\n*Machine:* {machine_line(machine)}. *Command:* `{command}`. "
            f"*Record:* `{rel}`.\n")


def table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def ms(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 0.1 else f"{s * 1000:.0f} ms"


def sec(s: float) -> str:
    return f"{s:.2f} s"


def gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB"


# ---- one function per record: (data) -> markdown table
def t_executors(d: dict) -> str:
    r = d["results"]
    rows = []
    for e in r["randwire"]:
        s = e["seconds"]
        same = "ops_cl" if e["schedule"]["memory_format"] == "channels_last" else "ops"
        peak = e.get("peak_batched_over_loop")
        rows.append([f"RandWire {e['graph']}, C={e['channels']}, batch {e['batch']}, {e['size']}×{e['size']}",
                     e["threads"], ms(s["loop"]), ms(s[same]), ms(s["reference"]), ms(s["batched"]),
                     f"{e['loop_over_batched']:.2f}", f"{e['reference_over_batched']:.2f}",
                     f"{e['outside_node_ops']:.0%}", "–" if peak is None else f"{peak:.2f}",
                     " → ".join(str(x[0]) for x in (e["load_before"], e["load_after"]) if x)])
    for e in r["edge_sets"]:
        s = e["seconds"]
        rows.append([f"{e['graph']}, C={e['channels']}, batch {e['batch']}, {e['size']}×{e['size']}", e["threads"],
                     f"hand {ms(s['hand'])}", "–", ms(s["reference"]), ms(s["batched"]),
                     f"hand/b {s['hand'] / s['batched']:.2f}", f"{e['reference_over_batched']:.2f}", "–", "–",
                     " → ".join(str(x[0]) for x in (e["load_before"], e["load_after"]) if x)])
    return (f"One training step (forward + backward), median of {r['repeats']}, every column of a row timed "
            "round-robin in one run. *ops*: the node ops alone in the memory format the batched executor "
            "chose; *outside*: the share of the batched step outside them; *peak*: peak training-step memory, "
            "batched / loop; *load*: the 1-minute load average before → after the row.\n\n"
            + table(["graph", "threads", "per-node loop", "node ops alone", "reference", "batched", "loop / batched",
                     "reference / batched", "outside", "peak", "load"], rows))


def t_ddw(d: dict) -> str:
    r = d["results"]
    names = {"static": "static", "sigmoid": "sigmoid (static α)", "ddw": "ddw"}
    rows = [[names.get(k, k), ms(v["seconds"]), f"{v['over_static']:.3f}", f"{v['params']:,}"]
            for k, v in r["rows"].items()]
    return (f"One SGD training step of `ddw_resnet([2, 2, 2, 2])` at width {r['width']}, batch {r['batch']}, "
            f"32×32, median of {r['repeats']}.\n\n" + table(["wiring", "step", "vs static", "parameters"], rows))


def t_dnw(d: dict) -> str:
    r = d["results"]
    cfgs = r["configs"]
    names = list(cfgs)

    def row(label: str, f: Callable[[dict], str]) -> list:
        return [label] + [f(cfgs[n]) for n in names]

    rows = [
        row("candidate edges", lambda c: f"{c['candidate_edges']:,}"),
        row("edge budget", lambda c: f"{sum(c['budgets']):,}"),
        row("candidate build (`channel_chain(compact=True)`)", lambda c: sec(c["graph_build_seconds"])),
        row("compile (compact planner)", lambda c: sec(c["compile_seconds"])),
        row("`write_back` + `prune(attr=\"active\")`", lambda c: sec(c["write_back_plus_prune_seconds"])),
        row("JSON save + load of the pruned wiring",
            lambda c: f"{sec(c['json_save_seconds'])} + {sec(c['json_load_seconds'])} ({c['json_bytes'] / 1e6:.1f} MB)"),
        row("peak RSS: build, compile, write-back, prune, JSON", lambda c: gib(c["peak_rss_pipeline_bytes"])),
        row("training step: graphwire / `refresh=10`",
            lambda c: f"{ms(c['step_seconds']['graphwire'])} / {ms(c['step_seconds']['graphwire_refresh10'])}"),
        row("training step: reference (dense masked weights, full sort)",
            lambda c: ms(c["step_seconds"]["reference_full_sort"])),
        row("step ratio graphwire / reference (`refresh=10`)",
            lambda c: f"{c['graphwire_over_reference']:.2f}× ({c['refresh10_over_reference']:.2f}×)"),
    ]
    return (f"MobileNet V1 as 5 channel graphs, inputs {r['size']}×{r['size']}, batch {r['batch']}, "
            f"each configuration in its own process.\n\n" + table([""] + names, rows))


def t_sparse_threshold(d: dict) -> str:
    r = d["results"]
    targets = (0.002, 0.01, 0.05)
    by_g: dict[int, list[dict]] = {}
    for row in r["rows"]:
        by_g.setdefault(row["G"], []).append(row)
    rows = []
    for g, cells in sorted(by_g.items()):
        nearest = [min(cells, key=lambda c: abs(c["density"] - t) / t) for t in targets]
        rows.append([g] + [f"{c['sparse_over_dense']:.2f}" for c in nearest])
    return (f"Sparse (gather/scatter) over dense time for one block, forward + backward, batch {r['batch']}, "
            f"C = {r['channels']}; below 1 the sparse path wins. `compile(sparse_density=...)` defaults to "
            f"{r['current_SPARSE_DENSITY']}.\n\n"
            + table(["block G = J"] + [f"density ≈ {t}" for t in targets], rows))


def t_scale(d: dict) -> str:
    r = d["results"]
    rows = []
    for x in r["rows"]:
        ref = f"{x['step_reference']:.1f} s" if x.get("step_reference") is not None else "–"
        rows.append([x["family"].upper(), f"{x['nodes']:,}", f"{x['edges']:,}", sec(x["generate"]), sec(x["compile"]),
                     ms(x["step_batched"]), ref, ms(x["step_handwritten"]), f"{x['batched_over_handwritten']:.2f}",
                     sec(x["write_back"]), sec(x["prune"]), sec(x["json_roundtrip"]), f"{x['pipeline']:.1f} s",
                     f"{x['peak_rss_mb']:,.0f} MB"])
    slopes = r["slopes"]
    fams = sorted({k.split("/")[0] for k in slopes})
    keys = ["compile", "step_batched", "step_reference", "write_back", "prune", "json_roundtrip", "peak_rss_mb"]
    slope_rows = [[k] + [f"{slopes[f'{f}/{k}/edges']:.2f}" for f in fams] for k in keys
                  if all(f"{f}/{k}/edges" in slopes for f in fams)]
    return (f"`linear` nodes, C = {r['channels']}, `sigmoid` wiring, batch {r['batch']}, {r['threads']} thread(s); "
            "ER with p = 4/n, WS(n, 4, 0.75).\n\n"
            + table(["graph", "nodes", "edges", "generate", "compile", "step: batched", "reference", "hand-written",
                     "batched / hand", "write_back", "prune", "JSON save+load", "pipeline", "peak RSS"], rows)
            + "\nFitted log-log slopes against edges:\n\n" + table(["", *[f.upper() for f in fams]], slope_rows))


def t_generators(d: dict) -> str:
    r = d["results"]
    rows = []
    for name, t in r["targets"].items():
        old = next((v for k, v in t.items() if k.startswith("old")), None)
        old_label = next((k for k in t if k.startswith("old")), "old")
        rows.append([f"`{name}`", f"{t['new']['edges']:,}", sec(t["new"]["seconds"]),
                     f"{sec(old['seconds'])}{' (estimated)' if 'estimated' in old_label else ''}" if old else "–",
                     f"{t['speedup']:.1f}×"])
    slopes = [[name, f"{s['slope_time_vs_edges']:.2f}"] for name, s in r["scaling"].items()]
    return (table(["generator", "edges", "seconds", "per-pair sampler", "speed-up"], rows)
            + "\nFitted log-log slope of time against edges, 1k to 100k nodes:\n\n"
            + table(["generator", "slope"], slopes))


def t_search(d: dict) -> str:
    r = d["results"]
    rows = [[storage, e["trials"], f"{e['first_ms_median']:.1f} ms", f"{e['last_ms_median']:.1f} ms",
             f"{e['ratio_last_first']:.2f}", f"{e['first_ms_p10']:.1f} / {e['last_ms_p10']:.1f} ms",
             f"{e['sql_statements_per_trial']:.0f}" if e.get("sql_statements_per_trial") else "–",
             f"{e['fsyncs_per_trial']:.2f}" if e.get("fsyncs_per_trial") is not None else "–"]
            for storage, e in r["engine"].items()]
    strategies = [[name, f"{s['ms_per_query']:.1f} ms"] for name, s in r["strategies_on_table"].items()]
    return ("Engine cost per trial (ask, create the trial with its choices and hash, tell) with a trivial "
            "objective and one worker: the median over the first and the last "
            f"{next(iter(r['engine'].values()))['window']} trials of the run.\n\n"
            + table(["storage", "trials", "first trials (median)", "last trials (median)", "last / first",
                     "10th percentile", "SQL statements", "fsyncs"], rows)
            + "\nA strategy's own cost per query on the tabular benchmark:\n\n"
            + table(["strategy", "per query"], strategies))


def t_search_tabular(d: dict) -> str:
    r = d["results"]
    budgets = sorted({int(b) for s in r.values() for b in s["at"]})
    rows = [[name] + [f"{s['at'][str(b)]['mean']:.4f} ± {s['at'][str(b)]['std']:.4f}" for b in budgets]
            + [f"{s['found_optimum']:.0%}", f"{s['unique_queries']:.1f}"] for name, s in r.items()]
    return (f"{d['runs']} runs of {d['budget']} queries per strategy on the {d['table_cells']}-cell table; "
            f"regret = the table's best mean accuracy ({d['table_best']}) minus the mean accuracy of the cell with "
            "the best observed value (mean ± standard deviation over the runs).\n\n"
            + table(["strategy"] + [f"regret @{b}" for b in budgets] + ["runs that found the optimum",
                                                                        "distinct cells per run"], rows))


def t_search_mnist1d(d: dict) -> str:
    r = d["results"]
    rows = [[name, f"{v['complete']} / {v['failed']}", f"{v['best']:.3f}", f"{v['mean']:.3f}",
             len(v["workers_seen"]), f"{v['seconds']:.0f}"] for name, v in r.items()]
    note = d["machine"].get("note")
    return (f"{d['settings']['space']}; objective {d['settings']['objective']}; {d['settings']['workers']} workers "
            f"on one {d['settings']['storage']}.{' ' + note[0].upper() + note[1:] + '.' if note else ''}\n\n"
            + table(["strategy", "trials complete / failed", "best val accuracy", "mean val accuracy",
                     "workers that ran trials", "wall s"], rows))


def t_dnw_mnist1d(d: dict) -> str:
    rows = []
    for key, v in d["table"].items():
        kind, setting = key.split("/")
        nodes = v["channel_nodes_used"]
        rows.append([kind.upper() if kind == "dnw" else kind, {"default": "graphwire defaults"}.get(setting, setting + " options"),
                     f"{100 * v['mean']:.1f} ± {100 * v['std']:.1f}", v["runs"], f"{v['edges_used']:,.0f}",
                     f"{nodes[0]}-{nodes[1]}"])
    return (f"{d['task']}; {d['config']['schedule']}; {d['config']['epochs']} epochs.\n\n"
            + table(["wiring", "setting", "test acc. (mean ± std)", "runs", "edges", "channel nodes used"], rows))


TABLES: dict[str, Callable[[dict], str]] = {
    "executors": t_executors, "ddw": t_ddw, "dnw": t_dnw, "sparse_threshold": t_sparse_threshold,
    "scale": t_scale, "generators": t_generators, "search": t_search, "search_tabular": t_search_tabular,
    "search_mnist1d": t_search_mnist1d, "dnw_mnist1d": t_dnw_mnist1d,
}


def index() -> str:
    rows = []
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        m = data.get("machine", {})
        rows.append([f"`{path.name}`", machine_line(m) if m else "–"])
    return table(["record", "machine"], rows)


def render(name: str) -> str:
    if name == "index":
        return index()
    if name not in TABLES:
        raise BenchmarkError(f"benchmarks page: no table for {name!r} (known: {sorted(TABLES)})")
    data, path = load(name)
    try:
        return TABLES[name](data) + footer(name, data, path)
    except (KeyError, TypeError, ValueError) as e:
        raise BenchmarkError(f"benchmarks page: {path.relative_to(ROOT)} lacks what its table needs: {e!r}") from e


def fill(markdown: str) -> str:
    return MARKER.sub(lambda m: render(m.group(1)), markdown)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER.search(markdown) is None:
        return markdown
    return fill(markdown)


__all__ = ["fill", "render", "on_page_markdown", "COMMANDS", "BenchmarkError"]
