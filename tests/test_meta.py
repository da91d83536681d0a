"""Meta-tests: the course's notebooks and checks keep their promises.

- notebooks/ is exactly what the release step makes from solutions/;
- no notebook stores outputs, every kernelspec is python3, tags follow the contract;
- the hidden checks pass on solutions/ and every exercise FAILS on the blank notebooks/
  (so no check is one that cannot fail).
"""

import json
from pathlib import Path

import pytest

from compress_course import grading, release
from compress_course.grader import translation

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
ALL_NOTEBOOKS = SOLUTIONS + sorted((ROOT / "notebooks").glob("*.ipynb"))

# The exercise contract (COURSE_SPEC.md section 4.2): a lesson may add exercises, never drop these.
CONTRACT = {
    "00_baseline": {"count_parameters", "model_size_bytes"},
    "01_pruning": {"magnitude_prune_mask", "global_prune_masks", "apply_masks",
                   "channel_l2_importance", "prune_conv_channels", "nm_prune_mask"},
    "02_quantization": {"affine_qparams", "quantize", "dequantize",
                        "symmetric_per_channel_quantize", "kmeans_quantize", "fake_quantize",
                        "quantized_linear", "calibrate_range", "qat_step"},
    "03_distillation": {"softmax_with_temperature", "distillation_loss", "distill_step",
                        "feature_distillation_loss"},
    "04_low_rank": {"low_rank_factors", "rank_for_energy", "factorize_linear", "factorize_conv"},
    "05_acceleration": {"fuse_conv_bn", "ring_allreduce", "average_gradients", "amp_train_step",
                        "top_operators"},
    "06_capstone": {"huffman_code_lengths", "deep_compression_bits"},
    "07_transformers": {"causal_attention", "online_softmax_attention", "attend_with_cache",
                        "quantize_groupwise", "gptq_quantize", "smoothquant_scales"},
}


def test_there_are_lessons():
    assert SOLUTIONS, "solutions/ holds no notebooks"
    assert (ROOT / "solutions" / "00_baseline.ipynb").exists()


def test_notebooks_are_released_from_solutions():
    differing = release.release(ROOT / "solutions", ROOT / "notebooks", check=True)
    assert not differing, f"notebooks/ out of date (run `compress-course release`): {differing}"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_is_clean(path):
    notebook = json.loads(path.read_text())
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    for index, cell in enumerate(notebook["cells"], start=1):
        if cell["cell_type"] == "code":
            assert not cell["outputs"], f"{path.name} cell {index} stores outputs"
            assert cell["execution_count"] is None, f"{path.name} cell {index} has a count"
    tags = [t for c in notebook["cells"] for t in c.get("metadata", {}).get("tags", [])]
    assert tags.count("setup") == 1, f"{path.name} needs exactly one `setup` cell"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_contract_exercises_are_defined(path):
    loaded = grading.load_exercises(path)
    expected = CONTRACT.get(path.stem, set())
    missing = sorted(name for name in expected if not callable(loaded.namespace.get(name)))
    assert not missing, f"{path.name} lacks contract exercises {missing}"
    assert not loaded.problems and not loaded.general_problems


@pytest.fixture(scope="module")
def class_reports(tmp_path_factory):
    """The solved and blank notebooks in English and in every translation, graded as a class.

    A solved translated notebook is the translated learner notebook with each exercise's
    placeholder replaced by the solution (``translation.fill_in``), as a learner would hand it in.
    """
    folder = tmp_path_factory.mktemp("class")
    learners = {"en_solved": ROOT / "solutions", "en_blank": ROOT / "notebooks"}
    learners.update({f"{language}_blank": ROOT / "notebooks" / language
                     for language in translation.LANGUAGES})
    for name, source in learners.items():
        (folder / name).mkdir()
        for path in sorted(source.glob("*.ipynb")):
            (folder / name / path.name).write_bytes(path.read_bytes())
    for language in translation.LANGUAGES:
        (folder / f"{language}_solved").mkdir()
        for path in SOLUTIONS:
            blank = json.loads((ROOT / "notebooks" / language / path.name).read_text("utf-8"))
            solved = translation.fill_in(blank, json.loads(path.read_text("utf-8")))
            (folder / f"{language}_solved" / path.name).write_text(release.dumps(solved),
                                                                   encoding="utf-8")
    return grading.grade_class(folder, workers=2)


@pytest.fixture(scope="module")
def solution_report(class_reports):
    return class_reports["en_solved"]


@pytest.fixture(scope="module")
def blank_report(class_reports):
    return class_reports["en_blank"]


@pytest.mark.parametrize("language", translation.LANGUAGES)
def test_translated_notebooks_grade_like_the_english_ones(class_reports, language):
    english = class_reports["en_solved"]
    solved, blank = class_reports[f"{language}_solved"], class_reports[f"{language}_blank"]
    failed = [f"{e['notebook']}/{e['exercise']}: {e['message']}"
              for e in solved["exercises"] if not e["passed"]]
    assert not failed, f"solved {language} notebooks lose points:\n" + "\n".join(failed)
    assert solved["total"] == solved["max"] == english["max"]
    passed = [f"{e['notebook']}/{e['exercise']}" for e in blank["exercises"] if e["passed"]]
    assert not passed and blank["total"] == 0, f"blank {language} notebooks earn points: {passed}"
    assert len(blank["exercises"]) == len(english["exercises"])


def test_every_notebook_has_hidden_checks():
    checked = {grading.notebook_of(p) for p in grading.DEFAULT_TESTS.glob("test_*.py")}
    assert {p.stem for p in SOLUTIONS} <= checked


def test_hidden_checks_pass_on_solutions(solution_report):
    failed = [f"{e['notebook']}/{e['exercise']}: {e['message']}"
              for e in solution_report["exercises"] if not e["passed"]]
    assert not failed, "\n".join(failed)
    graded = {(e["notebook"], e["exercise"]) for e in solution_report["exercises"]}
    for notebook in (p.stem for p in SOLUTIONS):
        for exercise in CONTRACT.get(notebook, ()):
            assert (notebook, exercise) in graded, f"no hidden check grades {notebook}/{exercise}"
    assert solution_report["total"] == solution_report["max"] > 0


def test_every_exercise_fails_on_blank_notebooks(blank_report, solution_report):
    passed = [f"{e['notebook']}/{e['exercise']}" for e in blank_report["exercises"] if e["passed"]]
    assert not passed, f"these checks pass on the blank notebooks, so they cannot fail: {passed}"
    assert blank_report["total"] == 0
    assert len(blank_report["exercises"]) == len(solution_report["exercises"])
