"""How the Redis backend (`redis_store.py`) writes an event and reads a label tile: an event is
one text value of its fields (exact floats), a tile one hash of per-day counts; what a read
returns is decoded once per distinct bytes (`decoded`, `known_of_tile`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from lakehouse.features.online.compute import Tallies, known_by
from lakehouse.features.online.events import Event

# Decoding what a read returns is a pure function of its bytes, and the same bytes come back
# request after request: the events of the cards and clients being scored, the label tiles of
# their merchants (a tile changes only when a label arrives). Both are decoded once and kept,
# up to these many entries (~1.4 kB an event, its key included, so ~45 MB): one by one,
# decoding a client's events and three tiles was most of a Redis read's CPU.
EVENT_CACHE = 1 << 15
TALLY_CACHE = 1 << 12


def pack(event: Event) -> str:
    """An event as text; repr keeps the float exact.

    Args:
        event: the event.

    Returns:
        Its fields joined by "|".
    """
    return "|".join(map(repr, event))


def unpack(text: bytes | str) -> Event:
    """The event `pack` wrote.

    Args:
        text: what Redis returned.

    Returns:
        The event.
    """
    if isinstance(text, bytes):
        text = text.decode()
    f = text.split("|")
    return Event(
        int(f[0]),
        int(f[1]),
        int(f[2]),
        int(f[3]),
        int(f[4]),
        int(f[5]),
        float(f[6]),
        f[7][1:-1],
        int(f[8]),
        int(f[9]),
    )


def hash_pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    """A hash as a Lua script returns HGETALL (field, value, field, value, ...).

    Args:
        flat: the fields, each followed by its value.

    Returns:
        Field -> value.
    """
    return dict(zip(flat[::2], flat[1::2], strict=True))


def tile_days(fields: dict[bytes, bytes]) -> dict[int, tuple[int, int]]:
    """A label tile's hash as per-day counts.

    Args:
        fields: `"<day>:f"` / `"<day>:l"` -> known fraud / labeled count.

    Returns:
        Known day -> (fraud, labeled).
    """
    days: dict[int, list[int]] = {}
    for name, value in fields.items():
        day, kind = name.decode().split(":")
        days.setdefault(int(day), [0, 0])[0 if kind == "f" else 1] = int(value)
    return {d: (v[0], v[1]) for d, v in days.items()}


# `unpack`, each distinct packed event decoded once (up to `EVENT_CACHE` kept).
decoded = functools.lru_cache(maxsize=EVENT_CACHE)(unpack)


@functools.lru_cache(maxsize=TALLY_CACHE)
def known_of_tile(flat: tuple[bytes, ...], day: int, kind: str) -> dict[str, int]:
    """`compute.known_by` of a tile as a read script returns it, on `day`, computed once per
    distinct tile content, day and kind (the dict is shared by every such read: never
    modified).

    Args:
        flat: the tile hash's fields, each followed by its value.
        day: the transaction's day.
        kind: "merchant", "mcc" or "global".

    Returns:
        What `known_by` returns.
    """
    return known_by(tile_days(hash_pairs(list(flat))), day, kind)


def tallies_of(tiles: Sequence[Sequence[bytes]], day: int) -> Tallies:
    """A transaction's `Tallies` from its three tiles as Redis returned them (`known_of_tile`).

    Args:
        tiles: the merchant, MCC and global tile hashes (in this order), each as a script
            returns HGETALL: field, value, field, value, ...
        day: the transaction's day.

    Returns:
        The labels known by `day` per merchant, MCC and overall.
    """
    merchant, mcc, everyone = map(tuple, tiles)
    return Tallies(
        known_of_tile(merchant, day, "merchant"),
        known_of_tile(mcc, day, "mcc"),
        known_of_tile(everyone, day, "global"),
    )
