from sqlalchemy import inspect

from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.postgres import PostgresServer


def test_private_postgres_is_migrated(postgres: PostgresServer, pg_engine) -> None:
    assert "positions" in inspect(pg_engine).get_table_names()


def test_private_mosquitto_accepts_connections(mosquitto: MosquittoServer) -> None:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    assert client.connect("127.0.0.1", mosquitto.port) == mqtt.MQTT_ERR_SUCCESS
    client.disconnect()
