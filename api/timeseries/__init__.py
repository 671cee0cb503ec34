"""Time windows, tie-safe cursors, pages, and the one window query shared by every time series."""
