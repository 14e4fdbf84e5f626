"""Settings, read from ``HARBOUR_*`` environment variables or a settings file.

Example::

    HARBOUR_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test harbour serve

A settings file (dotenv format, same names) is read when ``HARBOUR_SETTINGS_FILE`` names one.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from harbour.core.errors import Invalid

# Secrets that ship in the source tree: accepted only in demo mode.
KNOWN_DEMO_SECRETS = frozenset({"", "demo", "changeme", "secret", "harbour-demo-secret-key"})
DEMO_SECRET_KEY = "harbour-demo-secret-key"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HARBOUR_", extra="ignore")

    database_url: str = Field("sqlite:///./var/harbour.db", description="SQLAlchemy URL of the operational DB")
    lake_root: Path = Field(Path("./var/lake"), description="root folder of the Parquet analytics lake")
    upload_dir: Path = Field(Path("./var/uploads"), description="where uploaded documents are stored")
    secret_key: str | None = Field(None, description="signs session cookies; required outside demo mode")
    demo_mode: bool = Field(False, description="allows the built-in demo secret and shows the demo banner")
    max_upload_bytes: int = Field(20 * 1024 * 1024, description="largest accepted upload, in bytes")
    session_hours: int = Field(12, description="lifetime of a login session or API token, in hours")
    host: str = "127.0.0.1"
    port: int = 8000

    def effective_secret_key(self) -> str:
        """The key used for signing; refuses a missing or default key outside demo mode."""
        key = self.secret_key or ""
        if self.demo_mode:
            return key or DEMO_SECRET_KEY
        if key in KNOWN_DEMO_SECRETS or len(key) < 16:
            raise Invalid(
                "HARBOUR_SECRET_KEY is missing or a default value; set it to a random string of at least "
                "16 characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), "
                "or run with HARBOUR_DEMO_MODE=1 for a demo.",
                field="HARBOUR_SECRET_KEY",
            )
        return key


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and the optional settings file, then apply overrides."""
    settings_file = os.environ.get("HARBOUR_SETTINGS_FILE")
    base = Settings(_env_file=settings_file) if settings_file else Settings()  # type: ignore[call-arg]
    return base.model_copy(update=overrides) if overrides else base


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
