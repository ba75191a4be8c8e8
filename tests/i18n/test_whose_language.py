"""Whose language a message is written in: the policy's ``language``, each person's Slack locale under "auto",
``channel_language`` for channels."""

from __future__ import annotations

import pytest

from core.model import UserInfo
from tests.fakes_core import POLICIES, FakeWorld


def _world(settings: str) -> FakeWorld:
    world = FakeWorld(POLICIES.replace('timezone = "Asia/Tokyo"', f'timezone = "Asia/Tokyo"\n{settings}'))
    world.directory.users["U0JA00001"] = UserInfo("U0JA00001", locale="ja-JP")
    world.directory.users["U0EN00001"] = UserInfo("U0EN00001", locale="en-GB")
    world.directory.users["U0FR00001"] = UserInfo("U0FR00001", locale="fr-FR")
    return world


def test_english_by_default_whatever_the_locale() -> None:
    world = _world("")
    assert world.ctx.tr_for("U0JA00001").language == "en"
    assert world.ctx.tr_channel().language == "en"


def test_a_fixed_language_is_everyones() -> None:
    world = _world('language = "ja"')
    assert world.ctx.tr_for("U0EN00001").language == "ja"
    assert world.ctx.tr_channel().language == "ja"


@pytest.mark.parametrize(("user", "language"), [("U0JA00001", "ja"), ("U0EN00001", "en"), ("U0FR00001", "en")])
def test_auto_follows_each_persons_slack_locale(user: str, language: str) -> None:
    world = _world('language = "auto"')
    assert world.ctx.tr_for(user).language == language
    assert world.ctx.tr_channel().language == "en"  # a channel has many readers


def test_channels_have_their_own_language() -> None:
    assert _world('language = "auto"\nchannel_language = "ja"').ctx.tr_channel().language == "ja"
    assert _world('language = "ja"\nchannel_language = "en"').ctx.tr_channel().language == "en"


def test_a_profile_slack_will_not_give_is_answered_in_english() -> None:
    world = _world('language = "auto"')

    def broken(user_id: str) -> UserInfo:
        raise RuntimeError("users.info timed out")

    world.directory.user = broken  # type: ignore[method-assign]
    assert world.ctx.tr_for("U0JA00001").language == "en"


def test_the_language_settings_are_checked() -> None:
    from core.policy.loader import PolicyError, parse_policies
    with pytest.raises(PolicyError) as err:
        parse_policies(POLICIES.replace('timezone = "Asia/Tokyo"', 'language = "fr"'), "policies.toml")
    assert "language" in str(err.value) and "policies.toml" in str(err.value)
