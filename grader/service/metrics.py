"""GET /metrics: the queue and the gradings in Prometheus's text format (prometheus-client).

Every figure is read from the database when scraped, not counted in this process: the
gradings happen in other processes and on other machines (`grade worker`), and a restart
loses nothing. So the counters are sums over the tables (monotonic: rows are never deleted).

  ipc_grader_queue_depth                     jobs waiting (queued, or waiting for a twin)
  ipc_grader_jobs_running                    jobs being graded now
  ipc_grader_jobs_finished_total{status}     jobs done: graded | error | refused | failed
  ipc_grader_jobs_per_minute                 jobs done per minute, over the last 5 minutes
  ipc_grader_grading_seconds{quantile}       time of a grading (its sandbox run, fetch and
                                             reuse excluded): 0.5, 0.9, 0.99 over the
                                             gradings of the last hour; _count and _sum over
                                             all of them
  ipc_grader_jobs_stalled_total              times a job's worker died under it (SIGKILL, a
                                             machine lost) and the job was found stalled
  ipc_grader_jobs_retried_total              times a job was put back in the queue (stalled,
                                             a fetch or a sandbox that failed to start)
  ipc_grader_passbacks{state}                the outbox by state
  ipc_grader_workers                         procrastinate workers with a fresh heartbeat
                                             (PostgreSQL; two per `grade worker`)

Open to anyone, like /health: counts only, nothing about a student (restrict it at the
proxy if that is too much).
"""

from __future__ import annotations

import statistics
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select, text

from grader.service.context import Service
from grader.service.db import Grading, Job, Passback

router = APIRouter()

QUANTILES = (0.5, 0.9, 0.99)
WINDOW_S = 3600.0        # percentiles over the gradings of the last hour
RATE_WINDOW_S = 300.0    # jobs per minute over the last 5 minutes


class DatabaseCollector:
    """A prometheus-client collector whose collect() queries the service's database."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

        moment = time.time()
        with self.service.db.session() as session:
            states = dict(session.execute(select(Job.state, func.count())
                                          .group_by(Job.state)).all())
            finished = dict(session.execute(select(Job.status, func.count())
                                            .where(Job.state == "done")
                                            .group_by(Job.status)).all())
            recent = session.scalar(select(func.count()).select_from(Job).where(
                Job.state == "done", Job.finished_at >= moment - RATE_WINDOW_S)) or 0
            stalls, retries = session.execute(
                select(func.coalesce(func.sum(Job.stalls), 0),
                       func.coalesce(func.sum(Job.retries), 0))).one()
            took = Grading.finished_at - Grading.started_at
            count, total = session.execute(
                select(func.count(), func.coalesce(func.sum(took), 0.0))
                .where(Grading.state == "graded")).one()
            last_hour = [row for (row,) in session.execute(
                select(took).where(Grading.state == "graded",
                                   Grading.finished_at >= moment - WINDOW_S))]
            outbox = dict(session.execute(select(Passback.state, func.count())
                                          .group_by(Passback.state)).all())
            workers = None
            if self.service.db.is_postgresql:
                workers = session.execute(text(
                    "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > "
                    "now() - make_interval(secs => :s)"),
                    {"s": self.service.config.stalled_after_s}).scalar()

        yield GaugeMetricFamily("ipc_grader_queue_depth", "Grading jobs waiting to run",
                                value=states.get("queued", 0))
        yield GaugeMetricFamily("ipc_grader_jobs_running", "Grading jobs running now",
                                value=states.get("running", 0))
        done = CounterMetricFamily("ipc_grader_jobs_finished", "Grading jobs done, by status",
                                   labels=["status"])
        for status in ("graded", "error", "refused", "failed"):
            done.add_metric([status], finished.get(status, 0))
        yield done
        yield GaugeMetricFamily("ipc_grader_jobs_per_minute",
                                "Grading jobs done per minute over the last 5 minutes",
                                value=recent / (RATE_WINDOW_S / 60))
        summary = Metric("ipc_grader_grading_seconds", "Time of one grading (the sandbox run),"
                         " quantiles over the last hour", "summary")
        for share in QUANTILES:
            summary.add_sample("ipc_grader_grading_seconds", {"quantile": str(share)},
                               quantile(last_hour, share))
        summary.add_sample("ipc_grader_grading_seconds_count", {}, count)
        summary.add_sample("ipc_grader_grading_seconds_sum", {}, float(total))
        yield summary
        yield CounterMetricFamily("ipc_grader_jobs_stalled",
                                  "Times a job's worker died under it (found by heartbeat)",
                                  value=stalls)
        yield CounterMetricFamily("ipc_grader_jobs_retried",
                                  "Times a job was put back in the queue", value=retries)
        passbacks = GaugeMetricFamily("ipc_grader_passbacks", "The outbox, by state",
                                      labels=["state"])
        for state in ("waiting", "pending", "sent", "superseded", "failed", "skipped"):
            passbacks.add_metric([state], outbox.get(state, 0))
        yield passbacks
        if workers is not None:
            yield GaugeMetricFamily("ipc_grader_workers", "procrastinate workers alive "
                                    "(two per `grade worker`)", value=workers)


def quantile(values: list[float], share: float) -> float:
    """The `share` quantile (nearest rank), NaN without values (Prometheus's "no data")."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return float(values[0])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return float(cuts[min(98, round(share * 100) - 1)])


def registry_of(service: Service):
    """The service's own registry (not the process-wide one: tests make many services)."""
    from prometheus_client import CollectorRegistry

    if getattr(service, "_metrics_registry", None) is None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(DatabaseCollector(service))
        service._metrics_registry = registry
    return service._metrics_registry


@router.get("/metrics")
def metrics(request: Request):
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    service: Service = request.app.state.service
    return Response(generate_latest(registry_of(service)), media_type=CONTENT_TYPE_LATEST)
