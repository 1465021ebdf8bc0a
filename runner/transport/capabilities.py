"""Check that the libcurl behind pycurl can do what the runner needs.

The runner hands key material to libcurl only as in-memory blobs
(CURLOPT_SSLCERT_BLOB and CURLOPT_SSLKEY_BLOB since libcurl 7.71.0,
CURLOPT_CAINFO_BLOB since 7.77.0), and its error classification reads OpenSSL's
alert texts, so a build on another TLS library is rejected before any call.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import pycurl

from runner.errors import PlatformError

MIN_LIBCURL = (7, 77, 0)
_BLOB_OPTIONS = ("SSLCERT_BLOB", "SSLKEY_BLOB", "CAINFO_BLOB")
# A multi-backend libcurl lists every TLS library and puts the unused ones in
# parentheses: "(OpenSSL/3.0.2) GnuTLS/3.7.3"; the one without them is active.
_ACTIVE_TLS = re.compile(r"(?:^|\s)(OpenSSL|quictls)/(\S+)")


@dataclass(frozen=True)
class Capabilities:
    """Versions of pycurl, libcurl and OpenSSL in use."""

    pycurl_version: str
    libcurl_version: str
    ssl_library: str
    http2: bool


@functools.cache
def check_capabilities() -> Capabilities:
    """Return the linked library versions; raise PlatformError when unusable."""
    info = pycurl.version_info()
    libcurl_version: str = info[1]
    ssl_version: str = info[5] or ""
    features: int = info[4]
    version_number = tuple(int(part) for part in libcurl_version.split(".")[:3])
    reinstall = (
        "reinstall pycurl from its binary wheel (pip install --force-reinstall "
        "pycurl), or build it against a libcurl that uses OpenSSL"
    )
    if version_number < MIN_LIBCURL:
        raise PlatformError(
            f"libcurl {libcurl_version} is too old: in-memory certificates need "
            f"libcurl {'.'.join(map(str, MIN_LIBCURL))} or newer; {reinstall}"
        )
    if not _ACTIVE_TLS.search(ssl_version):
        raise PlatformError(
            f"pycurl's libcurl uses {ssl_version or 'no TLS library'}, but "
            f"mtls-runner needs OpenSSL; {reinstall}"
        )
    missing = [name for name in _BLOB_OPTIONS if not hasattr(pycurl, name)]
    if missing:
        raise PlatformError(
            f"pycurl {pycurl.version} lacks {', '.join(missing)}; upgrade pycurl to "
            "7.45.3 or newer"
        )
    return Capabilities(
        pycurl_version=pycurl.version.split()[0],
        libcurl_version=libcurl_version,
        ssl_library=ssl_version,
        http2=bool(features & pycurl.VERSION_HTTP2),
    )
