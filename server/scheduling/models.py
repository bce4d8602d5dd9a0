"""One row per run of a scheduled job slot (定时任务运行记录)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class RunStatus(StrEnum):
    PENDING = "pending"  # the slot is known, nobody holds it
    RUNNING = "running"  # held by ``worker`` until ``lease_until``
    DONE = "done"
    FAILED = "failed"  # the run raised: a later claim of the same slot may try again


class JobRun(Model):
    """A job slot (job name + scheduled fire time) in a scope (a community or the whole system)."""

    id = fields.BigIntField(primary_key=True)
    job = fields.CharField(max_length=48)
    slot = fields.CharField(max_length=64)  # UTC fire time, or manual-<time> for run-job
    scope = fields.CharField(max_length=32, default="")  # "" or community:<id>
    community_id = fields.IntField(null=True)
    status = fields.CharEnumField(RunStatus, max_length=16, default=RunStatus.PENDING)
    worker = fields.CharField(max_length=128, default="")
    attempts = fields.IntField(default=0)
    lease_until = fields.DatetimeField(null=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    result = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "job_run"
        unique_together = (("job", "slot", "scope"),)
        indexes = (("job", "status", "slot"),)
