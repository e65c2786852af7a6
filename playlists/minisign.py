"""minisign-compatible Ed25519 keys and signatures (the prehashed ``ED`` variant).

Formats (https://jedisct1.github.io/minisign/):

* public key file: ``untrusted comment: ...`` then base64(``Ed`` || key_id[8] || pk[32])
* secret key file (unencrypted, as ``minisign -G -W`` writes): base64(``Ed`` || kdf ``\\0\\0`` ||
  ``B2`` || salt[32] || opslimit[8] || memlimit[8] || key_id[8] || sk[64] || blake2b-256 checksum)
* signature file: untrusted comment, base64(``ED`` || key_id || Ed25519(BLAKE2b-512(file))),
  ``trusted comment: ...``, base64(Ed25519(signature || trusted comment))

Pure: bytes in, bytes or decisions out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from playlists.errors import SignatureError

_UNTRUSTED = "untrusted comment: "
_TRUSTED = "trusted comment: "
MAX_SIGNATURE_FILE_BYTES = 4096


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"{what}: not valid base64") from exc


def _key_line(text: str, what: str) -> str:
    """The one base64 line of a minisign key file (after its optional comment line)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if lines and lines[0].startswith(_UNTRUSTED):
        lines = lines[1:]
    if len(lines) != 1:
        raise SignatureError(f"{what}: expected one base64 line after the comment")
    return lines[0]


def key_id_hex(key_id: bytes) -> str:
    """The key id as minisign prints it (little-endian 64-bit number in upper-case hex)."""
    return f"{int.from_bytes(key_id, 'little'):016X}"


