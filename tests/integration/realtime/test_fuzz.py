"""Schema-driven fuzz run (schemathesis, in-process over ASGI): the scoring endpoint and the screening API
never answer 5xx, whatever the generated input. Bounded and deterministic."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from harbour.core.auth import Role

from .conftest import account, transfer, write_lake

FUZZED = ("/api/transfers/score", "/api/transfers/score/batch", "/api/screening/check/name",
          "/api/screening/check/address",
          "/api/screening/hits")


@pytest.fixture
def lake(settings):
    write_lake(settings.lake_root, [account("HBX", "a1", "Ivan Petrov")],
               [transfer("HBX", "h1", "HBX:a1", "tron:TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE", 10.0)])
    return settings.lake_root


@pytest.mark.db
def test_no_5xx_on_generated_input(lake, app, client, actors):
    actors.user("sup", Role.SUPERVISOR)
    headers = actors.headers("sup")
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [op for op in operations if op.path in FUZZED]
    assert len(operations) == len(FUZZED)
    failures = []
    for operation in operations:
        _fuzz(operation, headers, failures)
    assert failures == []


def _fuzz(operation, headers, failures):
    @given(case=operation.as_strategy())
    @hsettings(max_examples=30, derandomize=True, deadline=None, database=None,
               suppress_health_check=list(HealthCheck))
    def check(case):
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append((operation.path, case.body, response.status_code, response.text[:200]))

    check()
