"""The auth module on its own (a SQLite records file, no server)."""
import pytest

from serve_app.auth import Auth, AuthError, hash_password, verify_password
from serve_app.records import Records


@pytest.fixture
def auth(tmp_path):
    return Auth(Records(f"sqlite:///{tmp_path}/records.db"), "unit-test-key-that-is-long-enough-for-hs256")


def test_password_hashes_are_salted_and_verify():
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b and "correct horse" not in a
    assert verify_password("correct horse", a) and not verify_password("wrong horse", a)
    assert not verify_password("x", "garbage-without-parts")


def test_first_admin_from_the_environment_once(auth, monkeypatch):
    monkeypatch.setenv("VISIONTRAIN_ADMIN_USER", "boss")
    monkeypatch.setenv("VISIONTRAIN_ADMIN_PASSWORD", "boss-password")
    assert auth.ensure_admin() == "boss" and auth.ensure_admin() is None
    assert auth.user(auth.login("boss", "boss-password")["access_token"]) == {"username": "boss", "role": "admin"}


def test_role_changes_apply_to_existing_tokens(auth):
    auth.create_user("carol", "carol-password", "admin")
    token = auth.login("carol", "carol-password")["access_token"]
    assert auth.user(token)["role"] == "admin"
    with auth.records.engine.begin() as conn:
        from sqlalchemy import update

        from serve_app.records import users
        conn.execute(update(users).where(users.c.username == "carol").values(role="viewer"))
    assert auth.user(token)["role"] == "admin"  # checked a moment ago: trusted for CACHE_S seconds
    auth._checked.clear()
    assert auth.user(token)["role"] == "viewer"


def test_refresh_token_is_single_use(auth):
    auth.create_user("dan", "dan-password")
    first = auth.login("dan", "dan-password")
    auth.refresh(first["refresh_token"])
    with pytest.raises(AuthError, match="already used"):
        auth.refresh(first["refresh_token"])
