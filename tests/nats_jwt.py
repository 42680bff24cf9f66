"""NATS decentralized authentication for tests, without ``nsc``: an operator, accounts and users as nkeys, and the
JWTs that bind them (``{"typ": "JWT", "alg": "ed25519-nkey"}``, claims signed by the issuer's nkey), as the
``nats-jwt`` library writes them.

``Operator.server_settings()`` is the part of a ``nats-server`` config for operator mode with a memory resolver
(the accounts preloaded); ``Account.user(...).creds_file(path)`` writes a credentials file in the format ``nsc``
generates and nats-py (``user_credentials``) reads: the user's JWT and its nkey seed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nkeys

_HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}

_UNLIMITED = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": True, "conn": -1}
_JETSTREAM_UNLIMITED = {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Key:
    def __init__(self, prefix: int) -> None:
        self.pair = nkeys.from_seed(bytearray(nkeys.encode_seed(os.urandom(32), prefix)))

    @property
    def public(self) -> str:
        return self.pair.public_key.decode()

    @property
    def seed(self) -> str:
        return self.pair.seed.decode()


def _jwt(issuer: _Key, subject: str, name: str, nats: dict[str, Any]) -> str:
    claims: dict[str, Any] = {"iat": int(time.time()), "iss": issuer.public, "name": name, "sub": subject, "nats": nats}
    # jti: a hash of the claims, as nats-jwt sets it (the server does not check it, but keeps JWTs distinct).
    claims["jti"] = base64.b32encode(hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest()).decode()
    signing_input = f"{_b64(json.dumps(_HEADER).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(issuer.pair.sign(signing_input.encode()))}"


@dataclass
class User:
    name: str
    jwt: str
    key: _Key

    def creds_file(self, path: Path) -> Path:
        path.write_text(
            f"""-----BEGIN NATS USER JWT-----
{self.jwt}
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.
NKEYs are sensitive and should be treated as secrets.

-----BEGIN USER NKEY SEED-----
{self.key.seed}
------END USER NKEY SEED------

*************************************************************
""",
            encoding="utf-8",
        )
        path.chmod(0o600)
        return path


@dataclass
class Account:
    name: str
    operator: _Key
    jetstream: bool = True
    key: _Key = field(default_factory=lambda: _Key(nkeys.PREFIX_BYTE_ACCOUNT))

    @property
    def jwt(self) -> str:
        limits = dict(_UNLIMITED, leaf=-1, **(_JETSTREAM_UNLIMITED if self.jetstream else {}))
        return _jwt(self.operator, self.key.public, self.name, {"type": "account", "version": 2, "limits": limits})

    def user(self, name: str) -> User:
        key = _Key(nkeys.PREFIX_BYTE_USER)
        nats = {"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1}
        return User(name, _jwt(self.key, key.public, name, nats), key)


class Operator:
    def __init__(self, name: str = "telephony-test") -> None:
        self.name = name
        self.key = _Key(nkeys.PREFIX_BYTE_OPERATOR)
        self.system = Account("SYS", self.key, jetstream=False)
        self.accounts: list[Account] = []

    def account(self, name: str) -> Account:
        account = Account(name, self.key)
        self.accounts.append(account)
        return account

    @property
    def jwt(self) -> str:
        nats = {"type": "operator", "version": 2, "system_account": self.system.key.public}
        return _jwt(self.key, self.key.public, self.name, nats)

    def server_settings(self) -> str:
        preload = "\n".join(f'  {a.key.public}: "{a.jwt}"' for a in [self.system, *self.accounts])
        return f"""operator: "{self.jwt}"
system_account: {self.system.key.public}
resolver: MEMORY
resolver_preload: {{
{preload}
}}
"""
