"""A chain blob whose first certificate is not the leaf, against a real server.

OpenSSL pairs the private key with the first certificate of CURLOPT_SSLCERT_BLOB
and fails with "unable to set private key", which hides the real mistake. The
identity loader always puts the leaf first, so the broken blob is built here by
hand and sent through the normal transport.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runner.demo.server import MtlsServer
from runner.errors import ErrorKind
from runner.tls.identity import LoadedIdentity
from runner.transport.classify import CallContext, classify
from runner.transport.executor import Executor
from runner.transport.request import Request, Response, TlsSettings
from tests.conftest import CliResult, Pki
from tests.integration.calls import one_call_job, run_one


def _identity(pki: Pki, chain_pem: bytes) -> LoadedIdentity:
    issued = pki.client_via_intermediate
    return LoadedIdentity(
        name="reversed",
        leaf=issued.certificate,
        chain=(pki.intermediate.certificate,),
        key_pem=issued.key_pem(),
        chain_pem=chain_pem,
        sources=(pki.path("client-via-intermediate-cert.pem"),),
    )


def _call(url: str, pki: Pki, identity: LoadedIdentity) -> Response:
    tls = TlsSettings(
        ca_pem=pki.ca.certificate_pem(),
        cert_pem=identity.chain_pem,
        key_pem=identity.key_pem,
        pool_key="reversed",
    )
    responses: list[Response] = []
    executor = Executor()
    try:
        executor.submit(
            Request(url=url, tls=tls, timeout=5),
            lambda _, response: responses.append(response),
        )
        executor.run_until_idle()
    finally:
        executor.close()
    return responses[0]


def _context(url: str, identity: LoadedIdentity) -> CallContext:
    return CallContext(
        url=url, host="localhost", identity=identity, truststore="t", timeout=5
    )


def test_intermediate_first_is_identity_invalid(
    pki: Pki, mtls_server: Callable[..., MtlsServer]
) -> None:
    url = mtls_server().url("/health")
    reversed_pem = (
        pki.intermediate.certificate_pem()
        + pki.client_via_intermediate.certificate_pem()
    )
    identity = _identity(pki, reversed_pem)
    response = _call(url, pki, identity)
    failure = classify(response, _context(url, identity))
    assert failure is not None
    assert failure.kind == ErrorKind.IDENTITY_INVALID
    assert "unable to set private key" in failure.message
    assert "starts with CN=test intermediate CA" in failure.message
    assert "first" in failure.hint
    assert "'chain:'" in failure.hint


def test_leaf_first_blob_succeeds(
    pki: Pki, mtls_server: Callable[..., MtlsServer]
) -> None:
    url = mtls_server().url("/health")
    ordered_pem = (
        pki.client_via_intermediate.certificate_pem()
        + pki.intermediate.certificate_pem()
    )
    identity = _identity(pki, ordered_pem)
    response = _call(url, pki, identity)
    assert classify(response, _context(url, identity)) is None
    assert response.status == 200


def test_loader_puts_leaf_first(
    pki: Pki,
    mtls_server: Callable[..., MtlsServer],
    run_cli: Callable[..., CliResult],
    write_job: Callable[..., Path],
) -> None:
    # The same wrong order in a file on disk works, because the loader sorts it.
    pki.write(
        "reversed-chain-cert.pem",
        pki.intermediate.certificate_pem()
        + pki.client_via_intermediate.certificate_pem(),
    )
    pki.write("reversed-chain-key.pem", pki.client_via_intermediate.key_pem())
    url = mtls_server().url("/health")
    _, record = run_one(
        run_cli, write_job, one_call_job(pki, url, identity="reversed-chain")
    )
    assert record["error"] is None
    assert record["status"] == 200
