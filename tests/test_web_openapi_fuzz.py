"""schemathesis against /openapi.json: no server error, no response outside its documented schema."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import content_type_conformance
from schemathesis.checks import not_a_server_error
from schemathesis.checks import response_schema_conformance
from schemathesis.checks import status_code_conformance

from controller.store.artifacts import ArtifactStore
from controller.web import DashboardServer
from controller.web import create_app
from controller.web import ensure_operator_token
from tests.web_seed import seed_collected
from tests.web_seed import seeded_store

# Valid data per operation, then a few invalid requests each (invalid generation is slow: ~0.2 s a case).
EXAMPLES = {"positive": 80, "negative": 5}
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openapi-fuzz")
    store = seeded_store(tmp)
    artifacts = ArtifactStore(tmp / "artifacts")
    index = seed_collected(store, artifacts)
    tokens, token = ensure_operator_token(tmp)
    with DashboardServer(create_app(store, artifacts, tokens=tokens, samples=index), "127.0.0.1", 0) as server:
        yield server, token
    index.close()


def test_generated_requests_never_break_the_server_or_its_schema(server):
    import schemathesis

    server, token = server
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    sent: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"GET /api/v1/fleets/{name}",
                                               "POST /api/v1/fleets/{name}/rollout/{action}",
                                               "GET /api/v1/events", "GET /api/v1/devices/{device_id}",
                                               "GET /api/v1/samples", "GET /api/v1/samples/counts",
                                               "POST /api/v1/samples/label", "GET /api/v1/datasets/{name}/samples"}
    for operation, mode in [(op, mode) for op in operations
                            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)]:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES[mode.value], deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            # Half the requests carry the operator token, so actions get past authentication too.
            headers = {"Authorization": f"Bearer {token}"} if len(sent) % 2 else None
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=10)
            sent.append(case.operation.label)
        try:
            run()
        except Unsatisfiable:
            if mode is schemathesis.GenerationMode.POSITIVE:
                raise  # only an operation without parameters has no invalid input
    print(f"schemathesis: {len(sent)} generated requests over {len(operations)} operations")
    assert len(sent) >= 500, f"only {len(sent)} generated requests"
