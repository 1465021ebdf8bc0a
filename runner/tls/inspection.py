"""Recognise key material by its ASN.1 structure, without decrypting anything.

asn1crypto reads only the outer fields (versions, algorithm identifiers), so
these checks make no key object and need no password.
"""

from __future__ import annotations

from asn1crypto import keys


def is_der_private_key(data: bytes) -> bool:
    """Return whether DER data is a private key: PKCS#8, PKCS#1 RSA or SEC1 EC."""
    for check in (_is_encrypted_pkcs8, _is_pkcs8, _is_pkcs1, _is_sec1):
        try:
            if check(data):
                return True
        except (ValueError, TypeError, KeyError):
            continue
    return False


def _is_encrypted_pkcs8(data: bytes) -> bool:
    info = keys.EncryptedPrivateKeyInfo.load(data, strict=True)
    # Reading a field checks its tag: a public key's BIT STRING fails here.
    info["encrypted_data"]
    return bool(info["encryption_algorithm"]["algorithm"].dotted)


def _is_pkcs8(data: bytes) -> bool:
    info = keys.PrivateKeyInfo.load(data, strict=True)
    algorithm = info["private_key_algorithm"]["algorithm"].dotted
    return info["version"].native in (0, 1) and bool(algorithm)


def _is_pkcs1(data: bytes) -> bool:
    key = keys.RSAPrivateKey.load(data, strict=True)
    return key["version"].native in ("two-prime", "multi")


def _is_sec1(data: bytes) -> bool:
    key = keys.ECPrivateKey.load(data, strict=True)
    return bool(key["version"].native == "ecPrivkeyVer1")
