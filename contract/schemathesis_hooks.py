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
  short keys ("0", "a") across different bodies, so a valid case's key is made unique to it.
- references: a write's `owner_id`, `contact_ids`, `converted_company_id`, … are valid only
  when the vendor holds a record with that id (a document can state an id's format, which the
  connection documents do, but not which records exist). A valid case's references name a
  record of the connection that exists: the test passes one id per object in
  `CROSSWALK_ST_REFERENCES` (`{"contacts": "…", …}`), a pipeline and one of its stages too.
- `since` and `until` of a webhook replay: `until` must come after `since` (a relation
  between two fields); a valid case with both has them in that order.
"""

import datetime
import itertools
import json
import os

import schemathesis

_calls = itertools.count()
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


@schemathesis.hook
def before_call(context, case, kwargs):
    if not _is_positive(case):
        return
    if isinstance(case.query, dict) and "cursor" in case.query:
        del case.query["cursor"]
    if isinstance(case.headers, dict):
        for name in list(case.headers):
            if name.lower() == "idempotency-key" and isinstance(case.headers[name], str):
                suffix = f"-{next(_calls)}"
                key = case.headers[name].strip()[: _MAX_KEY_LEN - len(suffix)]
                case.headers[name] = key + suffix
    if isinstance(case.body, dict) and case.method.upper() in ("POST", "PATCH"):
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
        isinstance(case.body, dict)
        and isinstance(case.body.get("since"), str)
        and isinstance(case.body.get("until"), str)
    ):
        _order_window(case.body)


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
