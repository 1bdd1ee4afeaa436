"""The daemon serves the receiver only when push.enabled, and stops it cleanly."""

from __future__ import annotations

import dataclasses
import json
import urllib.request

import pytest

from etl.config import PushConfig, Secret
from etl.daemon import Daemon
from etl.db.engine import make_engine
from tests.jobs.helpers import make_config


@pytest.mark.backends("sqlite")
def test_daemon_starts_the_receiver_only_when_enabled_and_stops_it(migrated_db_url, backend):
    engine = make_engine(migrated_db_url)
    config = make_config(migrated_db_url, "http://127.0.0.1:9/v1")
    off = Daemon(config, engine, client_factory=lambda: None)
    assert off.start_push_receiver() is None

    config = dataclasses.replace(config, push=PushConfig(enabled=True, port=0, path_token=Secret("daemon-token-0123456789")))
    daemon = Daemon(config, engine, client_factory=lambda: None)
    receiver = daemon.start_push_receiver()
    request = urllib.request.Request(receiver.url("stop"), data=json.dumps({"type": "stop", "phone_number": "+33612345678"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200
    daemon.stop_push_receiver()
    assert daemon.push_receiver is None
    assert b"smspartner_etl_push_accepted" in daemon.metrics.exposition()
    engine.dispose()
