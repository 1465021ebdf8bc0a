"""KeyMaterial notices identity and truststore files that change on disk."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from runner.config.loader import load_config
from runner.execution.plan import KeyMaterial, plan_job
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
    assert material.reload_changed(job) == ["identity 'client'"]
    assert material.identity("client").info.subject == "CN=client-rsa,O=mtls-runner"


def test_identity_edited_in_place_is_reloaded(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    material, identity, _ = setup(pki, tmp_path, write_job)
    job = material.config.jobs["first"].model
    material.identity("client")
    identity.write_bytes(pki.client_rsa.key_pem() + pki.client_rsa.certificate_pem())
    assert material.reload_changed(job) == ["identity 'client'"]


def test_replaced_truststore_is_reloaded(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    material, _, trust = setup(pki, tmp_path, write_job)
    job = material.config.jobs["first"].model
    material.truststore("ca")
    replace(trust, pki.other_ca.certificate_pem())
    assert material.reload_changed(job) == ["truststore 'ca'"]


def test_deleted_identity_becomes_job_error(
    pki: Pki, tmp_path: Path, write_job: Callable[..., Path]
) -> None:
    material, identity, _ = setup(pki, tmp_path, write_job)
    defined = material.config.jobs["first"]
    plan_job(defined, material, {})
    identity.unlink()
    material.reload_changed(defined.model)
    calls = plan_job(defined, material, {})
    assert calls[0].error is not None
    assert calls[0].error.kind == "identity_invalid"


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
