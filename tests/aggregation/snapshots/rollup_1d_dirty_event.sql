SELECT bucket, event, count, unique_users, unique_persons, toJSONString(mapFilter((name, stats) -> stats.1 > 0, map({measure_0:String}, CAST(tuple(c0, s0, lo0, hi0, a0, q0[1], q0[2], q0[3], q0[4], q0[5]) AS Tuple(count UInt64, sum Nullable(Float64), min Nullable(Float64), max Nullable(Float64), avg Nullable(Float64), p25 Nullable(Float64), p50 Nullable(Float64), p75 Nullable(Float64), p90 Nullable(Float64), p99 Nullable(Float64))), {measure_1:String}, CAST(tuple(c1, s1, lo1, hi1, a1, q1[1], q1[2], q1[3], q1[4], q1[5]) AS Tuple(count UInt64, sum Nullable(Float64), min Nullable(Float64), max Nullable(Float64), avg Nullable(Float64), p25 Nullable(Float64), p50 Nullable(Float64), p75 Nullable(Float64), p90 Nullable(Float64), p99 Nullable(Float64)))))) AS measures
FROM (
    SELECT
        toUnixTimestamp(toStartOfDay(timestamp, {tz:String})) AS bucket,
        event,
        count() AS count,
        uniqExact(reinterpretAsUInt128(sipHash128(distinct_id))) AS unique_users,
        uniqExact(person_id) AS unique_persons,
        count(m0) AS c0, sum(m0) AS s0, min(m0) AS lo0, max(m0) AS hi0, avg(m0) AS a0, quantilesExactInclusive(0.25, 0.5, 0.75, 0.9, 0.99)(m0) AS q0,
        count(m1) AS c1, sum(m1) AS s1, min(m1) AS lo1, max(m1) AS hi1, avg(m1) AS a1, quantilesExactInclusive(0.25, 0.5, 0.75, 0.9, 0.99)(m1) AS q1
    FROM (
        SELECT timestamp, event, distinct_id, person_id, if(multiSearchAny(properties, {measure_needles:Array(String)}), JSONExtract(properties, {measures_type:String}), JSONExtract('{}', {measures_type:String})) AS measure_values, toNullable(toFloat64(revenue)) AS m0, tupleElement(measure_values, 1) AS m1
        FROM events
        WHERE project_id = {project_id:UInt64} AND ((timestamp >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC') AND timestamp < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')) OR (timestamp >= fromUnixTimestamp64Milli({dirty_low_ms:Int64}, 'UTC') AND timestamp < fromUnixTimestamp64Milli({dirty_high_ms:Int64}, 'UTC') AND toUnixTimestamp(toStartOfDay(timestamp, {tz:String})) IN {dirty:Array(UInt32)})) AND event = {event:String}
    )
    GROUP BY bucket, event
)
ORDER BY bucket, event
-- params: {"dirty": [1766966400], "dirty_high_ms": 1767052800000, "dirty_low_ms": 1766966400000, "end_ms": 1767398400000, "event": "CALL_OUT", "measure_0": "revenue", "measure_1": "duration_sec", "measure_needles": ["\"duration_sec\"", "\\"], "measures_type": "Tuple(`duration_sec` Nullable(Float64))", "project_id": 7, "start_ms": 1767225600000, "tz": "Europe/Berlin"}
-- settings: {'short_circuit_function_evaluation': 'force_enable', 'max_execution_time': 600}
