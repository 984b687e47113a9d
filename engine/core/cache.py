"""The one per-model cache: derived data (bases, rasters, tables) computed once per model.

Keyed weakly on the model object, so a model that is dropped takes its cache with it, and
a new model loaded into the same memory address never sees a stale entry (an `id(model)`
key would)."""
from __future__ import annotations

import threading
import weakref

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_lock = threading.RLock()


def cached(model, key, compute):
    """`compute()` once per (model, key); later calls return the stored value."""
    with _lock:
        slot = _CACHE.setdefault(model, {})
        if key not in slot:
            slot[key] = compute()
        return slot[key]


def forget(model, key) -> None:
    """Drop one entry (e.g. after the file it was read from changed)."""
    with _lock:
        _CACHE.get(model, {}).pop(key, None)


def override(model, key, value):
    """Context manager: `value` stands for (model, key) inside the block, then the old entry
    (or none) returns. Lets an offline tool try a variant of derived data without a copy
    of the code that reads it."""
    return _Override(model, key, value)


class _Override:
    def __init__(self, model, key, value):
        self.model, self.key, self.value = model, key, value

    def __enter__(self):
        with _lock:
            slot = _CACHE.setdefault(self.model, {})
            self.had = self.key in slot
            self.saved = slot.get(self.key)
            slot[self.key] = self.value
        return self.value

    def __exit__(self, *exc):
        with _lock:
            slot = _CACHE.setdefault(self.model, {})
            if self.had:
                slot[self.key] = self.saved
            else:
                slot.pop(self.key, None)
