"""Property-based tests of the textfile parser (outside input: any file in the textfile directory).

- Whatever the bytes, the parser answers families or a ParseError naming a line: never another
  exception (which would fail the collector with a traceback instead of node_textfile_scrape_error).
- Exposition text that our own renderer writes, with any label values (quotes, backslashes, newlines,
  kilobytes), parses back to the same samples: the fast regex path and the careful path agree.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporters.core.metrics import GAUGE, MetricDef, render_text
from exporters.core.textparse import ParseError, _labels, _labels_checked, parse_text

EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,12}", fullmatch=True)
VALUES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
LINEISH = st.text(alphabet=st.sampled_from(list('ab_{}="\\,# \t\n0123456789.+-eE:')), max_size=80)


@EXAMPLES
@given(st.one_of(st.text(max_size=400), st.lists(LINEISH, max_size=20).map("\n".join)))
def test_any_text_parses_or_raises_parse_error(text):
    try:
        parse_text(text)
    except ParseError as exc:
        assert str(exc).startswith("line ")


@EXAMPLES
@given(st.dictionaries(NAMES.filter(lambda n: n != "le"), VALUES, min_size=1, max_size=5), st.floats(allow_nan=False))
def test_rendered_samples_parse_back_to_the_same_labels_and_value(labels, value):
    names = tuple(sorted(labels))
    definition = MetricDef("prop_metric", GAUGE, "A property.", names)
    family = definition.family()
    family.add(tuple(labels[n] for n in names), value)
    parsed = parse_text(render_text([family]))
    assert len(parsed) == 1 and len(parsed[0].samples) == 1
    assert parsed[0].samples[0][1] == family.samples[0][1]  # the same label block, escapes included
    got = parsed[0].samples[0][2]
    assert got == value or (math.isnan(got) and math.isnan(value))


@EXAMPLES
@given(st.text(alphabet=st.sampled_from(list('ab_="\\,} \tn')), max_size=60))
def test_fast_and_careful_label_paths_agree(block):
    line = "m{" + block + " 1"

    def outcome(parse):
        try:
            return parse(line, 1, 7)
        except ParseError as exc:
            return ("error", str(exc).split(":")[0])

    fast, careful = outcome(_labels), outcome(_labels_checked)
    assert fast == careful or (fast[0] == "error" and careful[0] == "error")
