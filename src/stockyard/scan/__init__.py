"""Vulnerability scanning of conda artifacts.

`identify` reads what names an artifact's contents (embedded Python distributions, the record's
`purls`, about.json URLs, license files) once per sha256; `osv` loads OSV exports offline and
`matching` applies OSV's range semantics; `store` keeps both in one SQLite file so new
vulnerability data is matched again without reading artifacts; `report` and `policy` turn
findings into per-artifact and per-channel reports and upload decisions. See docs/scan.md.
"""
