"""Tachograph compliance of a tenant (EU 581/2010): when each vehicle unit and driver card was last downloaded."""
