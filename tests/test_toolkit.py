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


# --- lesson 07: the stdlib corpus and the character transformer --------------------------

def test_stdlib_corpus_is_split_by_file_and_deterministic():
    corpus = data.load_stdlib_corpus()
    names = corpus.files["train"] + corpus.files["val"] + corpus.files["test"]
    assert len(names) == len(set(names)) and set(names) <= set(data.STDLIB_MODULES)
    assert corpus.files["test"] and corpus.files["val"] and len(corpus.files["train"]) > 40
    for split in (corpus.train, corpus.val, corpus.test):
        assert split.dtype == torch.int64 and 0 <= split.min() and split.max() < data.VOCAB_SIZE
    assert data.VOCAB_SIZE == 98 and corpus.python_version.count(".") == 2
    assert torch.equal(data.load_stdlib_corpus().test, corpus.test)
    text = "def f(x):\n\treturn x + 1  # é"
    assert data.decode_text(data.encode_text(text)) == text[:-1] + "\ufffd"


def test_sinusoidal_positions_values():
    codes = models.sinusoidal_positions(5, 8, start=3)
    assert codes.shape == (5, 8)
    assert torch.allclose(codes[0, 0], torch.tensor(math.sin(3.0)))
    assert torch.allclose(codes[2, 1], torch.tensor(math.cos(5.0)))
    assert torch.allclose(codes[1, 2], torch.tensor(math.sin(4 / 10000 ** (2 / 8))))
    with pytest.raises(ValueError, match="dim"):
        models.sinusoidal_positions(3, 5)


def _reference_attend(q_t, k_t, v_t, cache):
    keys = k_t if cache is None else torch.cat([cache[0], k_t], dim=2)
    values = v_t if cache is None else torch.cat([cache[1], v_t], dim=2)
    weights = torch.softmax(q_t @ keys.transpose(-2, -1) / math.sqrt(q_t.shape[-1]), dim=-1)
    return weights @ values, (keys, values)


def test_char_transformer_cache_matches_full_forward():
    torch.manual_seed(0)
    model = models.CharTransformer(vocab_size=13, d_model=16, n_layers=2, n_heads=2, context=8)
    idx = torch.randint(0, 13, (3, 10))  # longer than the context: positions extrapolate
    logits, caches = model(idx, return_kv=True)
    assert logits.shape == (3, 10, 13) and len(caches) == 2
    assert caches[0][0].shape == (3, 2, 10, 8)
    _, prefix = model(idx[:, :9], return_kv=True)
    step_logits, new_caches = model.decode_step(idx[:, 9], 9, prefix, _reference_attend)
    assert torch.allclose(step_logits, logits[:, -1], atol=1e-5)
    assert new_caches[1][0].shape == (3, 2, 10, 8)
    prompt = idx[:, :4]
    cached = models.generate(model, prompt, 7, attend=_reference_attend)
    assert cached.shape == (3, 11) and torch.equal(cached, models.generate(model, prompt, 7))
    with pytest.raises(ValueError, match="steps"):
        models.generate(model, prompt, -1)


def test_bits_per_char_and_unigram_baseline():
    model = models.CharTransformer(vocab_size=8, d_model=8, n_layers=1, n_heads=2, context=4)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()  # uniform predictions: exactly log2(8) = 3 bits
    text = torch.randint(0, 8, (50,))
    windows = models.eval_windows(text, 4)
    assert windows.shape == (12, 5) and torch.equal(windows[1], text[4:9])
    assert abs(models.bits_per_char(model, windows) - 3.0) < 1e-5
    train = torch.tensor([0, 0, 0, 1])  # add-one counts 4, 2, 1, 1 over 4 symbols
    assert abs(models.unigram_bits_per_char(train, torch.tensor([0]), 4) - 1.0) < 1e-9
    with pytest.raises(ValueError, match="window"):
        models.eval_windows(torch.arange(3), 4)
    spread = models.eval_windows(torch.arange(401), 4, max_windows=3)  # 100 windows in all
    assert spread[:, 0].tolist() == [0, 200, 396] and torch.equal(spread[2], torch.arange(396, 401))


def test_train_char_lm_learns_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESS_COURSE_QUIET", "1")
    monkeypatch.setenv("COMPRESS_COURSE_CACHE", str(tmp_path))
    text = torch.tensor([0, 1, 2, 3, 4, 5] * 60)  # perfectly predictable
    settings = dict(d_model=16, n_layers=1, n_heads=2, context=8, batch_size=8, lr=1e-2)
    model, losses, cached = models.trained_char_lm(text, 6, 40, **settings)
    assert not cached and len(losses) == 40 and losses[-1] < 0.5 * losses[0]
    again, again_losses, cached = models.trained_char_lm(text, 6, 40, **settings)
    assert cached and again_losses == pytest.approx(losses)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 again.state_dict().values(), strict=True))
    assert len(list(tmp_path.glob("char_lm_*.pt"))) == 1
    with pytest.raises(ValueError, match="steps"):
        models.train_char_lm(model, text, 5)
