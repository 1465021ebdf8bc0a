"""Recognise key material by its ASN.1 structure, without decrypting anything.

asn1crypto reads only the outer fields (versions, algorithm identifiers), so
these checks make no key object and need no password.
"""

from __future__ import annotations

from asn1crypto import algos, keys, pem, pkcs12


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


# Ciphers that OpenSSL 3 offers only in its legacy provider, as asn1crypto's
# EncryptionAlgorithm.encryption_cipher names them. 3DES and AES stay in the
# default provider.
LEGACY_CIPHERS = frozenset({"des", "rc2", "rc4", "rc5"})


def encrypted_key_cipher(der: bytes) -> str | None:
    """Return the cipher of an encrypted PKCS#8 key ("aes", "des", "unknown").

    Returns None for data that is no encrypted PKCS#8 key.
    """
    try:
        if not _is_encrypted_pkcs8(der):
            return None
    except (ValueError, TypeError, KeyError):
        return None
    info = keys.EncryptedPrivateKeyInfo.load(der, strict=True)
    return _cipher_name(info["encryption_algorithm"])


def pem_encrypted_key_cipher(data: bytes) -> str | None:
    """Return the cipher of the first encrypted PKCS#8 key in PEM data, or None."""
    try:
        for kind, _, der in pem.unarmor(data, multiple=True):
            if kind == "ENCRYPTED PRIVATE KEY":
                return encrypted_key_cipher(der)
    except (ValueError, TypeError):
        return None
    return None


def pkcs12_legacy_ciphers(data: bytes) -> list[str]:
    """Return the legacy ciphers (LEGACY_CIPHERS) that a PKCS#12 file uses, sorted.

    Both the encrypted parts of the file (usually the certificates) and the
    shrouded key bags count. Returns an empty list for data that asn1crypto
    cannot parse.
    """
    try:
        return sorted(set(_pkcs12_ciphers(data)) & LEGACY_CIPHERS)
    except (ValueError, TypeError, KeyError):
        return []


def _pkcs12_ciphers(data: bytes) -> list[str]:
    ciphers = []
    for content in pkcs12.Pfx.load(data).authenticated_safe:
        kind = content["content_type"].native
        if kind == "encrypted_data":
            info = content["content"]["encrypted_content_info"]
            algorithm = info["content_encryption_algorithm"]
            ciphers.append(_cipher_name(algorithm))
        elif kind == "data":
            for bag in pkcs12.SafeContents.load(content["content"].native):
                if bag["bag_id"].native == "pkcs8_shrouded_key_bag":
                    algorithm = bag["bag_value"]["encryption_algorithm"]
                    ciphers.append(_cipher_name(algorithm))
    return ciphers


def _cipher_name(algorithm: algos.EncryptionAlgorithm) -> str:
    try:
        return str(algorithm.encryption_cipher)
    except (ValueError, KeyError):
        return "unknown"
