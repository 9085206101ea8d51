"""The labour room's typed keys."""

from __future__ import annotations

from aiohttp import web

from handlers.labour.reports import ReportService
from handlers.labour.review import ReviewService
from handlers.labour.schools import SchoolService
from handlers.labour.stats import LabourStats
from handlers.labour.summary import SummaryService
from handlers.labour.tasks import TaskService

SCHOOL_SERVICE = web.AppKey("school_service", SchoolService)
TASK_SERVICE = web.AppKey("task_service", TaskService)
REVIEW_SERVICE = web.AppKey("review_service", ReviewService)
SUMMARY_SERVICE = web.AppKey("summary_service", SummaryService)
REPORT_SERVICE = web.AppKey("report_service", ReportService)
LABOUR_STATS = web.AppKey("labour_stats", LabourStats)
