"""Personal data, room by room: ``GET /me/export`` and ``DELETE /me`` go through here.

Each room that keeps personal data registers a provider that can export and erase
it (``Room.privacy``). Erasure runs in reverse registration order, except that the
account itself (section ``account``) always goes last: until it is gone the user can
still sign in and retry a ``DELETE /me`` that failed half-way. Export shows it first.
"""

from __future__ import annotations

from typing import Any, Protocol

ACCOUNT_SECTION = "account"


class PersonalDataProvider(Protocol):
    """One room's share of a person's data."""

    privacy_section: str

    async def export_personal_data(self, user_id: str) -> Any: ...

    async def erase_personal_data(self, user_id: str) -> None: ...


class PrivacyRegistry:
    def __init__(self) -> None:
        self._providers: list[PersonalDataProvider] = []

    def register(self, provider: PersonalDataProvider) -> None:
        if any(p.privacy_section == provider.privacy_section for p in self._providers):
            raise ValueError(f"privacy section {provider.privacy_section!r} registered twice")
        if provider.privacy_section == ACCOUNT_SECTION:
            self._providers.insert(0, provider)
        else:
            self._providers.append(provider)

    @property
    def sections(self) -> list[str]:
        return [p.privacy_section for p in self._providers]

    async def export(self, user_id: str) -> dict[str, Any]:
        return {p.privacy_section: await p.export_personal_data(user_id) for p in self._providers}

    async def erase(self, user_id: str) -> None:
        # Each step is idempotent, so a retried DELETE /me finishes what a failed one began.
        for provider in reversed(self._providers):
            await provider.erase_personal_data(user_id)
