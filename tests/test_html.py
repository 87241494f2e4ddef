"""graphwire.io.to_html: a self-contained page, checked as text and in a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile

import networkx as nx
import pytest

import graphwire as gw
from graphwire.errors import ParameterError, RenderError
from graphwire.io import History

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz dot is not installed")
CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and os.path.exists(p)), None)
CHROMEDRIVER = next((p for p in (shutil.which("chromedriver"), "/usr/bin/chromedriver") if p and os.path.exists(p)),
                    None)
try:
    import selenium  # noqa: F401

    HAS_SELENIUM = True
except ImportError:  # pragma: no cover - depends on the environment
    HAS_SELENIUM = False
BROWSER_MISSING = (None if CHROMIUM and CHROMEDRIVER and HAS_SELENIUM else
                   "headless Chromium test needs chromium, chromedriver and selenium "
                   f"(found chromium={CHROMIUM}, chromedriver={CHROMEDRIVER}, selenium={HAS_SELENIUM}); "
                   "`GRAPHWIRE_BROWSER=1 bash scripts/setup.sh` (as root, or `make test`) installs them")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _graph_and_history(skip=()):
    """complete(3) (5 nodes, 10 edges). Edge (0, 1) grows, edge (1, 4) ends inactive."""
    G = gw.generators.complete(3)
    edges = [e for e in G.edges if e not in skip]
    h = History(edges=edges, meta={"wiring": "sigmoid"})
    first = {"weight": [0.5] * len(edges), "active": [True] * len(edges)}
    last = {"weight": [0.1 + 0.05 * i for i in range(len(edges))], "active": [True] * len(edges),
            "p_open": [0.25] * len(edges)}
    last["weight"][edges.index((0, 1))] = 1.0
    last["active"][edges.index((1, 4))] = False
    h.add(first, epoch=0, step=0)
    h.add(last, epoch=1, step=4)
    h.epochs.append({"epoch": 1, "loss": 0.25, "val_acc": 0.875})
    return G, h


def _data(page: str) -> dict:
    blob = re.search(r'<script type="application/json" id="gw-data">(.*?)</script>', page, re.S).group(1)
    return json.loads(blob)


# ---------------------------------------------------------------- the file itself
@needs_dot
def test_page_is_self_contained_and_carries_every_snapshot(tmp_path):
    G, h = _graph_and_history()
    page = gw.io.to_html(G, h, tmp_path / "w.html")
    assert (tmp_path / "w.html").read_text(encoding="utf-8") == page
    assert not re.search(r"https?://|<link|src=|@import|url\(", page)  # nothing to fetch
    assert page.count("<script") == 2 and page.count('class="edge"') == G.number_of_edges()
    data = _data(page)
    assert len(data["snapshots"]) == 2 and data["start"] == 1 and data["attr"] == "weight"
    k = list(G.edges).index((1, 4))
    assert data["snapshots"][0]["values"]["active"][k] is True
    assert data["snapshots"][1]["values"]["active"][k] is False
    assert data["snapshots"][1]["metrics"] == {"loss": 0.25, "val_acc": 0.875}
    assert "epoch 1 (step 4)" == data["snapshots"][1]["label"]
    assert data["edges"][k] == [1, 4] and len(data["nodes"]) == G.number_of_nodes()


@needs_dot
def test_pruned_graph_with_the_full_history_and_static_pages(tmp_path):
    G, h = _graph_and_history(skip=[(1, 2)])
    P = G.copy()
    P.remove_edge(1, 4)
    P.edges[1, 2]["weight"] = 0.4  # not in the history: keeps its own value in every snapshot
    data = _data(gw.io.to_html(P, h))
    k = list(P.edges).index((1, 2))
    assert [s["values"]["weight"][k] for s in data["snapshots"]] == [0.4, 0.4]
    j = list(P.edges).index((0, 1))
    assert [s["values"]["weight"][j] for s in data["snapshots"]] == [0.5, 1.0]
    still = _data(gw.io.to_html(h.graph_at(G)))
    assert len(still["snapshots"]) == 1 and still["snapshots"][0]["values"]["weight"][j] == 1.0
    with pytest.raises(ParameterError, match="none of the graph's edges"):
        gw.io.to_html(nx.relabel_nodes(gw.generators.chain(2), str), h)
    with pytest.raises(ParameterError, match="no per-edge 'ddw_mean'"):
        gw.io.to_html(G, h, attr="ddw_mean")
    with pytest.raises(ParameterError, match="start"):
        gw.io.to_html(G, h, start=2)


def test_without_graphviz_the_layered_layout_is_used(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(RenderError, match="apt-get install graphviz"):
        gw.io.to_html(gw.generators.chain(2), None, tmp_path / "w.html", layout="dot")
    assert not list(tmp_path.iterdir())
    with pytest.warns(UserWarning, match="apt-get install graphviz"):
        page = gw.io.to_html(gw.generators.chain(2), None, tmp_path / "w.html")
    assert _data(page)["layout"] == "layered" and page.count('class="edge"') == 3
    with pytest.raises(ParameterError, match="layout"):
        gw.io.to_html(gw.generators.chain(2), layout="neato")


@needs_dot
def test_auto_layout_leaves_dense_graphs_to_the_layered_layout():
    assert _data(gw.io.to_html(gw.generators.watts_strogatz(16, 4, 0.75, seed=0)))["layout"] == "dot"
    dense = gw.generators.complete(45)  # dot would take minutes on its 1081 edges
    page = gw.io.to_html(dense)
    assert _data(page)["layout"] == "layered" and page.count('class="edge"') == dense.number_of_edges()


def _hostile_graph():
    evil = '</script><script>window.PWNED=1</script><img src=x onerror="window.PWNED=2">'
    G = gw.assign_roles(nx.DiGraph([("in", evil), (evil, "out & <b>")]))
    G.nodes[evil]["op"] = "<i>op</i>"
    return G


@needs_dot
def test_labels_are_escaped():
    page = gw.io.to_html(_hostile_graph())
    assert "<img" not in page and "</script><script>window" not in page
    assert "&lt;/script&gt;" in page  # shown as text in the SVG
    assert _data(page)["nodes"][1]["label"].startswith("</script>")  # and intact in the data


# ---------------------------------------------------------------- in a real browser
@pytest.fixture(scope="module")
def browser(request):
    if BROWSER_MISSING:
        pytest.skip(BROWSER_MISSING)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")
    profile = tempfile.mkdtemp(prefix="graphwire-chromium-")
    opts = webdriver.ChromeOptions()
    for flag in FLAGS + [f"--user-data-dir={profile}", "--window-size=1100,700"]:
        opts.add_argument(flag)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)

    def finish():
        try:
            driver.quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    request.addfinalizer(finish)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


def _errors(driver) -> list:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def test_console_error_check_catches_errors(browser, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>null.boom();</script></body></html>")
    browser.get(bad.as_uri())
    assert any("boom" in e["message"] or "null" in e["message"] for e in _errors(browser))


INSIDE = """
var vb = document.getElementById("gw-svg").viewBox.baseVal, out = [];
document.querySelectorAll("#gw-svg .edge .line, #gw-svg .node").forEach(function (el) {
  var b = el.getBBox();
  if (b.x < vb.x - 1 || b.y < vb.y - 1 || b.x + b.width > vb.x + vb.width + 1 || b.y + b.height > vb.y + vb.height + 1)
    out.push(el.parentNode.id || el.id);
});
return out;
"""

EDGE_STATE = """
var g = document.getElementById("gw-edge-" + arguments[0]);
return [g.querySelector(".line").getAttribute("stroke-width"), getComputedStyle(g).display,
        g.getAttribute("opacity"), document.getElementById("gw-label").textContent];
