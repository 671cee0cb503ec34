"""The one MQTT client setup of every fleet process: URL, credentials, TLS, back-off, logging."""
