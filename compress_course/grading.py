"""Loading a submission's exercises from its notebooks, and grading a submission.

The machinery lives in ``compress_course.grader``; this module keeps the names lessons and
older scripts use: ``load_lesson`` and ``load_exercises`` (the capstone reuses the learner's
own functions of lessons 01 and 02 with them), ``grade``, ``grade_class``, ``format_table``,
``write_class_reports``, ``DEFAULT_TESTS``, ``notebook_of``.
"""

from .grader import *  # noqa: F403
from .grader import __all__  # noqa: F401
