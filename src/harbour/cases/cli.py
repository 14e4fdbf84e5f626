"""``harbour cases …``: the triage queue, suggestions, detector history and reports from the terminal."""

from __future__ import annotations

from pathlib import Path

import typer

from harbour.core.auth import SYSTEM
from harbour.core.errors import HarbourError


def register(app: typer.Typer) -> None:
    cases_app = typer.Typer(help="Alert triage, cases and suspicious transaction reports.", no_args_is_help=True)
    app.add_typer(cases_app, name="cases")

    @cases_app.command("queue")
    def queue(
        limit: int = typer.Option(20, min=1, max=500, help="rows to show"),
        venue: str = typer.Option(None, help="only this venue"),
        typology: str = typer.Option(None, help="only this typology"),
        detector: str = typer.Option(None, help="only this detector"),
    ) -> None:
        """Open alerts ranked by priority, with each factor's points."""
        from harbour.cases.triage import QueueFilter, read_queue
        from harbour.cli import fail, open_database, print_table

        try:
            with open_database() as factory, factory() as session:
                page = read_queue(
                    session, SYSTEM, QueueFilter(venue=venue, typology=typology, detector=detector, per_page=limit)
                )
                rows: list[list[object]] = [
                    [
                        r.alert.alert_id,
                        f"{r.triage.priority:.1f}",
                        f"{r.triage.score_pts:.0f}",
                        f"{r.triage.severity_pts:.0f}",
                        f"{r.triage.licensing_pts:.0f}",
                        f"{r.triage.history_pts:.0f}",
                        r.alert.typology,
                        r.alert.venue,
                        ",".join(r.alert.accounts[:3]),
                    ]
                    for r in page.rows
                ]
        except HarbourError as exc:
            fail(exc)
        print_table(
            f"Triage queue: {page.total} open alerts",
            ["alert", "priority", "score", "severity", "licensing", "history", "typology", "venue", "accounts"],
            rows,
        )

    @cases_app.command("reprice")
    def reprice() -> None:
        """Re-price every open alert (after a surveillance re-run re-scored known alerts)."""
        from harbour.cases.triage import reprice_open
        from harbour.cli import console, open_database
        from harbour.core.db import transaction

        with open_database() as factory, transaction(factory) as session:
            n = reprice_open(session)
        console.print(f"re-priced {n:,} open alerts")

    @cases_app.command("suggest")
    def suggest(
        venue: str = typer.Option(None, help="only this venue"),
        limit: int = typer.Option(20, min=1, help="suggestions to show"),
    ) -> None:
        """Groups of related open alerts that could become one case."""
        from harbour.cases.grouping import suggest as find
        from harbour.cli import fail, open_database, print_table
        from harbour.core.config import load_settings

        try:
            with open_database() as factory, factory() as session:
                found = find(session, SYSTEM, venue=venue, lake_root=load_settings().lake_root)
        except HarbourError as exc:
            fail(exc)
        print_table(
            f"{len(found)} case suggestions",
            ["id", "venue", "alerts", "priority", "typologies", "accounts"],
            [
                [s.id, s.venue, len(s.alerts), f"{s.priority:.1f}", " / ".join(s.typologies), ",".join(s.accounts[:4])]
                for s in found[:limit]
            ],
        )

    @cases_app.command("detectors")
    def detectors() -> None:
        """Each detector's confirmed / false-positive history and its triage points."""
        from harbour.cases.feedback import detector_history
        from harbour.cli import fail, open_database, print_table

        try:
            with open_database() as factory, factory() as session:
                history = detector_history(session, SYSTEM)
        except HarbourError as exc:
            fail(exc)
        print_table(
            "Detector outcome history",
            ["detector", "confirmed", "false positive", "rate", "points"],
            [[h.detector, h.confirmed, h.false_positive, f"{h.rate:.2f}", h.points] for h in history],
        )

    @cases_app.command("report")
    def report(
        case_id: int,
        fmt: str = typer.Option("xml", "--format", help="json, pdf or xml"),
        out: Path = typer.Option(None, help="file to write (default: REFERENCE.FORMAT)"),
    ) -> None:
        """Write a case's suspicious transaction report; XML is validated against goaml_str.xsd first."""
        from harbour.cases.reports import render, report_payload
        from harbour.cli import console, fail, open_database
        from harbour.core.config import load_settings

        try:
            with open_database() as factory, factory() as session:
                payload = report_payload(session, SYSTEM, case_id, load_settings().lake_root)
            content, _media = render(payload, fmt)
        except HarbourError as exc:
            fail(exc)
        target = out or Path(f"{payload['reference']}.{fmt}")
        target.write_bytes(content)
        console.print(f"wrote [bold]{target}[/bold] ({len(content):,} bytes, report {payload['status']})")

    @cases_app.command("validate-xml")
    def validate_xml_file(path: Path) -> None:
        """Validate a goAML-style STR XML file against Harbour's XSD."""
        from harbour.cases.reports import validate_xml
        from harbour.cli import console, fail

        try:
            validate_xml(path.read_bytes())
        except HarbourError as exc:
            fail(exc)
        console.print(f"[green]{path} is valid[/green] against goaml_str.xsd")
