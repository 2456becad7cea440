"""Authentication and roles over real HTTP against the deployed Serve app: logins, token
expiry and tampering, refresh-token rotation, and what each role may do."""
import functools
import time

import httpx
import jwt
import pytest

from conftest import ADMIN

pytestmark = pytest.mark.ray


def login(url: str, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/auth/login", json={"username": username, "password": password})


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def users(api_url, admin_token):
    made = {}
    for name, role in (("alice", "user"), ("victor", "viewer")):
        r = httpx.post(f"{api_url}/v1/users", headers=bearer(admin_token),
                       json={"username": name, "password": f"{name}-password", "role": role})
        assert r.status_code in (201, 409), r.text
        made[name] = login(api_url, name, f"{name}-password").json()
    return made


def test_health_needs_no_token(api_url):
    assert httpx.get(f"{api_url}/healthz").status_code == 200


@pytest.mark.parametrize("route", ["/v1/me", "/v1/models", "/v1/users"])
def test_no_token_is_401_with_a_way_forward(api_url, route):
    r = httpx.get(f"{api_url}{route}")
    assert r.status_code == 401 and "/v1/auth/login" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"
    assert httpx.post(f"{api_url}/v1/parse", json={"message": "resnet18"}).status_code == 401


def test_wrong_password_and_unknown_user_look_the_same(api_url):
    a = login(api_url, ADMIN["VISIONTRAIN_ADMIN_USER"], "not-the-password")
    b = login(api_url, "nobody-at-all", "whatever-123")
    assert a.status_code == b.status_code == 401 and a.json() == b.json()


def _forged(claims: dict, key: str = "another-key-that-is-long-enough-for-hs256!!", alg: str = "HS256") -> str:
    now = int(time.time())
    return jwt.encode({"sub": ADMIN["VISIONTRAIN_ADMIN_USER"], "role": "admin", "type": "access",
                       "iat": now, "exp": now + 600, **claims}, key if alg != "none" else None, algorithm=alg)


@pytest.mark.parametrize("token, why", [
    (_forged({}), "signed with another key"),
    (_forged({}, alg="none"), "alg=none"),
    (_forged({"exp": int(time.time()) - 10}), "expired (and foreign)"),
    ("not.a.jwt", "garbage"),
])
def test_bad_tokens_are_401(api_url, token, why):
    r = httpx.get(f"{api_url}/v1/me", headers=bearer(token))
    assert r.status_code == 401, why


def test_expired_token_signed_with_the_real_key_is_401(api_url, ray_cluster):
    from serve_app.services.auth import signing_key

    key = signing_key(ray_cluster.home)
    r = httpx.get(f"{api_url}/v1/me", headers=bearer(_forged({"exp": int(time.time()) - 5}, key=key)))
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert httpx.get(f"{api_url}/v1/me", headers=bearer(_forged({"epoch": 0}, key=key))).json()["role"] == "admin"


def test_a_refresh_token_is_not_an_access_token(api_url, users):
    assert httpx.get(f"{api_url}/v1/me", headers=bearer(users["alice"]["refresh_token"])).status_code == 401


def test_refresh_rotates_and_a_reused_refresh_token_signs_the_user_out(api_url):
    tokens = login(api_url, "alice", "alice-password").json()
    second = httpx.post(f"{api_url}/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert second.status_code == 200 and second.json()["refresh_token"] != tokens["refresh_token"]
    assert httpx.get(f"{api_url}/v1/me", headers=bearer(second.json()["access_token"])).json()["username"] == "alice"
    reused = httpx.post(f"{api_url}/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401 and "already used" in reused.json()["detail"]
    later = httpx.post(f"{api_url}/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]})
    assert later.status_code == 401  # the whole family was revoked


def test_roles(api_url, admin_token, users):
    alice, victor = bearer(users["alice"]["access_token"]), bearer(users["victor"]["access_token"])
    assert httpx.get(f"{api_url}/v1/me", headers=victor).json() == {"username": "victor", "role": "viewer"}
    assert httpx.get(f"{api_url}/v1/users", headers=alice).status_code == 403
    r = httpx.post(f"{api_url}/v1/users", headers=alice, json={"username": "made-by-alice", "password": "12345678"})
    assert r.status_code == 403
    names = {u["username"] for u in httpx.get(f"{api_url}/v1/users", headers=bearer(admin_token)).json()}
    assert {"alice", "victor", ADMIN["VISIONTRAIN_ADMIN_USER"]} <= names and "made-by-alice" not in names
    assert all("password_hash" not in u for u in httpx.get(f"{api_url}/v1/users", headers=bearer(admin_token)).json())


@pytest.mark.parametrize("body, status", [
    ({"username": "alice", "password": "another-password"}, 409),
    ({"username": "Bad Name!", "password": "long-enough"}, 422),
    ({"username": "bob", "password": "short"}, 422),
    ({"username": "bob", "password": "long-enough", "role": "root"}, 422),
])
def test_bad_new_users_are_refused(api_url, admin_token, users, body, status):
    r = httpx.post(f"{api_url}/v1/users", headers=bearer(admin_token), json=body)
    assert r.status_code == status, r.text


def test_api_request_metrics_for_admins_and_the_scrape_token(api_url, admin_token, users):
    from conftest import METRICS_TOKEN

    get = functools.partial(httpx.get, timeout=60)  # a slow day's answers, not httpx's 5 s
    assert get(f"{api_url}/metrics").status_code == 401
    assert get(f"{api_url}/metrics", headers=bearer(users["alice"]["access_token"])).status_code == 403
    assert get(f"{api_url}/metrics", headers=bearer("not-the-scrape-token")).status_code == 401
    get(f"{api_url}/v1/models/timm/resnet18", headers=bearer(admin_token)).raise_for_status()
    get(f"{api_url}/v1/models/timm/no-such-model", headers=bearer(admin_token))
    for headers in (bearer(admin_token), bearer(METRICS_TOKEN)):
        r = get(f"{api_url}/metrics", headers=headers)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    route = 'route="/v1/models/{source}/{name:path}"'
    lines = r.text.splitlines()
    assert any(line.startswith("visiontrain_api_requests_total{") and route in line and 'status="200"' in line
               for line in lines)
    assert any(route in line and 'status="404"' in line for line in lines)
    assert any(line.startswith("visiontrain_api_request_seconds_bucket{") and route in line for line in lines)
    unanswered = [float(line.split()[-1]) for line in lines if line.startswith("visiontrain_api_requests_unanswered ")]
    assert unanswered and unanswered[0] >= 1, "the scrape itself is a request not answered yet"


def test_a_login_flood_gets_429_and_others_still_log_in(api_url, users):
    import asyncio

    async def flood():
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*[client.post(f"{api_url}/v1/auth/login", json={
                "username": "alice", "password": f"guess-{i}"}) for i in range(200)])

    answers = asyncio.run(flood())
    refused = [r for r in answers if r.status_code == 429]
    assert {r.status_code for r in answers} == {401, 429} and len(refused) >= 100, [r.status_code for r in answers]
    assert int(refused[0].headers["retry-after"]) >= 1 and "try again in" in refused[0].json()["detail"]
    assert login(api_url, "victor", "victor-password").status_code == 200


def test_logout_and_disabling_revoke_tokens(api_url, admin_token):
    httpx.post(f"{api_url}/v1/users", headers=bearer(admin_token),
               json={"username": "leaver", "password": "leaver-password", "role": "user"})
    one, two = (login(api_url, "leaver", "leaver-password").json() for _ in range(2))
    assert httpx.post(f"{api_url}/v1/auth/logout", headers=bearer(one["access_token"])).status_code == 204
    for tokens in (one, two):
        r = httpx.get(f"{api_url}/v1/me", headers=bearer(tokens["access_token"]))
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
        assert httpx.post(f"{api_url}/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    three = login(api_url, "leaver", "leaver-password").json()
    r = httpx.patch(f"{api_url}/v1/users/leaver", headers=bearer(three["access_token"]), json={"disabled": True})
    assert r.status_code == 403  # only admins
    r = httpx.patch(f"{api_url}/v1/users/leaver", headers=bearer(admin_token), json={"disabled": True})
    assert r.status_code == 200
    assert httpx.get(f"{api_url}/v1/me", headers=bearer(three["access_token"])).status_code == 401
    assert login(api_url, "leaver", "leaver-password").status_code == 401
    assert httpx.patch(f"{api_url}/v1/users/nobody", headers=bearer(admin_token), json={"disabled": True}).status_code == 404
