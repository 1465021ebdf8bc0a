"""Property tests: validate never raises and always exits 0, 1 or 2.

Inputs are generated YAML documents, random text made of YAML's special
characters, job-shaped data with wrong values, and valid job files with random
edits. The default profile runs a few thousand examples in well under a minute;
HYPOTHESIS_PROFILE=thorough runs ten times as many.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.cli import main

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [path.read_text(encoding="utf-8") for path in sorted(ROOT.glob("jobs/*.yaml"))]

settings.register_profile(
    "default",
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=6000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Characters that YAML treats specially, plus some that are easy to get wrong.
YAML_ALPHABET = list(":-?[]{},&*!|>'\"%@`#~<=\\ \n\t\r") + list("yesnoOfT01289_.x")
SPECIAL_VALUES = [
    "yes", "no", "on", "Off", "012", "09", "10:30", "1_000", "0x1F", "0o17", "~",
    "null", "[]", "{}", "*a", "&a x", "!!int x", "!!binary x", "<<: *a", "'", '"',
    "\t", "---", "...", "%YAML 1.1", "-1", "1e999", "9" * 5000, "\\x00", "${",
    "every 0s", "* * * * *", "https://", "/dev/zero", "~nobody-here/x", "\u2028",
]  # fmt: skip
KEYS = [
    "version", "identities", "truststores", "jobs", "certificate", "key", "chain",
    "pkcs12", "password", "env", "file", "certificates", "system", "identity",
    "truststore", "schedule", "jitter", "timeout", "connect_timeout", "retries",
    "resolve", "http_version", "max_response_bytes", "headers", "endpoints", "name",
    "url", "method", "body", "json", "expect", "status", "body_contains",
    "fails_with", "<<", "x",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(SPECIAL_VALUES),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=10)), children, max_size=5
        ),
    ),
    max_leaves=40,
)


# Leaves of job-shaped data: mostly scalars, sometimes a small list or mapping.
leaves = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(KEYS), scalars, max_size=3),
)


def section(keys: list[str], max_size: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), leaves, max_size=max_size)


@st.composite
def job_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """Draw a job file whose structure is right and whose leaves are anything."""
    endpoint = draw(section(KEYS[25:36], 5))
    job = draw(section(KEYS[13:24], 6))
    job["endpoints"] = [endpoint]
    return {
        "version": draw(st.sampled_from([1, 1, 2, "1", None])),
        "identities": {
            draw(st.text(min_size=1, max_size=8)): draw(section(KEYS[4:11], 4))
        },
        "truststores": {"t": draw(section(KEYS[8:13], 3))},
        "jobs": {draw(st.sampled_from(["j", "J.1", "bad name"])): job},
    }


@st.composite
def edited_seed(draw: st.DrawFn) -> str:
    """Draw a valid example job file with a few random line and character edits."""
    lines = draw(st.sampled_from(SEEDS)).split("\n")
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        line = lines[index]
        edit = draw(
            st.sampled_from(["delete", "duplicate", "indent", "value", "chars"])
        )
        if edit == "delete":
            del lines[index]
        elif edit == "duplicate":
            lines.insert(index, line)
        elif edit == "indent":
            lines[index] = draw(st.sampled_from([" ", "\t", "  ", ""])) + line.lstrip()
        elif edit == "value" and ":" in line:
            key = line.split(":", 1)[0]
            lines[index] = f"{key}: {draw(st.sampled_from(SPECIAL_VALUES))}"
        else:
            cut = draw(st.integers(min_value=0, max_value=len(line)))
            noise = draw(st.text(alphabet=YAML_ALPHABET, max_size=4))
            lines[index] = line[:cut] + noise + line[cut:]
        if not lines:
            lines = [""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def job_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("property") / "job.yaml"


def check_exit(path: Path, content: str | bytes, *options: str) -> None:
    """Write ``content``, run validate in-process and check its exit and output."""
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    else:
        path.write_bytes(content)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = main(["validate", "--format", "json", *options, str(path)])
    assert code in (0, 1, 2)
    if code != 2:
        document = json.loads(stdout.getvalue())
        assert (code == 1) == bool(document["errors"])


def dump(data: Any, flow: bool) -> str:
    return yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)


@given(data=documents, flow=st.booleans())
def test_generated_documents(job_path: Path, data: Any, flow: bool) -> None:
    check_exit(job_path, dump(data, flow))


@given(text=st.text(alphabet=YAML_ALPHABET, max_size=120))
def test_yaml_punctuation(job_path: Path, text: str) -> None:
    check_exit(job_path, text)


@given(raw=st.binary(max_size=200))
def test_random_bytes(job_path: Path, raw: bytes) -> None:
    check_exit(job_path, raw, "--schema-only")


@given(data=job_shaped(), flow=st.booleans(), schema_only=st.booleans())
def test_job_shaped_data(
    job_path: Path, data: Any, flow: bool, schema_only: bool
) -> None:
    options = ["--schema-only"] if schema_only else []
    check_exit(job_path, dump(data, flow), *options)


@given(text=edited_seed(), schema_only=st.booleans())
def test_edited_examples(job_path: Path, text: str, schema_only: bool) -> None:
    options = ["--schema-only"] if schema_only else []
    check_exit(job_path, text, *options)
