"""As the real tests/conftest.py: the markers, --run-slow and --run-integration, and the same skip
reasons, so that both pytest lanes behave as they do on a real checkout."""

from __future__ import annotations

import sys
from os.path import abspath, dirname, join

import pytest

_repo_src_path = abspath(join(dirname(dirname(__file__)), "src"))
if _repo_src_path not in sys.path:
    sys.path.insert(1, _repo_src_path)

from difftrain import _fixture  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: fast unit tests (CPU, offline)")
    config.addinivalue_line("markers", "integration: integration tests (may use external deps)")
    config.addinivalue_line("markers", "slow: slow tests (may download models or run training)")
    config.addinivalue_line("markers", "cuda: tests that require CUDA")
    config.addinivalue_line("markers", "text2image: tests that require text2image extras")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-integration", action="store_true", default=False,
                     help="Run integration tests (may require extra deps).")
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="Run slow tests (may download models or run training).")


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _fixture.pytest_collect_nothing():  # FIXTURE_PYTEST_EMPTY: the lane selects no test
        config.hook.pytest_deselected(items=list(items))
        items[:] = []
        return
    run_integration = config.getoption("--run-integration")
    run_slow = config.getoption("--run-slow")

    skip_integration = pytest.mark.skip(reason="integration tests are disabled (use --run-integration)")
    skip_slow = pytest.mark.skip(reason="slow tests are disabled (use --run-slow)")
    skip_cuda = pytest.mark.skip(reason="CUDA is not available on this machine")

    for item in items:
        if "integration" in item.keywords and not run_integration:
            item.add_marker(skip_integration)
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "cuda" in item.keywords and not _cuda_available():
            item.add_marker(skip_cuda)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    _fixture.pytest_fail(pyfuncitem.name)  # FIXTURE_PYTEST_FAIL=<test name>


@pytest.fixture(autouse=True)
def _fixture_setup(request):
    _fixture.pytest_error(request.node.name)  # FIXTURE_PYTEST_ERROR=<test name>
