"""Text frames that SignedInConsumer's parser refuses with an `invalid_frame` error frame, each
otherwise a valid write (`content` is where the forum's `new_post` and messaging's `send` take
their text)."""


def nested(depth: int) -> str:
    return "[" * depth + '"x"' + "]" * depth


def write_frame(type: str, content: str, **fields: str) -> str:
    extra = "".join(f', "{key}": {value}' for key, value in fields.items())
    return f'{{"type": "{type}", "content": {content}{extra}}}'


def unparsable_frames(type: str, **fields: str) -> dict[str, str]:
    """Frames of `type`, by what is wrong with them; `fields` are JSON texts the type needs."""
    return {
        "100k levels deep": write_frame(type, nested(100_000), **fields),
        "deeper than the parser's recursion": write_frame(type, nested(30_000), **fields),
        "20 levels deep": write_frame(type, nested(20), **fields),
        "over the size limit": write_frame(type, '"' + "x" * 70_000 + '"', **fields),
        "NUL in content": write_frame(type, '"Pump\\u0000 ok"', **fields),
        "lone surrogate in content": write_frame(type, '"Pump \\ud800 ok"', **fields),
        "NUL in a key": write_frame(type, '"Pump ok"', **fields, **{"a\\u0000": "1"}),
        "NaN": write_frame(type, "NaN", **fields),
    }
