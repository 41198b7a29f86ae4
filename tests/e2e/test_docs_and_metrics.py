"""The API's documentation pages work offline (their scripts come from this server), and metrics are
served at /metrics in the Prometheus text format."""

from __future__ import annotations

import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.jobs import apply, submit

SQLITE = pytest.mark.parametrize("server_settings", ["sqlite"], indirect=True)

SIMPLE = """job_type: simple
tasks:
- task_type: one
  method: SHELL
  script: ["echo one"]
"""


@SQLITE
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_their_assets_from_this_server(api: httpx.Client, page: str) -> None:
    html = httpx.get(f"{api.base_url}{page}", timeout=30)  # no token: the pages are public
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert re.findall(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html.text) == [], html.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert any(a.endswith(".js") for a in assets), html.text
    for asset in assets:
        assert asset.startswith("/"), asset
        loaded = httpx.get(f"{api.base_url}{asset}", timeout=30)
        assert loaded.status_code == 200 and len(loaded.content) > 1000, asset
    spec = re.search(r"(?:url: |spec-url=)['\"]([^'\"]+)['\"]", html.text)
    assert spec is not None and httpx.get(f"{api.base_url}{spec.group(1)}", timeout=30).json()["info"]["title"]


@SQLITE
def test_metrics_at_slash_metrics_parse_as_prometheus_text(api: httpx.Client) -> None:
    apply(api, SIMPLE)
    submit(api, "simple", scheduled_at="2099-01-01T00:00:00Z")
    answer = api.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(answer.text)}
    assert {"myrmica_job_requests_submitted", "myrmica_job_definitions_saved", "myrmica_ants_live",
            "myrmica_submit_to_start_seconds"} <= set(families)
    submitted = [s for s in families["myrmica_job_requests_submitted"].samples if s.name.endswith("_total")]
    assert [s.value for s in submitted] == [1.0]
    assert set(families) == {f.name for f in text_string_to_metric_families(api.get("/api/metrics").text)}
    assert httpx.get(f"{api.base_url}/metrics", timeout=30).status_code == 401  # a token is needed, as for /api
