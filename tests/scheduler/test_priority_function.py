"""User-defined priority functions: loading by "module:function" and checking before a run.

Each case writes a small module into a temporary folder on sys.path; every failure must be a
PriorityFunctionError with one line that says what is wrong.
"""

import functools
import sys
import textwrap

import numpy as np
import pytest

from ekkosim.scheduler.priority import (
    Features,
    PriorityFunctionError,
    call_priority_function,
    check_priority_function,
    ekko_priority,
    load_priority_function,
)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Write `source` as module `name` on sys.path; forget every module imported meanwhile."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)

    def write(name: str, source: str) -> None:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))

    yield write
    for name in set(sys.modules) - before:
        del sys.modules[name]


def error(spec: str) -> str:
    """The one-line message of loading and checking `spec`, which must fail."""
    with pytest.raises(PriorityFunctionError) as failure:
        check_priority_function(load_priority_function(spec))
    message = str(failure.value)
    assert "\n" not in message
    return message


def test_a_good_function_passes(user_module):
    user_module(
        "prio_good_priority",
        """
        def double_magnitude(features):
            return features.magnitude * 2
        def as_list(features, scale=1):
            return [1] * len(features)
        class Rules:
            @staticmethod
            def by_traffic(features):
                return features.magnitude * features.traffic_share
    """,
    )
    for function in ["double_magnitude", "as_list", "Rules.by_traffic"]:
        check_priority_function(load_priority_function(f"prio_good_priority:{function}"))
    fn = load_priority_function("prio_good_priority:double_magnitude")
    assert fn.__name__ == "double_magnitude"


def test_ekko_priority_with_its_parameter_bound_passes():
    check_priority_function(functools.partial(ekko_priority, new_key_priority=10.0))


@pytest.mark.parametrize("spec", ["no_colon", ":f", "module:", "a:b:c"])
def test_spec_must_be_module_colon_function(spec):
    assert error(spec) == f"'{spec}' is not of the form 'package.module:function'"


def test_missing_module_is_named():
    assert error("no_such_priority_module:f") == (
        "cannot import module 'no_such_priority_module': No module named 'no_such_priority_module'"
    )


def test_import_error_inside_the_module_is_reported(user_module):
    user_module("prio_needs_missing_dep", "import no_such_dependency_xyz\n")
    assert error("prio_needs_missing_dep:f") == (
        "cannot import module 'prio_needs_missing_dep': No module named 'no_such_dependency_xyz'"
    )


def test_module_that_fails_to_run_is_reported(user_module):
    user_module("prio_broken_syntax", "def f(features) return 1\n")
    assert error("prio_broken_syntax:f").startswith("importing module 'prio_broken_syntax' raised SyntaxError: ")
    user_module("prio_raises_at_import", "raise RuntimeError('no config\\nfound')\n")
    assert error("prio_raises_at_import:f") == (
        "importing module 'prio_raises_at_import' raised RuntimeError: no config found"
    )


def test_missing_attribute(user_module):
    user_module("prio_empty_module", "X = 1\n")
    assert error("prio_empty_module:priority") == "module 'prio_empty_module' has no attribute 'priority'"


def test_not_callable(user_module):
    user_module("prio_constant_module", "priority = 3\n")
    assert error("prio_constant_module:priority") == "'prio_constant_module:priority' is not callable (it is a int)"


@pytest.mark.parametrize(
    ("definition", "signature"),
    [("def f():", "()"), ("def f(features, model):", "(features, model)"), ("def f(*, features):", "(*, features)")],
)
def test_wrong_signature(user_module, definition, signature):
    user_module("prio_signatures", f"{definition}\n    return None\n")
    assert error("prio_signatures:f") == (
        "priority function 'prio_signatures:f' must accept exactly one positional argument (a batch's Features), "
        f"but its signature is {signature}"
    )


def test_function_that_raises(user_module):
    user_module(
        "prio_raising",
        """
        def f(features):
            return features.magnitude / features.missing_field
    """,
    )
    assert error("prio_raising:f") == (
        "priority function 'prio_raising:f' raised AttributeError on a batch of 3 updates of model 'sample' at t = 0 s: "
        "'Features' object has no attribute 'missing_field'"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("features.magnitude[:2]", "returned shape (2,) for a batch of 3 updates; it must return shape (3,)"),
        ("1.0", "returned shape () for a batch of 3 updates; it must return shape (3,)"),
        ("np.ones((3, 1))", "returned shape (3, 1) for a batch of 3 updates; it must return shape (3,)"),
        ("np.array(['a', 'b', 'c'])", "returned an array of <U1; priorities must be numbers (a 1-D float array)"),
        ("features.is_new", "returned an array of bool; priorities must be numbers (a 1-D float array)"),
        ("None", "returned a NoneType; priorities must be numbers (a 1-D float array)"),
        ("[1.0, [2.0], 3.0]", "returned a list; priorities must be numbers (a 1-D float array)"),
        ("np.array([1.0, np.nan, 2.0])", "returned nan for update 1 of 3; priorities must be finite and >= 0"),
        ("np.array([1.0, 2.0, np.inf])", "returned inf for update 2 of 3; priorities must be finite and >= 0"),
        ("-features.magnitude", "returned -0.5 for update 0 of 3; priorities must be finite and >= 0"),
    ],
)
def test_wrong_result(user_module, body, message):
    user_module("prio_results", f"import numpy as np\ndef f(features):\n    return {body}\n")
    assert error("prio_results:f") == f"priority function 'prio_results:f' {message}"


def test_a_run_gets_float64_priorities_or_the_same_errors():
    batch = Features(np.array([1.0, 2.0]), np.array([False, True]), 1.0, 1.0, "ranking", 5.0)
    priorities = call_priority_function(lambda features: np.array([1, 2], dtype=np.int32), batch)
    assert priorities.dtype == np.float64 and priorities.tolist() == [1.0, 2.0]
    with pytest.raises(
        PriorityFunctionError, match=r"raised ZeroDivisionError on a batch of 2 updates of model 'ranking'"
    ):
        call_priority_function(lambda features: 1 / 0, batch)
