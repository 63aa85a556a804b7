"""The API document, built in process (no Kafka): valid OpenAPI 3.1, and every view declared.
A route added without `@documented` fails here first (the integration test compares with GET /api)."""

from __future__ import annotations

from openapi_spec_validator import validate

from sports_prophet.worker import app
from web.openapi import DECLARATION, build_document


def test_every_view_method_declares_its_operation():
    undeclared = [f"{method} {path}" for path, view in app.web.views.items()
                  for method in view.get_methods() - {"HEAD"}
                  if not hasattr(getattr(type(view), method.lower()), DECLARATION)]
    assert undeclared == []


def test_the_document_is_valid_and_guarded_routes_document_401_and_403():
    document = build_document(app.web.views)
    validate(document)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            guarded = bool(operation["security"])
            assert guarded == ({"401", "403"} <= operation["responses"].keys()), (method, path)
    assert document["paths"]["/health"]["get"]["security"] == []
    assert document["paths"]["/register-device"]["post"]["security"] == [{"adminToken": []}]
