"""Door states as stored: a bit mask (bit i is door i+1, front first) and the number of doors."""

# The mask column is a 32-bit integer; nothing sensible lies beyond its bits.
MAX_DOORS = 32


def pack_doors(doors: list[bool] | None) -> tuple[int | None, int | None]:
    """(mask, count) of a list of door states, or (None, None) when the unit sent none."""
    if doors is None:
        return None, None
    return sum(1 << i for i, is_open in enumerate(doors) if is_open), len(doors)


def unpack_doors(mask: int | None, count: int | None) -> list[bool] | None:
    """Door states, front first; `count` doors, else as many as the mask shows."""
    if mask is None:
        return None
    doors = count if count is not None else mask.bit_length()
    return [bool(mask >> i & 1) for i in range(min(max(doors, 0), MAX_DOORS))]
