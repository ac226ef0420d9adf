"""Spec for `python -m d2l_bn.figures`: every figure is written as SVG and PNG, reproducibly, and shows what it claims.

The figures are made in --quick mode (seconds); the facts checked are the ones each picture is there to show.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib import image as mpimg
from torch import nn

from d2l_bn.figures import FIGURES, generate
from d2l_bn.figures.__main__ import main
from d2l_bn.figures.output import png_difference, svg_difference

SYNTHETIC = ["bn_data_flow", "running_stats_momentum", "batch_size_noise", "train_eval_gap", "normalization_family"]
TRAINED = ["lenet_curves", "ioffe_percentiles"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return generate(SYNTHETIC, tmp_path_factory.mktemp("synthetic"), quick=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return generate(TRAINED, tmp_path_factory.mktemp("trained"), quick=True)


def _assert_written(result):
    svg, png = result.paths
    assert svg.suffix == ".svg" and png.suffix == ".png" and svg.stem == png.stem == result.name
    assert svg.read_bytes().lstrip().startswith(b"<?xml") and b"<svg" in svg.read_bytes()[:2000]
    assert 10_000 < png.stat().st_size < 500_000, "a PNG for slides: readable, but a few hundred KB at most"
    pixels = mpimg.imread(png)
    assert pixels.ndim == 3 and pixels.shape[0] > 300 and pixels.shape[1] > 600


def test_every_registered_figure_is_covered_by_these_tests():
    assert sorted(FIGURES) == sorted(SYNTHETIC + TRAINED)


def test_each_synthetic_figure_is_written_as_svg_and_png(synthetic):
    assert list(synthetic) == SYNTHETIC
    for result in synthetic.values():
        _assert_written(result)


@pytest.mark.real_data
def test_each_trained_figure_is_written_as_svg_and_png(trained):
    for result in trained.values():
        _assert_written(result)


def test_regenerating_gives_byte_identical_svg_and_png(synthetic, tmp_path):
    again = generate(["bn_data_flow", "train_eval_gap"], tmp_path, quick=True)
    for name, result in again.items():
        for first, second in zip(synthetic[name].paths, result.paths):
            assert first.read_bytes() == second.read_bytes(), f"{second.name} changed between two runs"


# The other floating-point path: PyTorch's and oneDNN's kernels held to AVX2 where this CPU has AVX-512 (CI's
# second path), else to the plain kernels; and back to the native ones when this process already runs on AVX2.
PATH_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def other_floating_point_path() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PATH_VARIABLES}
    if any(k in os.environ for k in PATH_VARIABLES):
        return env
    avx512 = "avx512f" in Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else False
    return env | (dict(ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2", MKL_ENABLE_INSTRUCTIONS="AVX2")
                  if avx512 else dict(ATEN_CPU_CAPABILITY="default", ONEDNN_MAX_CPU_ISA="SSE41",
                                      MKL_ENABLE_INSTRUCTIONS="SSE4_2"))


@pytest.mark.real_data
def test_trained_figures_from_another_floating_point_path_agree_within_what_the_eye_can_see(trained, tmp_path):
    """README: byte for byte on one machine; elsewhere, coordinates within 0.01 pt and a few pixels by a grey level."""
    code = f"from d2l_bn.figures import generate; generate({TRAINED!r}, {str(tmp_path)!r}, quick=True)"
    done = subprocess.run([sys.executable, "-c", code], env=other_floating_point_path(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for name, result in trained.items():
        svg, png = result.paths
        assert svg_difference(svg.read_bytes(), (tmp_path / svg.name).read_bytes()) <= 0.01, name
        most, fraction = png_difference(png, tmp_path / png.name)
        assert most <= 4 and fraction <= 1e-3, (name, most, fraction)


def test_svg_and_png_differences_measure_numbers_structure_and_pixels(synthetic, tmp_path):
    svg, png = synthetic["bn_data_flow"].paths
    text = svg.read_bytes()
    assert svg_difference(text, text) == 0.0 and png_difference(png, png) == (0.0, 0.0)
    number = text.split(b'd="M ')[1].split(b" ")[0]       # the first path's first coordinate
    moved = text.replace(b'd="M ' + number, b'd="M ' + str(float(number) + 0.5).encode(), 1)
    assert svg_difference(text, moved) == pytest.approx(0.5)
    assert svg_difference(text, text.replace(b"<g ", b"<g data-x='1' ", 1)) == float("inf")
    other = synthetic["train_eval_gap"].paths[1]
    assert png_difference(png, other)[0] == float("inf")   # another size


def test_an_unwritable_output_folder_is_refused_before_any_figure_is_computed(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")   # nothing can be created below it, not even by root

    def must_not_run(quick, full):
        raise AssertionError("computed a figure that could not be saved")

    monkeypatch.setitem(FIGURES, "lenet_curves", FIGURES["lenet_curves"].__class__("lenet_curves", "", must_not_run))
    with pytest.raises(ValueError, match=f"cannot write into {blocker / 'out'}"):
        generate(["lenet_curves"], blocker / "out")
    assert main(["--only", "lenet_curves", "--out", str(blocker / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("python -m d2l_bn.figures: error: cannot write into") and "Traceback" not in err


def test_generating_leaves_torch_threads_and_determinism_as_they_were(tmp_path):
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    generate(["batch_size_noise"], tmp_path, quick=True)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_bn_data_flow_normalises_each_feature_then_applies_gamma_and_beta(synthetic):
    data = synthetic["bn_data_flow"].data
    assert data["X"].shape == (8, 3)
    np.testing.assert_allclose(data["X_hat"].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(data["X_hat"].var(axis=0), 1.0, rtol=1e-4)   # eps = 1e-5 keeps it just below 1
    np.testing.assert_allclose(data["Y"], data["gamma"] * data["X_hat"] + data["beta"], rtol=1e-12)
    bn = nn.BatchNorm1d(3).double().train()
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(data["gamma"]))
        bn.bias.copy_(torch.from_numpy(data["beta"]))
        expected = bn(torch.from_numpy(data["X"])).numpy()
    np.testing.assert_allclose(data["Y"], expected, rtol=1e-10, atol=1e-12)


def test_cumulative_running_mean_is_exactly_the_average_of_the_batch_means(synthetic):
    data = synthetic["running_stats_momentum"].data
    cumulative = data["running_means"][data["momenta"].index(None)]
    seen = np.arange(1, len(data["batch_means"]) + 1)
    np.testing.assert_allclose(cumulative[1:], np.cumsum(data["batch_means"]) / seen, rtol=1e-12)
    np.testing.assert_allclose(data["running_vars"][data["momenta"].index(None)][1:],
                               np.cumsum(data["batch_vars"]) / seen, rtol=1e-12)


def test_running_stats_in_the_figure_are_what_pytorch_batchnorm_stores(synthetic):
    data = synthetic["running_stats_momentum"].data
    # Rebuild batches with the plotted means and variances: 16 values, exactly that mean and unbiased variance.
    base = np.linspace(-1.0, 1.0, data["batch_size"])
    base = (base - base.mean()) / base.std(ddof=1)
    batches = [torch.from_numpy(m + np.sqrt(v) * base).unsqueeze(1)
               for m, v in zip(data["batch_means"], data["batch_vars"])]
    for k, momentum in enumerate(data["momenta"]):
        bn = nn.BatchNorm1d(1, momentum=momentum).double().train()
        for batch in batches:
            bn(batch)
        assert bn.running_mean.item() == pytest.approx(data["running_means"][k][-1], rel=1e-9)
        assert bn.running_var.item() == pytest.approx(data["running_vars"][k][-1], rel=1e-9)


def test_higher_momentum_gives_a_noisier_running_mean(synthetic):
    data = synthetic["running_stats_momentum"].data
    half = data["running_means"].shape[1] // 2
    noise = {m: data["running_means"][k][half:].std() for k, m in enumerate(data["momenta"])}
    assert noise[0.5] > noise[0.1] > noise[0.01]
    assert noise[None] < noise[0.1]     # the cumulative average settles down


def test_batch_statistics_noise_falls_as_one_over_root_batch_size(synthetic):
    data = synthetic["batch_size_noise"].data
    assert data["slope_of_mean"] == pytest.approx(-0.5, abs=0.1)
    assert data["slope_of_var"] == pytest.approx(-0.5, abs=0.1)
    np.testing.assert_allclose(data["std_of_mean"], data["theory_std_of_mean"], rtol=0.15)
    np.testing.assert_allclose(data["std_of_var"], data["theory_std_of_var"], rtol=0.15)


def test_eval_output_settles_near_the_ideal_while_train_output_stays_noisy(synthetic):
    data = synthetic["train_eval_gap"].data
    half = len(data["eval_outputs"]) // 2
    eval_error = np.abs(data["eval_outputs"][half:] - data["ideal_output"]).mean()
    train_error = np.abs(data["train_outputs"][half:] - data["ideal_output"]).mean()
    assert eval_error < train_error
    gaps = data["mean_abs_gap"]
    assert len(gaps) == len(data["batch_sizes"]) and gaps[-1] < gaps[0] / 4   # batch 256 vs batch 2


@pytest.mark.real_data
def test_lenet_curves_have_one_point_per_epoch_and_bn_learns_faster(trained):
    data = trained["lenet_curves"].data
    epochs = len(data["epochs"])
    assert epochs == 2 and data["num_train"] == 1024
    for name in ("LeNet", "LeNet-BN"):
        for key in ("test_acc", "train_loss", "train_acc"):
            assert data[name][key].shape == (epochs,) and np.isfinite(data[name][key]).all()
        assert ((0 <= data[name]["test_acc"]) & (data[name]["test_acc"] <= 1)).all()
    # Eight SGD steps are enough to see it: the sigmoid LeNet is still at chance level (loss ~ ln 10).
    assert data["LeNet-BN"]["train_loss"][-1] < data["LeNet"]["train_loss"][-1] - 0.5


@pytest.mark.real_data
def test_without_bn_the_sigmoid_inputs_drift_more_than_with_bn(trained):
    data = trained["ioffe_percentiles"].data
    without, with_bn = data["without BN"], data["with BN"]
    records = len(without["steps"])
    assert without["percentiles"].shape == with_bn["percentiles"].shape == (records, 3, 100)
    assert (np.diff(without["percentiles"], axis=1) >= 0).all()           # 15th <= 50th <= 85th
    assert np.median(without["drift"]) > 2 * np.median(with_bn["drift"])
    assert with_bn["test_acc"][-1] > without["test_acc"][-1]              # Fig. 1(a): BN trains faster


def test_command_line_writes_the_figures_and_prints_an_index(tmp_path, capsys):
    assert main(["--quick", "--only", "batch_size_noise", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "batch_size_noise.svg batch_size_noise.png" in printed and "slope -1/2" in printed
    assert (tmp_path / "batch_size_noise.svg").is_file() and (tmp_path / "batch_size_noise.png").is_file()


def test_unknown_figure_names_and_contradictory_sizes_are_refused_with_the_choices(tmp_path):
    with pytest.raises(ValueError, match="choose from.*bn_data_flow"):
        generate(["bn_dataflow"], tmp_path)
    with pytest.raises(ValueError, match="at most one"):
        generate(["batch_size_noise"], tmp_path, quick=True, full=True)
    with pytest.raises(SystemExit):
        main(["--only", "nope", "--out", str(tmp_path)])
