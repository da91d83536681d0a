"""Unit tests of the toolkit: data, models, training, measure, plots."""

import json
import math

import matplotlib
import pytest
import torch
from torch import nn

from compress_course import data, measure, models, plots, training

matplotlib.use("Agg")


def test_digits_splits_are_stratified_seeded_and_disjoint():
    digits = data.load_digits()
    sizes = len(digits.train), len(digits.val), len(digits.test)
    assert sum(sizes) == 1797 and sizes == (1257, 180, 360)
    assert digits.train.x.shape == (1257, 64) and digits.train.x.dtype == torch.float32
    assert torch.bincount(digits.test.y).min() >= 35  # every class in the test split
    # standardised with the training split's statistics
    assert abs(digits.train.x.mean().item()) < 1e-4 and abs(digits.train.x.std().item() - 1) < 1e-2
    again = data.load_digits()
    assert torch.equal(again.test.x, digits.test.x)
    rows = {tuple(r.tolist()) for r in digits.test.x}
    overlap = sum(tuple(r.tolist()) in rows for r in digits.train.x)
    assert overlap < 5  # only exact duplicate images in the raw data can coincide
    image = data.load_digits(image=True)
    assert image.train.x.shape == (1257, 1, 8, 8)
    assert torch.equal(image.train.x.flatten(1), digits.train.x)


def test_subset_and_loaders():
    digits = data.load_digits()
    small = digits.train.subset(0.2)
    assert 240 <= len(small) <= 265 and set(small.y.tolist()) == set(range(10))
    train, val, test = data.digits_loaders(train_fraction=0.2)
    assert len(train.dataset) == len(small)
    assert len(val.dataset) == 180 and len(test.dataset) == 360
    with pytest.raises(ValueError, match="fraction"):
        digits.train.subset(0)
    with pytest.raises(ValueError, match="batch_size"):
        data.make_loader(small, batch_size=0)


@pytest.mark.parametrize("builder, expected", [
    (models.course_mlp, 50_610), (models.teacher_mlp, 1_126_410),
    (models.student_mlp, 2_410), (models.course_cnn, 93_962)])
def test_documented_model_sizes(builder, expected):
    model = builder()
    assert measure.parameter_count(model) == expected
    x = torch.randn(3, 1, 8, 8)
    assert model(x).shape == (3, 10)


def test_cnn_batch_norm_variant_and_bad_sizes():
    cnn = models.course_cnn(batch_norm=True)
    assert isinstance(cnn.bn2, nn.BatchNorm2d)
    with pytest.raises(ValueError, match="channels"):
        models.CNN(channels=(4, 8))
    with pytest.raises(ValueError, match="hidden"):
        models.MLP(hidden=(0,))


def test_training_learns_and_calls_the_step_hook():
    train_loader, val_loader, test_loader = data.digits_loaders(batch_size=128)
    model = models.course_mlp()
    before = training.evaluate(model, test_loader)
    calls = []
    history = training.train(model, train_loader, epochs=3, lr=3e-3, val_loader=val_loader,
                             step_hook=lambda m: calls.append(1))
    after = training.evaluate(model, test_loader)
    assert after > 0.85 > before
    assert len(calls) == 3 * len(train_loader)
    assert len(history.train_loss) == 3 and len(history.val_accuracy) == 3
    assert history.train_loss[-1] < history.train_loss[0]
    assert not model.training


def test_training_is_seeded():
    loader, _, test_loader = data.digits_loaders(batch_size=128)
    results = []
    for _ in range(2):
        training.set_seed(1)
        model = models.student_mlp()
        training.fine_tune(model, loader, epochs=1, seed=5)
        results.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(results[0], results[1])
    with pytest.raises(ValueError, match="epochs"):
        training.train(models.student_mlp(), loader, epochs=-1)


def test_parameter_count_bytes_and_sparsity():
    shared = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    shared[1].weight = shared[0].weight
    assert measure.parameter_count(shared) == 24
    assert measure.parameter_bytes(shared, bits=3) == math.ceil(24 * 3 / 8)
    with pytest.raises(ValueError, match="bits"):
        measure.parameter_bytes(shared, bits=0)
    layer = nn.Linear(10, 10)
    with torch.no_grad():
        layer.weight[:5] = 0
    assert measure.sparsity(layer) == 0.5
    assert measure.sparsity(torch.tensor([0.0, 1.0, 0.0, 2.0])) == 0.5


def test_flops_match_the_formula():
    layer = nn.Linear(64, 300)
    assert measure.flops(layer, torch.randn(5, 64)) == 2 * 5 * 64 * 300
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert measure.flops(conv, torch.randn(2, 3, 8, 8)) == 2 * 2 * 8 * 8 * 8 * 3 * 9


