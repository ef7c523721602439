"""Schemathesis hooks of crates/cli/tests/schemathesis.rs (loaded through SCHEMATHESIS_HOOKS).

Each hook covers one rule an OpenAPI document cannot state, because a value is valid only
with what the server answered or was sent before; nothing else is changed, and no check or
operation is left out. They touch only cases Schemathesis generates as valid (positive), which
`positive_data_acceptance` expects the API to accept; invalid (negative) cases go out as
generated.

- `cursor`: a list's cursor is valid only when this server issued it, as the `next_cursor` of
  the same list with the same filters (it is signed; any other string answers 400 naming
  `cursor`). A valid case carries no cursor made up by the generator.
- `Idempotency-Key`: a key is valid with the request it first came with; the same key with
  another body answers 422 (draft-ietf-httpapi-idempotency-key-header). The generator reuses
  short keys ("0", "a") across different bodies, so a valid key is made unique to its case
  (with a random suffix: one server serves the runs of every vendor, each its own process),
  in every case: a case generated as negative for another part may be sent as a valid one.
- `X-Connection-Id`: the header names the same connection as the `connection_id` query
  parameter or the call is refused (the parameter's description says so; a document cannot
  state that two parameters must agree). The run fixes the query parameter to the vendor's
  connection (`CROSSWALK_ST_CONNECTION_ID`), and a valid header is made to name the same
  connection, in every case; an invalid one (empty) is sent as generated. Likewise a valid
  `Crosswalk-Max-Wait-Ms` header is made the run's wait (10 s, the `max_wait_ms` the run fixes),
  so that the vendor budget's refusals do not stand in for the operations. (Fixing these
  headers in the run's configuration instead replaced the values of cases generated invalid,
  whose header names differ in case, so invalid cases were sent valid.)
- references: a write's `owner_id`, `contact_ids`, `converted_company_id`, … are valid only
  when the vendor holds a record with that id (a document can state an id's format, which the
  connection documents do, but not which records exist). A valid case's references name a
  record of the connection that exists: the test passes one id per object in
  `CROSSWALK_ST_REFERENCES` (`{"contacts": "…", …}`), a pipeline and one of its stages too.
- `source=synced` with `include`: the synced records hold neither the vendor's raw record nor
  withheld fields, so a synced list answers `include` with 400 naming it (the parameter's
  description says so; OpenAPI cannot state that one query parameter excludes another). A
  valid case that reads the synced records asks for no `include`.
- the default syncs of `PUT /environment/syncs` name each object once, and an object has two
  names (`hris.locations`, and `locations` where no other category has one), which the
  document's enum lists both of; a valid case names each object once.
- unknown request headers: HTTP lets a client send any header and a server ignore those it
  does not know (RFC 9110, section 5.1 and 15), so a document's header parameters are not a
  closed set; the coverage phase's cases adding a header the document does not name are left
  out (a negative case that is not negative for HTTP).
- `remote_data` of a write: vendor fields sent as they are; which fields a vendor has is the
  vendor's to say (it refuses an unknown one, 422 naming it), which no document can state, so
  a valid case's write carries no `remote_data` (the tests in `api/` cover it).
- `since` and `until` of a webhook replay: `until` must come after `since` (a relation
  between two fields); a valid case with both has them in that order.
- `start_time` and `end_time` of an engagement write: where the connector declares them
  `ordered` (a vendor that derives a duration from them refuses an end before the start), an
  end before the start is refused with 400 naming `body.end_time` (the connection's document
  says so in the field's description; JSON Schema cannot order two fields); a valid case with
  both has them in that order. Likewise a connector's `spans` (Pipedrive holds an activity's
  length as `HH:MM` of one day: an end more than 86,340 s after the start is refused with 400
  naming `body.end_time`); a valid case's end is kept within a day of its start (for every
  vendor: the hooks do not know which connector a run is on; a day is the tightest span
  declared). And a connector's `step_seconds` (Pipedrive holds an activity's start as `HH:MM`
  and its length as `HH:MM`: a time between two minutes is refused with 400 naming the field):
  a valid case's engagement times are whole minutes (for every vendor, as above).
"""

import datetime
import json
import os
import uuid
from collections.abc import MutableMapping

import schemathesis
from schemathesis.generation.meta import CoverageScenario

_MAX_KEY_LEN = 255
# The unified object each reference field of a write body names.
_REFERENCE_FIELDS = {
    "owner_id": "users",
    "company_id": "companies",
    "company_ids": "companies",
    "parent_company_id": "companies",
    "converted_company_id": "companies",
    "contact_id": "contacts",
    "contact_ids": "contacts",
    "converted_contact_id": "contacts",
    "opportunity_id": "opportunities",
    "opportunity_ids": "opportunities",
    "lead_id": "leads",
    "lead_ids": "leads",
    "pipeline_id": "pipelines",
    "stage_id": "stages",
}
_REFERENCES = json.loads(os.environ.get("CROSSWALK_ST_REFERENCES", "{}"))


def _is_positive(case):
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode.is_positive


_CONNECTION_ID = os.environ.get("CROSSWALK_ST_CONNECTION_ID")


# The longest wait a call may ask for (`Crosswalk-Max-Wait-Ms`), and the one the run asks for.
_MAX_WAIT_MS = 120_000
_WAIT_MS = "10000"


def _valid_wait(value):
    text = str(value).strip()
    return text.isdigit() and int(text) <= _MAX_WAIT_MS


