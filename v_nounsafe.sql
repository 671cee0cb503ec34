
        SELECT convert_to(string_agg(item, ',') FILTER (WHERE n <= %(page)s), 'UTF8'),
               count(*),
               max(timezone('UTC', ts)) FILTER (WHERE n = %(page)s),
               max(seq) FILTER (WHERE n = %(page)s),
               coalesce(bool_or(unsafe), false) OR current_setting('extra_float_digits')::int <= 0
        FROM (
            SELECT '{"ts":' || '"' || CASE WHEN date_trunc('second', ts) = ts THEN replace(timezone('UTC', ts)::text, ' ', 'T') ELSE rpad(replace(timezone('UTC', ts)::text, ' ', 'T'), 26, '0') END || 'Z"' || ',"seq":' || seq::text || ',"lat":' || lat::text || CASE WHEN lat = trunc(lat) THEN '.0' ELSE '' END || ',"lon":' || lon::text || CASE WHEN lon = trunc(lon) THEN '.0' ELSE '' END || ',"speed_kmh":' || coalesce(speed_kmh::text || CASE WHEN speed_kmh = trunc(speed_kmh) THEN '.0' ELSE '' END, 'null') || ',"heading_deg":' || coalesce(heading_deg::text || CASE WHEN heading_deg = trunc(heading_deg) THEN '.0' ELSE '' END, 'null') || ',"alt_m":' || coalesce(alt_m::text || CASE WHEN alt_m = trunc(alt_m) THEN '.0' ELSE '' END, 'null') || ',"sats":' || coalesce(sats::text, 'null') || ',"hdop":' || coalesce(hdop::text || CASE WHEN hdop = trunc(hdop) THEN '.0' ELSE '' END, 'null') || '}' AS item, ts, seq, false AS unsafe,
                   row_number() OVER (ORDER BY ts, seq) AS n
            FROM (
                SELECT * FROM positions
                WHERE vehicle_id = %(vehicle_id)s AND ts >= %(since)s AND ts < %(until)s
                ORDER BY ts, seq LIMIT %(limit)s
            ) AS window_rows
        ) AS items
        