"""


@needs_dot
def test_slider_restyles_edges_in_chromium(browser, tmp_path):
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    G, h = _graph_and_history()
    path = tmp_path / "wiring.html"
    gw.io.to_html(G, h, path)
    browser.get(path.as_uri())
    assert _errors(browser) == []
    assert browser.title == "graphwire: 5 nodes, 10 edges, sigmoid wiring"
    edges = list(G.edges)
    grow, cut = edges.index((0, 1)), edges.index((1, 4))

    # the page opens on the last snapshot: (0, 1) at full width, (1, 4) inactive and hidden
    w_last, disp_last, _, label_last = browser.execute_script(EDGE_STATE, grow)
    assert float(w_last) == pytest.approx(4.0) and disp_last != "none" and label_last.startswith("epoch 1")
    assert browser.execute_script(EDGE_STATE, cut)[1] == "none"

    slider = browser.find_element(By.ID, "gw-slider")
    slider.send_keys(Keys.HOME)  # a real key press on the range input
    w_first, _, _, label_first = browser.execute_script(EDGE_STATE, grow)
    assert float(w_first) == pytest.approx(0.5 + 3.5 * 0.5) and label_first.startswith("epoch 0")  # absolute scale
    assert browser.execute_script(EDGE_STATE, cut)[1] != "none"
    slider.send_keys(Keys.END)
    assert browser.execute_script(EDGE_STATE, grow)[0] == w_last
    browser.find_element(By.ID, "gw-show-inactive").click()  # inactive edges come back, dashed
    assert browser.execute_script(EDGE_STATE, cut)[1] != "none"
    assert browser.execute_script("return document.getElementById('gw-edge-%d').classList.contains('inactive')" % cut)

    # hovering the middle of an edge shows its values at the current snapshot
    x, y = browser.execute_script("""
        var p = document.querySelector("#gw-edge-" + arguments[0] + " .hit");
        var pt = p.getPointAtLength(p.getTotalLength() / 2).matrixTransform(p.getScreenCTM());
        return [Math.round(pt.x), Math.round(pt.y)];""", grow)
    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(x, y)
    actions.perform()
    tip = browser.find_element(By.ID, "gw-tip")
    assert tip.is_displayed()
    assert "0 \u2192 1" in tip.text and "weight: 1" in tip.text and "p_open: 0.25" in tip.text

    assert browser.execute_script(INSIDE) == []

    shot = tmp_path / "wiring.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 1000 and shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert _errors(browser) == []


@needs_dot
def test_hostile_labels_run_no_script_in_chromium(browser, tmp_path):
    path = tmp_path / "evil.html"
    gw.io.to_html(_hostile_graph(), None, path)
    browser.get(path.as_uri())
    assert browser.execute_script("return window.PWNED === undefined && !!window.graphwire")
    assert browser.execute_script("return document.getElementById('gw-slider').disabled")  # one snapshot
    assert _errors(browser) == []


@needs_dot
def test_docstring_examples():
    import doctest
    import importlib

    for name in ['graphwire.io.html']:
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, name


def test_layered_layout_in_chromium(browser, tmp_path):
    G = gw.generators.stack(gw.generators.complete, 2, n=5)
    h = History(edges=list(G.edges))
    h.add({"weight": [0.5] * G.number_of_edges(), "active": [True] * G.number_of_edges()}, epoch=0, step=0)
    h.add({"weight": [(-1) ** i * 0.1 * i for i in range(G.number_of_edges())],
           "active": [i % 3 > 0 for i in range(G.number_of_edges())]}, epoch=1, step=3)
    path = tmp_path / "layered.html"
    gw.io.to_html(G, h, path, layout="layered")
    browser.get(path.as_uri())
    assert _errors(browser) == []
    assert browser.execute_script(INSIDE) == []  # every edge curve and node lies inside the drawing
    hidden = browser.execute_script(
        "return Array.from(document.querySelectorAll('.edge')).filter(function (g) {"
        " return getComputedStyle(g).display === 'none'; }).length")
    assert hidden == sum(1 for i in range(G.number_of_edges()) if i % 3 == 0)
    assert browser.execute_script("return document.querySelectorAll('.edge.neg').length") > 0  # signed values
    assert browser.execute_script("return document.querySelectorAll('.cluster').length") == 2


# ---------------------------------------------------------------- snapshots, epochs, shapes, narrow windows
def test_a_list_of_graphs_is_one_snapshot_each():
    G = gw.generators.complete(2)
    edges = list(G.edges)
    graphs = []
    for k in range(3):
        H = G.copy()
        for i, e in enumerate(edges):
            H.edges[e]["weight"] = 0.1 * (i + 1) + k
        graphs.append(H)
    graphs[2].remove_edge(*edges[0])  # gone in the last snapshot: inactive there
    data = _data(gw.io.to_html(G, graphs, layout="layered"))
    assert len(data["snapshots"]) == 3 and data["start"] == 2
    for k, snap in enumerate(data["snapshots"]):
        assert snap["label"].startswith(f"epoch {k}")
        assert snap["values"]["weight"][1] == pytest.approx(0.2 + k)
    assert data["snapshots"][2]["values"]["active"][0] is False
    assert data["snapshots"][1]["values"]["active"][0] is True
    with pytest.raises(ParameterError, match="snapshots\\[1\\]"):
        gw.io.to_html(G, [G, "not a graph"], layout="layered")
    with pytest.raises(ParameterError, match="empty"):
        gw.io.to_html(G, [], layout="layered")


def test_epochs_are_rounded_and_values_belong_to_their_snapshot():
    G = gw.generators.chain(1)  # 0 -> 1 -> 2
    for e in G.edges:
        G.edges[e].update(weight=0.9, share=1.0, channel_weights=[0.9, 0.8])  # the final graph's values
    h = History(edges=list(G.edges), meta={"wiring": "sigmoid"})
    h.add({"weight": [0.5, 0.5]}, epoch=0, step=0)
    h.add({"weight": [0.6, 0.7]}, epoch=0.190476, step=4)
    h.add({"weight": [0.9, 0.9], "p_open": [0.25, 0.5]}, epoch=1, step=21)
    h.epochs.append({"epoch": 1, "loss": 0.5})
    data = _data(gw.io.to_html(G, h, layout="layered"))
    labels = [s["label"] for s in data["snapshots"]]
    assert labels == ["epoch 0", "epoch 0.19 (step 4)", "epoch 1 (step 21)"]
    first = data["snapshots"][0]["values"]
    assert first["weight"] == [0.5, 0.5] and first["p_open"] == [None, None]  # not the final values
    assert "share" not in first or first["share"] == [None, None]
    assert all("share" not in info and "channel_weights" not in info for info in data["edgeInfo"])
    assert data["snapshots"][2]["metrics"] == {"loss": 0.5}


def test_node_shapes_match_the_svg_drawing():
    G = gw.generators.chain(2)
    page = gw.io.to_html(G, layout="layered")
    assert page.count("<polygon") == 2 and "<rect x" not in page.split('id="gw-nodes"')[1]
    assert "invhouse" in gw.io.to_dot(G) and "house" in gw.io.to_dot(G)


NARROW = """
var svg = document.getElementById("gw-svg"), vb = svg.viewBox.baseVal, out = [];
var scale = svg.getBoundingClientRect().width / vb.width;
var font = parseFloat(getComputedStyle(document.querySelector("#gw-svg .node text")).fontSize);
for (var k = 0; k < window.graphwire.data.snapshots.length; k++) {
  window.graphwire.show(k);
  var r = svg.getBoundingClientRect();
  out.push([Math.round(r.top), Math.round(r.left), Math.round(r.width),
            Math.round(document.querySelector("header").getBoundingClientRect().height)]);
}
return [scale * font, out];
"""


@needs_dot
def test_narrow_window_keeps_labels_readable_and_the_layout_still(browser, tmp_path):
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By

    G = gw.generators.watts_strogatz(16, 4, 0.75, seed=0)
    h = History(edges=list(G.edges), meta={"wiring": "sigmoid"})
    n = G.number_of_edges()
    for k in range(6):  # snapshots inside epochs (long labels, no metrics) and at their ends
        h.add({"weight": [0.5 + 0.08 * k * ((i % 3) - 1) for i in range(n)], "active": [True] * n},
              epoch=k / 3 + 0.0123, step=4 * k)
        if k % 3 == 2:
            h.epochs.append({"epoch": k // 3 + 1, "loss": 1.0 / (k + 1), "train_acc": 0.5 + 0.05 * k})
    path = tmp_path / "narrow.html"
    gw.io.to_html(G, h, path, title="graphwire demo: sigmoid gates over training")
    browser.set_window_size(600, 800)
    browser.get(path.as_uri())
    assert _errors(browser) == []
    px, boxes = browser.execute_script(NARROW)
    assert px >= 9.0, px  # node labels at least 9 px high on screen
    assert len({tuple(b) for b in boxes}) == 1, boxes  # the drawing does not move as the slider does

    # the tooltip shows the shown snapshot's value, and follows the slider while hovered
    browser.execute_script("window.graphwire.show(0)")
    x, y = browser.execute_script("""
        var p = document.querySelector("#gw-edge-0 .hit");
        p.scrollIntoView({block: "center", inline: "center"});
        var pt = p.getPointAtLength(p.getTotalLength() / 2).matrixTransform(p.getScreenCTM());
        return [Math.round(pt.x), Math.round(pt.y)];""")
    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(x, y)
    actions.perform()
    tip = browser.find_element(By.ID, "gw-tip")
    assert tip.is_displayed() and "weight: 0.5" in tip.text, tip.text
    browser.execute_script("window.graphwire.show(5)")
    assert "weight: 0.1" in tip.text, tip.text
    assert _errors(browser) == []
