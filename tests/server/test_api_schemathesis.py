"""Property-based conformance of the JSON API to its own OpenAPI schema (schemathesis)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings


def _check_every_operation(app, headers: dict[str, str], examples: int) -> int:  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=headers)

        run()
        checked += 1
    return checked


def test_api_conforms_to_its_schema_as_admin(app, admin_token) -> None:  # type: ignore[no-untyped-def]
    # As the server admin, so the admin routes are exercised too (in a throwaway data dir).
    assert _check_every_operation(app, {"X-API-Key": admin_token}, 25) >= 8


def test_api_conforms_to_its_schema_anonymously(app) -> None:  # type: ignore[no-untyped-def]
    assert _check_every_operation(app, {}, 10) >= 8
