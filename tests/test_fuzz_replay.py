"""The lockstep fuzz target (tests/fuzz_framers.py) in the ordinary suite: the inputs that
once found a difference between the twins, replayed, and a short seeded run of random
inputs, so that the target stays runnable and its checks stay honest between fuzzing runs.
"""

import importlib.util
import os
import random

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REGRESSIONS = os.path.join(HERE, "fuzz_regressions")


@pytest.fixture
def target(impls):
    if "cython" not in impls:  # impls fails, not skips, if the compiled module is missing
        pytest.skip("PYFRAME_NO_EXTENSIONS: the lockstep target needs the compiled module")
    path = os.path.join(HERE, "fuzz_framers.py")
    spec = importlib.util.spec_from_file_location("fuzz_framers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(os.listdir(REGRESSIONS)))
def test_regression_input(target, name):
    with open(os.path.join(REGRESSIONS, name), "rb") as f:
        target.one_input(f.read())


def test_random_inputs_agree(target):
    rng = random.Random(20261122)
    for _ in range(3000):
        target.one_input(rng.randbytes(rng.randint(0, 200)))
