"""Process configuration from the environment (and a ``.env`` file) (names in the README's configuration table)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    #: signs the requests of the ``[events]`` webhook (bot/events.py); required when the policy file names one
    jitbot_webhook_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    #: a read-only PagerDuty REST API key: ``pagerduty:<schedule id>`` entries are read with it (bot/pagerduty.py)
    pagerduty_token: SecretStr | None = None
    #: PagerDuty's REST API (a stand-in's address in tests and the demo)
    pagerduty_api_url: str = "https://api.pagerduty.com"
    #: how long an answer about who is on call is reused (at most a minute; 0: every decision asks PagerDuty)
    pagerduty_cache_seconds: float = Field(default=60.0, ge=0, le=60)
    #: an Opsgenie API integration's key with only the Read right: ``opsgenie:<schedule>`` entries are read with it
    #: (bot/opsgenie.py)
    opsgenie_api_key: SecretStr | None = None
    #: Opsgenie's REST API: ``https://api.eu.opsgenie.com`` for an EU account (a stand-in's address in tests)
    opsgenie_api_url: str = "https://api.opsgenie.com"
    #: how long an answer about who is on call is reused (at most a minute; 0: every decision asks Opsgenie)
    opsgenie_cache_seconds: float = Field(default=60.0, ge=0, le=60)
    #: where Slack's response_url hooks live when not at ``https://hooks.slack.com`` nor ``hooks.<SLACK_API_URL's
    #: host>``: only for a Slack stand-in (the benchmarks' answer receiver); answers go to no other address
    slack_hooks_url: str | None = None
    database_url: str = "sqlite:///jitbot.db"
    jit_policies: str = "policies.toml"
    host: str = "0.0.0.0"  # noqa: S104 - a server in a container listens on every interface
    port: int = Field(default=3000, ge=0, le=65535)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    aws_region: str | None = None
    aws_endpoint_url: str | None = None
    #: seconds between sweeps that catch anything overdue (the bound on lateness after a crash)
    sweep_seconds: float = Field(default=5.0, gt=0, le=300)
    #: seconds between leader-election checks on PostgreSQL (takeover happens within about this long)
    leader_seconds: float = Field(default=5.0, gt=0, le=60)
    #: first wait before retrying an AWS step (grant, revocation) that AWS did not confirm; doubles each time
    retry_backoff_seconds: float = Field(default=2.0, gt=0, le=300)
    #: seconds between checks of the policy file for changes (a changed file that loads replaces the policies
    #: in force); 0 disables the checks (SIGHUP still reloads)
    policy_poll_seconds: float = Field(default=5.0, ge=0, le=3600)
    #: worker threads of the HTTP server
    http_threads: int = Field(default=16, ge=1, le=256)

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token", "jitbot_webhook_secret",
                     "pagerduty_token", "opsgenie_api_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """An empty or blank secret is no secret: treated as unset (``jitbot serve`` then refuses to start),
        never used (an empty signing secret would accept signatures anyone can compute)."""
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return None if isinstance(value, str) and not value.strip() else value

    def secret(self, name: Literal["slack_bot_token", "slack_signing_secret", "slack_app_token",
                                   "jitbot_webhook_secret", "pagerduty_token", "opsgenie_api_key"]) -> str | None:
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None
