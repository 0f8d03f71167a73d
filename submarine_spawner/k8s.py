"""Kubernetes objects given as data (an environment's affinity, tolerations), checked against
the Kubernetes client's own models: every field known and of its type, required fields there;
and notebook ids and owners as label values (the service finds pods by them).

Pure: a dict in, the same dict back, or a :class:`ValueError` naming the field and the rule.
"""

import re

PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float)}
_LIST, _DICT = re.compile(r"^list\[(.*)\]$"), re.compile(r"^dict\(str, (.*)\)$")


def _models():
    # the Kubernetes client is heavy, and only this check needs it on the service's side
    from kubernetes_asyncio.client import models

    return models


def _at(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def check(kind: str, data, path: str = ""):
    """``data`` as a Kubernetes ``kind`` (``V1Affinity``, ``list[V1Toleration]``, ``str``...);
    ``path`` names where it is, in messages."""
    if match := _LIST.match(kind):
        if not isinstance(data, list):
            raise ValueError(f"{path or 'it'}: must be a list")
        for i, item in enumerate(data):
            check(match[1], item, _at(path, i))
        return data
    if match := _DICT.match(kind):
        if not isinstance(data, dict):
            raise ValueError(f"{path or 'it'}: must be an object")
        for key, item in data.items():
            check(match[1], item, _at(path, key))
        return data
    if kind in PRIMITIVES:
        if not isinstance(data, PRIMITIVES[kind]) or (kind != "bool" and isinstance(data, bool)):
            raise ValueError(f"{path or 'it'}: must be of type {kind}")
        return data
    if kind == "object":
        return data
    model = getattr(_models(), kind)
    if not isinstance(data, dict):
        raise ValueError(f"{path or 'it'}: must be an object ({kind})")
    fields = {json_name: name for name, json_name in model.attribute_map.items()}
    values = {}
    for key, item in data.items():
        if key not in fields:
            raise ValueError(f"{_at(path, key)}: is not a field of a Kubernetes {kind}")
        values[fields[key]] = check(model.openapi_types[fields[key]], item, _at(path, key))
    try:
        model(**values)  # the model's own checks: required fields, allowed values
    except ValueError as e:
        raise ValueError(f"{path}: {e}" if path else str(e)) from None
    return data


def label_value(text: str) -> str:
    """A notebook id or owner as a label value (kubespawner's slug, when the text is none)."""
    from kubespawner.slugs import is_valid_label, safe_slug

    return safe_slug(text, is_valid=is_valid_label)
