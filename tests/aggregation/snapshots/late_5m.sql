SELECT toUnixTimestamp(toStartOfFiveMinutes(timestamp)) AS bucket, count() AS late
FROM events
PREWHERE inserted_at > fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC')
    AND inserted_at <= fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')
WHERE project_id = {project_id:UInt64}
  AND timestamp < fromUnixTimestamp64Milli({before_ms:Int64}, 'UTC')
GROUP BY bucket
ORDER BY bucket
-- params: {"after_ms": 1767225600000, "before_ms": 1767225600000, "project_id": 7, "tz": "UTC", "until_ms": 1767225600000}
-- settings: {}
