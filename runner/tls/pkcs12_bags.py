"""Count the private keys of a PKCS#12 file, which cryptography does not expose.

cryptography's load_pkcs12 returns the first private key and drops the others
without a word, so a keystore with two key entries (two keytool aliases) would
present whichever comes first. The bags are read with asn1crypto, without
decrypting anything: OpenSSL, keytool and Windows keep key bags in the
unencrypted part of the file and encrypt each key inside its own bag.
"""

from __future__ import annotations

from pathlib import Path

from asn1crypto import pkcs12

from runner.tls.material import MaterialReader

_KEY_BAGS = {"key_bag", "pkcs8_shrouded_key_bag"}


def key_bag_names(data: bytes) -> list[str | None]:
    """Return the friendly name (keytool's alias) of each private key bag.

    A bag without a friendly name counts as None. Returns an empty list for data
    that asn1crypto cannot parse; the caller has opened it with cryptography.
    """
    # NOTE: key bags inside an encrypted part of the file are not counted; no
    # common tool writes them there.
    try:
        names: list[str | None] = []
        for content in pkcs12.Pfx.load(data).authenticated_safe:
            if content["content_type"].native != "data":
                continue
            bags = pkcs12.SafeContents.load(content["content"].native)
            names.extend(_friendly_name(bag) for bag in bags if _is_key(bag))
        return names
    except (ValueError, TypeError, KeyError):
        return []


def check_one_key(reader: MaterialReader, path: Path, data: bytes) -> None:
    """Raise the reader's error when a PKCS#12 file has more than one private key."""
    names = key_bag_names(data)
    if len(names) < 2:
        return
    aliases = ", ".join(f"'{name}'" for name in names if name is not None)
    alias_note = f" (aliases {aliases})" if aliases else ""
    raise reader.fail(
        path,
        f"{len(names)} private keys found in the PKCS#12 file{alias_note}",
        "keep exactly one key entry, for example: keytool -importkeystore "
        f"-srckeystore {path} -srcstoretype PKCS12 -srcalias ALIAS -destkeystore "
        f"{path.with_suffix('.one.p12')} -deststoretype PKCS12",
    )


def _is_key(bag: pkcs12.SafeBag) -> bool:
    return bool(bag["bag_id"].native in _KEY_BAGS)


def _friendly_name(bag: pkcs12.SafeBag) -> str | None:
    for attribute in bag["bag_attributes"]:
        if attribute["type"].native == "friendly_name":
            values = attribute["values"].native
            return str(values[0]) if values else None
    return None
