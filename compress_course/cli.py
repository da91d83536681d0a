"""The ``compress-course`` command; it lives in ``compress_course.grader.cli``."""

import sys

from .grader.cli import main

if __name__ == "__main__":
    sys.exit(main())
