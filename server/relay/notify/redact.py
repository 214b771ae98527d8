"""Keep secret URLs out of log lines written by the libraries that carry them.

httpx2 logs every request's URL at INFO (`HTTP Request: POST https://...`). For Slack's
Web API that is harmless (the token travels in a header), but a webhook's URL, a click's
`response_url` and an Apprise URL are credentials in themselves. Each client that holds
one registers it here; a filter on those libraries' loggers replaces it with `***`.
"""

import logging
import threading

# The loggers that may quote a URL they were given.
LOGGERS = ("httpx2", "apprise", "urllib3.connectionpool")
MASK = "***"


class SecretFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        if secret:
            with self._lock:
                self._secrets.add(secret)

    def discard(self, secret: str) -> None:
        with self._lock:
            self._secrets.discard(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        if not secrets:
            return True
        text = record.getMessage()
        if any(s in text for s in secrets):
            for secret in secrets:
                text = text.replace(secret, MASK)
            record.msg, record.args = text, None
        return True


_FILTER = SecretFilter()
for _name in LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)


def register_secret(secret: str) -> None:
    """Mask `secret` (a whole URL, or the secret part of one) in those loggers' lines."""
    _FILTER.add(secret)


def forget_secret(secret: str) -> None:
    """Stop masking a short-lived secret once nothing uses it any more."""
    _FILTER.discard(secret)