@dataclass(frozen=True)
class PublicKey:
    key_id: bytes
    raw: bytes  # 32 bytes

    @classmethod
    def from_base64(cls, line: str) -> PublicKey:
        blob = _b64decode(line, "public key")
        if len(blob) != 42 or blob[:2] != b"Ed":
            raise SignatureError("public key: not a minisign Ed25519 public key (expected 42 bytes starting 'Ed')")
        return cls(key_id=blob[2:10], raw=blob[10:])

    @classmethod
    def from_text(cls, text: str) -> PublicKey:
        """A ``.pub`` file's text, or the bare base64 key line."""
        return cls.from_base64(_key_line(text, "public key"))

    @property
    def id_hex(self) -> str:
        return key_id_hex(self.key_id)

    def to_base64(self) -> str:
        return base64.b64encode(b"Ed" + self.key_id + self.raw).decode()

    def to_text(self) -> str:
        return f"{_UNTRUSTED}minisign public key {self.id_hex}\n{self.to_base64()}\n"

    def verify_raw(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SecretKey:
    key_id: bytes
    seed: bytes  # 32-byte Ed25519 seed

    @classmethod
    def generate(cls) -> SecretKey:
        priv = Ed25519PrivateKey.generate()
        seed = priv.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(key_id=os.urandom(8), seed=seed)

    @property
    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def public_key(self) -> PublicKey:
        raw = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return PublicKey(key_id=self.key_id, raw=raw)

    def to_text(self) -> str:
        sk64 = self.seed + self.public_key.raw
        checksum = hashlib.blake2b(b"Ed" + self.key_id + sk64, digest_size=32).digest()
        blob = b"Ed" + b"\x00\x00" + b"B2" + bytes(32) + bytes(8) + bytes(8) + self.key_id + sk64 + checksum
        return f"{_UNTRUSTED}minisign secret key (unencrypted)\n{base64.b64encode(blob).decode()}\n"

    @classmethod
    def from_text(cls, text: str) -> SecretKey:
        blob = _b64decode(_key_line(text, "secret key"), "secret key")
        if len(blob) != 158 or blob[:2] != b"Ed" or blob[4:6] != b"B2":
            raise SignatureError("secret key: not a minisign Ed25519 secret key")
        if blob[2:4] != b"\x00\x00":
            raise SignatureError(
                "secret key: it is password-protected; yuanjiao needs an unencrypted key "
                "(minisign -G -W), kept readable only by the headend user"
            )
        key_id, sk64, checksum = blob[54:62], blob[62:126], blob[126:158]
        # minisign 0.11 writes an all-zero checksum for unencrypted keys; the public-half check
        # below still catches a damaged file.
        if checksum != bytes(32) and hashlib.blake2b(b"Ed" + key_id + sk64, digest_size=32).digest() != checksum:
            raise SignatureError("secret key: checksum mismatch (the file is damaged)")
        key = cls(key_id=key_id, seed=sk64[:32])
        if key.public_key.raw != sk64[32:]:
            raise SignatureError("secret key: public half does not match the secret half")
        return key

    def sign(
        self, data: bytes, trusted_comment: str, untrusted_comment: str = "signature from yuanjiao headend"
    ) -> bytes:
        """A ``.minisig`` file's bytes for ``data`` (prehashed ``ED`` variant)."""
        if "\n" in trusted_comment or "\r" in trusted_comment:
            raise SignatureError("trusted comment must be one line")
        digest = hashlib.blake2b(data, digest_size=64).digest()
        priv = self._private
        sig = priv.sign(digest)
        global_sig = priv.sign(sig + trusted_comment.encode("utf-8"))
        text = (
            f"{_UNTRUSTED}{untrusted_comment}\n"
            f"{base64.b64encode(b'ED' + self.key_id + sig).decode()}\n"
            f"{_TRUSTED}{trusted_comment}\n"
            f"{base64.b64encode(global_sig).decode()}\n"
        )
        return text.encode("utf-8")


def verify(
    data: bytes, signature_file: bytes, trusted: list[PublicKey] | tuple[PublicKey, ...], what: str = "file"
) -> str:
    """Check ``signature_file`` over ``data`` against the trusted keys; return the trusted comment.

    Raises SignatureError naming ``what`` and the reason.
    """
    if len(signature_file) > MAX_SIGNATURE_FILE_BYTES:
        raise SignatureError(f"{what}: signature file is larger than {MAX_SIGNATURE_FILE_BYTES} bytes")
    try:
        lines = signature_file.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise SignatureError(f"{what}: signature file is not text") from exc
    if len(lines) < 4 or not lines[0].startswith(_UNTRUSTED) or not lines[2].startswith(_TRUSTED):
        raise SignatureError(f"{what}: not a minisign signature file")
    blob = _b64decode(lines[1], f"{what}: signature")
    if len(blob) != 74:
        raise SignatureError(f"{what}: signature has the wrong length")
    alg, key_id, sig = blob[:2], blob[2:10], blob[10:]
    if alg == b"Ed":
        raise SignatureError(f"{what}: legacy (non-prehashed) signature; sign with the prehashed ED variant")
    if alg != b"ED":
        raise SignatureError(f"{what}: unknown signature algorithm {alg!r}")
    keys = [k for k in trusted if k.key_id == key_id]
    if not keys:
        raise SignatureError(f"{what}: signed by key {key_id_hex(key_id)}, which is not a trusted key")
    trusted_comment = lines[2][len(_TRUSTED) :]
    global_sig = _b64decode(lines[3], f"{what}: comment signature")
    digest = hashlib.blake2b(data, digest_size=64).digest()
    for key in keys:
        if key.verify_raw(sig, digest):
            if not key.verify_raw(global_sig, sig + trusted_comment.encode("utf-8")):
                raise SignatureError(f"{what}: the trusted comment was altered after signing")
            return trusted_comment
    raise SignatureError(f"{what}: signature does not match the content (altered or damaged)")


def signer_key_id(signature_file: bytes) -> str | None:
    """The key id a signature file claims (unverified: only to look for a rotation)."""
    try:
        line = signature_file.decode("utf-8").splitlines()[1]
        blob = base64.b64decode(line.strip(), validate=True)
    except (UnicodeDecodeError, IndexError, binascii.Error, ValueError):
        return None
    return key_id_hex(blob[2:10]) if len(blob) == 74 else None


def parse_trusted_comment(comment: str) -> dict[str, str]:
    """``timestamp:1\\tfile:index.json\\tversion:3`` → ``{"timestamp": "1", ...}``."""
    fields: dict[str, str] = {}
    for part in comment.split("\t"):
        key, sep, value = part.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields
