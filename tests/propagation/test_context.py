"""Assignments follow the context into asyncio tasks, threads and nested spans."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from opentelemetry import context as otel_context

from exptrace.propagation import bind, current_assignments, with_assignments


def test_asyncio_tasks_and_to_thread_inherit_assignments(telemetry):
    async def child(name):
        with telemetry.tracer.start_as_current_span(name):
            await asyncio.sleep(0)

    async def request():
        token = otel_context.attach(with_assignments({"checkout-v2": "B"}))
        try:
            await asyncio.gather(child("task-1"), child("task-2"))
            await asyncio.to_thread(lambda: telemetry.tracer.start_span("to-thread").end())
        finally:
            otel_context.detach(token)

    asyncio.run(request())
    for name in ("task-1", "task-2", "to-thread"):
        assert telemetry.span(name).attributes["exp.checkout-v2"] == "B"


def test_thread_pool_with_bind(telemetry):
    def work(i):
        with telemetry.tracer.start_as_current_span(f"work-{i}"):
            return current_assignments()

    token = otel_context.attach(with_assignments({"ranker": "v2"}))
    try:
        with ThreadPoolExecutor(2) as pool:
            bound = [pool.submit(bind(work), i) for i in range(4)]
            unbound = pool.submit(work, 99)
            results = [f.result() for f in bound]
            assert unbound.result() == {}  # plain submit does not carry context
    finally:
        otel_context.detach(token)
    assert results == [{"ranker": "v2"}] * 4
    assert all(telemetry.span(f"work-{i}").attributes["exp.ranker"] == "v2" for i in range(4))
    assert "exp.ranker" not in telemetry.span("work-99").attributes


def test_with_assignments_replaces_stale_members_and_keeps_other_baggage():
    from opentelemetry import baggage

    ctx = baggage.set_baggage("userId", "u1")
    ctx = with_assignments({"a": "1", "b": "2"}, ctx)
    ctx = with_assignments({"a": "3"}, ctx)
    assert dict(baggage.get_all(ctx)) == {"userId": "u1", "exp.a": "3"}
    assert current_assignments(ctx) == {"a": "3"}


def test_invalid_upstream_baggage_is_not_stamped(telemetry):
    from opentelemetry import baggage

    ctx = baggage.set_baggage("exp.ok", "A")
    ctx = baggage.set_baggage("exp.bad", "x y <script>", ctx)
    telemetry.tracer.start_span("s", context=ctx).end()
    attributes = telemetry.span("s").attributes
    assert attributes["exp.ok"] == "A" and "exp.bad" not in attributes
