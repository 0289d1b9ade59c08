"""Jobs as users run them: ``pyjinn up`` with its embedded nats-server, real HTTP, real processes.

Every figure a test depends on (attempts, delays, the runs of each job) is read from the job
records and the access log the server wrote, not inferred from timing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import PYJINN_IMPORTS, Strings, abi_guest
from tests.server.test_live import Server, start, wait_until

pytestmark = pytest.mark.slow

ACME_KEY = "acme-key-0123456789abcdef"
BETA_KEY = "beta-key-0123456789abcdef"

SITE = """
:PORT {
    handle /work {
        pyjinn jobs.wasm {
            name work
            timeout 5s
            max_attempts 3
            retry_backoff 300ms 2s
            api_key ACME_KEY acme
            api_key BETA_KEY beta
        }
    }
    handle /always {
        pyjinn jobs.wasm {
            name always
            async
        }
    }
    handle /enqueue {
        pyjinn enqueue.wat {
            permissions {
                jobs_enqueue always
            }
        }
    }
    handle /anywhere {
        pyjinn enqueue.wat {
            name anywhere
            permissions {
                jobs_enqueue *
            }
        }
    }
    handle /legacy {
        gojinn legacy.wat {
            permissions {
                jobs_enqueue always
            }
        }
    }
}
""".replace("ACME_KEY", ACME_KEY).replace("BETA_KEY", BETA_KEY)

JOB_IMPORT = (
    '(import "pyjinn" "job_enqueue" (func $job_enqueue (param i32 i32 i32 i32 i32 i32) '
    "(result i64)))"
)
GOJINN_IMPORT = (
    '(import "gojinn" "host_enqueue" (func $host_enqueue (param i32 i32 i32 i32) (result i32)))'
)


def enqueue_guest() -> str:
    """Enqueues a job of 'always' (payload "from-guest"), one of 'nope', one it may not."""
    strings = Strings()
    always, payload, nope = strings.at("always"), strings.at("from-guest"), strings.at("nope")
    work = strings.at("work")

    def call(target: tuple[int, int]) -> str:
        return (
            f"(call $job_enqueue (i32.const {target[0]}) (i32.const {target[1]}) "
            f"(i32.const {payload[0]}) (i32.const {payload[1]}) (i32.const 0) (i32.const 0))"
        )

    return abi_guest(
        PYJINN_IMPORTS + JOB_IMPORT, [call(always), call(nope), call(work)], strings.data
    )


def legacy_guest() -> str:
    strings = Strings()
    file, payload = strings.at("jobs.wasm"), strings.at("from-gojinn")
    call = (
        f"(i64.extend_i32_s (call $host_enqueue (i32.const {file[0]}) (i32.const {file[1]}) "
        f"(i32.const {payload[0]}) (i32.const {payload[1]})))"
    )
    return abi_guest(GOJINN_IMPORT, [call], strings.data)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, c_guest: Callable[[str], Path]
) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("jobs")
    shutil.copyfile(c_guest("jobs"), directory / "jobs.wasm")
    (directory / "enqueue.wat").write_text(enqueue_guest())
    (directory / "legacy.wat").write_text(legacy_guest())
    server = start(directory, SITE, workers=2)
    yield server
    assert server.stop() == 0


def submit(server: Server, path: str, key: str | None = ACME_KEY, **headers: str) -> httpx.Response:
    sent = {"X-Pyjinn-Async": "true", **headers}
    if key is not None:
        sent["X-API-Key"] = key
    return httpx.post(f"{server.url}{path}", content=b"payload", headers=sent, timeout=10)


def status(server: Server, job_id: str, key: str | None = ACME_KEY) -> httpx.Response:
    headers = {"X-API-Key": key} if key is not None else {}
    return httpx.get(f"{server.url}/_pyjinn/jobs/{job_id}", headers=headers, timeout=10)


def finished(server: Server, job_id: str, key: str | None = ACME_KEY, timeout: float = 30) -> dict:
    record: dict = {}

    def done() -> bool:
        nonlocal record
        record = status(server, job_id, key).json()
        return record.get("status") in ("succeeded", "dead")

    wait_until(done, timeout)
    return record


def test_an_async_request_is_answered_202_then_runs_once_and_keeps_its_result(server) -> None:
    response = submit(server, "/work")
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    assert response.json() == {"job_id": job_id, "status": "queued"}
    assert response.headers["location"] == f"/_pyjinn/jobs/{job_id}"
    assert response.headers["x-gojinn-job-id"] == job_id
    record = finished(server, job_id)
    assert record["status"] == "succeeded" and record["attempts"] == 1
    assert record["result"]["status"] == 200
    assert record["result"]["body"] == f"job={job_id} attempt=1 body=payload"
    assert record["function"] == "work" and record["tenant"] == "acme"
    assert record["created"] <= record["started"] <= record["finished"]


def test_gojinn_s_async_header_works_too(server) -> None:
    response = httpx.post(
        f"{server.url}/work",
        headers={"X-Gojinn-Async": "true", "X-API-Key": ACME_KEY},
        timeout=10,
    )
    assert response.status_code == 202
    assert finished(server, response.json()["job_id"])["status"] == "succeeded"


def test_a_job_is_visible_only_to_the_tenant_that_created_it(server) -> None:
    job_id = submit(server, "/work").json()["job_id"]
    finished(server, job_id)
    assert status(server, job_id, BETA_KEY).status_code == 404  # another tenant
    assert status(server, job_id, None).status_code == 404  # no key at all
    assert status(server, job_id, "wrong-key-0123456789abcdef").status_code == 404
    assert status(server, "0" * 32).status_code == 404
    assert status(server, "not-a-job").status_code == 404


def test_a_function_configured_async_answers_every_request_202(server) -> None:
    response = httpx.get(f"{server.url}/always", timeout=10)
    assert response.status_code == 202
    assert finished(server, response.json()["job_id"], key=None)["status"] == "succeeded"


def test_an_idempotency_key_makes_one_job(server) -> None:
    first = submit(server, "/work", **{"Idempotency-Key": f"order-{time.time_ns()}"})
    key = first.request.headers["idempotency-key"]
    second = submit(server, "/work", **{"Idempotency-Key": key})
    assert second.json()["job_id"] == first.json()["job_id"]


def test_a_failing_job_is_retried_with_growing_delays_then_dead_then_retried(server) -> None:
    trace = os.urandom(16).hex()
    job_id = submit(server, "/work?fail_until=99", traceparent=f"00-{trace}-{'1' * 16}-01").json()[
        "job_id"
    ]
    record = finished(server, job_id)
    assert record["status"] == "dead"
    assert record["attempts"] == 3  # max_attempts
    assert record["error"] == "function failed"

    # Every attempt continues the trace of the request that enqueued the job (access records
    # are written in batches: wait for the last one).
    def attempts() -> list[float]:
        return [
            json_time(r["time"])
            for r in server.logs()
            if r.get("logger") == "pyjinn.access" and r["trace_id"] == trace and r["status"] == 502
        ]

    wait_until(lambda: len(attempts()) >= 3)
    times = attempts()
    assert len(times) == 3
    first_gap, second_gap = times[1] - times[0], times[2] - times[1]
    assert first_gap >= 0.25 and second_gap >= 0.55  # 300 ms, then 600 ms
    listed = admin_jobs(server, "status=dead&function=work")
    assert job_id in [job["job_id"] for job in listed]
    dead = 'pyjinn_jobs_total{event="dead",function="work",tenant="acme"}'
    wait_until(lambda: dead in httpx.get(f"{server.admin}/metrics", timeout=10).text)
    metrics = httpx.get(f"{server.admin}/metrics", timeout=10).text
    assert 'pyjinn_dead_letter_jobs{tenant="acme"}' in metrics
    assert "pyjinn_job_start_delay_seconds_bucket" in metrics

    # Retrying needs the admin token; the CLI reads it from data_dir.
    refused = httpx.post(f"{server.admin}/jobs/{job_id}/retry", timeout=10)
    assert refused.status_code == 401
    retried = pyjinn(server, "jobs", "retry", job_id)
    assert retried.returncode == 0, retried.stderr
    assert f"Job {job_id} is queued again." in retried.stdout
    record = finished(server, job_id)
    assert record["status"] == "dead" and record["attempts"] == 3  # it fails again, from 1


def test_jobs_are_listed_and_shown_from_the_command_line(server) -> None:
    job_id = submit(server, "/work").json()["job_id"]
    finished(server, job_id)
    shown = pyjinn(server, "jobs", "show", job_id)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "succeeded"
    listed = pyjinn(server, "jobs", "list", "--tenant", "acme", "--limit", "500", "--json")
    assert job_id in [json.loads(line)["job_id"] for line in listed.stdout.splitlines()]
    table = pyjinn(server, "jobs", "list", "--tenant", "acme", "--limit", "5")
    assert table.returncode == 0 and "succeeded" in table.stdout


def test_a_function_enqueues_jobs_of_the_functions_it_is_granted(server) -> None:
    results = [int(x) for x in httpx.get(f"{server.url}/enqueue", timeout=10).text.split(",")]
    assert results[0] == 32  # the job id's length, for result_read
    assert results[1] == -2  # DENIED: jobs_enqueue names only 'always'
    assert results[2] == -2  # DENIED, likewise
    anywhere = httpx.get(f"{server.url}/anywhere", timeout=10).text.split(",")
    assert [int(result) for result in anywhere] == [32, -1, 32]  # 'nope' is NOT_FOUND
    wait_until(
        lambda: any(
            job["function"] == "always"
            and job["status"] == "succeeded"
            and "body=from-guest" in job["result"]["body"]
            for job in admin_jobs(server, "function=always&limit=50")
        )
    )


def test_a_gojinn_module_enqueues_with_host_enqueue(server) -> None:
    assert httpx.get(f"{server.url}/legacy", timeout=10).text == "0"
    wait_until(
        lambda: any(
            "body=from-gojinn" in (job.get("result") or {}).get("body", "")
            for job in admin_jobs(server, "function=always&limit=50")
        )
    )
    envelope_seen = [
        job
        for job in admin_jobs(server, "function=always&limit=50")
        if "from-gojinn" in (job.get("result") or {}).get("body", "")
    ]
    assert envelope_seen


def test_a_payload_over_max_body_is_refused_before_it_is_queued(server) -> None:
    response = httpx.post(
        f"{server.url}/work",
        content=b"x" * (10 * 1024 * 1024 + 1),
        headers={"X-Pyjinn-Async": "true", "X-API-Key": ACME_KEY},
        timeout=30,
    )
    assert response.status_code == 413


def admin_jobs(server: Server, query: str) -> list[dict]:
    return httpx.get(f"{server.admin}/jobs?{query}", timeout=10).json()["jobs"]


def json_time(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def pyjinn(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pyjinn",
            *args,
            "--caddyfile",
            str(server.log.parent / "Caddyfile"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
