"""The types every layer shares: errors, the model spec and backend protocol, requests and
responses, generation settings, chat messages, and the atomic file writer.

This package is the bottom layer: it imports nothing else from cvalues, so data, models,
execute, store, scoring, tasks, report, annotate, the API and the CLI can all build on it.
"""

from cvalues.core.backend import DTYPES, PROVIDERS, Backend, ModelSpec, Provider
from cvalues.core.errors import BackendError, CValuesError, DataIntegrityError, InputError
from cvalues.core.files import read_json, write_json, write_jsonl
from cvalues.core.requests import (
    GenerationSettings,
    Message,
    ModelRequest,
    ModelResponse,
    RequestKind,
    request_hash,
)

__all__ = [
    "DTYPES",
    "PROVIDERS",
    "Backend",
    "BackendError",
    "CValuesError",
    "DataIntegrityError",
    "GenerationSettings",
    "InputError",
    "Message",
    "ModelRequest",
    "ModelResponse",
    "ModelSpec",
    "Provider",
    "RequestKind",
    "read_json",
    "request_hash",
    "write_json",
    "write_jsonl",
]
