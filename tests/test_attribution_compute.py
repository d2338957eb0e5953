"""`app.services.compute.cached_else_computed`, the one routine behind every kind of map of the
Attribution page: cached results pass through, only the missing are computed (in order, under a
slot), a model that fails becomes a message, a busy server computes nothing."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script(busy: bool) -> None:
    import streamlit as st

    from app.services.compute import cached_else_computed
    from app.services.limits import compute_slots
    from app.services.models import CheckpointError

    calls = []

    def compute(model_id, todo):
        calls.append((model_id, todo))
        if model_id == "broken":
            raise CheckpointError(f"{model_id}: no checkpoint")
        return {**cached.get(model_id, {}), **{c: c.upper() for c in todo}}

    cached = {"a": {"x": "cached"}, "b": {"x": "cached", "y": "cached"}}
    missing = {"a": ["y"], "broken": ["x"], "c": ["x", "y"]}
    problems: list[str] = []
    slots = compute_slots()
    if busy:
        with slots.slot(timeout=1), slots.slot(timeout=1):
            found = cached_else_computed(cached, missing, compute, what="maps",
                                         problems=problems, failure="No maps: {error}")
    else:
        found = cached_else_computed(cached, missing, compute, what="maps", problems=problems,
                                     failure="No maps: {error}")
    st.session_state["result"] = (found, calls, problems)


def _run(monkeypatch, *, busy: bool):
    from app.settings import settings

    monkeypatch.setenv("ROBUSTNESS_ATTRIBUTION_WAIT_S", "0.1")
    settings.cache_clear()
    try:
        at = AppTest.from_function(_script, args=(busy,), default_timeout=60).run()
    finally:
        settings.cache_clear()
    assert not at.exception, at.exception
    return at.session_state["result"]


def test_only_the_missing_are_computed_and_a_failure_is_a_message(monkeypatch):
    found, calls, problems = _run(monkeypatch, busy=False)
    assert calls == [("a", ["y"]), ("broken", ["x"]), ("c", ["x", "y"])]
    assert found == {"a": {"x": "cached", "y": "Y"}, "b": {"x": "cached", "y": "cached"},
                     "c": {"x": "X", "y": "Y"}}
    assert problems == ["No maps: broken: no checkpoint"]


def test_a_busy_server_keeps_the_cached_and_says_so(monkeypatch):
    found, calls, problems = _run(monkeypatch, busy=True)
    assert calls == [] and found == {"a": {"x": "cached"}, "b": {"x": "cached", "y": "cached"}}
    assert len(problems) == 1 and "The server is busy" in problems[0]
