"""Strategies on the bundled tabular benchmark (a dict lookup per query, so these are fast)."""

import math
import random

import pytest

from graphwire.errors import ParameterError
from graphwire.search import make_strategy
from graphwire.search.strategies import Record
from graphwire.search.strategies.pnas import spearman

tabular = pytest.importorskip("graphwire.search.tabular")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def table():
    return tabular.TabularBenchmark()


def test_table_covers_the_cell_space(table):
    assert len(table) == len(table.space.enumerate())
    G = table.space.sample(random.Random(0))
    runs = table.record(G)["val_acc"]
    assert len(runs) == 2 and len(runs[0]) == table.epochs
    assert table.query(G, seed=1) == runs[1][-1]
    assert table.query(G, seed="mean") == pytest.approx(table.mean(G))
    assert 0.1 < table.best <= 1.0
    with pytest.raises(ParameterError, match="seed must be in 0..1"):
        table.query(G, seed=5)


@pytest.mark.parametrize("name", ["random", "evolution", "rl", "pnas", "tpe"])
def test_every_strategy_searches_the_table(table, name):
    out = tabular.simulate(name, budget=40, seed=1, table=table)
    assert len(out["values"]) == 40 and len(out["regret"]) == 40
    assert all(0 <= r <= table.best for r in out["regret"])
    assert min(out["regret"]) < out["regret"][0] or out["regret"][0] == 0


def test_random_deduplicates_by_hash(table):
    out = tabular.simulate("random", budget=120, seed=2, table=table)
    assert len(set(out["hashes"])) == 120


def test_aging_evolution_takes_parents_from_the_newest_population(table):
    strat = make_strategy("evolution", population=10, sample=3).setup(table.space, seed=0)
    history = []
    for i in range(40):
        p = strat.propose(history, 1)[0]
        h = table.space.hash(p.graph)
        if i >= 10:
            assert p.meta["op"] == "mutate"
            assert p.meta["parent"] >= len(history) - 10  # only the 10 newest can be parents
        history.append(Record(i, p.graph, h, table.query(h, seed=0), "complete", p.meta))
    keep = make_strategy("evolution", population=10, sample=10, aging=False).setup(table.space, seed=0)
    p = keep.propose(history, 1)[0]
    best = max(history, key=lambda r: r.value)
    assert p.meta["parent"] == best.number  # non-aging keeps the best forever; tournament of all 10 picks it


def test_rl_logs_entropy_and_bias_corrected_baseline(table):
    out = tabular.simulate("rl", budget=20, seed=0, table=table, batch=5)
    log = out["log"]
    assert [e["update"] for e in log] == [1, 2, 3, 4]
    assert all(e["entropy"] > 0 and 0 < e["baseline"] < 1 for e in log)
    # bias-corrected EMA after the first batch = weighted mean of its rewards, not 0.1 x reward
    first = out["values"][:5]
    d = 0.9
    ema = 0.0
    for k, r in enumerate(first, 1):
        ema = d * ema + (1 - d) * r
    assert log[0]["baseline"] == pytest.approx(ema / (1 - d ** 5), abs=1e-4)
    assert min(first) <= log[0]["baseline"] <= max(first)


def test_rl_samples_and_its_state_roundtrips(table):
    a = make_strategy("rl").setup(table.space, seed=4)
    props = a.propose([], 8)
    assert len({table.space.hash(p.graph) for p in props}) > 1  # sampling, not argmax
    recs = [Record(i, p.graph, table.space.hash(p.graph), 0.5 + 0.01 * i, "complete", p.meta)
            for i, p in enumerate(props)]
    a.observe(recs[:5])
    b = make_strategy("rl").setup(table.space, seed=99)
    b.load_state_dict(a.state_dict())
    pa, pb = a.propose([], 3), b.propose([], 3)
    assert [p.meta["actions"] for p in pa] == [p.meta["actions"] for p in pb]


def test_rl_anchor_points_on_the_macro_space():
    from graphwire.search import MacroSpace

    sp = MacroSpace(layers=4)
    strat = make_strategy("rl", batch=2).setup(sp, seed=0)
    props = strat.propose([], 4)
    assert all(p.meta["op"] == "rl" for p in props)
    recs = [Record(i, p.graph, sp.hash(p.graph), 0.3 * i, "complete", p.meta) for i, p in enumerate(props)]
    entry = strat.observe(recs)
    assert entry["update"] == 2 and math.isfinite(entry["loss"])


def test_pnas_rounds_and_rank_correlation(table):
    out = tabular.simulate("pnas", budget=50, seed=0, table=table, beam=20)
    first = out["log"][0]
    assert first["round"] == 1 and first["blocks"] == 1 and first["trained"] == len(table.space.initial())
    assert first["rank_correlation"] is None  # nothing was predicted for the exhaustive first round
    later = out["log"][1]
    assert later["blocks"] == 2 and later["trained"] == 20 and -1 <= later["rank_correlation"] <= 1
    with pytest.raises(ParameterError, match="pnas needs a space that can expand"):
        from graphwire.search import MacroSpace

        make_strategy("pnas").setup(MacroSpace(layers=2))


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2], [1, 2]) is None


def test_unknown_strategy_and_options():
    with pytest.raises(ParameterError, match="unknown strategy 'annealing'"):
        make_strategy("annealing")
    with pytest.raises(ParameterError, match="bad options"):
        make_strategy("evolution", populaton=3)
