"""Types as a user sees them, on the installed package.

- ``mypy --strict`` passes on tests/typing_example.py, a typed user of every public API;
- it reports each classic mistake of MISTAKES, on its line, with its error code;
- the stub pyframe/_cframers.pyi matches the compiled module and the pure-Python twin
  (mypy.stubtest), and the compiled classes' signatures are visible to inspect.

mypy runs in a subprocess with this interpreter, from an empty directory and with an empty
configuration, so it checks the installed pyframe (its py.typed and .pyi files), not the
checkout. One mypy run serves the first two tests (session fixture, shared cache).
"""

import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import typing

import pytest

import pyframe
from pyframe._switches import switch

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "typing_example.py")
FRAMERS = (
    "LengthPrefixFramer",
    "DecimalLengthFramer",
    "NetstringFramer",
    "VarintFramer",
    "FixedLengthFramer",
    "DelimiterFramer",
    "LineFramer",
    "COBSFramer",
    "SLIPFramer",
    "MarkerFramer",
)

#: Each line a classic mistake, with the mypy error code it must get (after ``# E:``).
MISTAKES = """\
import socket
import pyframe
from pyframe import aio

f = pyframe.LengthPrefixFramer(4, "middle")  # E: arg-type
f.encode("text")  # E: arg-type
f.feed("text")  # E: arg-type
f.encode_many(["a"])  # E: list-item
f.length_size = 2  # E: misc
pyframe.DelimiterFramer(b"\\n").delimiters = (b"x",)  # E: misc
pyframe.LineFramer(line_ending=b"\\r")  # E: arg-type
frame: bytes = f.next_frame()  # E: assignment
sock = socket.socket()
pyframe.FramedSocket(sock, 42)  # E: arg-type
pyframe.FramedSocket(sock, f).send("text")  # E: arg-type
pyframe.serve(("127.0.0.1", 0), pyframe.LengthPrefixFramer())  # E: arg-type
async def main() -> None:
    await aio.open_connection("127.0.0.1", 8000, framer=object())  # E: arg-type
"""

#: What stubtest may not hold the twin to: the stub marks the compiled classes as disjoint
#: bases (their C layout forbids combining two of them); pure-Python classes have no layout.
TWIN_ALLOWLIST = """\
# C layout (@disjoint_base): the compiled classes have one, the pure-Python twin's cannot
pyframe._pyframers._Framer
pyframe._pyframers.LengthPrefixFramer
pyframe._pyframers.DecimalLengthFramer
pyframe._pyframers.FixedLengthFramer
pyframe._pyframers.DelimiterFramer
pyframe._pyframers.COBSFramer
pyframe._pyframers.SLIPFramer
pyframe._pyframers.MarkerFramer
"""


