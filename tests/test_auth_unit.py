"""The auth module on its own (a SQLite records file, no server)."""
import pytest

from serve_app.services.auth import Auth, AuthError, hash_password, verify_password
from serve_app.services.records import Records


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

        from serve_app.services.records import users
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


def test_passwords_are_argon2id_and_older_hashes_are_redone_at_login(auth):
    import base64
    import hashlib
    import os

    assert hash_password("x" * 8).startswith("$argon2id$")
    salt = os.urandom(16)  # a hash made by an earlier version (scrypt)
    old = "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(
        hashlib.scrypt(b"dave-password", salt=salt, dklen=32, n=2 ** 14, r=8, p=1)).decode()
    auth.records.add_user("dave", old, "user")
    assert auth.user(auth.login("dave", "dave-password")["access_token"])["username"] == "dave"
    assert auth.records.get_user("dave")["password_hash"].startswith("$argon2id$")
    assert auth.login("dave", "dave-password")


def test_unknown_users_cost_a_password_check(auth, monkeypatch):
    import serve_app.services.auth as mod

    checked = []
    real = mod.verify_password
    monkeypatch.setattr(mod, "verify_password", lambda p, h: checked.append(h) or real(p, h))
    auth.create_user("erin", "erin-password")
    for name in ("erin", "nobody"):
        with pytest.raises(AuthError, match="wrong username or password"):
            auth.login(name, "wrong-password")
    assert len(checked) == 2 and all(h.startswith("$argon2id$") for h in checked)


def test_logins_are_limited_per_name_and_failures_per_address(auth, monkeypatch):
    from serve_app.services.auth import TooManyAttempts

    monkeypatch.setenv("VISIONTRAIN_LOGINS_PER_MINUTE", "3")
    monkeypatch.setenv("VISIONTRAIN_LOGIN_FAILURES_PER_MINUTE", "4")
    auth.create_user("fay", "fay-password")
    for _ in range(3):
        auth.login("fay", "fay-password", "10.0.0.1")
    with pytest.raises(TooManyAttempts, match="try again in") as refused:
        auth.login("fay", "fay-password", "10.0.0.2")
    assert 1 <= refused.value.retry_after_s <= 60
    for name in ("g1", "g2", "g3", "g4"):  # four wrong guesses from one address, each at another name
        with pytest.raises(AuthError, match="wrong"):
            auth.login(name, "guess-guess", "10.0.0.9")
    with pytest.raises(TooManyAttempts):
        auth.login("g5", "guess-guess", "10.0.0.9")
    auth.create_user("hal", "hal-password")
    assert auth.login("hal", "hal-password", "10.0.0.3")  # other addresses are not held up


def test_logout_password_change_and_disabling_revoke_every_token(auth):
    auth.create_user("ivy", "ivy-password")
    first, second = auth.login("ivy", "ivy-password"), auth.login("ivy", "ivy-password")
    auth.logout("ivy")
    for tokens in (first, second):
        with pytest.raises(AuthError, match="revoked"):
            auth.user(tokens["access_token"])
        with pytest.raises(AuthError):
            auth.refresh(tokens["refresh_token"])
    third = auth.login("ivy", "ivy-password")
    with pytest.raises(AuthError, match="current password is wrong"):
        auth.change_password("ivy", "not-it", "ivy-new-password")
    fresh = auth.change_password("ivy", "ivy-password", "ivy-new-password")
    with pytest.raises(AuthError, match="revoked"):
        auth.user(third["access_token"])
    assert auth.user(fresh["access_token"])["username"] == "ivy"
    auth.set_disabled("ivy")
    with pytest.raises(AuthError, match="disabled"):
        auth.user(fresh["access_token"])
    with pytest.raises(AuthError, match="disabled"):
        auth.login("ivy", "ivy-new-password")
    auth.set_disabled("ivy", False)
    assert auth.login("ivy", "ivy-new-password")


def test_the_request_rate_is_shared_by_the_replicas():
    from serve_app.services.limits import RateLimiter

    one, three = RateLimiter(per_minute=60, burst=30), RateLimiter(per_minute=60, burst=30, replicas=3)
    assert sum(one.wait_s("amy") == 0 for _ in range(40)) == 30
    assert sum(three.wait_s("amy") == 0 for _ in range(40)) == 10  # each of three replicas: a third
    assert 2.5 < three.wait_s("amy") <= 3.0  # a third of 1 request/s


def test_a_lock_in_the_database_is_held_by_one_process_at_a_time(tmp_path):
    import threading
    import time

    records = [Records(f"sqlite:///{tmp_path}/records.db") for _ in range(2)]  # two replicas
    inside, most = [0], [0]

    def work(r):
        for _ in range(5):
            with r.held("submit:amy"):
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                time.sleep(0.01)
                inside[0] -= 1

    threads = [threading.Thread(target=work, args=(r,)) for r in records for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1
    with records[0].held("submit:bob", ttl_s=0.2):
        with pytest.raises(TimeoutError):
            with records[1].held("submit:bob", wait_s=0.05):
                pass
        time.sleep(0.3)  # a holder that died lets go once its time is up
        with records[1].held("submit:bob", wait_s=1):
            pass
