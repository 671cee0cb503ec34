
        SELECT convert_to(string_agg(item, ',') FILTER (WHERE n <= %(page)s), 'UTF8'),
               count(*),
               max(timezone('UTC', ts)) FILTER (WHERE n = %(page)s),
               max(seq) FILTER (WHERE n = %(page)s),
               coalesce(bool_or(unsafe), false) OR current_setting('extra_float_digits')::int <= 0
        FROM (
            SELECT 'x' AS item, ts, seq, false AS unsafe,
                   row_number() OVER (ORDER BY ts, seq) AS n
            FROM (
                SELECT * FROM positions
                WHERE vehicle_id = %(vehicle_id)s AND ts >= %(since)s AND ts < %(until)s
                ORDER BY ts, seq LIMIT %(limit)s
            ) AS window_rows
        ) AS items
        