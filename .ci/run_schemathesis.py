"""Runs schemathesis's CLI (`st`) with one work-around.

On CPython 3.11, hypothesis's lambda descriptions can hit `SystemError: AST constructor
recursion depth mismatch` (a CPython bug in ast construction, python/cpython#106905's
family) while schemathesis builds coverage cases. The description is only a label for
reports, so a failure to make one falls back to a plain name instead of ending the run.
"""
import sys

import hypothesis.internal.lambda_sources as lambda_sources

_describe = lambda_sources.lambda_description


def _safe_description(f):
    try:
        return _describe(f)
    except SystemError:
        return "lambda"


lambda_sources.lambda_description = _safe_description

from schemathesis.cli import schemathesis  # noqa: E402

sys.argv[0] = "st"
schemathesis()
