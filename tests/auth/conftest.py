"""Fixtures for the auth tests: apps built from changed settings, and RSA key pairs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from infotrack.app import create_app
from infotrack.db import Sources
from tests.conftest import make_settings

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_with(
    db_urls: dict[str, str], tmp_path: Path, sources: Sources
) -> Iterator[ClientFactory]:
    """Build the real app (lifespan running) from the test settings plus overrides.

    ``peer`` sets the client address the app sees (TestClient's default is "testclient").
    The schema is already initialised by ``sources``.
    """
    with ExitStack() as stack:

        def build(peer: tuple[str, int] | None = None, **overrides: Any) -> TestClient:
            settings = make_settings(db_urls, tmp_path, **overrides)
            extra: dict[str, Any] = {"client": peer} if peer else {}
            return stack.enter_context(TestClient(create_app(settings), **extra))

        yield build


@pytest.fixture(scope="session")
def rsa_keys() -> tuple[bytes, bytes, bytes]:
    """(private PEM, public PEM, another private PEM), 2048-bit."""
    pems: list[bytes] = []
    for _ in range(2):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pems.append(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        if len(pems) == 1:
            pems.append(
                key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
    return pems[0], pems[1], pems[2]
