"""Generate the published JSON Schema files of contract v1 (`python -m fleet.contract.export`)."""

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from fleet.contract.codec import MAX_RECORDS_PER_MESSAGE
from fleet.contract.commands import PARAMS, CommandMessage
from fleet.contract.downlink import FileGrantMessage
from fleet.contract.events import event_data_schema
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


def downlink_schema(suffix: str, message: Any) -> dict[str, Any]:
    """JSON Schema of the downlink message on fleet/v1/{device_id}/`suffix`."""
    schema = TypeAdapter(message).json_schema()
    return {
        **schema,
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://fleet.example/schemas/v1/{suffix.replace('/', '-')}.json",
        "title": f"{TOPIC_ROOT}/{{device_id}}/{suffix}",
    }


DOWNLINK_MESSAGES: dict[str, Any] = {"cmd": CommandMessage, "file/grant": FileGrantMessage}


def command_params_schema() -> dict[str, Any]:
    """JSON Schema of the params of every command type, one definition per type."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://fleet.example/schemas/v1/cmd-params.json",
        "title": "params of fleet/v1/{device_id}/cmd, by command type",
        "$defs": {name: model.model_json_schema() for name, model in PARAMS.items()},
    }


def rendered_schemas() -> dict[str, str]:
    """File name to content of every schema file: one per uplink stream, one per downlink topic."""
    uplink = {stream.value: message_schema(stream.value) for stream in STREAMS}
    downlink = {suffix.replace("/", "-"): downlink_schema(suffix, m) for suffix, m in DOWNLINK_MESSAGES.items()}
    downlink["cmd-params"] = command_params_schema()
    uplink["evt-data"] = event_data_schema()
    return {
        f"{name}.json": json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in {**uplink, **downlink}.items()
    }


def main() -> None:
    """Write the schema files next to this module."""
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for name, content in rendered_schemas().items():
        (SCHEMA_DIR / name).write_text(content)


if __name__ == "__main__":
    main()
