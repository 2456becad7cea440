"""The reference in docs/ says what the code does: its generated tables (config fields, CLI commands,
settings) are current, the API page names every route the API serves and no other, and the
README's links lead to pages that exist."""
import pathlib
import re

import pytest

from serve_app.reference import BLOCKS, render

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_generated_reference_is_current(name):
    page = BLOCKS[name][0]
    assert (ROOT / page).read_text() == render(name), f"{page} is stale: run .venv/bin/python -m serve_app.reference"


def test_the_api_page_names_every_route_and_no_other():
    from fastapi import FastAPI

    from serve_app.routes import ROUTERS

    api = FastAPI()  # the routes the app serves (serve_app.app imports Ray, which this test leaves alone)
    for router in ROUTERS:
        api.include_router(router)
    served = {f"{method.upper()} {path}" for path, ops in api.openapi()["paths"].items() for method in ops}
    served.add("GET /metrics")  # for Prometheus, left out of the OpenAPI page
    rows = [line for line in (ROOT / "docs" / "api.md").read_text().splitlines() if line.startswith("| `")]
    documented = {m.group(1) for row in rows for m in re.finditer(r"`((?:GET|POST|PATCH|PUT|DELETE) /[^`?]*)", row)}
    assert served - documented == set(), "routes the API serves that docs/api.md does not name"
    assert documented - served == set(), "routes docs/api.md names that the API does not serve"


def test_readme_links_lead_somewhere():
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#:]+)\)", text)
    assert links and [link for link in links if not (ROOT / link).exists()] == []
