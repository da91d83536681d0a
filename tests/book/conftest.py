"""tests/book is the course book's browser test: `make book` runs it after building the book
(with COMPRESS_COURSE_BOOK_TEST=1). `make test` (`pytest tests`) leaves it out: it needs the
built site, Chromium and the book's requirements (requirements-book.txt)."""

import os

collect_ignore = [] if os.environ.get("COMPRESS_COURSE_BOOK_TEST") == "1" else ["test_book.py"]
