"""The clinic's web app at /app: server-rendered pages over the same services as the API.

Every asset (style sheet, scripts, icons) ships in this package: the clinic may be
offline. Pages work without JavaScript; the scripts add search as you type and live
counts. See routers/ for the pages, charts.py for the SVG charts.
"""
