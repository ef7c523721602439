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
"""

import itertools

import schemathesis

_calls = itertools.count()
_MAX_KEY_LEN = 255


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
