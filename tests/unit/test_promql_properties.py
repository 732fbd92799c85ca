"""Property-based tests of the PromQL tokenizer behind `rules check` (outside input: any rule file or
dashboard a user points it at).

- Whatever the text, series_names() answers names or raises PromQLError with an offset inside the
  text: never another exception (which would be a traceback instead of a line naming the file).
- An expression built from known series, functions, aggregations, label matchers, ranges and strings
  names exactly the series it was built from.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporters.rules.promql import PromQLError, series_names, tokenize

EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROMQLISH = st.lists(
    st.sampled_from(list("abc_:{}()[]\"'`=~!,+-*/^%<>5m.$ \n#\\") + ["by ", "rate", "{{", "${x}"]), max_size=40
).map("".join)
METRICS = st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True).filter(
    lambda n: (
        n
        not in {
            "by",
            "without",
            "on",
            "ignoring",
            "group_left",
            "group_right",
            "bool",
            "offset",
            "and",
            "or",
            "unless",
            "sum",
            "avg",
            "min",
            "max",
            "count",
            "rate",
            "inf",
            "nan",
            "atan2",
            "topk",
            "bottomk",
            "quantile",
            "stddev",
            "stdvar",
            "group",
            "count_values",
            "limitk",
            "limit_ratio",
        }
        and not n.startswith(("sum", "avg", "count"))
    )
)


@EXAMPLES
@given(st.one_of(st.text(max_size=120), PROMQLISH))
def test_any_text_gives_names_or_a_promql_error(text):
    try:
        names = series_names(text)
    except PromQLError as exc:
        assert 0 <= exc.offset <= len(text)
    else:
        assert all(isinstance(n, str) and n for n in names)


@EXAMPLES
@given(st.lists(METRICS, min_size=1, max_size=4, unique=True), st.data())
def test_built_expressions_name_exactly_their_series(metrics, data):
    parts = []
    for name in metrics:
        shape = data.draw(
            st.sampled_from(
                [
                    "{m}",
                    'rate({m}{{job="x",mode=~"a|b"}}[5m])',
                    "sum by (instance) ({m})",
                    "max_over_time({m}[1h:5m]) > 3",
                    "{m} offset 5m",
                    'label_replace({m}, "dst", "$1", "src", "(.*)")',
                    "histogram_quantile(0.9, sum by (le) (rate({m}[5m])))",
                ]
            )
        )
        parts.append(shape.format(m=name))
    expr = " + on (instance) ".join(parts)
    assert series_names(expr) == metrics, expr
    assert all(t.pos < len(expr) for t in tokenize(expr))
