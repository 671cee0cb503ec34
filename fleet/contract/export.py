"""Generate the published JSON Schema files of contract v1 (`python -m fleet.contract.export`)."""

import json
from pathlib import Path
from typing import Any

from fleet.contract.codec import MAX_RECORDS_PER_MESSAGE
from fleet.contract.topics import TOPIC_ROOT, Stream
from fleet.streams import STREAMS, record_type

SCHEMA_DIR = Path(__file__).parent / "schemas" / "v1"


def message_schema(stream_name: str) -> dict[str, Any]:
    """JSON Schema of one message on `stream_name`: a record, or a batch of records."""
    record_schema = record_type(Stream(stream_name)).model_json_schema()
    defs = record_schema.pop("$defs", {})
    record_schema["additionalProperties"] = True
    defs["record"] = record_schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://fleet.example/schemas/v1/{stream_name}.json",
        "title": f"{TOPIC_ROOT}/{{device_id}}/{stream_name}",
        "description": (
            'One record, or a store-and-forward batch {"records": [...]}. Unknown fields are ignored. '
            "Numbers must be finite: NaN, Infinity and numbers beyond the 64-bit float range (such as 1e400) are "
            "refused."
        ),
        "oneOf": [
            {"$ref": "#/$defs/record"},
            {
                "type": "object",
                "required": ["records"],
                "properties": {
                    "records": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_RECORDS_PER_MESSAGE,
                        "items": {"$ref": "#/$defs/record"},
                    }
                },
            },
        ],
        "$defs": defs,
    }


def rendered_schemas() -> dict[str, str]:
    """File name to content of every schema file."""
    return {
        f"{stream.value}.json": json.dumps(message_schema(stream.value), indent=2, sort_keys=True) + "\n"
        for stream in STREAMS
    }


def main() -> None:
    """Write the schema files next to this module."""
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for name, content in rendered_schemas().items():
        (SCHEMA_DIR / name).write_text(content)


if __name__ == "__main__":
    main()
