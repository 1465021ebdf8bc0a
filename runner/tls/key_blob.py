"""Serialise an identity's private key for CURLOPT_SSLKEY_BLOB.

The blob is unencrypted PKCS#8 PEM. An RSA-PSS key (``openssl genpkey -algorithm
rsa-pss``) is a special case: cryptography loads it as a plain RSA key and would
write it with the rsaEncryption algorithm, and OpenSSL then finds that it does
not match its certificate, whose public key is RSASSA-PSS. Its PKCS#8 therefore
takes the algorithm identifier, with any PSS parameters, from the certificate.
The key inside is a PKCS#1 RSAPrivateKey for both algorithms, as 'openssl
asn1parse' shows for keys that 'openssl genpkey' writes.
"""

from __future__ import annotations

from asn1crypto import keys, pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from runner.tls.material import PrivateKey


def key_blob(key: PrivateKey, leaf: x509.Certificate) -> bytes:
    """Return ``key`` as unencrypted PKCS#8 PEM with the algorithm ``leaf`` names."""
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm = _public_key_algorithm(leaf)
        if algorithm["algorithm"].native == "rsassa_pss":
            return _pss_pkcs8(key, algorithm)
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _public_key_algorithm(leaf: x509.Certificate) -> keys.PublicKeyAlgorithm:
    certificate = asn1_x509.Certificate.load(leaf.public_bytes(Encoding.DER))
    algorithm: keys.PublicKeyAlgorithm = certificate["tbs_certificate"][
        "subject_public_key_info"
    ]["algorithm"]
    return algorithm


def _pss_pkcs8(key: rsa.RSAPrivateKey, algorithm: keys.PublicKeyAlgorithm) -> bytes:
    rsa_key = key.private_bytes(
        Encoding.DER, PrivateFormat.TraditionalOpenSSL, NoEncryption()
    )
    info = keys.PrivateKeyInfo(
        {
            "version": 0,
            "private_key_algorithm": keys.PrivateKeyAlgorithm.load(algorithm.dump()),
            "private_key": keys.RSAPrivateKey.load(rsa_key),
        }
    )
    armored: bytes = pem.armor("PRIVATE KEY", info.dump())
    return armored
