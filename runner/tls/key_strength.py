"""Find keys that OpenSSL rejects at its default security level 2.

At level 2 OpenSSL refuses to present a certificate whose key gives less than 112
bits of security ("ee key too small", or "ca key too small" for a chain
certificate), so such an identity fails on every call. Level 2 is what the
OpenSSL 3 in the pycurl wheels applies (seen with OpenSSL 3.6: a 1024-bit RSA key
and a P-192 key fail, 2048-bit RSA and P-224 keys work).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

# NOTE: OpenSSL 3.6 derives the security of RSA and DSA keys from a formula and
# accepts moduli from 1963 bits up. The check uses 2048, the size that NIST SP
# 800-57 gives for 112 bits. A key of 1963 to 2047 bits is therefore reported
# although OpenSSL would accept it, but no common tool makes such keys.
MIN_RSA_BITS = 2048
# An elliptic curve key gives half its size in bits of security.
MIN_EC_BITS = 224


def weak_key(public_key: CertificatePublicKeyTypes) -> str | None:
    """Describe a key that is too small for OpenSSL's level 2, or return None."""
    if isinstance(public_key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        size = public_key.key_size
        kind = "RSA" if isinstance(public_key, rsa.RSAPublicKey) else "DSA"
        if size < MIN_RSA_BITS:
            return f"a {size}-bit {kind} key, but OpenSSL needs {MIN_RSA_BITS} bits"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = public_key.curve
        if curve.key_size < MIN_EC_BITS:
            return (
                f"a {curve.key_size}-bit EC key ({curve.name}), but OpenSSL needs a "
                f"curve of {MIN_EC_BITS} bits or more"
            )
    return None