def _valid_key(value):
    return (
        isinstance(value, str)
        and 0 < len(value.strip()) <= _MAX_KEY_LEN
        and all(" " <= char <= "~" for char in value)
    )


def _header_is_the_negative_part(case):
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_negative:
        return False
    data = getattr(getattr(meta, "phase", None), "data", None)
    location = getattr(data, "parameter_location", None)
    return location is not None and str(getattr(location, "value", location)).lower() == "header"


@schemathesis.hook
def before_call(context, case, kwargs):
    # Some phases hold headers in a case-insensitive mapping rather than a dict. A case whose
    # invalid part is a header (one left out included) keeps its headers as generated.
    if isinstance(case.headers, MutableMapping) and not _header_is_the_negative_part(case):
        for name in list(case.headers):
            value = case.headers[name]
            if name.lower() == "idempotency-key" and _valid_key(value):
                suffix = f"-{uuid.uuid4().hex}"
                case.headers[name] = value.strip()[: _MAX_KEY_LEN - len(suffix)] + suffix
            elif name.lower() == "crosswalk-max-wait-ms" and _valid_wait(value):
                if str(value) != _WAIT_MS:
                    case.headers[name] = _WAIT_MS
            elif (
                name.lower() == "x-connection-id"
                and _CONNECTION_ID
                and isinstance(value, str)
                and value.strip()
            ):
                if value != _CONNECTION_ID:
                    case.headers[name] = _CONNECTION_ID
    if not _is_positive(case):
        return
    if isinstance(case.query, dict) and "cursor" in case.query:
        del case.query["cursor"]
    if isinstance(case.query, dict) and case.query.get("source") == "synced":
        case.query.pop("include", None)
    if isinstance(case.body, dict) and case.method.upper() in ("POST", "PATCH"):
        if case.path.startswith("/unified/"):
            case.body.pop("remote_data", None)
        for field, target in _REFERENCE_FIELDS.items():
            value = case.body.get(field)
            existing = _REFERENCES.get(target)
            if value is None or existing is None:
                continue
            if isinstance(value, list):
                case.body[field] = [existing] if value else []
            elif isinstance(value, str):
                case.body[field] = existing
    if (
        case.method.upper() == "PUT"
        and case.path == "/environment/syncs"
        and isinstance(case.body, dict)
        and isinstance(case.body.get("syncs"), list)
    ):
        case.body["syncs"] = _each_object_once(case.body["syncs"])
    if (
        isinstance(case.body, dict)
        and isinstance(case.body.get("since"), str)
        and isinstance(case.body.get("until"), str)
    ):
        _order_window(case.body)
    if (
        isinstance(case.body, dict)
        and case.method.upper() in ("POST", "PATCH")
        and case.path.startswith("/unified/")
        and isinstance(case.body.get("start_time"), str)
        and isinstance(case.body.get("end_time"), str)
    ):
        _order_times(case.body, "start_time", "end_time")
    if (
        isinstance(case.body, dict)
        and case.method.upper() in ("POST", "PATCH")
        and case.path.startswith("/unified/")
    ):
        for field in ("start_time", "end_time"):
            if isinstance(case.body.get(field), str):
                case.body[field] = _whole_minute(case.body[field])


@schemathesis.hook
def filter_case(context, case):
    meta = getattr(case, "meta", None)
    data = getattr(getattr(meta, "phase", None), "data", None)
    scenario = getattr(data, "scenario", None)
    location = getattr(data, "parameter_location", None)
    return not (
        scenario == CoverageScenario.OBJECT_UNEXPECTED_PROPERTIES
        and location is not None
        and str(getattr(location, "value", location)).lower() == "header"
    )


def _each_object_once(syncs):
    seen = set()
    kept = []
    for entry in syncs:
        name = entry.get("object") if isinstance(entry, dict) else None
        if isinstance(name, str):
            # `category.object` and `object` name the same object.
            key = name.split(".", 1)[-1]
            if key in seen:
                continue
            seen.add(key)
        kept.append(entry)
    return kept


def _order_window(body):
    try:
        since = datetime.datetime.fromisoformat(body["since"])
        until = datetime.datetime.fromisoformat(body["until"])
    except ValueError:
        return
    if since.tzinfo is None or until.tzinfo is None:
        return
    if until <= since:
        body["since"], body["until"] = body["until"], body["since"]
        if until == since:
            body["until"] = (since + datetime.timedelta(seconds=1)).isoformat()


def _instant(text):
    try:
        # `Z` is read by fromisoformat from Python 3.11 on; earlier ones need `+00:00`.
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def _order_times(body, earlier, later):
    start = _instant(body[earlier])
    end = _instant(body[later])
    if start is None or end is None or start.tzinfo is None or end.tzinfo is None:
        return
    if end < start:
        body[earlier], body[later] = body[later], body[earlier]
        start, end = end, start
    if end - start > _SPAN:
        body[later] = (start + _SPAN).isoformat()


# The tightest `spans` a connector declares (Pipedrive: 23:59, `HH:MM` of one day).
_SPAN = datetime.timedelta(seconds=86_340)


def _whole_minute(text):
    """`text` without its seconds (the tightest `step_seconds` declared: Pipedrive's minutes)."""
    at = _instant(text)
    if at is None or at.tzinfo is None:
        return text
    whole = at.replace(second=0, microsecond=0)
    return text if whole == at else whole.isoformat()
