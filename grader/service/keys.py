"""The tool's key: an RSA key whose private half (a PEM file named in grader.toml) signs the
client assertions of the AGS token requests, and whose public half the platform is given as
a JWKS (`grade serve keys`, or the URL /.well-known/jwks.json).

The key id (`kid`) is the key's RFC 7638 thumbprint: the same key always has the same id,
and a new key a new one, so a platform holding both during a rotation can tell them apart.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


class ToolKeyError(Exception):
    """The tool's key is missing or unreadable: one line naming the file."""


@dataclass(frozen=True)
class ToolKey:
    private: rsa.RSAPrivateKey

    @classmethod
    def load(cls, path: Path) -> ToolKey:
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except OSError as error:
            raise ToolKeyError(f"{path}: cannot read the tool's key: {error.strerror} (make one "
                            f"with `grade serve keys --new {path}`)") from None
        except ValueError as error:
            raise ToolKeyError(f"{path}: not a PEM private key: {error}") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ToolKeyError(f"{path}: the tool's key must be RSA (LTI signs with RS256)")
        return cls(key)

    @cached_property
    def public_jwk(self) -> dict:
        jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        jwk.update(kid=self.kid, alg="RS256", use="sig")
        return jwk

    @cached_property
    def kid(self) -> str:
        jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"),
                               sort_keys=True)
        digest = hashlib.sha256(canonical.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def jwks(self) -> dict:
        return {"keys": [self.public_jwk]}

    def pem(self) -> bytes:
        return self.private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())


def new_key(path: Path) -> ToolKey:
    """A new 2048-bit RSA key written to `path` (mode 600; an existing file is kept)."""
    key = ToolKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.pem())
    return key
