"""Mistakes a new user makes get a graphwire error that names the argument and what to do
(and, on the command line, one line and exit status 2)."""

from __future__ import annotations

import pytest
import torch

import graphwire as gw
from graphwire import data, models, train
from graphwire.cli import main
from graphwire.errors import FormatError, ParameterError, ShapeError


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_cli_error(capsys, *argv, says: tuple[str, ...]):
    rc, out, err = cli(capsys, *argv)
    assert rc == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphwire: error: "), err
    for word in says:
        assert word in lines[0], lines[0]
    return lines[0]


def test_compile_has_no_device_argument():
    with pytest.raises(ParameterError, match=r"compile\(\) takes no device .*net\.to\(device\)"):
        gw.compile(gw.generators.resnet(4), in_channels=3, channels=8, device="cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_fit_on_cuda_without_cuda_names_the_device():
    s = data.digits(flat=True)
    net = models.wired_mlp(gw.generators.chain(2), in_channels=64, channels=8)
    with pytest.raises(ParameterError, match=r"device 'cuda': CUDA is not available here.*use device 'cpu'"):
        train.fit(net, data.loader(s.x_train, s.y_train), 1, device="cuda", progress=False)


def test_fit_with_a_device_torch_does_not_know():
    net = models.wired_mlp(gw.generators.chain(2), in_channels=64, channels=8)
    with pytest.raises(ParameterError, match=r"device 'gpu' is not a torch device"):
        train.fit(net, [(torch.zeros(2, 64), torch.zeros(2, dtype=torch.long))], 1, device="gpu", progress=False)


@pytest.mark.parametrize("text", ["path/to/file.json", "wiring.dot", "g.gv"])
def test_loads_of_a_path_points_to_load(text):
    with pytest.raises(FormatError, match=r"looks like a file path: read a file with graphwire\.io\.load\(path\)"):
        gw.io.loads(text)


def test_loads_of_an_existing_file_name_points_to_load(tmp_path, monkeypatch):
    gw.io.to_json(gw.generators.chain(1), tmp_path / "graph")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FormatError, match=r"io\.load"):
        gw.io.loads("graph")


def test_broken_json_text_is_still_reported_as_json():
    with pytest.raises(FormatError, match=r"invalid JSON at line 1") as info:
        gw.io.loads('{"nodes": [}')
    assert "io.load" not in str(info.value)


def test_mobilenet_width_names_width_mult():
    with pytest.raises(ParameterError, match=r"no argument 'width'.*width_mult=0\.225"):
        models.dnw_mobilenet_v1(width=0.225)


def test_render_of_a_dot_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.dot"
    path.write_bytes('digraph { a -> b [label="caf\xe9"] }'.encode("latin-1"))
    with pytest.raises(FormatError, match=r"latin1\.dot: not UTF-8 text \(byte 28 is b'\\xe9'\); save the file as UTF-8"):
        gw.io.render(path, tmp_path / "out.svg")


@pytest.mark.parametrize("shape", [[2, 3, 0, 0], [2, 3, 8, 0]])
def test_a_net_called_on_an_empty_image(shape):
    net = gw.compile(gw.generators.resnet(2), in_channels=3, channels=4)
    with pytest.raises(ShapeError, match=r"empty spatial axis.*spatial size >= 1"):
        net(torch.randn(*shape))


def test_a_classifier_called_on_an_empty_sequence():
    net = models.wired_conv1d(gw.generators.chain(2), in_channels=1, channels=4)
    with pytest.raises(ShapeError, match=r"\[2, 1, 0\]"):
        net(torch.randn(2, 1, 0))


def test_html_of_an_attribute_no_edge_has():
    G = gw.generators.chain(2)
    with pytest.raises(ParameterError, match=r"attr 'p_open': no edge of the graph has a numeric 'p_open'"):
        gw.io.to_html(G, attr="p_open", layout="layered")
    for u, v in G.edges:
        G.edges[u, v]["p_open"] = 0.5
    assert "gw-slider" in gw.io.to_html(G, attr="p_open", layout="layered")


def test_cli_html_with_a_missing_attribute(capsys, tmp_path):
    gw.io.to_json(gw.generators.chain(2), tmp_path / "g.json")
    assert_cli_error(capsys, "html", tmp_path / "g.json", "--attr", "p_open", "-o", tmp_path / "w.html",
                     says=("'p_open'",))
    assert not (tmp_path / "w.html").exists()


def test_cli_degrees_of_an_unrelated_pruned_graph(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    gw.io.to_json(gw.generators.watts_strogatz(8, 4, 0.5, seed=1), tmp_path / "a.json")
    gw.io.to_json(gw.generators.erdos_renyi(9, 0.5, seed=2), tmp_path / "other.json")
    line = assert_cli_error(capsys, "plot", tmp_path / "a.json", "--degrees", "--pruned", tmp_path / "other.json",
                            "-o", tmp_path / "d.png", says=("--pruned", "other.json", "is not a pruning of"))
    assert "a.json" in line
    assert not (tmp_path / "d.png").exists()


def test_plot_degrees_checks_that_pruned_is_a_pruning():
    pytest.importorskip("matplotlib")
    chain, resnet = gw.generators.chain(3), gw.generators.resnet(3)  # same nodes; resnet adds skip edges
    extra = resnet.number_of_edges() - chain.number_of_edges()
    with pytest.raises(ParameterError, match=rf"pruned is not a pruning of G: {extra} of its "
                                             rf"{resnet.number_of_edges()} edges are not in G"):
        gw.viz.plot_degrees(chain, resnet)
    assert len(gw.viz.plot_degrees(resnet, chain).axes) == 2  # the other way round it is one


def test_cli_bogus_flag_is_named(capsys):
    assert_cli_error(capsys, "--bogus", says=("unknown option '--bogus'", "command first"))
    assert_cli_error(capsys, "--bogus", "info", "g.json", says=("'--bogus'",))
    assert_cli_error(capsys, "info", "--bogus", "g.json", says=("--bogus",))


def test_cli_usage_errors_are_one_line(capsys):
    assert_cli_error(capsys, says=("COMMAND", "graphwire --help"))
    assert_cli_error(capsys, "generate", "nosuchfamily", says=("nosuchfamily",))


def test_loads_refuses_nan_that_to_json_would_refuse():
    text = gw.io.to_json(gw.generators.chain(1))
    for token in ("NaN", "Infinity", "-Infinity"):
        bad = text.replace('"graph": {', f'"graph": {{"x": {token}, "y": "NaN", ', 1)
        with pytest.raises(FormatError, match=rf"{token} at line \d+, column \d+ is not a JSON number"):
            gw.io.loads(bad)
    ok = gw.io.loads(text.replace('"graph": {', '"graph": {"y": "NaN", ', 1))  # a string is fine
    assert ok.graph["y"] == "NaN" and gw.io.loads(gw.io.to_json(ok)).graph["y"] == "NaN"


def test_dot_refuses_nan_in_a_graphwire_attribute():
    G = gw.generators.chain(1)
    text = gw.io.to_dot(G).replace('gw_role="\\"input\\""', 'gw_x="NaN", gw_role="\\"input\\""', 1)
    assert "gw_x" in text
    with pytest.raises(FormatError, match=r"gw_x.*NaN"):
        gw.io.loads(text, format="dot")

