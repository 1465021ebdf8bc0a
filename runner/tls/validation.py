"""Check the key material of a configuration offline, as ``validate`` reports it.

Every identity and truststore of the run is read the way ``run`` reads it. Each
problem becomes a Finding located at the YAML node that names the file:

- missing or unreadable files, missing passwords and unreadable password files;
- keys that do not match their certificate, keys that OpenSSL's security level
  2 rejects, and PKCS#12 files with several private keys;
- certificates that are expired, not yet valid or about to expire;
- client certificates without the clientAuth extended key usage;
- chains that miss an intermediate CA or loop, and truststores or truststore
  files without certificates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from runner.config.loader import Config
from runner.errors import Finding
from runner.tls.identity_validation import check_identity
from runner.tls.truststore_validation import check_truststore
from runner.tls.validation_context import CheckContext, Owner, label

DEFAULT_EXPIRY_WARNING_DAYS = 30
# A window of 100 years covers every certificate; datetime overflows far beyond it.
MAX_EXPIRY_WARNING_DAYS = 36500


def check_key_material(
    config: Config,
    *,
    now: dt.datetime | None = None,
    expiry_warning_days: int = DEFAULT_EXPIRY_WARNING_DAYS,
) -> list[Finding]:
    """Check every identity and truststore of ``config``; return the findings."""
    context = CheckContext(
        config,
        now or dt.datetime.now(dt.UTC),
        dt.timedelta(days=expiry_warning_days),
    )
    # Truststores first: their CAs show whether an identity's chain is complete.
    for truststore in config.truststores.values():
        _guarded(context, truststore, check_truststore)
    for identity in config.identities.values():
        _guarded(context, identity, check_identity)
    return context.findings


def _guarded(
    context: CheckContext, owner: Owner, check: Callable[[CheckContext, Any], None]
) -> None:
    """Run one check; turn what cryptography raises for malformed data into a finding.

    The readers already report every failure they expect, so this only catches a
    certificate whose extensions or names cryptography cannot decode.
    """
    try:
        check(context, owner)
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension) as e:
        context.report(
            owner,
            (),
            f"{label(owner)}: cannot check the key material ({type(e).__name__}: "
            f"{e}); get fresh copies of its files",
        )
