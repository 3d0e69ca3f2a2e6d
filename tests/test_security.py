"""Loopback clients are trusted; any other client needs the bearer token (401 otherwise)."""

from __future__ import annotations

from cart.config import Settings
from tests.helpers import running_app

TOKEN = "t0ken-of-at-least-24-characters"


def _settings(tmp_path, **kw):
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'c.db'}",
        devices_file=tmp_path / "none.toml",
        _env_file=None,
        **kw,
    )


async def test_loopback_needs_no_token(tmp_path):
    async with running_app(_settings(tmp_path)) as (_, client):
        assert (await client.get("/api/v1/health")).status_code == 200


async def test_remote_client_without_token_is_refused(tmp_path):
    settings = _settings(tmp_path, api_token=TOKEN)
    async with running_app(settings, client_host="192.0.2.10", role=None) as (_, client):
        resp = await client.get("/api/v1/health")
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"] == "Bearer"
        bad = await client.get("/api/v1/health", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        ok = await client.get("/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200


async def test_remote_client_refused_when_no_token_configured(tmp_path):
    async with running_app(_settings(tmp_path), client_host="192.0.2.10", role=None) as (_, client):
        assert (await client.get("/api/v1/devices")).status_code == 401


async def test_no_cors_headers(tmp_path):
    async with running_app(_settings(tmp_path)) as (_, client):
        resp = await client.options(
            "/api/v1/health",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in resp.headers
