"""Read certificates and private keys from PEM, DER, PKCS#7 and PKCS#12 files.

Every accepted format ends up as ``cryptography`` objects; nothing here writes a
file or keeps a password. Errors are raised as the class the caller passes in
(IdentityError or TruststoreError), with the file name and the fix in the hint.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    load_der_private_key,
    load_pem_private_key,
    load_ssh_private_key,
    pkcs7,
    pkcs12,
)

from runner.errors import JobError
from runner.tls.inspection import is_der_private_key

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
    | dsa.DSAPrivateKey
)
SIGNING_KEY_TYPES = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
    dsa.DSAPrivateKey,
)

MAX_MATERIAL_BYTES = 16 * 1024 * 1024
JCEKS_MAGIC = b"\xce\xce\xce\xce"
JKS_MAGIC = (b"\xfe\xed\xfe\xed", JCEKS_MAGIC)

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\n(.*?)-----END \1-----", re.DOTALL
)
_CERTIFICATE_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_KEY_LABELS = {
    b"PRIVATE KEY",
    b"ENCRYPTED PRIVATE KEY",
    b"RSA PRIVATE KEY",
    b"EC PRIVATE KEY",
    b"DSA PRIVATE KEY",
}
_ALL_KEY_LABELS = _KEY_LABELS | {b"OPENSSH PRIVATE KEY"}
_IGNORED_LABELS = {b"EC PARAMETERS", b"DH PARAMETERS", b"X509 CRL"}


@dataclass
class Material:
    """Certificates and private keys found in one or more files."""

    certificates: list[x509.Certificate] = field(default_factory=list)
    keys: list[PrivateKey] = field(default_factory=list)
    encrypted: bool = False
    locked: int = 0  # encrypted keys skipped because no password was available
    skipped_keys: int = 0  # keys passed over unread by a certificates-only reader

    def extend(self, other: Material) -> None:
        self.certificates.extend(other.certificates)
        self.keys.extend(other.keys)
        self.encrypted = self.encrypted or other.encrypted
        self.locked += other.locked
        self.skipped_keys += other.skipped_keys


class MaterialReader:
    """Parse key material files, raising ``error_class`` with the file named."""

    def __init__(
        self,
        error_class: type[JobError],
        owner: str,
        *,
        skip_locked: bool = False,
        certificates_only: bool = False,
    ) -> None:
        self.error_class = error_class
        self.owner = owner
        # Count encrypted keys met without a password in Material.locked instead
        # of raising: validate runs where the configured password is unavailable.
        self.skip_locked = skip_locked
        # Truststores need certificates only. Their private keys are passed over
        # without being parsed or decrypted, and the files that contained one are
        # listed in key_files, so that validate can warn about each.
        self.certificates_only = certificates_only
        self.key_files: list[Path] = []

    def fail(self, path: Path, problem: str, hint: str) -> JobError:
        return self.error_class(f"{self.owner}: {path}: {problem}", hint)

    def read_bytes(self, path: Path) -> bytes:
        """Read a key material file, with a clear error for every way that fails."""
        try:
            if path.is_dir():
                raise self.fail(path, "is a folder, not a file", "name the file itself")
            if path.exists() and not path.is_file():
                # A device or pipe such as /dev/zero could be read forever.
                raise self.fail(path, "is not a regular file", "name the file itself")
            with path.open("rb") as stream:
                data = stream.read(MAX_MATERIAL_BYTES + 1)
            if len(data) > MAX_MATERIAL_BYTES:
                raise self.fail(
                    path,
                    f"is larger than {MAX_MATERIAL_BYTES} bytes, too large for key "
                    "material",
                    "check that the path names a certificate or key file",
                )
        except FileNotFoundError:
            raise self.fail(
                path,
                "file not found",
                "check the path; relative paths start at the job file's folder",
            ) from None
        except PermissionError:
            raise self.fail(
                path,
                "permission denied",
                "let the user that runs mtls-runner read the file",
            ) from None
        except OSError as e:
            raise self.fail(path, f"cannot read: {e.strerror}", "check the file") from e
        except ValueError:  # such as a NUL character in the name
            raise self.fail(path, "invalid path", "fix the path") from None
        if not data.strip():
            raise self.fail(path, "file is empty", "check that the file was copied")
        if data.startswith(JKS_MAGIC):
            store_type = java_store_type(data)
            raise self.fail(
                path, f"is a Java KeyStore ({store_type})", jks_hint(path, store_type)
            )
        return data

    def parse(self, path: Path, data: bytes, password: str | None) -> Material:
        """Parse every certificate and key in one file of any supported format."""
        text = _normalize(data)
        if b"-----BEGIN " in text:
            material = self._parse_pem(path, text, password)
        elif self.certificates_only:
            material = self._parse_der_certificates(path, data)
        else:
            material = self._parse_der(path, data, password)
        if material.skipped_keys:
            self.key_files.append(path)
        return material

    def _parse_pem(self, path: Path, text: bytes, password: str | None) -> Material:
        material = Material()
        for match in _PEM_BLOCK.finditer(text):
            label = match.group(1)
            if label in _CERTIFICATE_LABELS:
                der = self._decode_base64(path, match.group(2), label)
                material.certificates.append(self._load_der_certificate(path, der))
            elif self.certificates_only and label in _ALL_KEY_LABELS:
                material.skipped_keys += 1
            elif label in _KEY_LABELS:
                encrypted = _is_encrypted_pem(label, match.group(2))
                material.encrypted |= encrypted
                if encrypted and password is None and self.skip_locked:
                    material.locked += 1
                    continue
                material.keys.append(self._load_pem_key(path, match.group(0), password))
            elif label == b"OPENSSH PRIVATE KEY":
                material.keys.append(self._load_ssh_key(path, match.group(0), password))
            elif label == b"PKCS7":
                der = self._decode_base64(path, match.group(2), label)
                material.certificates.extend(self._load_pkcs7(path, der))
            elif label in (b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"):
                raise self.fail(
                    path,
                    "holds a certificate signing request (CSR), not a certificate",
                    "send the CSR to your CA and use the certificate it returns",
                )
            elif label in (b"PUBLIC KEY", b"RSA PUBLIC KEY"):
                raise self.fail(
                    path,
                    "holds a public key, but a private key is needed",
                    "use the private key that the certificate request was made with",
                )
            elif label not in _IGNORED_LABELS:
                raise self.fail(
                    path,
                    f"unsupported PEM block '{label.decode()}'",
                    "give certificates and private keys in PEM or DER form",
                )
        found = material.keys or material.locked or material.skipped_keys
        if not material.certificates and not found:
            raise self.fail(
                path,
                "no complete PEM block found",
                "check that every '-----BEGIN' line has its '-----END' line",
            )
        return material

    def _parse_der(self, path: Path, data: bytes, password: str | None) -> Material:
        try:
            return Material(certificates=[x509.load_der_x509_certificate(data)])
        except ValueError:
            pass
        key = self._try_der_key(path, data, password)
        if key is not None:
            return key
        try:
            return Material(certificates=pkcs7.load_der_pkcs7_certificates(data))
        except ValueError:
            pass
        if _looks_like_pkcs12(data):
            raise self.fail(
                path,
                "is a PKCS#12 file",
                "name it with 'pkcs12:' instead of 'certificate:' or 'key:'",
            )
        raise self.fail(
            path,
            "not a recognised certificate or key (tried PEM, DER certificate, DER "
            "PKCS#8/PKCS#1/SEC1 key and PKCS#7)",
            "convert it with 'openssl x509' or 'openssl pkey' to PEM",
        )

    def _parse_der_certificates(self, path: Path, data: bytes) -> Material:
        """Read a DER certificate or PKCS#7 bundle; pass over a DER private key."""
        try:
            return Material(certificates=[x509.load_der_x509_certificate(data)])
        except ValueError:
            pass
        try:
            return Material(certificates=pkcs7.load_der_pkcs7_certificates(data))
        except ValueError:
            pass
        if is_der_private_key(data):
            return Material(skipped_keys=1)
        raise self.fail(
            path,
            "not a recognised certificate (tried PEM, DER certificate and PKCS#7)",
            "convert it with 'openssl x509' to PEM",
        )

    def _try_der_key(
        self, path: Path, data: bytes, password: str | None
    ) -> Material | None:
        """Read a DER key, or return None when the data is no DER key at all."""
        try:
            key = load_der_private_key(data, password=None)
            return Material(keys=[self.check_key(path, key)])
        except TypeError:
            pass  # an encrypted PKCS#8 key: decrypt it below
        except (ValueError, UnsupportedAlgorithm):
            return None
        if password is None and self.skip_locked:
            return Material(encrypted=True, locked=1)
        secret = self._key_password(path, password)
        try:
            key = load_der_private_key(data, password=secret)
        except (ValueError, TypeError):
            raise self._wrong_password(path) from None
        return Material(keys=[self.check_key(path, key)], encrypted=True)

    def _load_pem_key(
        self, path: Path, block: bytes, password: str | None
    ) -> PrivateKey:
        try:
            key = load_pem_private_key(block, password=None)
        except TypeError:
            secret = self._key_password(path, password)
            try:
                key = load_pem_private_key(block, password=secret)
            except (ValueError, TypeError):
                raise self._wrong_password(path) from None
        except (ValueError, UnsupportedAlgorithm) as e:
            raise self.fail(
                path,
                f"cannot read the private key ({_short(e)})",
                "check that the file is complete; 'openssl pkey -in FILE -noout' "
                "shows whether OpenSSL can read it",
            ) from None
        return self.check_key(path, key)

    def _load_ssh_key(
        self, path: Path, block: bytes, password: str | None
    ) -> PrivateKey:
        # A password given for an unencrypted key is ignored, as for PEM keys.
        try:
            key = load_ssh_private_key(block, password=None)
        except TypeError:
            secret = self._key_password(path, password)
            try:
                key = load_ssh_private_key(block, password=secret)
            except (ValueError, TypeError):
                raise self._wrong_password(path) from None
        except (ValueError, UnsupportedAlgorithm) as e:
            raise self.fail(
                path,
                f"cannot read the OpenSSH private key ({_short(e)})",
                "check that the file is complete, or convert it to PKCS#8 with "
                "'ssh-keygen -p -m PKCS8 -f FILE'",
            ) from None
        return self.check_key(path, key)

    def check_key(self, path: Path, key: object) -> PrivateKey:
        if not isinstance(key, SIGNING_KEY_TYPES):
            raise self.fail(
                path,
                f"holds a {type(key).__name__}, which cannot sign a TLS handshake",
                "use an RSA, EC, Ed25519 or Ed448 private key",
            )
        return key

    def _load_der_certificate(self, path: Path, der: bytes) -> x509.Certificate:
        try:
            return x509.load_der_x509_certificate(_first_der_element(der))
        except ValueError as e:
            raise self.fail(
                path,
                f"holds a damaged certificate ({_short(e)})",
                "get a fresh copy of the certificate",
            ) from None

    def _load_pkcs7(self, path: Path, der: bytes) -> list[x509.Certificate]:
        try:
            return pkcs7.load_der_pkcs7_certificates(der)
        except ValueError as e:
            raise self.fail(
                path, f"holds a damaged PKCS#7 bundle ({_short(e)})", "get a fresh copy"
            ) from None

    def _decode_base64(self, path: Path, body: bytes, label: bytes) -> bytes:
        lines = [line for line in body.split(b"\n") if b":" not in line]
        try:
            return base64.b64decode(b"".join(lines), validate=False)
        except binascii.Error:
            raise self.fail(
                path,
                f"damaged base64 in a '{label.decode()}' block",
                "get a fresh copy of the file",
            ) from None

    def _key_password(self, path: Path, password: str | None) -> bytes:
        """Return the password for an encrypted key; raise when it is unset or empty.

        cryptography reads an empty password as no password, so an empty value
        decrypts no key: it is a configuration mistake, such as a variable that
        was exported without a value.
        """
        if password is None:
            raise self._missing_password(path)
        if not password:
            raise self.fail(
                path,
                "the private key is encrypted but the configured password is empty",
                "put the key's password into the variable or file that 'password' "
                "names",
            )
        return password.encode()

    def _missing_password(self, path: Path) -> JobError:
        return self.fail(
            path,
            "the private key is encrypted and no password is configured",
            "add 'password: {env: NAME}' or 'password: {file: PATH}' to the identity",
        )

    def _wrong_password(self, path: Path) -> JobError:
        return self.fail(
            path,
            "cannot decrypt the private key: wrong password",
            "check the password source; the value itself is never shown",
        )

    def parse_pkcs12(
        self, path: Path, data: bytes, password: str | None
    ) -> pkcs12.PKCS12KeyAndCertificates:
        """Open a PKCS#12 file, trying no password and the empty one when none is set.

        Files from older tools (RC2 or 3DES encryption, SHA-1 MACs) open as well.
        """
        candidates = [password.encode()] if password is not None else [None, b""]
        for candidate in candidates:
            try:
                return pkcs12.load_pkcs12(data, candidate)
            except ValueError:
                continue
            except UnsupportedAlgorithm as e:
                raise self.fail(
                    path,
                    f"uses an encryption this build cannot read ({_short(e)})",
                    "re-export it: openssl pkcs12 -in OLD.p12 -legacy -nodes | "
                    "openssl pkcs12 -export -out NEW.p12",
                ) from None
        if not _looks_like_pkcs12(data):
            raise self.fail(
                path,
                "not a PKCS#12 file",
                "name PEM or DER files with 'certificate:' and 'key:' instead",
            )
        if password is None:
            raise self.fail(
                path,
                "the PKCS#12 file is protected and no password is configured",
                "add 'password: {env: NAME}' or 'password: {file: PATH}'",
            )
        if not password:
            raise self.fail(
                path,
                "cannot open the PKCS#12 file: the configured password is empty, and "
                "the file needs one (or is damaged)",
                "put the file's password into the variable or file that 'password' "
                "names",
            )
        raise self.fail(
            path,
            "cannot open the PKCS#12 file: wrong password or damaged file",
            "check the password source; the value itself is never shown",
        )


