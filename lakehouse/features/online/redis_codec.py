"""How the Redis backend (`redis_store.py`) writes an event and reads a label tile: an event is
one text value of its fields (exact floats), a tile one hash of per-day counts.
"""

from __future__ import annotations

from lakehouse.features.online.events import Event


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
