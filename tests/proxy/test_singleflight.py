from __future__ import annotations

import asyncio

import pytest

from stockyard.proxy.singleflight import SingleFlight


def test_concurrent_callers_share_one_run() -> None:
    calls = 0

    async def work() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return 42

    async def main() -> list[int]:
        flights: SingleFlight[int] = SingleFlight()
        results = await asyncio.gather(*(flights.run("k", work) for _ in range(20)))
        assert not flights.in_flight("k")
        again = await flights.run("k", work)  # a later call runs again
        return [*results, again]

    assert asyncio.run(main()) == [42] * 21
    assert calls == 2


def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    async def work() -> str:
        await asyncio.sleep(0.05)
        return "done"

    async def main() -> str:
        flights: SingleFlight[str] = SingleFlight()
        first = asyncio.ensure_future(flights.run("k", work))
        second = asyncio.ensure_future(flights.run("k", work))
        await asyncio.sleep(0.01)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await second

    assert asyncio.run(main()) == "done"


def test_errors_reach_every_caller() -> None:
    async def work() -> int:
        await asyncio.sleep(0.01)
        raise ValueError("boom")

    async def main() -> list[BaseException | int]:
        flights: SingleFlight[int] = SingleFlight()
        return await asyncio.gather(
            *(flights.run("k", work) for _ in range(3)), return_exceptions=True
        )

    assert all(isinstance(r, ValueError) for r in asyncio.run(main()))
