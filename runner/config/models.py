"""Pydantic models of job file format version 1.

The models are strict: unknown keys are errors, and no value is coerced from one
type to another (a quoted "10" is not the number 10). Values that need parsing,
such as durations, sizes and schedules, are checked here so that every error in a
file is found before anything runs.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    model_validator,
)

from runner.config.http_syntax import check_header_name, check_header_value, check_url
from runner.config.schedules import SCHEDULE_HELP, parse_schedule
from runner.config.units import (
    DURATION_HELP,
    MAX_DURATION_S,
    MAX_SIZE,
    SIZE_HELP,
    parse_duration,
    parse_size,
)
from runner.errors import ErrorKind

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_STATUS_PATTERN = re.compile(r"[1-5][0-9x][0-9x]")
_METHOD = re.compile(r"[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*")
_VARIABLE = re.compile(r"\$\$\{|\$\{([^}]*)\}?")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _check_schedule(value: str) -> str:
    parse_schedule(value)
    return value


def _check_variables(value: str) -> str:
    """Reject ``${`` references that cannot expand, such as ``${}`` or ``${A``."""
    for match in _VARIABLE.finditer(value):
        if match.group(0) == "$${":
            continue
        name = match.group(1)
        if not match.group(0).endswith("}"):
            raise ValueError(
                f"unclosed variable reference in {value!r}; write ${{NAME}}, "
                "or $${ for a literal ${"
            )
        if not _VARIABLE_NAME.fullmatch(name):
            raise ValueError(
                f"invalid variable name {name!r} in {value!r}; names are letters, "
                "digits and underscores, not starting with a digit"
            )
    return value


def _check_url(value: str) -> str:
    """Check the parts of a URL that contain no variable; run time checks the rest."""
    _check_variables(value)
    try:
        check_url(value, template=True)
    except ValueError as e:
        raise ValueError(f"URL {value!r} {e}") from None
    return value


def _check_header_value(value: str) -> str:
    _check_variables(value)
    try:
        check_header_value(value)
    except ValueError as e:
        raise ValueError(f"header value {e}") from None
    return value


def _check_version(value: object) -> object:
    """Reject true and 1.0, which Python compares equal to the version number 1."""
    if isinstance(value, bool | float):
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        raise ValueError(
            f"unsupported version: found {shown}; this runner reads 'version: 1', "
            "the whole number 1"
        )
    return value


def _check_json_body(value: Any) -> Any:
    """Reject values that JSON cannot represent, and an empty ``json:`` key."""
    if value is None:
        raise ValueError(
            "'json' is empty (null); write the JSON value to send, or remove the "
            "key. To send the JSON literal null, write body: 'null' with a "
            "Content-Type header"
        )
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(
                f"'json' contains {item!r}, which JSON cannot represent; quote it to "
                "send a string, or use a number"
            )
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


def _normalize_method(value: str) -> str:
    if not _METHOD.fullmatch(value):
        raise ValueError(f"invalid HTTP method {value!r}")
    return value.upper()


def _normalize_http_version(value: object) -> object:
    """Accept the unquoted numbers 2 and 1.1 that people write for versions."""
    if isinstance(value, bool):
        return value
    if value in (2, 2.0):
        return "2"
    if value == 1.1:
        return "1.1"
    return value


def _check_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an IP address; resolve maps a host name to an address"
        ) from None
    return value


def _check_status_pattern(value: str) -> str:
    if not _STATUS_PATTERN.fullmatch(value):
        raise ValueError(
            f"invalid status pattern {value!r}; write a code such as 200 or a class "
            "such as 2xx"
        )
    return value


Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=128)]
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": MAX_DURATION_S},
                {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"},
            ],
            "description": DURATION_HELP,
        }
    ),
]
Size = Annotated[
    int,
    BeforeValidator(parse_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_SIZE},
                {"type": "string", "pattern": r"^\d+(\.\d+)? ?([KMGkmg]i?[Bb]|[Bb])?$"},
            ],
            "description": SIZE_HELP,
        }
    ),
]
Schedule = Annotated[
    str,
    AfterValidator(_check_schedule),
    Field(description=SCHEDULE_HELP),
]
Expandable = Annotated[str, AfterValidator(_check_variables)]
HeaderName = Annotated[str, AfterValidator(check_header_name)]
HeaderValue = Annotated[str, AfterValidator(_check_header_value)]
Url = Annotated[
    str,
    AfterValidator(_check_url),
    # Only in the JSON Schema: the validator also reads a scheme in any case.
    Field(json_schema_extra={"pattern": r"^([Hh][Tt][Tt][Pp][Ss]://|\$\{)"}),
]
Method = Annotated[str, AfterValidator(_normalize_method)]
Address = Annotated[str, AfterValidator(_check_address)]
StatusCode = Annotated[int, Field(ge=100, le=599)]
StatusPattern = Annotated[
    str, AfterValidator(_check_status_pattern), Field(pattern=r"^[1-5][0-9x][0-9x]$")
]


class SecretRef(StrictModel):
    """A secret read from an environment variable or a file at run time."""

    env: str | None = Field(None, description="name of an environment variable")
    file: str | None = Field(
        None, description="path of a file; its trailing newline is stripped"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret is either {env: NAME} or {file: PATH}")
        return self


def _secret_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "literal"
    if isinstance(value, dict | SecretRef):
        return "ref"
    return None


Secret = Annotated[
    Annotated[str, Tag("literal")] | Annotated[SecretRef, Tag("ref")],
    Discriminator(
        _secret_tag,
        custom_error_type="secret_type",
        custom_error_message="expected {env: NAME}, {file: PATH} or a string",
    ),
]


def _status_tag(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return "code"
    if isinstance(value, str):
        return "pattern"
    if isinstance(value, list):
        return "list"
    return None


StatusItem = Annotated[
    Annotated[StatusCode, Tag("code")] | Annotated[StatusPattern, Tag("pattern")],
    Discriminator(
        _status_tag,
        custom_error_type="status_type",
        custom_error_message="expected a status code such as 200 or a class such as "
        "2xx",
    ),
]
StatusExpectation = Annotated[
    Annotated[StatusCode, Tag("code")]
    | Annotated[StatusPattern, Tag("pattern")]
    | Annotated[list[StatusItem], Tag("list"), Field(min_length=1)],
    Discriminator(
        _status_tag,
        custom_error_type="status_type",
        custom_error_message="expected a status code such as 200, a class such as "
        "2xx, or a list of them",
    ),
]


class Identity(StrictModel):
    """A client identity (keystore): key and certificate chain, or a PKCS#12 file."""

    certificate: str | None = Field(
        None,
        description="PEM or DER certificate; may also hold the chain, or the key",
    )
    key: str | None = Field(
        None,
        description="PEM or DER private key (PKCS#8, PKCS#1 or SEC1, may be "
        "encrypted); omit when the certificate file holds the key",
    )
    chain: list[str] = Field(
        default_factory=list, description="extra chain certificates, in any order"
    )
    pkcs12: str | None = Field(None, description="PKCS#12 file, instead of the rest")
    password: Secret | None = Field(
        None, description="password of an encrypted key or of the PKCS#12 file"
    )

    @model_validator(mode="after")
    def _one_form(self) -> Identity:
        if self.pkcs12 is not None:
            if self.certificate is not None or self.key is not None or self.chain:
                raise ValueError(
                    "an identity has either pkcs12 or certificate/key/chain, not both"
                )
        elif self.certificate is None:
            raise ValueError(
                "an identity needs 'certificate' (with 'key' unless the certificate "
                "file holds it) or 'pkcs12'"
            )
        return self


class Truststore(StrictModel):
    """Certificate authorities trusted to sign server certificates."""

    certificates: list[str] = Field(
        default_factory=list, description="PEM bundles, DER files and folders of them"
    )
    system: bool = Field(False, description="also trust the operating system's store")
    pkcs12: str | None = Field(
        None, description="trusted certificates from a PKCS#12 truststore"
    )
    password: Secret | None = Field(None, description="password of the PKCS#12 file")

    @model_validator(mode="after")
    def _not_empty(self) -> Truststore:
        if not self.certificates and self.pkcs12 is None and not self.system:
            raise ValueError(
                "a truststore needs 'certificates', 'pkcs12' or 'system: true'"
            )
        if self.password is not None and self.pkcs12 is None:
            raise ValueError("'password' applies to 'pkcs12' only")
        return self


class Expect(StrictModel):
    """Conditions under which a call counts as successful."""

    status: StatusExpectation = Field(
        "2xx", description="status code, class such as 2xx, or a list of them"
    )
    body_contains: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="text that the response body must contain"
    )
    fails_with: Annotated[ErrorKind, Field(strict=False)] | None = Field(
        None, description="the call succeeds only when it fails with this error kind"
    )


class Endpoint(StrictModel):
    """One HTTPS request of a job."""

    model_config = ConfigDict(populate_by_name=False)

    name: Name | None = Field(None, description="default: method and path")
    url: Url = Field(description="https URL; ${NAME} expands an environment variable")
    method: Method = "GET"
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    body: Expandable | None = None
    json_body: Annotated[Any, AfterValidator(_check_json_body)] = Field(
        None, alias="json", description="a JSON request body"
    )
    expect: Expect = Field(default_factory=lambda: Expect())

    @model_validator(mode="after")
    def _one_body(self) -> Endpoint:
        if self.body is not None and self.json_body is not None:
            raise ValueError("an endpoint has 'body' or 'json', not both")
        return self


def endpoint_name(endpoint: Endpoint) -> str:
    """Return the endpoint's name, by default its method and path."""
    if endpoint.name:
        return endpoint.name
    path = urlsplit(endpoint.url).path or "/"
    return f"{endpoint.method} {path}"


class Job(StrictModel):
    """A set of endpoints called with one identity and truststore."""

    identity: Name | None = Field(
        None,
        description="name of an identity; without it no client certificate is sent",
    )
    truststore: Name | None = Field(
        None, description="name of a truststore; default: the operating system's store"
    )
    schedule: Schedule | None = None
    jitter: Duration | None = None
    timeout: Annotated[Duration, Field(gt=0)] = 30.0
    connect_timeout: Annotated[Duration, Field(gt=0)] | None = None
    retries: Annotated[int, Field(ge=0, le=100)] = 0
    resolve: dict[str, Address] = Field(
        default_factory=dict, description="host name to IP address"
    )
    http_version: (
        Annotated[Literal["1.1", "2"], BeforeValidator(_normalize_http_version)] | None
    ) = None
    max_response_bytes: Size | None = None
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    endpoints: list[Endpoint] = Field(min_length=1)


def header_templates(job: Job, endpoint: Endpoint) -> dict[str, tuple[str, str]]:
    """Return an endpoint's headers before expansion, by lowercase name.

    Each value is the pair (name, value) as the job file writes it. An
    endpoint's header replaces the job's header of the same name in any case.
    """
    headers: dict[str, tuple[str, str]] = {}
    for name, value in [*job.headers.items(), *endpoint.headers.items()]:
        headers[name.lower()] = (name, value)
    return headers


class JobFile(StrictModel):
    """One job file of format version 1."""

    model_config = ConfigDict(title="mtls-runner job file")

    version: Annotated[Literal[1], BeforeValidator(_check_version)]
    identities: dict[Name, Identity] = Field(default_factory=dict)
    truststores: dict[Name, Truststore] = Field(default_factory=dict)
    jobs: dict[Name, Job] = Field(default_factory=dict)


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema of job files, as editors and check-jsonschema use it."""
    schema = JobFile.model_json_schema(by_alias=True)
    for section in ("identities", "truststores", "jobs"):
        # Names that miss the name pattern are errors, as in the models.
        schema["properties"][section]["additionalProperties"] = False
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
    }
