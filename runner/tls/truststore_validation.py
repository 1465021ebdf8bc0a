"""Check one truststore offline: its files, its passwords and its CAs' dates."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from runner.config.loader import Defined
from runner.config.models import Truststore
from runner.errors import JobError, TruststoreError
from runner.tls.material import MaterialReader
from runner.tls.truststore import is_folder, read_certificate_file, read_folder
from runner.tls.validation_context import (
    CheckContext,
    check_dates,
    is_self_signed,
    read_password,
)

Located = list[tuple[tuple[str | int, ...], x509.Certificate]]


def check_truststore(context: CheckContext, truststore: Defined[Truststore]) -> None:
    """Report unreadable files, an empty truststore and expired or expiring CAs."""
    owner_text = f"truststore '{truststore.name}'"
    reader = MaterialReader(TruststoreError, owner_text, certificates_only=True)
    located: Located = []
    failed = False
    for index, raw in enumerate(truststore.model.certificates):
        keys: tuple[str | int, ...] = ("certificates", index)
        try:
            certificates = _read_source(reader, truststore, raw)
        except JobError as e:
            context.report_error(truststore, keys, e)
            failed = True
            continue
        finally:
            key_files, reader.key_files = reader.key_files, []
        for path in dict.fromkeys(key_files):
            context.report(
                truststore,
                keys,
                f"{owner_text}: {path} contains a private key, which does not "
                "belong in a truststore; it is skipped without being read. Move "
                "the key out of the truststore's files",
                "warning",
            )
        if not certificates:
            context.report(
                truststore,
                keys,
                f"{owner_text}: folder {truststore.path(raw)} holds no certificate "
                "files (*.pem, *.crt, *.cer, *.der, *.p7b, or OpenSSL hash names "
                "such as 1a2b3c4d.0); add the CA certificates or fix the path",
                "warning",
            )
        located.extend((keys, c) for c in certificates)
    if truststore.model.pkcs12 is not None:
        try:
            bundle = _read_pkcs12(context, truststore, reader, owner_text)
        except JobError as e:
            context.report_error(truststore, ("pkcs12",), e)
            failed = True
        else:
            located.extend((("pkcs12",), c) for c in bundle or [])
            failed = failed or bundle is None
    unique = {c.fingerprint(hashes.SHA256()): (k, c) for k, c in located}
    if not unique and not failed and not truststore.model.system:
        context.report(
            truststore,
            (),
            f"{owner_text} holds no certificate; add the PEM or DER certificate of "
            "the CA that signed the server's certificate",
        )
    for keys, certificate in unique.values():
        check_dates(
            context,
            truststore,
            keys,
            certificate,
            "CA certificate",
            "remove it from the truststore, or replace it with the CA's current "
            "certificate",
            invalid="warning",
        )
        _, stores = context.trusted.setdefault(
            certificate.subject, (is_self_signed(certificate), set())
        )
        stores.add(truststore.name)


def _read_source(
    reader: MaterialReader, truststore: Defined[Truststore], raw: str
) -> list[x509.Certificate]:
    path = truststore.path(raw)
    if is_folder(path):
        return read_folder(reader, path, hashed_only=False)
    return read_certificate_file(reader, path)


def _read_pkcs12(
    context: CheckContext,
    truststore: Defined[Truststore],
    reader: MaterialReader,
    owner_text: str,
) -> list[x509.Certificate] | None:
    """Return the PKCS#12 truststore's certificates; None when it stays locked.

    It stays locked when its password is not available where validate runs.
    """
    assert truststore.model.pkcs12 is not None
    password, available = read_password(
        context, truststore, owner_text, TruststoreError
    )
    path = truststore.path(truststore.model.pkcs12)
    data = reader.read_bytes(path)
    if not available:
        try:
            bundle = reader.parse_pkcs12(path, data, None)
        except JobError:
            return None  # the warning about the unavailable password explains it
    else:
        bundle = reader.parse_pkcs12(path, data, password)
    certificates = [c.certificate for c in bundle.additional_certs]
    if bundle.cert is not None:
        certificates.insert(0, bundle.cert.certificate)
    return certificates
