"""Routers per concern: commands per aggregate family, reads, views, sync status, dashboard."""
