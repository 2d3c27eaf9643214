"""What a user reads: the words a declaration gives for what it allows, the rows of ``--help``
and of the option tables, and the refusals of ``Options.check``, written out here rather
than derived from the code that makes them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from rnnlab.errors import ConfigError
from rnnlab.schema.declare import Bound, Options, allowed, option
from rnnlab.schema.docs import plain_table, rows

WORDS = [
    (bool, Bound(), "true or false"),
    (int, Bound(ge=1), "a positive integer"),
    (int, Bound(), "an integer"),
    (int, Bound(ge=0), "an integer >= 0"),
    (int, Bound(ge=1, le=5), "an integer from 1 to 5"),
    (int, Bound(ge=2, lt=9), "an integer in [2, 9)"),
    (int, Bound(gt=0, le=3), "an integer in (0, 3]"),
    (int, Bound(le=10), "an integer <= 10"),
    (int, Bound(lt=10), "an integer < 10"),
    (int, Bound(gt=-1), "an integer > -1"),
    (float, Bound(), "a finite number"),
    (float, Bound(gt=0), "a finite number > 0"),
    (float, Bound(ge=1), "a finite number >= 1"),
    (float, Bound(ge=0, lt=1), "a finite number in [0, 1)"),
    (float, Bound(gt=0.0, le=1.0), "a finite number in (0, 1]"),
    (float, Bound(gt=0.0, lt=1.0), "a finite number in (0, 1)"),
    (float, Bound(ge=0.5, le=2 * math.pi), "a finite number in [0.5, 2*pi]"),
    (float, Bound(ge=1e-8), "a finite number >= 1e-08"),
    (str, Bound(), "a non-empty string"),
    (str, Bound(choices=("fast", "slow")), "one of fast, slow"),
    (list[float], Bound(), "a list of finite numbers"),
    (list[float], Bound(gt=0), "a list of finite numbers > 0"),
    (list[int], Bound(), "a list of integers"),
    (list[int], Bound(ge=0), "a list of integers >= 0"),
    (list[int], Bound(ge=1), "a list of positive integers"),
    (list[str], Bound(), "a list of strings"),
    (list[float], Bound(items=2), "a pair of finite numbers"),
    (list[float], Bound(pair=True), "a pair [low, high] of finite numbers with low <= high"),
    (list[float], Bound(items=2, ge=0, lt=1), "a pair of finite numbers in [0, 1)"),
    (list[float], Bound(le=1), "a list of finite numbers <= 1"),
    (list[int], Bound(items=3), "a list of 3 integers"),
    (list[Any], Bound(items=3), "a list of 3 values"),
    (
        list[float],
        Bound(pair=True, ge=0),
        "a pair [low, high] of finite numbers with low <= high, each >= 0",
    ),
    (
        list[float],
        Bound(pair=True, ge=0, le=2),
        "a pair [low, high] of finite numbers with low <= high, each in [0, 2]",
    ),
    (list[Any], Bound(), "a list"),
    (int | None, Bound(ge=2), "null or an integer >= 2"),
    (str | None, Bound(), "null or a non-empty string"),
    (str | int, Bound(choices=("auto",), ge=1), "auto or a positive integer"),
    (float | str | None, Bound(choices=("x", "y"), gt=0), "null or x or y or a finite number > 0"),
    (dict, Bound(), "a mapping"),
    (dict[str, int], Bound(), "a mapping"),
    (Any, Bound(), "any value"),
    (int, Bound(ge=1, allowed="a divisor of hidden_size"), "a divisor of hidden_size"),
]


@pytest.mark.parametrize(("tp", "bound", "words"), WORDS, ids=[w for _, _, w in WORDS])
def test_allowed_says_what_the_declaration_allows(tp, bound, words):
    assert allowed(tp, bound) == words


def demo_options() -> type[Options]:
    """A declaration made when the test runs (so ``option`` is called then, not at import)."""

    @dataclass
    class Demo(Options):
        declares: ClassVar[str | None] = "pkg.Demo"
        passthrough: ClassVar[tuple[str, ...]] = ("extra",)
        group: ClassVar[str] = "demo"
        width: int = option(8, "units per layer", ge=1)
        rate: float = option(0.5, "a rate", gt=0, le=1)
        mode: str = option("fast", "how to run", choices=("fast", "slow"))
        sizes: list[int] = option([1, 2], "sizes of the parts", ge=1)
        name: str | None = option(None, "a name")
        flag: bool = option(False)
        label: str = option("Run A", "shown as written")
        key_of_exactly_twenty_nine_ch: int = option(1, "its head ends where text would start")
        a_rather_long_key_name_of_forty_chars: float = option(
            1.0, "a meaning long enough that the table wraps it over more than one line", gt=0
        )

        def rules(self) -> None:
            if self.mode == "fast" and self.width > 100:
                raise ConfigError("width", self.width, "at most 100 when mode is fast")

    return Demo


def test_a_declaration_records_defaults_meanings_and_bounds():
    demo = demo_options()
    assert demo.defaults() == {"_target_": "pkg.Demo", "width": 8, "rate": 0.5, "mode": "fast",
                               "sizes": [1, 2], "name": None, "flag": False,
                               "label": "Run A", "key_of_exactly_twenty_nine_ch": 1,
                               "a_rather_long_key_name_of_forty_chars": 1.0}  # fmt: skip
    first, second = demo(), demo()
    first.sizes.append(3)  # a list default is each instance's own copy
    assert second.sizes == [1, 2] and demo.defaults()["sizes"] == [1, 2]
    assert demo.table()[:7] == [
        ("width", "8", "a positive integer", "units per layer"),
        ("rate", "0.5", "a finite number in (0, 1]", "a rate"),
        ("mode", "fast", "one of fast, slow", "how to run"),
        ("sizes", "[1, 2]", "a list of positive integers", "sizes of the parts"),
        ("name", "null", "null or a non-empty string", "a name"),
        ("flag", "false", "true or false", ""),
        ("label", "Run A", "a non-empty string", "shown as written"),
    ]
    assert rows(demo, "demo.")[0] == ("demo.width", "8", "a positive integer", "units per layer")
    assert rows(demo)[0][0] == "width"


REFUSED = {
    "below a bound": ({"rate": 0}, "rate=0 is not allowed: a finite number in (0, 1]"),
    "off the choices": ({"mode": "slowest"}, "mode='slowest' is not allowed: one of fast, slow"),
    "an item": ({"sizes": (1, 0)}, "sizes=[1, 0] is not allowed: a list of positive integers"),
    "no default given": ({"width": "???"},
                         "width='???' is not allowed: a value: it has no default (a positive integer)"),
    "unknown key": ({"widht": 3}, "widht=3 is not allowed: a key of demo (did you mean demo.width?);"
                    " the keys are width, rate, mode, sizes, name, flag, label, "
                    "key_of_exactly_twenty_nine_ch, a_rather_long_key_name_of_forty_chars"),
    "a rule": ({"width": 200}, "width=200 is not allowed: at most 100 when mode is fast"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSED))
def test_check_refuses_in_one_line_naming_the_key(case):
    values, message = REFUSED[case]
    with pytest.raises(ConfigError) as err:
        demo_options().check(values)
    assert str(err.value) == message


def test_check_accepts_passed_through_and_private_keys_and_rules_can_wait():
    demo = demo_options()
    got = demo.check({"_target_": "pkg.Demo", "extra": 1, "width": 9, "sizes": [4]})
    assert (got.width, got.sizes, got.rate) == (9, [4], 0.5)
    assert demo.check({"width": 200}, rules=False).width == 200  # a sweep's base config
    with pytest.raises(ConfigError, match=r"^widht=3 is not allowed: a key of model.data "):
        demo.check({"widht": 3}, where="model.data")
    with pytest.raises(ConfigError, match=r"a key of the config \(did you mean width\?\)"):
        demo.check({"widht": 3}, where="the config")


def test_help_table_aligns_defaults_and_wraps_meanings():
    """The meaning and what is allowed start 4 columns after the longest ``key=default`` (or
    after 34 characters, when one is longer: that head stands on a line of its own) and wrap
    to the width."""
    lines = plain_table(demo_options(), "demo.", width=72)
    assert lines == [
        "  demo.width=8                        units per layer; a positive",
        "                                      integer",
        "  demo.rate=0.5                       a rate; a finite number in (0, 1]",
        "  demo.mode=fast                      how to run; one of fast, slow",
        "  demo.sizes=[1, 2]                   sizes of the parts; a list of",
        "                                      positive integers",
        "  demo.name=null                      a name; null or a non-empty string",
        "  demo.flag=false                     true or false",
        "  demo.label=Run A                    shown as written; a non-empty",
        "                                      string",
        "  demo.key_of_exactly_twenty_nine_ch=1",
        "                                      its head ends where text would",
        "                                      start; an integer",
        "  demo.a_rather_long_key_name_of_forty_chars=1.0",
        "                                      a meaning long enough that the",
        "                                      table wraps it over more than one",
        "                                      line; a finite number > 0",
    ]


def test_help_table_of_short_keys_pads_to_the_longest_head():
    @dataclass
    class Small(Options):
        n: int = option(1, "count", ge=1)
        rate: float = option(0.5, "", gt=0)
        tag: str | None = option(None, allowed="")

    assert plain_table(Small, width=40) == [
        "  n=1       count; a positive integer",
        "  rate=0.5  a finite number > 0",
        "  tag=null  null or a non-empty string",
    ]


def test_help_is_100_columns_wide():
    @dataclass
    class Wide(Options):
        k: int = option(1, "a" * 44 + " " + "b" * 46, allowed="z")  # text of 94 characters

    # the 101st column would hold the z
    assert plain_table(Wide) == ["  k=1  " + "a" * 44 + " " + "b" * 46 + ";", " " * 7 + "z"]
