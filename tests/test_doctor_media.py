"""`vardlinje doctor` on the photo store and STUN/TURN (vardlinje/doctor.py check_media)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from vardlinje.doctor import check_media
from vardlinje.settings import IceServer, MediaSettings, Settings, SoftphoneSettings


def _settings(image_dir: Path, *servers: IceServer) -> Settings:
    return Settings(database_url="sqlite://", media=MediaSettings(image_dir=image_dir),
                    softphone=SoftphoneSettings(ice_servers=list(servers)))


async def test_a_writable_store_passes_and_turn_is_asked_for(tmp_path: Path) -> None:
    """A folder that does not exist yet but can be made passes; without a TURN server callers can use (minted
    from a secret) the video check is a warning (optional), with one it passes."""
    stun = IceServer(urls=["stun:stun.example.se:3478"])
    store, space, ice = await check_media(_settings(tmp_path / "images", stun))
    assert store.ok and str(tmp_path / "images") in store.detail
    assert space.name == "Photo disk space" and space.optional
    assert not ice.ok and ice.optional and "TURN for callers: no" in ice.detail
    # A fixed TURN account is never handed to a caller: still a warning, and it says why.
    fixed = IceServer(urls=["turns:turn.example.se:443"], username="vardlinje", credential=SecretStr("pw"))
    *_, ice = await check_media(_settings(tmp_path / "images", stun, fixed))
    assert not ice.ok and "nurses only" in ice.detail
    minted = IceServer(urls=["turns:turn.example.se:443"], secret=SecretStr("coturn-secret"))
    *_, ice = await check_media(_settings(tmp_path / "images", stun, minted))
    assert ice.ok


async def test_a_file_in_the_way_fails_with_the_fix(tmp_path: Path) -> None:
    """media.image_dir naming a file, or a folder under a file: a failure (not optional) naming the setting."""
    blocker = tmp_path / "images"
    blocker.write_text("not a folder")
    for image_dir in (blocker, blocker / "sub"):
        store, _ice = await check_media(_settings(image_dir))
        assert not store.ok and not store.optional and "media.image_dir" in store.fix
