"""pytest's outcomes, one test each, for artifacts.ParsePytestJUnit (artifacts/testdata/README.md).
Named cases.py so that no pytest run collects it by accident: run it by name."""

import pytest


def test_passes():
    assert 1 + 1 == 2


def test_fails():
    assert [1, 2] == [1, 3], "lists differ"


def test_skipped_by_call():
    pytest.skip("CUDA is required for this smoke test.")


@pytest.mark.skip(reason="slow tests are disabled (use --run-slow)")
def test_skipped_by_marker():
    pass


@pytest.mark.xfail(reason="known bug", strict=True)
def test_xfail():
    assert False


@pytest.fixture
def broken():
    raise RuntimeError("fixture setup failed")


def test_setup_error(broken):
    pass


@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n > 0


class TestGroup:
    def test_in_class(self):
        pass