def _installed_root():
    """The directory holding the imported pyframe package, and whether mypy finds it by
    itself (a site-packages directory) or needs it on MYPYPATH (an editable install)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(pyframe.__file__)))
    site = {os.path.realpath(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")}
    return root, os.path.realpath(root) in site


@pytest.fixture(scope="session")
def mypy_run(tmp_path_factory):
    """``run(args, mypypath=None)``: ``python -m <args>`` from an empty directory, with an
    empty mypy configuration; returns the CompletedProcess."""
    work = tmp_path_factory.mktemp("mypy")
    config = work / "mypy.ini"
    config.write_text("[mypy]\n")
    root, in_site = _installed_root()

    def run(args, mypypath=None):
        env = dict(os.environ)
        env.pop("MYPYPATH", None)
        paths = [p for p in (mypypath, None if in_site else root) if p]
        if paths:
            env["MYPYPATH"] = os.pathsep.join(paths)
        args = [sys.executable, "-m", *args]
        if args[2] == "mypy":
            args += ["--config-file", str(config), "--cache-dir", str(work / "cache")]
        else:  # mypy.stubtest
            args += ["--mypy-config-file", str(config)]
        return subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=600)

    run.work = work
    return run


@pytest.fixture(scope="session")
def strict_errors(mypy_run):
    """mypy --strict on the example and the mistakes, in one run: {file name: [(line,
    code, message)]}."""
    shutil.copy(EXAMPLE, mypy_run.work / "typing_example.py")
    (mypy_run.work / "mistakes.py").write_text(MISTAKES)
    proc = mypy_run(
        [
            "mypy",
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--no-pretty",
            "typing_example.py",
            "mistakes.py",
        ]
    )
    errors = {}
    for line in proc.stdout.splitlines():
        match = re.match(r"(.+?):(\d+): error: (.*?)(?:  \[([a-z-]+)\])?$", line)
        if match:
            name = os.path.basename(match.group(1))
            errors.setdefault(name, []).append(
                (int(match.group(2)), match.group(4), match.group(3))
            )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    if proc.returncode == 1:
        assert errors, f"mypy failed without reporting errors:\n{proc.stdout}{proc.stderr}"
    return errors


def test_typed_user_of_every_public_api_passes_mypy_strict(strict_errors):
    assert strict_errors.get("typing_example.py", []) == []


def test_classic_mistakes_are_reported(strict_errors):
    expected = {}
    for number, line in enumerate(MISTAKES.splitlines(), 1):
        if "# E: " in line:
            expected[number] = line.split("# E: ")[1].strip()
    reported = {}
    for number, code, message in strict_errors.get("mistakes.py", []):
        reported.setdefault(number, set()).add(code)
        assert number in expected, f"unexpected error on line {number}: {message}"
    missing = {n: code for n, code in expected.items() if code not in reported.get(n, ())}
    lines = MISTAKES.splitlines()
    assert not missing, "not reported:\n" + "\n".join(
        f"  line {n} ({code}): {lines[n - 1].strip()}" for n, code in missing.items()
    )


def _stubtest(mypy_run, module, mypypath=None, allowlist=None):
    args = ["mypy.stubtest", module]
    if allowlist is not None:
        path = mypy_run.work / f"{module}.allowlist"
        path.write_text(allowlist)
        args += ["--allowlist", str(path)]
    proc = mypy_run(args, mypypath=mypypath)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stub_matches_the_compiled_module(mypy_run):
    try:
        importlib.import_module("pyframe._cframers")
    except ImportError as exc:
        if switch("PYFRAME_REQUIRE_EXTENSION") or not switch("PYFRAME_NO_EXTENSIONS"):
            pytest.fail(f"pyframe._cframers cannot be imported ({exc})", pytrace=False)
        pytest.skip("PYFRAME_NO_EXTENSIONS: no compiled module (the twin is checked below)")
    _stubtest(mypy_run, "pyframe._cframers")


def test_stub_matches_the_pure_python_twin(mypy_run, tmp_path):
    """The same stub, as pyframe/_pyframers.pyi, in a copy of the package on MYPYPATH
    (stubtest then imports the installed twin: the copy's directory is not on sys.path)."""
    source = os.path.dirname(os.path.abspath(pyframe.__file__))
    copy = tmp_path / "stubs" / "pyframe"
    copy.mkdir(parents=True)
    for name in os.listdir(source):
        if name.endswith((".py", ".pyi")) or name == "py.typed":
            shutil.copy(os.path.join(source, name), copy / name)
    shutil.copy(copy / "_cframers.pyi", copy / "_pyframers.pyi")
    _stubtest(
        mypy_run, "pyframe._pyframers", mypypath=str(tmp_path / "stubs"), allowlist=TWIN_ALLOWLIST
    )


def _unannotated(signature):
    return signature.replace(
        parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
        return_annotation=inspect.Signature.empty,
    )


@pytest.mark.parametrize("name", FRAMERS)
def test_compiled_signatures_are_visible_and_the_twins(impls, name):
    """inspect.signature() works on the compiled classes (the signature their docstring
    opens with) and their methods, and gives the twin's."""
    if "cython" not in impls:
        pytest.skip("PYFRAME_NO_EXTENSIONS: no compiled module")
    compiled, twin = getattr(impls["cython"], name), getattr(impls["python"], name)
    assert _unannotated(inspect.signature(compiled)) == _unannotated(inspect.signature(twin))
    for method in (
        "feed",
        "get_buffer",
        "buffer_updated",
        "encode",
        "encode_parts",
        "encode_many",
        "eof",
        "next_frame",
        "pop_frames",
        "reset",
    ):
        assert _unannotated(inspect.signature(getattr(compiled, method))) == _unannotated(
            inspect.signature(getattr(twin, method))
        ), method


def _public_callables():
    from pyframe import _pyframers, aio, sockets, transfer

    for module in (pyframe, sockets, aio, transfer, _pyframers):
        for name in getattr(module, "__all__", None) or dir(module):
            obj = getattr(module, name)
            if name.startswith("_") or getattr(obj, "__module__", "").split(".")[0] != "pyframe":
                continue
            if inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj
            elif inspect.isclass(obj) and not issubclass(obj, BaseException):
                for attr, member in vars(obj).items():
                    if isinstance(member, property):
                        member = member.fget
                    if (
                        inspect.isfunction(member)
                        and member.__module__.startswith("pyframe")
                        and (attr == "__init__" or attr[0] != "_")
                    ):
                        yield f"{module.__name__}.{name}.{attr}", member


def test_annotations_resolve_at_run_time():
    """Every public function and method is annotated, and typing.get_type_hints() resolves
    its annotations on this Python (3.9 included, without typing_extensions)."""
    checked = 0
    for where, function in _public_callables():
        if function.__name__ == "<lambda>":  # the twin's read-only settings
            continue
        hints = typing.get_type_hints(function)
        assert "return" in hints, f"{where} has no return annotation"
        checked += 1
    assert checked > 60


def test_pyframe_aio_after_import_pyframe(python_run):
    """``import pyframe`` then ``pyframe.aio``, without importing asyncio up front."""
    code = (
        "import sys, pyframe\n"
        "assert 'asyncio' not in sys.modules, 'asyncio imported by import pyframe'\n"
        "assert pyframe.aio.FrameReader is __import__('pyframe.aio').aio.FrameReader\n"
        "assert not hasattr(pyframe, 'no_such_name')\n"
    )
    proc = python_run("-c", code)
    assert proc.returncode == 0, proc.stderr
