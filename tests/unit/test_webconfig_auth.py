"""The basic-auth verdict cache under a flood of wrong passwords (web-config.yml's basic_auth_users)."""

from __future__ import annotations

import asyncio
import threading

import bcrypt
import pytest

from exporters.core.webconfig import AUTH_CACHE_SIZE, AUTH_MAX_PENDING, WebConfigWatcher

PASSWORD = "real-user-pw"


@pytest.fixture
def watcher(tmp_path):
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users:\n  prometheus: {hashed}\n")
    return WebConfigWatcher(str(path))


def test_a_flood_of_wrong_passwords_never_evicts_the_real_user(watcher, monkeypatch):
    async def run():
        assert await watcher.check_password("prometheus", PASSWORD)
        for i in range(AUTH_CACHE_SIZE + 100):  # was: the whole cache cleared at 1,025 entries
            assert not await watcher.check_password("prometheus", f"wrong-{i}")
        calls = []
        real = bcrypt.checkpw
        monkeypatch.setattr(bcrypt, "checkpw", lambda *a: calls.append(1) or real(*a))
        assert await watcher.check_password("prometheus", PASSWORD)
        assert calls == [], "the real user's password was checked with bcrypt again: evicted by the flood"
        assert not await watcher.check_password("prometheus", "wrong-0")  # the oldest wrong one was evicted
        assert calls == [1]

    asyncio.run(run())


def test_unknown_passwords_beyond_the_pending_bound_are_refused_without_queueing(watcher, monkeypatch):
    release = threading.Event()
    real = bcrypt.checkpw

    def slow(secret, hashed):
        release.wait(10)
        return real(secret, hashed)

    async def run():
        assert await watcher.check_password("prometheus", PASSWORD)  # remembered before the flood
        monkeypatch.setattr(bcrypt, "checkpw", slow)
        waiting = [
            asyncio.ensure_future(watcher.check_password("prometheus", f"flood-{i}")) for i in range(AUTH_MAX_PENDING)
        ]
        while watcher._auth_pending < AUTH_MAX_PENDING:
            await asyncio.sleep(0.01)
        # one more unknown password does not queue behind the flood: refused at once
        assert await asyncio.wait_for(watcher.check_password("prometheus", "one-more"), 1) is False
        # the real user, remembered, gets in at once too
        assert await asyncio.wait_for(watcher.check_password("prometheus", PASSWORD), 1) is True
        release.set()
        assert not any(await asyncio.gather(*waiting))

    asyncio.run(run())
