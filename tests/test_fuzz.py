"""Fuzzing the readers: thousands of mutated JSON and DOT documents; only graphwire errors may
come out (never a KeyError, TypeError, OverflowError, RecursionError... from inside)."""

import json

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphwire as gw
from graphwire.errors import GraphwireError

SEEDS = [gw.generators.watts_strogatz(6, 2, 0.5, seed=1), gw.generators.layered([2, 3, 2]),
         gw.generators.darts_cell(2, channels=4)]
for i, (u, v) in enumerate(SEEDS[0].edges):
    SEEDS[0].edges[u, v].update(weight=i / 10, active=i % 2 == 0)
DOCS = [json.loads(gw.io.to_json(G)) for G in SEEDS]
DOTS = [gw.io.to_dot(G) for G in SEEDS[:2]]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**500, max_value=10**500)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_json(draw):
    doc = json.loads(json.dumps(draw(st.sampled_from(DOCS))))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["replace", "delete", "insert"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values)
        else:
            parent.insert(path[-1], draw(json_values))
    text = json.dumps(doc, allow_nan=True)
    if draw(st.booleans()) and draw(st.booleans()):
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.text(max_size=4)) + text[cut:]
    return text


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated_json())
def test_mutated_json_gives_a_graph_or_a_graphwire_error(text):
    try:
        G = gw.io.loads(text)
    except GraphwireError:
        return
    assert isinstance(G, nx.DiGraph)
    gw.validate(G)


@st.composite
def mutated_dot(draw):
    text = draw(st.sampled_from(DOTS))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 6)))
        text = text[:i] + draw(st.sampled_from(["", "->", "--", "{", "}", ";", '"', "[", "]", "=", "1" * 30,
                                                "gw_weight=\"{\"", "digraph", "role=input", "\n"])) + text[j:]
    return text


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated_dot())
def test_mutated_dot_gives_a_graph_or_a_graphwire_error(text):
    try:
        G = gw.io.loads(text, format="dot")
    except GraphwireError:
        return
    assert isinstance(G, nx.DiGraph)


@pytest.mark.parametrize("blob", [b"\xff\xfe\x00", b"", "\ufeff{}", "[" * 100000, "{" * 5000])
def test_odd_bytes_and_deep_nesting(blob):
    with pytest.raises(GraphwireError):
        gw.io.loads(blob)
