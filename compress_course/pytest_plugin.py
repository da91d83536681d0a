"""The pytest plugin of the course (entry point ``pytest11``); it lives in ``grader.plugin``."""

from .grader.plugin import (  # noqa: F401 - pytest finds hooks and fixtures by these names
    pytest_addoption,
    pytest_collection_finish,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_runtest_call,
    pytest_runtest_makereport,
    pytest_runtest_setup,
    pytest_runtest_teardown,
    pytest_sessionfinish,
    submission,
)
