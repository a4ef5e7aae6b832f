"""Django → Redis publishing of key snapshots and the catalog (real Redis, own prefix)."""

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from django.utils import timezone

from accounts.services import organization_create
from inference.config_render import render_litellm_config
from inference.models import ModelDeployment
from inference.proxy.contract import Catalog, KeySnapshot, RedisKeys, ScopeLimits, decode_event
from inference.services import deployment_set
from keys.models import ApiKey
from keys.publishing import snapshot_publish_all, snapshot_reconcile
from keys.services import key_issue, key_revoke
from keys.tasks import last_used_flush


@pytest.fixture
def rkeys(settings):
    return RedisKeys(settings.REDIS_PREFIX)


@pytest.fixture
def alice_org(make_user, catalog):
    alice = make_user("alice")
    return alice, organization_create(name="A", owner=alice)


def test_issuing_publishes_the_snapshot_after_commit(
    alice_org, redis_client, rkeys, django_capture_on_commit_callbacks
):
    alice, org = alice_org
    expires = datetime.now(UTC) + timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        issued = key_issue(organization=org, created_by=alice, name="k", models=["tiny"], expires_at=expires)
    assert redis_client.get(rkeys.key(issued.key.secret_hash)) is None  # nothing before the commit
    for callback in callbacks:
        callback()
    snapshot = KeySnapshot.from_json(redis_client.get(rkeys.key(issued.key.secret_hash)))
    assert snapshot == KeySnapshot(
        key_id=str(issued.key.id),
        org_id=str(org.id),
        user_id=str(alice.id),
        models=("tiny",),
        expires_at=expires.timestamp(),
        scopes=(ScopeLimits("key", str(issued.key.id)), ScopeLimits("org", str(org.id))),
    )
    stored = redis_client.mget(list(redis_client.scan_iter(f"{rkeys.prefix}:key:*")))
    assert stored and issued.secret not in json.dumps([v.decode() for v in stored])


def test_revoking_withdraws_the_snapshot_and_notifies_workers(
    alice_org, redis_client, rkeys, django_capture_on_commit_callbacks
):
    alice, org = alice_org
    with django_capture_on_commit_callbacks(execute=True):
        issued = key_issue(organization=org, created_by=alice, name="k")
    pubsub = redis_client.pubsub()
    pubsub.subscribe(rkeys.events)
    pubsub.get_message(timeout=1)  # the subscribe confirmation
    with django_capture_on_commit_callbacks(execute=True):
        key_revoke(key=issued.key, by=alice)
    assert redis_client.get(rkeys.key(issued.key.secret_hash)) is None
    message = pubsub.get_message(timeout=2)
    assert message is not None
    assert decode_event(message["data"]) == ("key", issued.key.secret_hash)


def test_a_full_publish_rebuilds_keys_and_catalog_and_drops_strays(alice_org, redis_client, rkeys):
    alice, org = alice_org
    live = key_issue(organization=org, created_by=alice, name="live").key
    dead = key_issue(organization=org, created_by=alice, name="dead").key
    ApiKey.objects.filter(pk=dead.pk).update(revoked_at=timezone.now() - timedelta(hours=1))
    redis_client.set(rkeys.key("f" * 64), "stray")
    redis_client.set(rkeys.key(dead.secret_hash), "stale")

    assert snapshot_publish_all() == 1
    assert redis_client.exists(rkeys.epoch)
    assert KeySnapshot.from_json(redis_client.get(rkeys.key(live.secret_hash))).key_id == str(live.id)
    assert redis_client.get(rkeys.key(dead.secret_hash)) is None
    assert redis_client.get(rkeys.key("f" * 64)) is None
    assert Catalog.from_json(redis_client.get(rkeys.catalog)).names() == {"smollm2", "tiny"}


def test_a_recent_revocation_is_never_resurrected_by_a_republish(alice_org, redis_client, rkeys):
    alice, org = alice_org
    key = key_issue(organization=org, created_by=alice, name="k").key
    # The snapshot a slow publisher might still write after the revoke landed:
    redis_client.set(rkeys.key(key.secret_hash), "stale")
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    redis_client.set(rkeys.epoch, "1")
    assert snapshot_reconcile() == "present"
    assert redis_client.get(rkeys.key(key.secret_hash)) is None


def test_reconcile_republishes_only_when_redis_lost_the_epoch(alice_org, redis_client, rkeys):
    alice, org = alice_org
    key = key_issue(organization=org, created_by=alice, name="k").key
    assert snapshot_reconcile() == "republished"
    assert redis_client.exists(rkeys.key(key.secret_hash))
    assert snapshot_reconcile() == "present"
    for name in redis_client.scan_iter(f"{rkeys.prefix}:*"):  # as after a restart with nothing on disk
        redis_client.delete(name)
    assert snapshot_reconcile() == "republished"
    assert redis_client.exists(rkeys.key(key.secret_hash)) and redis_client.exists(rkeys.epoch)


def test_last_used_moves_from_redis_to_postgres_and_never_backwards(alice_org, redis_client, rkeys):
    alice, org = alice_org
    key = key_issue(organization=org, created_by=alice, name="k").key
    now = int(time.time())
    redis_client.hset(rkeys.last_used, str(key.id), str(now))
    redis_client.hset(rkeys.last_used, str(uuid.uuid4()), str(now))  # a key that no longer exists
    assert last_used_flush() == 1
    key.refresh_from_db()
    assert key.last_used_at == datetime.fromtimestamp(now, tz=UTC)
    assert not redis_client.hexists(rkeys.last_used, str(key.id))
    redis_client.hset(rkeys.last_used, str(key.id), str(now - 3600))
    last_used_flush()
    key.refresh_from_db()
    assert key.last_used_at == datetime.fromtimestamp(now, tz=UTC)


def test_the_rendered_litellm_config_names_models_but_no_secret(catalog, settings):
    deployment_set(
        name="vllm-big",
        backend_url="http://gpu-1:8000/v1",
        upstream_model="meta/llama",
        context_window=8192,
        upstream_key_env="VLLM_API_KEY",
    )
    config = yaml.safe_load(render_litellm_config(ModelDeployment.objects.select_related("backend")))
    by_name = {m["model_name"]: m for m in config["model_list"]}
    assert set(by_name) == {"smollm2", "tiny", "vllm-big"}
    assert by_name["vllm-big"]["litellm_params"]["api_key"] == "os.environ/VLLM_API_KEY"
    assert by_name["vllm-big"]["model_info"]["max_input_tokens"] == 8192
    assert config["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert config["general_settings"]["custom_auth"] == "inference.proxy.auth.user_api_key_auth"
    assert config["litellm_settings"]["callbacks"] == [
        "inference.proxy.hooks.proxy_hooks",
        "inference.proxy.usage.usage_logger",
        "prometheus",  # LiteLLM's own metrics, at /metrics/ for the master key only
    ]
    # The repository's cold-start copy is this render: its settings never drift from the code's.
    repo = yaml.safe_load((settings.BASE_DIR / "litellm" / "config.yaml").read_text())
    assert (repo["general_settings"], repo["litellm_settings"]) == (
        config["general_settings"],
        config["litellm_settings"],
    )
    # LiteLLM applies litellm_settings in order, and importing the hooks installs our prometheus
    # callback (lean_prometheus.py), which reads the prometheus_* settings: they come first.
    order = list(config["litellm_settings"])
    assert order.index("prometheus_metrics_config") < order.index("callbacks")
    assert order.index("prometheus_exclude_labels") < order.index("callbacks")
    assert list(repo["litellm_settings"]) == order
