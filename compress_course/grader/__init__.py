"""The machinery an instructor runs: loading, sandboxing, grading, reporting, releasing.

- ``notebook``: run a notebook's ``setup`` and ``exercise`` cells, return its functions;
- ``sandbox``: run a learner's function in a child process, out of the checks' reach;
- ``plugin``: the pytest side (``--submission``, the ``exercise`` marker, signed report);
- ``runner``: grading processes forked from one preloaded server; ``grade``, ``grade_class``;
- ``report``: partial credit, the score table, the class CSV, Gradescope's results.json;
- ``autograder``: the Gradescope bundle (``setup.sh``, ``run_autograder``);
- ``release``: ``notebooks/`` from ``solutions/``; ``cli``: the ``compress-course`` command.

The learner-facing toolkit (``data``, ``models``, ``training``, ``measure``, ``plots``) and
the visible checks live beside this package and never import it, except the capstone's
``grading.load_lesson``.
"""

from .notebook import (
    DEFAULT_SUBMISSION,
    DEFAULT_TESTS,
    EXERCISE_TAG,
    PACKAGE_ROOT,
    SETUP_TAG,
    ExerciseMissing,
    ExerciseTimeout,
    LoadedNotebook,
    SubmissionError,
    exercise_closure,
    load_exercises,
    load_lesson,
    read_notebook,
    time_limit,
)
from .report import (
    format_table,
    gradescope_results,
    sign,
    summarise,
    validate_gradescope,
    write_class_csv,
    write_class_reports,
)
from .runner import Limits, grade, grade_class, is_class_directory, notebook_of, test_files

__all__ = [
    "DEFAULT_SUBMISSION", "DEFAULT_TESTS", "EXERCISE_TAG", "PACKAGE_ROOT", "SETUP_TAG",
    "ExerciseMissing", "ExerciseTimeout", "Limits", "LoadedNotebook", "SubmissionError",
    "exercise_closure", "format_table", "grade", "grade_class", "gradescope_results",
    "is_class_directory", "load_exercises", "load_lesson", "notebook_of", "read_notebook",
    "sign", "summarise", "test_files", "time_limit", "validate_gradescope", "write_class_csv",
    "write_class_reports",
]
