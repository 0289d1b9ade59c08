"""Scale-out: two pyjinn nodes on one NATS cluster share the job queues, and streams and
buckets have ``cluster_replicas`` copies. A real 3-node nats-server cluster on loopback."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import nats
import pytest

from tests.jobs.test_delivery import enqueue_many
from tests.server.test_live import start, wait_until
from tests.servers import NatsCluster

pytestmark = pytest.mark.slow

KEY = "acme-key-0123456789abcdef"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    directory = tmp_path / "nats"
    directory.mkdir()
    cluster = NatsCluster(directory)
    cluster.start()
    yield cluster
    cluster.stop()


def node_site(cluster: NatsCluster) -> tuple[str, str]:
    options = f"nats_url {' '.join(cluster.urls)}\n\tcluster_replicas 3\n\tdata_dir ./data"
    site = f"""
:PORT {{
    handle /work {{
        pyjinn ../jobs.wasm {{
            name work
            api_key {KEY} acme
        }}
    }}
}}
"""
    return site, options


def test_a_job_enqueued_on_one_node_runs_on_another(
    tmp_path: Path, cluster: NatsCluster, c_guest: Callable[[str], Path]
) -> None:
    shutil.copyfile(c_guest("jobs"), tmp_path / "jobs.wasm")
    site, options = node_site(cluster)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    node_a = start(tmp_path / "a", site, workers=1, options=options)
    node_b = start(tmp_path / "b", site, workers=1, options=options)
    try:
        ids = asyncio.run(enqueue_many(node_a, 60, KEY, "?sleep_ms=300"))
        assert node_a.stop() == 0  # node A drains what it started and leaves the rest
        headers = {"X-API-Key": KEY}

        def all_done() -> bool:
            return all(
                httpx.get(f"{node_b.url}/_pyjinn/jobs/{job}", headers=headers, timeout=10)
                .json()
                .get("status")
                == "succeeded"
                for job in ids
            )

        wait_until(all_done, 120)
        ran_on_b = {
            r["trace_id"]
            for r in node_b.logs()
            if r.get("logger") == "pyjinn.access" and r.get("status") == 200
        }
        enqueued_on_a = {
            r["trace_id"]
            for r in node_a.logs()
            if r.get("logger") == "pyjinn.access" and r.get("status") == 202
        }
        assert len(ran_on_b & enqueued_on_a) > 0  # node B ran jobs node A stored
        assert asyncio.run(replicas(cluster)) == {"jobs": 3, "dead": 3, "records": 3}
    finally:
        node_a.stop()
        assert node_b.stop() == 0


async def replicas(cluster: NatsCluster) -> dict[str, int]:
    client = await nats.connect(servers=cluster.urls)
    try:
        js = client.jetstream()
        jobs = await js.stream_info("PYJINN_JOBS_acme")
        dead = await js.stream_info("PYJINN_DEAD_acme")
        records = await js.stream_info("KV_PYJINN-JOBS")
        return {
            "jobs": jobs.config.num_replicas,
            "dead": dead.config.num_replicas,
            "records": records.config.num_replicas,
        }
    finally:
        await client.close()
