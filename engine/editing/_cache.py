"""Per-model cache for derived editing data (directions, mirror matrix, masks).

Keyed weakly on the model object, so a model that is dropped takes its cache with it.
"""
from __future__ import annotations

import weakref

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def cached(model, key, compute):
    """Return `compute()` once per (model, key)."""
    slot = _CACHE.setdefault(model, {})
    if key not in slot:
        slot[key] = compute()
    return slot[key]
