"""KeyMaterial notices changed identity and truststore files and keeps the last good."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.config.loader import load_config
from runner.errors import IdentityError
from runner.execution.material import KeyMaterial, MaterialReload
from runner.execution.plan import plan_job
from tests.conftest import Pki


def setup(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> tuple[KeyMaterial, Path, Path]:
    identity = tmp_path / "identity.pem"
    identity.write_bytes(pki.client.key_pem() + pki.client.certificate_pem())
    trust = tmp_path / "trust.pem"
    trust.write_bytes(pki.ca.certificate_pem())
    path = write_job(
        f"""
        version: 1
        identities:
          client: {{certificate: {identity}}}
        truststores:
          ca: {{certificates: [{trust}]}}
        jobs:
          first:
            identity: client
            truststore: ca
            endpoints: [{{url: "https://localhost/"}}]
          second:
            identity: client
            truststore: ca
            endpoints: [{{url: "https://localhost/"}}]
        """
    )
    material = KeyMaterial(load_config([str(path)]), check_interval=0)
    return material, identity, trust


def subjects(reloads: list[MaterialReload]) -> list[str]:
    return [reload.subject for reload in reloads]


def replace(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(".new")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def test_unchanged_files_are_kept(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    material, _, _ = setup(pki, tmp_path, write_job)
    job = material.config.jobs["first"].model
    material.identity("client")
    material.truststore("ca")
    assert material.reload_changed(job) == []


def test_replaced_identity_is_reloaded(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    material, identity, _ = setup(pki, tmp_path, write_job)
    job = material.config.jobs["first"].model
    material.identity("client")
    replace(identity, pki.client_rsa.key_pem() + pki.client_rsa.certificate_pem())
    assert subjects(material.reload_changed(job)) == ["identity 'client'"]
    assert material.identity("client").info.subject == "CN=client-rsa,O=mtls-runner"


def test_identity_edited_in_place_is_reloaded(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    material, identity, _ = setup(pki, tmp_path, write_job)
    job = material.config.jobs["first"].model
    material.identity("client")
    identity.write_bytes(pki.client_rsa.key_pem() + pki.client_rsa.certificate_pem())
    assert subjects(material.reload_changed(job)) == ["identity 'client'"]


def test_replaced_truststore_is_reloaded(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    material, _, trust = setup(pki, tmp_path, write_job)
    job = material.config.jobs["first"].model
    material.truststore("ca")
    replace(trust, pki.other_ca.certificate_pem())
    assert subjects(material.reload_changed(job)) == ["truststore 'ca'"]


def test_deleted_identity_keeps_last_good(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    material, identity, _ = setup(pki, tmp_path, write_job)
    defined = material.config.jobs["first"]
    plan_job(defined, material, {})
    identity.unlink()
    (reload,) = material.reload_changed(defined.model)
    calls = plan_job(defined, material, {})
    assert calls[0].error is None
    assert reload.error is not None
    assert reload.error.kind == "identity_invalid"
    assert "file not found" in reload.error.message


def test_reload_by_one_job_outdates_plans_of_another(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    material, identity, _ = setup(pki, tmp_path, write_job)
    first = material.config.jobs["first"].model
    second = material.config.jobs["second"].model
    plan_job(material.config.jobs["second"], material, {})
    planned_under = material.versions(second)
    replace(identity, pki.client_rsa.key_pem() + pki.client_rsa.certificate_pem())
    material.reload_changed(first)
    assert material.versions(second) != planned_under


def test_mismatched_key_keeps_last_good_identity(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    material, certificate, key = split_setup(pki, tmp_path, write_job)
    job = material.config.jobs["first"].model
    before = material.identity("client")
    planned_under = material.versions(job)
    replace(certificate, pki.client_rsa.certificate_pem())
    (reload,) = material.reload_changed(job)
    assert material.identity("client") is before
    assert material.versions(job) == planned_under
    assert reload.subject == "identity 'client'"
    assert reload.files == (str(certificate), str(key))
    assert reload.error is not None
    assert "the private key does not match any certificate" in reload.error.message
    assert reload.kept == (
        f"the previous certificate {before.info.subject} (SHA-256 "
        f"{before.info.sha256}) is still presented"
    )


def test_failure_is_reported_on_every_run(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    now = [0.0]
    material, certificate, _ = split_setup(
        pki, tmp_path, write_job, clock=lambda: now[0], check_interval=10.0
    )
    job = material.config.jobs["first"].model
    material.identity("client")
    replace(certificate, pki.client_rsa.certificate_pem())
    now[0] = 10.0
    first = material.reload_changed(job)
    now[0] = 11.0  # within the check interval: no new load, same report
    second = material.reload_changed(job)
    assert [r.error is not None for r in first] == [True]
    assert second == first


def test_matching_key_completes_rotation(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    material, certificate, key = split_setup(pki, tmp_path, write_job)
    job = material.config.jobs["first"].model
    material.identity("client")
    planned_under = material.versions(job)
    replace(certificate, pki.client_rsa.certificate_pem())
    material.reload_changed(job)
    replace(key, pki.client_rsa.key_pem())
    (reload,) = material.reload_changed(job)
    assert reload.error is None
    assert material.identity("client").info.subject == "CN=client-rsa,O=mtls-runner"
    assert material.versions(job) != planned_under
    assert material.reload_changed(job) == []


def test_broken_truststore_keeps_last_good(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    material, _, trust = setup(pki, tmp_path, write_job)
    job = material.config.jobs["first"].model
    before = material.truststore("ca")
    replace(trust, b"")
    (reload,) = material.reload_changed(job)
    assert material.truststore("ca") is before
    assert reload.subject == "truststore 'ca'"
    assert reload.error is not None
    assert reload.kept == "the previous 1 certificate is still trusted"


def test_identity_that_never_loaded_is_replaced(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    # Without a last good identity, the new files' outcome is used as it is.
    material, certificate, _ = split_setup(
        pki, tmp_path, write_job, certificate=b"not a certificate"
    )
    job = material.config.jobs["first"].model
    defined = material.config.jobs["first"]
    assert plan_job(defined, material, {})[0].error is not None
    replace(certificate, pki.client.certificate_pem())
    (reload,) = material.reload_changed(job)
    assert reload.error is None
    assert plan_job(defined, material, {})[0].error is None


def test_reload_keeps_last_good_of_previous_config(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    material, certificate, _ = split_setup(pki, tmp_path, write_job)
    before = material.identity("client")
    replace(certificate, pki.client_rsa.certificate_pem())
    config = load_config(list(material.config.files))
    reloaded = KeyMaterial(config, check_interval=0, previous=material)
    job = config.jobs["first"].model
    assert reloaded.identity("client") is before
    assert [r.error is not None for r in reloaded.reload_changed(job)] == [True]


def test_reload_without_previous_reports_error(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    # Control: a fresh configuration has no last good identity to keep.
    material, certificate, _ = split_setup(pki, tmp_path, write_job)
    replace(certificate, pki.client_rsa.certificate_pem())
    fresh = KeyMaterial(load_config(list(material.config.files)), check_interval=0)
    with pytest.raises(IdentityError, match="does not match any certificate"):
        fresh.identity("client")


def split_setup(
    pki: Pki,
    tmp_path: Path,
    write_job: Callable[..., Path],
    *,
    certificate: bytes | None = None,
    clock: Callable[[], float] | None = None,
    check_interval: float = 0,
) -> tuple[KeyMaterial, Path, Path]:
    """Write an identity of separate certificate and key files, and load it."""
    certificate_path = tmp_path / "client-cert.pem"
    certificate_path.write_bytes(certificate or pki.client.certificate_pem())
    key_path = tmp_path / "client-key.pem"
    key_path.write_bytes(pki.client.key_pem())
    trust = tmp_path / "trust.pem"
    trust.write_bytes(pki.ca.certificate_pem())
    path = write_job(
        f"""
        version: 1
        identities:
          client: {{certificate: {certificate_path}, key: {key_path}}}
        truststores:
          ca: {{certificates: [{trust}]}}
        jobs:
          first:
            identity: client
            truststore: ca
            endpoints: [{{url: "https://localhost/"}}]
        """
    )
    options = {"clock": clock} if clock else {}
    material = KeyMaterial(
        load_config([str(path)]), check_interval=check_interval, **options
    )
    return material, certificate_path, key_path