def java_store_type(data: bytes) -> str:
    """Return keytool's name of a Java KeyStore's type, from its magic number."""
    return "JCEKS" if data.startswith(JCEKS_MAGIC) else "JKS"


def jks_hint(path: Path, store_type: str = "JKS") -> str:
    """Return the keytool command that converts a Java KeyStore to PKCS#12.

    ``store_type`` is JKS or JCEKS; keytool fails with "Invalid keystore format"
    when -srcstoretype names the other one.
    """
    return (
        f"convert it to PKCS#12 with: keytool -importkeystore -srckeystore {path} "
        f"-srcstoretype {store_type} -destkeystore {_unused_p12_path(path)} "
        "-deststoretype PKCS12, then name the new file with 'pkcs12:'"
    )


def _unused_p12_path(path: Path) -> Path:
    """Return a .p12 name beside ``path`` that no file has yet, for keytool's output."""
    candidate = path.with_suffix(".p12")
    number = 1
    while candidate.exists():
        candidate = path.with_name(
            f"{path.stem}-converted{'' if number == 1 else number}.p12"
        )
        number += 1
    return candidate


def _normalize(data: bytes) -> bytes:
    """Remove byte-order marks and editor line ends so PEM parsing sees plain LF."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            data = data.decode("utf-16").encode("ascii", "replace")
        except UnicodeDecodeError:
            return data
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _is_encrypted_pem(label: bytes, body: bytes) -> bool:
    return label == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in body


def _first_der_element(der: bytes) -> bytes:
    """Cut the first DER element, dropping the trust data of 'TRUSTED CERTIFICATE'."""
    if len(der) < 2 or der[0] != 0x30:
        return der
    length = der[1]
    if length < 0x80:
        return der[: 2 + length]
    count = length & 0x7F
    if count == 0 or count > 4 or len(der) < 2 + count:
        return der
    body_length = int.from_bytes(der[2 : 2 + count], "big")
    return der[: 2 + count + body_length]


def _looks_like_pkcs12(data: bytes) -> bool:
    """Guess PKCS#12 from its start: a SEQUENCE holding the version INTEGER 3."""
    head = data[:16]
    return head[:1] == b"\x30" and b"\x02\x01\x03" in head


def _short(error: Exception) -> str:
    text = str(error).split("\n", 1)[0]
    return text[:160] if text else type(error).__name__
