"""The insights page ("Auswertung"): charts for a period and event type, and each chart's
figures as CSV and XLSX."""

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import get_locale, get_timezone, pgettext
from flask_login import current_user

from blueprints import charts, htmx
from blueprints.guard import viewer_allowed
from services import export, insights, queries

bp = Blueprint("insights", __name__, url_prefix="/insights")

FORMATS = ("csv", "xlsx")
bp.add_app_template_filter(charts.shown, "chart_value")


def _period() -> insights.Period:
    return insights.Period.from_args(request.args, insights.today())


@bp.get("")
@viewer_allowed
def index():
    """The charts of the chosen period; htmx (a filter change) gets just the charts."""
    period = _period()
    figures = insights.insights(period)
    context = {
        "period": period,
        "charts": charts.all_charts(figures),
        "answer_charts": charts.answer_charts(figures),
        "event_types": queries.event_types(),
    }
    template = "insights/_charts.html" if htmx.is_partial_request() else "insights/index.html"
    response = Response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response


@bp.get("/<chart_id>.<extension>")
@viewer_allowed
def download(chart_id: str, extension: str):
    """One chart's figures (or every question's answers: `answers`) as CSV or XLSX."""
    if extension not in FORMATS or (chart_id != "answers" and chart_id not in charts.CHARTS):
        abort(404)
    title, headers, rows = charts.table_of(chart_id, insights.insights(_period()))
    insights.record_download(chart_id, extension, current_user)
    timezone, language = str(get_timezone()), str(get_locale())
    if extension == "csv":
        values = ([charts.csv_value(value) for value in row] for row in rows)
        delimiter = export.delimiter_for(language)
        document = "".join(export.csv_chunks(headers, values, timezone, delimiter))
    else:
        values = ([charts.exported(value) for value in row] for row in rows)
        document = export.workbook(headers, values, title, timezone, language)
    stem = pgettext("file name", "insights")
    name = f"{stem}-{chart_id}.{extension}"
    mimetype = export.CSV_MIMETYPE if extension == "csv" else export.XLSX_MIMETYPE
    return Response(document, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip
