"""Strategies on the bundled tabular benchmark (a dict lookup per query, so these are fast)."""

import json
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
        history.append(Record(i, p.graph, h, table.query(h, seed=0), "complete", p.meta, finished=float(i)))
    keep = make_strategy("evolution", population=10, sample=10, aging=False).setup(table.space, seed=0)
    p = keep.propose(history, 1)[0]
    best = max(history, key=lambda r: r.value)
    assert p.meta["parent"] == best.number  # non-aging keeps the best forever; tournament of all 10 picks it


def test_age_is_the_time_a_trial_finished_not_its_number(table):
    """Trial 0 (the best, asked first) finished last: it is the youngest member, so with a
    population of 2 it is still a parent while trials that finished earlier have died."""
    rng = random.Random(0)
    graphs = [table.space.sample(rng) for _ in range(6)]
    history = [Record(i, G, table.space.hash(G), 0.1 + 0.01 * i, "complete", {}, finished=100.0 + i)
               for i, G in enumerate(graphs)]
    history[0].value, history[0].finished = 0.99, 999.0
    strat = make_strategy("evolution", population=2, sample=2).setup(table.space, seed=0)
    assert {strat.propose(history, 1)[0].meta["parent"] for _ in range(5)} == {0}


def test_a_parent_with_no_untried_mutation_gives_an_honest_sample(table):
    from graphwire.search import space as make_space

    @make_space(k=[1, 2])
    def pair(k):
        import graphwire as gw

        return gw.generators.chain(k)

    history = [Record(i, pair.decode({"k": k}), pair.hash(pair.decode({"k": k})), 0.5, "complete", {},
                      finished=float(i)) for i, k in enumerate((1, 2))]
    strat = make_strategy("evolution", population=2, sample=2).setup(pair, seed=0)
    p = strat.propose(history, 1)[0]
    assert p.meta["op"] == "sample" and "no untried mutation of trial" in p.meta["why"]


def test_rl_feeds_sampled_skips_back_into_the_controller():
    """Flipping one sampled skip changes the probability of the next layer's choices."""
    import torch

    from graphwire.search import MacroSpace

    sp = MacroSpace(layers=3)
    strat = make_strategy("rl", hidden=16).setup(sp, seed=0)
    ctrl = strat.ctrl
    acts, _, _ = ctrl.rollout(1)
    names = [n for n, _ in ctrl.dims]
    skip = names.index("l1_skip0")
    later = names.index("l2_height")
    a0 = acts.clone()
    a1 = acts.clone()
    a0[0, skip], a1[0, skip] = 0, 1

    def logp_change(a, t):  # how the log-prob moves when the choice at step t alone changes
        with torch.no_grad():
            full = ctrl.rollout(1, actions=a.clone())[1]
            b = a.clone()
            b[0, t] = (b[0, t] + 1) % len(ctrl.dims[t][1])
            return float(full - ctrl.rollout(1, actions=b)[1])

    assert abs(logp_change(a0, later) - logp_change(a1, later)) > 1e-6


def test_rl_reward_option_is_the_papers_max_of_last_five_cubed():
    rl = make_strategy("rl", reward="paper")
    r = Record(0, None, "h", 0.5, "complete", {}, intermediate={1: 0.2, 2: 0.9, 3: 0.3, 4: 0.4, 5: 0.5, 6: 0.6, 7: 0.5})
    assert rl.reward_of(r) == pytest.approx(0.6 ** 3)  # epochs 3..7: 0.9 at epoch 2 is too old
    assert make_strategy("rl").reward_of(r) == 0.5
    assert rl.reward_of(Record(1, None, "h", None, "failed", {})) == 0.0


def test_rl_advantage_uses_the_baseline_of_previous_rewards(table):
    out = tabular.simulate("rl", budget=20, seed=0, table=table, batch=5)
    log = out["log"]
    assert [e["update"] for e in log] == [1, 2, 3, 4]
    first, second = out["values"][:5], out["values"][5:10]
    assert log[0]["baseline_used"] == 0.0  # no earlier reward: the first advantage is the reward itself
    assert log[0]["mean_advantage"] == pytest.approx(sum(first) / 5, abs=1e-5) and log[0]["mean_advantage"] != 0
    d, ema = 0.9, 0.0
    for r in first:
        ema = d * ema + (1 - d) * r
    base = ema / (1 - d ** 5)  # bias-corrected EMA of the first batch only
    assert log[1]["baseline_used"] == pytest.approx(base, abs=1e-5)
    assert log[1]["mean_advantage"] == pytest.approx(sum(second) / 5 - base, abs=1e-5)
    assert all(e["entropy"] > 0 for e in log)


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


@pytest.mark.parametrize("kind", ["mlp", "lstm"])
def test_pnas_predictor_ranks_children_within_a_parent(table, kind):
    """Trained on the 10 one-block cells only (one noisy evaluation each, as the search sees
    them), the block-sharing predictor ranks each parent's 36 two-block children: mean
    within-parent Spearman with the true (mean) accuracy >= 0.3 (one-hot features: 0.007)."""
    from graphwire.search.strategies.pnas import Predictor, cell_tokens

    sp = table.space
    rng = random.Random(0)
    parents = sp.initial()
    pred = Predictor(kind=kind, inputs=sp.blocks + 1, ops=len(sp.ops), members=5, hidden=32, embed=16, seed=0)
    pred.fit([cell_tokens(sp, G) for G in parents], [table.query(G, rng=rng) for G in parents], 200)
    rhos = []
    for G in parents:
        children = sp.expand(G)
        rhos.append(spearman(pred.predict([cell_tokens(sp, c) for c in children]), [table.mean(c) for c in children]))
    assert sum(len(sp.expand(G)) for G in parents) == 360
    assert sum(rhos) / len(rhos) >= 0.3, rhos


def test_pnas_fine_tunes_its_predictor_between_rounds(table):
    strat = make_strategy("pnas", beam=5, steps=50, finetune_steps=10).setup(table.space, seed=0)
    history = []

    def play(n):
        props = strat.propose(history, n)
        new = []
        for p in props:
            h = table.space.hash(p.graph)
            new.append(Record(len(history), p.graph, h, table.query(h, seed=0), "complete", p.meta,
                              finished=float(len(history))))
            history.append(new[-1])
        strat.observe(new)
        return props

    play(10)  # round 1: the one-block cells
    play(5)   # round 2: predicted
    assert strat.predictor.fits == 1
    w = strat.predictor.net.w1.detach().clone()
    play(5)   # round 3: the same predictor, fine-tuned
    assert strat.predictor.fits == 2 and not strat.predictor.net.w1.detach().equal(w)
    again = make_strategy("pnas", beam=5, steps=50, finetune_steps=10).setup(table.space, seed=1)
    again.load_state_dict(json.loads(json.dumps(strat.state_dict())))
    assert again.predictor.fits == 2 and again.predictor.net.w1.detach().equal(strat.predictor.net.w1.detach())


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2], [1, 2]) is None


def test_unknown_strategy_and_options():
    with pytest.raises(ParameterError, match="unknown strategy 'annealing'"):
        make_strategy("annealing")
    with pytest.raises(ParameterError, match="bad options"):
        make_strategy("evolution", populaton=3)
