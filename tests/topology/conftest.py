"""One topology for the whole session: started before the first scenario, ended after the last.

The scenarios print what they measure (recovery times, the load's figures)
in a "topology" section at the end of the run. When a scenario fails, the
last lines of every process's log are printed with it.
"""

import pytest

from tests.conftest import IN_CI
from tests.topology.stack import Topology, missing_tools

FIGURES: list[str] = []


def record(line: str) -> None:
    """A figure for the summary at the end of the run (and the captured output)."""
    print(line)
    FIGURES.append(line)


@pytest.fixture(scope="session")
def topology(tmp_path_factory):
    missing = missing_tools()
    if missing:
        message = f"the topology needs {', '.join(missing)}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    stack = Topology(tmp_path_factory.mktemp("topology"))
    try:
        stack.start()
    except Exception:
        print(stack.logs())
        stack.stop()
        raise
    yield stack
    stack.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "topology" in item.fixturenames:
        stack = item.funcargs.get("topology")
        if stack is not None:
            report.sections.append(("topology logs", stack.logs()))


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("topology")
        for line in FIGURES:
            terminalreporter.write_line(line)