def test_latency_uses_the_requested_threads():
    model = models.course_mlp()
    x = torch.randn(64, 64)
    m = measure.benchmark_fn(model, x, num_threads=1, min_run_time=0.05)
    assert m.task_spec.num_threads == 1 and m.median > 0
    assert measure.latency_ms(model, x, min_run_time=0.05) > 0


def test_save_results_adds_the_common_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESS_COURSE_RESULTS", str(tmp_path))
    record = measure.save_results("99_test", {"accuracy": torch.tensor(0.5), "none": None,
                                              "ratio": 2.123456789, "tiny": 3.14159e-9},
                                   started=0.0)
    stored = json.loads((tmp_path / "99_test.json").read_text())
    assert stored == record
    assert stored["accuracy"] == 0.5 and stored["none"] is None and stored["ratio"] == 2.12346
    assert stored["tiny"] == 3.14159e-9
    assert {"wall_s", "threads", "device"} <= set(stored)
    assert "accuracy" in measure.results_table(stored)
    with pytest.raises(TypeError, match="bad"):
        measure.save_results("99_test", {"bad": object()}, started=0.0)


def test_plots_draw_without_a_display():
    history = training.History(train_loss=[1.0, 0.5], val_accuracy=[0.5, 0.9])
    figures = [
        plots.line_plot([1, 2], {"a": [1, 2], "b": [2, 1]}, "t", "x", "y", hlines={"ref": 1.5}),
        plots.bar_plot({"a": 1.0, "b": 2.0}, "t", "y"),
        plots.histogram({"w": torch.randn(100)}, "t", "x"),
        plots.training_curves({"m": history}),
        plots.latency_samples([1.0, 0.5, 0.4, 0.6], "t"),
        plots.show_digits(torch.randn(3, 64), torch.tensor([1, 2, 3])),
    ]
    for figure in figures:
        assert figure.axes and figure.axes[0].get_title()


def test_threads_context_restores_and_rejects_bad_counts():
    before = torch.get_num_threads()
    with measure.one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        with measure.threads(0):
            pass


def test_speedup_verdicts_follow_the_spread():
    def comparison(base, other):
        return measure.Comparison(times={"a": base, "b": other}).speedup("a", "b")

    assert comparison([2.0, 2.1, 2.0], [1.0, 1.0, 1.05]).verdict == "faster"
    assert comparison([1.0, 1.0, 1.05], [2.0, 2.1, 2.0]).verdict == "slower"
    assert comparison([1.0, 1.01, 1.0], [1.0, 1.0, 1.02]).verdict == "same"
    noisy = comparison([1.0, 3.0, 1.0, 3.0], [2.0, 2.0, 2.0, 2.0])
    assert noisy.verdict == "too noisy"
    assert "too noisy" in noisy.text("b", "a")
    assert "faster" in comparison([2.0, 2.0], [1.0, 1.0]).text("b", "a")


def test_compare_alternates_and_reports_every_round():
    calls = []
    result = measure.compare({"x": lambda: calls.append("x"), "y": lambda: calls.append("y")},
                             rounds=2, num_threads=1, min_run_time=0.001)
    assert [len(v) for v in result.times.values()] == [2, 2]
    assert set(calls) == {"x", "y"}
    assert "median" in result.table()
    with pytest.raises(ValueError, match="rounds"):
        measure.compare({"x": lambda: None}, rounds=1)


def test_cpu_features_names_the_capability():
    features = measure.cpu_features()
    assert features["capability"] == torch.backends.cpu.get_cpu_capability()
    assert isinstance(features["avx2"], bool)
    assert features["capability"] in measure.describe_cpu(features)


def test_visible_check_reports_each_named_part(capsys, monkeypatch):
    from compress_course.checks import expect, expect_value_error, part, visible_check

    monkeypatch.delenv("COMPRESS_COURSE_STRICT", raising=False)

    @visible_check
    def check_double(fn):
        with part("main property"):
            expect(fn(2) == 4, f"double(2) returned {fn(2)}; expected 4.")
        with part("errors"):
            expect_value_error(fn, -1, argument="x")
        return 2

    def double(x):
        return 2 * x

    check_double(double)
    out = capsys.readouterr().out
    assert "1 of 2 parts pass" in out and "✓ main property" in out
    assert "✗ errors: double(-1) returned normally" in out

    def strict_double(x):
        if x < 0:
            raise ValueError("x must be >= 0")
        return 2 * x

    check_double(strict_double)
    assert "passed (2 cases): main property, errors." in capsys.readouterr().out
    monkeypatch.setenv("COMPRESS_COURSE_STRICT", "1")
    with pytest.raises(AssertionError, match="errors"):
        check_double(double)
