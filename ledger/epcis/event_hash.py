"""CBV 2.0 event hash IDs (``ni:///sha-256;…?ver=CBV2.0``) of EPCIS 2.0 JSON-LD events.

The canonical pre-hash string comes from RalphTro's ``epcis-event-hash-generator``, the
reference implementation of the CBV "Event hash ID" algorithm. This module wraps it so that
it is safe to use from a server: calls are serialised (the library keeps module-global
state), JSON-LD contexts are only ever read from the copies bundled with the library (never
fetched), and an event the library cannot canonicalise raises instead of being dropped.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.resources
import json
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from epcis_event_hash_generator import json_to_py  # type: ignore[import-untyped]
from epcis_event_hash_generator.hash_generator import (  # type: ignore[import-untyped]
    derive_prehashes_from_events,
)
from pyld import jsonld  # type: ignore[import-untyped]

from ledger.errors import EventHashError

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
"""The EPCIS 2.0 JSON-LD context an event is read against when no other is given."""

HASH_VERSION = "CBV2.0"
_HASH_ID = re.compile(r"ni:///sha-256;([0-9a-f]{64})\?ver=CBV2\.0")

JsonObject = Mapping[str, Any]
JsonLdContext = str | JsonObject | Sequence[str | JsonObject]

_BUNDLED_CONTEXTS = {
    "https://gs1.github.io/EPCIS/epcis-context.jsonld": (
        "14b10c9d3e92d35f577bfc610fe5ec15aa2941124987919389d7cd9998516861.jsonld"
    ),
    EPCIS_CONTEXT: "e532647e8eb371379b8b0e8602d8981c8566bc60f7351f22c76a5bc865962008.jsonld",
}
_IGNORE_FIELDS_KEY = "ignoreFields"
_library_lock = threading.Lock()


def event_hash_id(event: JsonObject, context: JsonLdContext = EPCIS_CONTEXT) -> str:
    """The CBV 2.0 event hash ID of one EPCIS 2.0 JSON-LD event.

    ``context`` is the ``@context`` of the document the event comes from; it defines the
    namespaces of user extension fields. ``eventID``, ``recordTime`` and
    ``errorDeclaration`` do not take part, so an event may already carry its own hash ID.
    """
    return hash_id_of_pre_hash(event_pre_hash(event, context))


def event_pre_hash(event: JsonObject, context: JsonLdContext = EPCIS_CONTEXT) -> str:
    """The canonical pre-hash string of one EPCIS 2.0 JSON-LD event."""
    return _pre_hashes([event], context)[0]


def hash_id_digest(hash_id: str) -> str:
    """The SHA-256 digest inside a CBV 2.0 hash ID this module made, as ``0x`` hex: what
    the chain records. ValueError for anything else."""
    match = _HASH_ID.fullmatch(hash_id)
    if match is None:
        raise ValueError(f"{hash_id!r} is not a CBV 2.0 event hash ID")
    return "0x" + match.group(1)


def hash_id_of_pre_hash(pre_hash: str) -> str:
    digest = hashlib.sha256(pre_hash.encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={HASH_VERSION}"


def document_hash_ids(document: JsonObject) -> list[str]:
    """The event hash ID of every event of an EPCIS (query) document, in document order."""
    return [hash_id_of_pre_hash(pre_hash) for pre_hash in document_pre_hashes(document)]


def document_pre_hashes(document: JsonObject) -> list[str]:
    """The pre-hash string of every event of an EPCIS (query) document, in document order."""
    context = document.get("@context", EPCIS_CONTEXT)
    return _pre_hashes(document_events(document), context)


def document_events(document: JsonObject) -> list[JsonObject]:
    """The events of an EPCIS document or query document, without the fields it says to ignore.

    A document may list extension fields (``ignoreFields``, under any prefix) that a
    repository added to its events and that are not part of the captured event.
    """
    body = document.get("epcisBody")
    if not isinstance(body, Mapping):
        raise EventHashError("the document", "it has no epcisBody object")
    container: JsonObject = body
    ignored = ignored_fields(document)
    if "queryResults" in body:
        results = body["queryResults"]
        container = results.get("resultsBody", {}) if isinstance(results, Mapping) else {}
        ignored |= ignored_fields(results) if isinstance(results, Mapping) else set()
    if "eventList" in container:
        events = container["eventList"]
    elif "event" in container:
        events = [container["event"]]
    else:
        raise EventHashError("the document", "its epcisBody holds no eventList and no event")
    if not isinstance(events, list) or not all(isinstance(e, Mapping) for e in events):
        raise EventHashError("the document", "its events are not a list of JSON objects")
    return [{key: value for key, value in e.items() if key not in ignored} for e in events]


def ignored_fields(holder: JsonObject) -> set[str]:
    """The fields a document (or query results) lists under ``ignoreFields`` (any prefix)."""
    ignored: set[str] = set()
    for key, value in holder.items():
        if key.rsplit(":", 1)[-1] == _IGNORE_FIELDS_KEY and isinstance(value, list):
            ignored.update(field for field in value if isinstance(field, str))
    return ignored


def _pre_hashes(events: Sequence[JsonObject], context: JsonLdContext) -> list[str]:
    document = {
        "@context": _context_list(context),
        "type": "EPCISDocument",
        "epcisBody": {"eventList": [copy.deepcopy(dict(event)) for event in events]},
    }
    with _library_lock:
        # The library accumulates namespace prefixes across documents in a module global.
        json_to_py._namespaces.clear()
        try:
            parsed = json_to_py.event_list_from_epcis_document_json(document)
        except jsonld.JsonLdError as error:
            raise EventHashError("the events", _json_ld_reason(error)) from error
        except (IndexError, KeyError, TypeError, AttributeError) as error:
            # The library indexes into what it expects the schema to have guaranteed (a
            # destinationList entry without its type or destination, say).
            raise EventHashError(
                "the events", f"they are not EPCIS events the algorithm can read ({error!r})"
            ) from error
        pre_hashes: list[str] = derive_prehashes_from_events(parsed)
    if len(pre_hashes) != len(events):
        # The library logs and skips an event it cannot canonicalise.
        raise EventHashError("an event", "it is not an EPCIS event the algorithm can read")
    return pre_hashes


def _context_list(context: JsonLdContext) -> list[Any]:
    # The library reads extension prefixes only from a list-shaped @context.
    if isinstance(context, str | Mapping):
        return [context]
    return [dict(c) if isinstance(c, Mapping) else c for c in context]


def _json_ld_reason(error: Exception) -> str:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, _ContextNotBundled):
            return str(cause)
        cause = cause.__cause__
    return f"its JSON-LD context cannot be expanded ({error})"


class _ContextNotBundled(Exception):
    def __init__(self, url: str) -> None:
        super().__init__(
            f"the JSON-LD context {url} is not one of the EPCIS contexts available offline"
        )


def _offline_document_loader(url: str, options: object = None) -> dict[str, Any]:
    del options
    name = _BUNDLED_CONTEXTS.get(url)
    if name is None:
        raise _ContextNotBundled(url)
    text = (importlib.resources.files("epcis_event_hash_generator") / name).read_text("utf-8")
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": json.loads(text),
    }


# Replaces the library's own loader, which fetches unknown contexts from the internet.
jsonld.set_document_loader(_offline_document_loader)
