"""When a delivery is first due, by latency class.

`immediate` and `near_real_time` go at once. `micro_batch` deliveries all fall due at the next
boundary of the batch interval and `end_of_day` ones at the plant's end-of-day time, so each
group is claimed and sent together by the run the sweeper (Celery beat) rings at that moment.
"""

import datetime as dt
import zoneinfo

from django.conf import settings

from integrations.choices import LatencyClass


def first_attempt_at(latency_class: str, plant, now: dt.datetime) -> dt.datetime:
    if latency_class == LatencyClass.MICRO_BATCH:
        interval = settings.MICRO_BATCH_INTERVAL_S
        return dt.datetime.fromtimestamp((now.timestamp() // interval + 1) * interval, tz=dt.UTC)
    if latency_class == LatencyClass.END_OF_DAY:
        tz = plant.tz if plant else zoneinfo.ZoneInfo("UTC")
        local = now.astimezone(tz)
        run = dt.datetime.combine(local.date(), dt.time.fromisoformat(settings.END_OF_DAY_TIME), tzinfo=tz)
        return run if run > local else dt.datetime.combine(local.date() + dt.timedelta(days=1), run.timetz())
    return now
