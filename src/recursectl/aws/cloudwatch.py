"""CloudWatch metrics, by job: sums of Lambda's per-function metrics over a window."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from recursectl.aws.errors import translate

if TYPE_CHECKING:
    from recursectl.aws.session import Aws

# GetMetricData takes at most 500 queries a call (AWS's quota, also in botocore's docs).
MAX_QUERIES = 500
LAMBDA_NAMESPACE = "AWS/Lambda"


@dataclass(frozen=True)
class MetricQuery:
    """The sum of one metric of one function (dimension FunctionName) over the window."""

    function: str
    metric: str


def batches(queries: Sequence[MetricQuery], size: int = MAX_QUERIES) -> Iterator[list[MetricQuery]]:
    for start in range(0, len(queries), size):
        yield list(queries[start : start + size])


class MetricsApi:
    def __init__(self, aws: Aws) -> None:
        self._aws = aws

    @property
    def _client(self) -> Any:
        return self._aws.cloudwatch

    def lambda_sums(
        self,
        queries: Sequence[MetricQuery],
        *,
        start: datetime,
        end: datetime,
        on_batch: Callable[[int], None] | None = None,
    ) -> dict[MetricQuery, float]:
        """Each query's sum over [start, end): one GetMetricData call (and its pages) per 500
        queries. A metric with no datapoint in the window sums to 0."""
        # One period covering the window: the fewest datapoints. CloudWatch wants a multiple
        # of 60 s (and of 3600 s for data older than 15 days): round up to whole hours.
        seconds = max(60, int((end - start).total_seconds()))
        period = -(-seconds // 3600) * 3600
        sums: dict[MetricQuery, float] = {}
        for batch in batches(queries):
            sums.update(self._batch(batch, start, end, period))
            if on_batch:
                on_batch(len(batch))
        return sums

    def _batch(
        self, batch: list[MetricQuery], start: datetime, end: datetime, period: int
    ) -> dict[MetricQuery, float]:
        by_id = {f"q{i}": q for i, q in enumerate(batch)}
        request: dict[str, Any] = {
            "MetricDataQueries": [
                {
                    "Id": qid,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": LAMBDA_NAMESPACE,
                            "MetricName": q.metric,
                            "Dimensions": [{"Name": "FunctionName", "Value": q.function}],
                        },
                        "Period": period,
                        "Stat": "Sum",
                    },
                    "ReturnData": True,
                }
                for qid, q in by_id.items()
            ],
            "StartTime": start,
            "EndTime": end,
        }
        sums = dict.fromkeys(batch, 0.0)
        while True:
            with translate("cloudwatch:GetMetricData", "*", self._aws.target):
                got = self._client.get_metric_data(**request)
            for result in got.get("MetricDataResults", []):
                query = by_id.get(str(result.get("Id")))
                if query is not None:
                    sums[query] += float(sum(result.get("Values") or ()))
            token = got.get("NextToken")
            if not token:
                return sums
            request["NextToken"] = token
