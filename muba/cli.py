"""`muba`: the operator's command line for the Muba BPJS Ketenagakerjaan programme.

It talks to the running system only through Kafka (the partner-facing topics) and the services'
HTTP APIs (GET /api/..., with the operator token), never to the databases.

Exit codes: 0 ok, 1 data error or not found, 2 wrong command line, 3 the system is not reachable.
"""

import asyncio
import functools
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from muba import commitments, importing, kafka
from muba.api import Api
from muba.commitments import budget_text
from muba.config import Config
from muba.errors import EXIT_DATA, CliError, DataError, NotRunning, UsageError
from muba.formatting import key_value_table, number, waktu_text
from muba.report import build_report, print_report, render_csv, render_json
from muba.status import status_view, valid_nik
from muba.tariffs import loaded_text, read_table_file, tariffs_view
from muba.workers_file import CheckedRow, FileError, check_source, read_worker_file
from shared import contracts, topics
from shared.format import today_in_jakarta
from shared.kafka_security import KafkaConfigError, KafkaConnection

P = ParamSpec("P")
R = TypeVar("R")

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)

app = typer.Typer(
    name="muba",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
import_app = typer.Typer(help="Import partner files (workers).", no_args_is_help=True)
commitments_app = typer.Typer(
    help="Company sponsorship commitments: add one, renew one, list them.", no_args_is_help=True
)
dlq_app = typer.Typer(help="Dead letters: list them, replay them after a fix.", no_args_is_help=True)
partners_app = typer.Typer(
    help="Partner systems: each writes registrations to an intake topic only it may write.",
    no_args_is_help=True,
)
payments_app = typer.Typer(
    help="Companies' payments: record a bank transfer, show what a company's payments paid.",
    no_args_is_help=True,
)
outbox_app = typer.Typer(
    help="The services' outboxes: rows the relay parked because they can never be sent as they are.",
    no_args_is_help=True,
)


@app.callback()
def _quiet_libraries() -> None:
    """Operator CLI of Muba's BPJS Ketenagakerjaan programme (registry, sponsorship, notifications).

    Configuration by environment: KAFKA_BOOTSTRAP_SERVERS, REGISTRY_URL, SPONSORSHIP_URL,
    NOTIFICATIONS_URL, MUBA_OPERATOR_TOKEN, TOPIC_PREFIX. Exit codes: 0 ok, 1 data error or not
    found, 2 wrong command line, 3 the system is not reachable.
    """
    # The Kafka client logs its retries; the CLI says what went wrong itself, once.
    for name in ("aiokafka", "kafka"):
        library = logging.getLogger(name)
        library.handlers = [logging.NullHandler()]
        library.propagate = False


app.add_typer(import_app, name="import")
app.add_typer(commitments_app, name="commitments")
app.add_typer(dlq_app, name="dlq")
app.add_typer(outbox_app, name="outbox")
app.add_typer(partners_app, name="partners")
app.add_typer(payments_app, name="payments")


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class ListFormat(StrEnum):
    table = "table"
    json = "json"


# --- plumbing ------------------------------------------------------------------------------------


def print_error(exc: CliError) -> None:
    err.print(Text.assemble(("Error: ", "bold red"), exc.message))
    if exc.hint:
        err.print(Text(f"  {exc.hint}", style="dim"))


def print_warning(message: str) -> None:
    err.print(Text.assemble(("Warning: ", "bold yellow"), message))


def print_all(parts: list[Any]) -> None:
    for part in parts:
        out.print(part)


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Expected failures end with their message and exit code, never with a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as exc:
            print_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except FileError as exc:
            print_error(DataError(str(exc)))
            raise typer.Exit(EXIT_DATA) from None

    return wrapper


def config() -> Config:
    return Config.from_env()


def run_kafka(connection: KafkaConnection, coroutine: Coroutine[Any, Any, R]) -> R:
    """Run a Kafka coroutine; an unreachable broker is exit 3 with the usual hint."""
    try:
        return asyncio.run(coroutine)
    except KafkaConfigError as exc:  # no password for the principal, a wrong protocol...
        coroutine.close()
        raise UsageError(str(exc)) from None
    except (KafkaConnectionError, KafkaTimeoutError, TimeoutError, ConnectionError) as exc:
        raise kafka.kafka_not_running(connection, exc) from None
    except KafkaError as exc:
        raise NotRunning(
            f"Kafka {connection.bootstrap_servers} failed: {type(exc).__name__}: {exc}"
        ) from None


# --- import workers ------------------------------------------------------------------------------


def _source_option(value: str) -> str:
    problem = check_source(value)
    if problem:
        raise typer.BadParameter(problem)
    return value


WorkerFileArgument = Annotated[
    Path,
    typer.Argument(
        help="CSV (comma or semicolon) or XLSX with exactly the columns nik, full_name, birth_date, "
        "sex, phone, kecamatan, desa, occupation, declared_income_idr.",
        show_default=False,
    ),
]
SourceOption = Annotated[
    str,
    typer.Option(
        "--source",
        "-s",
        help="The partner system's id (e.g. desa-online); with each row's content it makes the "
        "row's submission id.",
        callback=_source_option,
        show_default=False,
    ),
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Check and count, publish nothing.")]
IncludeInvalidOption = Annotated[
    bool,
    typer.Option(
        "--include-invalid",
        help="Publish rows that fail the local check too, so that the registry records their rejection.",
    ),
]


@import_app.command("workers")
@handles_errors
def import_workers(
    file: WorkerFileArgument,
    source: SourceOption,
    dry_run: DryRunOption = False,
    include_invalid: IncludeInvalidOption = False,
) -> None:
    """Register the workers of a partner's file: check each row locally, then publish the new ones."""
    cfg = config()
    worker_file = read_worker_file(file)
    for warning in worker_file.warnings:
        print_warning(warning)
    today = today_in_jakarta()
    plan = importing.plan_import(source, worker_file.rows, include_invalid)
    # As the partner itself (`partner-<source>`), to the intake only that partner may write.
    topic = cfg.topic(topics.intake_topic(source))
    partner = cfg.kafka(topics.partner_principal(source))
    print_all(importing.check_report(file, source, plan, today))
    sending = _not_yet_submitted(cfg, source, plan.candidates, dry_run)
    if sending.to_publish and not dry_run:
        messages = importing.messages(source, sending.to_publish)
        sending = replace(sending, published=_publish_with_progress(partner, topic, messages))
    print_all(importing.summary(plan, sending, dry_run, include_invalid))
    if sending.published:
        out.print(importing.published_note(sending.published, topic))


def _not_yet_submitted(
    cfg: Config, source: str, candidates: list[CheckedRow], dry_run: bool
) -> importing.Sending:
    """Leave out what the registry already has; with --dry-run, a registry away is only a warning."""
    with Api(cfg) as api:
        try:
            return importing.split_known(candidates, api.submission_ids(source), registry_answered=True)
        except NotRunning as exc:
            if not dry_run:
                raise
            print_warning(f"{exc.message} — the counts below assume the registry has none of these rows yet.")
    return importing.split_known(candidates, set(), registry_answered=False)


def _publish_with_progress(
    partner: KafkaConnection, topic: str, messages: list[tuple[str | None, dict[str, Any]]]
) -> int:
    with Progress(
        TextColumn("[bold]Mengirim ke {task.fields[topic]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=False,
    ) as progress:
        task = progress.add_task("publish", total=len(messages), topic=topic)
        return run_kafka(
            partner,
            kafka.publish(
                partner,
                topic,
                contracts.REGISTRATION_SUBMITTED,
                messages,
                on_delivered=lambda n: progress.advance(task, n),
            ),
        )


# --- commitments ---------------------------------------------------------------------------------

CommitmentIdOption = Annotated[str, typer.Option(help="Unique id of this commitment.", show_default=False)]
CompanyIdOption = Annotated[str, typer.Option(help="The company's id.", show_default=False)]
CompanyNameOption = Annotated[
    str, typer.Option(help="The company's name, e.g. 'PT Hindoli'.", show_default=False)
]
KecamatanOption = Annotated[
    list[str],
    typer.Option(
        help='A kecamatan name or code (repeat the option for several); "*" for the whole regency.',
        show_default=False,
    ),
]
SlotsOption = Annotated[int, typer.Option(help="How many workers the company sponsors.", show_default=False)]
MonthsOption = Annotated[int, typer.Option(help="Months of coverage per worker.", show_default=False)]
PackageOption = Annotated[str, typer.Option(help="JKK_JKM or JKK_JKM_JHT.", show_default=False)]
PreferredOccupationOption = Annotated[
    list[str] | None,
    typer.Option(help="An occupation to sponsor first (repeatable), e.g. 'penyadap karet'."),
]
EmailOption = Annotated[str | None, typer.Option(help="Where the company is told (e-mail).")]
WebhookUrlOption = Annotated[str | None, typer.Option(help="Where the company is told (webhook).")]
WaitOption = Annotated[
    bool, typer.Option("--wait", help="Wait (up to 30 s) until sponsorship lists the commitment.")
]


@commitments_app.command("add")
@handles_errors
def commitments_add(
    commitment_id: CommitmentIdOption,
    company_id: CompanyIdOption,
    company_name: CompanyNameOption,
    kecamatan: KecamatanOption,
    slots: SlotsOption,
    months: MonthsOption,
    package: PackageOption,
    preferred_occupation: PreferredOccupationOption = None,
    email: EmailOption = None,
    webhook_url: WebhookUrlOption = None,
    wait: WaitOption = False,
) -> None:
    """Submit a company's commitment to sponsor workers (sponsorship.commitment-submitted.v1)."""
    cfg = config()
    raw = commitments.commitment_body(
        commitment_id=commitment_id,
        company_id=company_id,
        company_name=company_name,
        kecamatan=kecamatan,
        slots=slots,
        months=months,
        package=package,
        preferred_occupations=preferred_occupation or [],
        email=email,
        webhook_url=webhook_url,
    )
    problems = commitments.commitment_problems(raw)
    if problems:
        out.print(commitments.refusal_table(problems))
        raise DataError(f"the commitment was not submitted: {len(problems)} problem(s), see above")
    topic = cfg.topic(contracts.COMMITMENT_SUBMITTED.topic)
    operator = cfg.kafka()
    run_kafka(
        operator,
        kafka.publish(operator, topic, contracts.COMMITMENT_SUBMITTED, [(raw["commitment_id"], raw)]),
    )
    details = commitments.submitted_details(raw, budget_text(cfg, raw["package"], months, slots))
    out.print(Text(f"Komitmen dikirim ke {topic} (submitted).", style="bold green"))
    out.print(details)
    if wait:
        out.print(commitments.accepted_text(commitments.wait_until_listed(cfg, raw["commitment_id"])))


@commitments_app.command("extend")
@handles_errors
def commitments_extend(
    commitment: Annotated[
        str, typer.Option("--commitment", help="The commitment renewed.", show_default=False)
    ],
    company: Annotated[str, typer.Option("--company", help="The company's id.", show_default=False)],
    months: Annotated[int, typer.Option("--months", help="Months more for each worker.", show_default=False)],
    reference: Annotated[
        str, typer.Option(help="The renewal's reference, e.g. the decree (unique per commitment).")
    ],
) -> None:
    """Renew a commitment: months more for every worker it sponsors, with no day's gap
    (sponsorship.commitment-extension-submitted.v1, as the office). The same reference again
    changes nothing; `muba commitments list` shows the months and budget after."""
    cfg = config()
    raw = commitments.extension_body(
        commitment_id=commitment, company_id=company, months=months, reference=reference
    )
    problems = commitments.extension_problems(raw)
    if problems:
        out.print(commitments.refusal_table(problems, "Perpanjangan ditolak (renewal refused)"))
        raise DataError(f"the renewal was not submitted: {len(problems)} problem(s), see above")
    topic = cfg.topic(contracts.COMMITMENT_EXTENSION_SUBMITTED.topic)
    operator = cfg.kafka()
    run_kafka(
        operator,
        kafka.publish(
            operator, topic, contracts.COMMITMENT_EXTENSION_SUBMITTED, [(raw["commitment_id"], raw)]
        ),
    )
    out.print(Text(f"Perpanjangan dikirim ke {topic} (submitted).", style="bold green"))
    out.print(commitments.extension_details(raw))


@commitments_app.command("list")
@handles_errors
def commitments_list(
    output: Annotated[
        Format, typer.Option("--format", "-f", help="table, or csv/json for spreadsheets.")
    ] = Format.table,
) -> None:
    """List the companies' commitments: slots and budget used, workers enrolled."""
    with Api(config()) as api:
        listed = api.commitments()
    if output is Format.json:
        sys.stdout.write(json.dumps(listed, ensure_ascii=False, indent=2) + "\n")
    elif output is Format.csv:
        commitments.write_csv(listed, sys.stdout)
    else:
        out.print(commitments.commitments_table(listed))


# --- tariffs -------------------------------------------------------------------------------------

tariffs_app = typer.Typer(
    help="The BPU tariff table sponsorship prices budgets and reservations from: show it, load one.",
    no_args_is_help=True,
)
app.add_typer(tariffs_app, name="tariffs")


@tariffs_app.command("show")
@handles_errors
def tariffs_show(
    output: Annotated[
        ListFormat, typer.Option("--format", "-f", help="table, or json (a file `muba tariffs load` takes).")
    ] = ListFormat.table,
) -> None:
    """The table in force: valid from/to, each JKK income band, JKM, JHT rate, the discounts, and
    whether PP 50/2025 applies to company-paid members."""
    with Api(config()) as api:
        answer = api.tariffs()
    if output is ListFormat.json:
        sys.stdout.write(json.dumps(answer.get("table"), ensure_ascii=False, indent=2) + "\n")
    else:
        print_all(tariffs_view(answer))


@tariffs_app.command("load")
@handles_errors
def tariffs_load(
    file: Annotated[Path, typer.Argument(help="A tariff table (JSON, as `show --format json` writes).")],
) -> None:
    """Replace the tariff table (office token): new commitments and reservations are priced by it."""
    document = read_table_file(file)
    with Api(config()) as api:
        answer = api.load_tariffs(document)
    out.print(loaded_text(answer))
    print_all(tariffs_view(answer))


# --- status --------------------------------------------------------------------------------------


@app.command("status")
@handles_errors
def status(
    nik: Annotated[str, typer.Argument(help="The worker's 16-digit NIK.", show_default=False)],
) -> None:
    """Where a worker stands: registered, waiting for a sponsor, enrolled (KPJ, coverage), notified."""
    number_ = valid_nik(nik)
    with Api(config()) as api:
        worker = api.registry_worker(number_)
        if worker is None:
            raise DataError(
                f"NIK not found: no worker with NIK {number_} is registered (NIK tidak ditemukan)",
                hint="rejected registrations are not workers: `muba report` counts rejections by reason",
            )
        worker_id = str(worker.get("worker_id", ""))
        sponsorship = api.sponsorship_worker(worker_id)
        notifications = api.notifications(worker_id)
    print_all(status_view(nik, worker, sponsorship, notifications))


@app.command("months")
@handles_errors
def months(
    worker: Annotated[
        str, typer.Argument(help="The worker's id, or their 16-digit NIK.", show_default=False)
    ],
    output: Annotated[ListFormat, typer.Option("--format", "-f", help="table or json.")] = ListFormat.table,
) -> None:
    """A worker's contribution months: what each costs the sponsor, and its proof (paid, confirmed)."""
    import uuid

    from muba.months import months_table

    worker_id = worker.strip()
    with Api(config()) as api:
        try:
            worker_id = str(uuid.UUID(worker_id))
        except ValueError:  # not an id: a NIK, found in the registry
            nik = valid_nik(worker_id)
            found = api.registry_worker(nik)
            if found is None:
                raise DataError(f"NIK not found: no worker with NIK {nik} is registered") from None
            worker_id = str(found.get("worker_id", ""))
        body = api.worker_months(worker_id)
    if body is None:
        raise DataError(
            f"no contribution months of worker {worker_id}",
            hint="months are written when BPJS confirms the enrollment: `muba status NIK` says where they stand",
        )
    if output is ListFormat.json:
        sys.stdout.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")
    else:
        out.print(months_table(body))


# --- payments: a company's bank transfer, recorded by the office ----------------------------------

PaymentCompanyOption = Annotated[str, typer.Option("--company", help="The company's id.", show_default=False)]


@payments_app.command("record")
@handles_errors
def payments_record(
    company: PaymentCompanyOption,
    amount: Annotated[int, typer.Option("--amount", help="Whole Rupiah.", show_default=False)],
    reference: Annotated[str, typer.Option(help="The transfer's reference (unique per company).")],
    paid_on: Annotated[str, typer.Option("--paid-on", help="The transfer's day, YYYY-MM-DD.")],
) -> None:
    """Record a company's payment (sponsorship.payment-submitted.v1, as the office); sponsorship
    allocates it to the company's open months. The same reference again changes nothing."""
    from muba import payments

    cfg = config()
    raw = payments.payment_body(company_id=company, amount_idr=amount, reference=reference, paid_on=paid_on)
    problems = payments.payment_problems(raw)
    if problems:
        out.print(payments.refusal_table(problems))
        raise DataError(f"the payment was not submitted: {len(problems)} problem(s), see above")
    topic = cfg.topic(contracts.PAYMENT_SUBMITTED.topic)
    operator = cfg.kafka()
    run_kafka(
        operator, kafka.publish(operator, topic, contracts.PAYMENT_SUBMITTED, [(raw["company_id"], raw)])
    )
    out.print(Text(f"Pembayaran dikirim ke {topic} (submitted).", style="bold green"))
    out.print(f"`muba payments show --company {raw['company_id']}` shows the months it paid.")


@payments_app.command("show")
@handles_errors
def payments_show(
    company: PaymentCompanyOption,
    output: Annotated[ListFormat, typer.Option("--format", "-f", help="table or json.")] = ListFormat.table,
) -> None:
    """A company's payments, every month each paid (its state: paid, confirmed by BPJS) and its credit."""
    from muba.payments import payments_table

    with Api(config()) as api:
        body = api.payments(company.strip())
    if body is None:
        raise DataError(f"no payments of company {company.strip()} recorded")
    if output is ListFormat.json:
        sys.stdout.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")
    else:
        out.print(payments_table(body))


# --- funders: workers another payer already funds -------------------------------------------------
# (the regency's APBD scheme PAKE KELAMBU, a village's APBDes, another sponsor; muba/funders.py)

funders_app = typer.Typer(
    help="Funder lists: NIKs another payer already funds (e.g. PAKE KELAMBU), so nobody is funded twice.",
    no_args_is_help=True,
)
app.add_typer(funders_app, name="funders")


def _source_code_option(value: str) -> str:
    from muba.funders import FUNDING_SOURCES

    code = value.strip().upper()
    if code not in FUNDING_SOURCES:
        raise typer.BadParameter(
            "one of BPJS's funding-source codes: SA (APBD), SD (APBDes), SG (government),"
            " SC (corporate), SB (banking), SL (other)"
        )
    return code


@funders_app.command("import")
@handles_errors
def funders_import(
    file: Annotated[
        Path,
        typer.Argument(help="CSV or XLSX with a NIK column (other columns are ignored).", show_default=False),
    ],
    funder: Annotated[str, typer.Option(help='Who pays, e.g. "PAKE KELAMBU".', show_default=False)],
    source_code: Annotated[
        str,
        typer.Option(
            help="BPJS's funding-source code: SA, SD, SG, SC, SB or SL (PAKE KELAMBU: SG).",
            callback=_source_code_option,
            show_default=False,
        ),
    ],
    description: Annotated[
        str | None,
        typer.Option(help='Shown to the worker, e.g. "APBD Kabupaten Musi Banyuasin".', show_default=False),
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the list without the lines that hold no NIK.")
    ] = False,
) -> None:
    """Replace FUNDER's list with the NIKs of FILE (the same file again changes nothing)."""
    from muba import funders

    read = funders.read_funder_file(file)
    if read.problems:
        out.print(funders.problems_table(read.problems))
        if not skip_invalid:
            raise DataError(
                f"{len(read.problems)} line(s) hold no NIK: nothing was imported (the list replaces"
                f" {funder}'s whole list, so it must be complete)",
                hint="correct the lines above, or import without them: --skip-invalid",
            )
    if not read.niks:
        raise DataError(f"{file}: no NIK in the file; nothing was imported")
    body = funders.import_body(read, funder, source_code, description, file.name)
    with Api(config()) as api:
        answer = api.import_funders(body)
    print_all(funders.import_result(answer, read))


@funders_app.command("show")
@handles_errors
def funders_show(
    output: Annotated[ListFormat, typer.Option("--format", "-f", help="table or json.")] = ListFormat.table,
) -> None:
    """Every funder's current list: how many NIKs, source code, the last import."""
    from muba import funders

    with Api(config()) as api:
        body = api.funders()
    if output is ListFormat.json:
        sys.stdout.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")
    else:
        out.print(funders.funders_table(body))


@funders_app.command("check")
@handles_errors
def funders_check(
    nik: Annotated[str, typer.Argument(help="The worker's 16-digit NIK.", show_default=False)],
) -> None:
    """Which funders' lists hold this NIK (answered masked)."""
    from muba import funders

    with Api(config()) as api:
        body = api.funders_check(valid_nik(nik))
    print_all(funders.check_text(body))


# --- report --------------------------------------------------------------------------------------


@app.command("report")
@handles_errors
def report(
    output: Annotated[
        Format,
        typer.Option("--format", "-f", help="table for people; csv or json for spreadsheets and scripts."),
    ] = Format.table,
) -> None:
    """Progress to the 10,000 target, by kecamatan, company and occupation; budget committed and used;
    coverage today (covered, uncovered, unplanned gaps, at risk, >= 6 paid months) and each
    commitment's budget burn."""
    with Api(config()) as api:
        joined = build_report(
            api.registry_report(), api.sponsorship_report(), api.notifications_report(), api.coverage()
        )
    if output is Format.json:
        sys.stdout.write(render_json(joined))
    elif output is Format.csv:
        sys.stdout.write(render_csv(joined))
    else:
        print_report(joined, out)


# --- dead letters --------------------------------------------------------------------------------


def _dlq_topic(cfg: Config, topic: str) -> str:
    """The original topic as this deployment names it; "<topic>.dlq" is accepted too."""
    name = topic.strip().removesuffix(topics.DEAD_LETTER_SUFFIX)
    if not name:
        raise UsageError(f"--topic must name a topic, e.g. {contracts.WORKER_REGISTERED.topic}")
    return name if name.startswith(cfg.topic_prefix) else cfg.topic(name)


@dlq_app.command("list")
@handles_errors
def dlq_list(
    topic: Annotated[
        str | None, typer.Option(help="The original topic (default: every .dlq topic).", show_default=False)
    ] = None,
    output: Annotated[ListFormat, typer.Option("--format", "-f", help="table or json.")] = ListFormat.table,
) -> None:
    """List dead letters: messages a service could never process, and why."""
    from shared import dlq

    cfg = config()
    operator = cfg.kafka()
    run_kafka(operator, kafka.ping(operator))
    letters = run_kafka(
        operator,
        dlq.list_with_status(operator, _dlq_topic(cfg, topic) if topic else None, cfg.topic_prefix),
    )
    summaries = [letter.summary(replayed) for letter, replayed in letters]
    if output is ListFormat.json:
        sys.stdout.write(json.dumps(summaries, ensure_ascii=False, indent=2) + "\n")
        return
    if not summaries:
        out.print(Text("Tidak ada dead letter (no dead letters).", style="green"))
        return
    out.print(Text(f"Dead letters: {number(len(summaries))}", style="bold"))
    for s in summaries:
        out.print(Text(str(s["dead_letter"]), style="bold yellow"))
        out.print(Padding(_dead_letter_details(s), (0, 0, 1, 2)))


def _dead_letter_details(s: dict[str, Any]) -> Table:
    # Text, not str: a letter's bytes are shown as they are, never read as Rich markup.
    details = key_value_table()
    for label, value in (
        ("dari (from)", s["from"]),
        ("kunci (key)", "-" if s["key"] is None else repr(s["key"])),
        ("id peristiwa (event id)", s["original_event_id"] or "-"),
        ("alasan (reason)", s["reason"] or "-"),
        ("galat (error)", s["error"] or "-"),
        ("consumer", s["consumer"] or "-"),
    ):
        details.add_row(label, Text(str(value)))
    details.add_row("waktu (failed at)", Text(waktu_text(s["failed_at"])))
    details.add_row("ukuran (bytes)", number(int(s["bytes"] or 0)))
    details.add_row("diputar ulang (replayed)", "ya (yes)" if s["replayed"] else "belum (not yet)")
    return details


@dlq_app.command("replay")
@handles_errors
def dlq_replay(
    topic: Annotated[
        str,
        typer.Option(
            help="The original topic whose dead letters go back to it (after a fix).", show_default=False
        ),
    ],
) -> None:
    """Republish what was not replayed yet from <topic>.dlq to <topic> (each dead letter once).

    As the Kafka `admin`: writing into a consumed topic or a partner's intake is not the office
    CLI's everyday right (it would let those credentials forge events)."""
    from shared import dlq

    cfg = config()
    name = _dlq_topic(cfg, topic)
    replayer = cfg.kafka("admin")
    run_kafka(replayer, kafka.ping(replayer))
    count = run_kafka(replayer, dlq.replay(replayer, name))
    out.print(f"Diputar ulang (replayed) {number(count)} dead letter(s) ke {name}.")


# --- partners ------------------------------------------------------------------------------------


@partners_app.command("add")
@handles_errors
def partners_add(
    name: Annotated[
        str,
        typer.Argument(
            help="The partner's name: lower-case letters, digits and '-' (e.g. desa-online).",
            show_default=False,
        ),
    ],
) -> None:
    """Add a partner (as the Kafka admin): its principal partner-NAME with a password, its intake
    topic registry.registration-submitted.v1.NAME and its ACLs. Run again, it changes nothing."""
    from shared import kafka_admin

    problem = check_source(name)
    if problem is not None:
        raise UsageError(f"NAME: {problem}")
    cfg = config()
    admin = cfg.kafka("admin")
    run_kafka(admin, kafka.ping(admin))
    added = run_kafka(admin, kafka_admin.add_partner(admin, name, cfg.topic_prefix))
    out.print(Text.assemble(("Mitra (partner) ", ""), (added.partner, "bold"), " siap (ready):"))
    out.print(f"  principal      {added.principal}  (SASL/SCRAM-SHA-512)")
    out.print(f"  topik (topic)  {added.topic}  (only this principal may write it)")
    out.print("  client         any Kafka client with SCRAM-SHA-512 (librdkafka/kcat 2.6.1 or newer)")
    if added.password_file:
        out.print(f"  password       in {added.password_file} (hand it to the partner over a safe channel)")
    else:
        # Nowhere to keep it (compose mounts secrets read-only): shown once, on the terminal only.
        out.print(f"  password       {added.password}  (shown once: hand it over safely, then forget it)")


@partners_app.command("list")
@handles_errors
def partners_list() -> None:
    """The partners: those with an intake topic, and whether their principal has a password."""
    from shared import kafka_admin

    cfg = config()
    admin = cfg.kafka("admin")
    run_kafka(admin, kafka.ping(admin))
    partners = run_kafka(admin, kafka_admin.existing_partners(admin, cfg.topic_prefix))
    with_password = set(run_kafka(admin, kafka_admin.principals_with_passwords(admin)))
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("mitra (partner)")
    table.add_column("topik (topic)")
    table.add_column("principal")
    for partner in partners:
        principal = topics.partner_principal(partner)
        table.add_row(
            partner,
            cfg.topic(topics.intake_topic(partner)),
            principal + ("" if principal in with_password else "  (no password!)"),
        )
    out.print(table if partners else Text("Belum ada mitra (no partners yet): muba partners add NAME"))


# --- parked outbox rows --------------------------------------------------------------------------


class Service(StrEnum):
    registry = "registry"
    sponsorship = "sponsorship"
    notifications = "notifications"


@outbox_app.command("parked")
@handles_errors
def outbox_parked(
    service: Annotated[
        Service | None, typer.Option(help="One service (default: all three).", show_default=False)
    ] = None,
    topic: Annotated[str | None, typer.Option(help="Only rows for this topic.", show_default=False)] = None,
    output: Annotated[ListFormat, typer.Option("--format", "-f", help="table or json.")] = ListFormat.table,
) -> None:
    """List parked outbox rows: events a service could not publish (too large, unknown topic,
    refused by the broker) and why. The README says how to send them again once fixed."""
    cfg = config()
    services = [service] if service else list(Service)
    found: dict[str, dict[str, Any]] = {}
    unreachable: list[NotRunning] = []
    with Api(cfg) as api:
        for s in services:
            try:
                found[s.value] = api.parked_outbox_rows(s.value, topic)
            except NotRunning as exc:
                if len(services) == 1:
                    raise
                unreachable.append(exc)
    for problem in unreachable:
        err.print(Text.assemble(("Warning: ", "bold yellow"), problem.message))
    if output is ListFormat.json:
        sys.stdout.write(json.dumps(found, ensure_ascii=False, indent=2) + "\n")
    else:
        _print_parked(found)
    if unreachable:
        raise NotRunning(f"{len(unreachable)} service(s) did not answer; the list above is incomplete")


def _print_parked(found: dict[str, dict[str, Any]]) -> None:
    total = sum(int(body.get("parked") or 0) for body in found.values())
    if not total:
        out.print(Text("Tidak ada baris outbox yang diparkir (no parked outbox rows).", style="green"))
        return
    for name, body in found.items():
        rows = body["rows"]
        if not rows:
            continue
        out.print(Text(f"{name}: {number(int(body['parked']))} baris diparkir (parked rows)", style="bold"))
        for row in rows:
            out.print(Text(f"outbox row {row.get('id')}", style="bold yellow"))
            out.print(Padding(_parked_row_details(row), (0, 0, 1, 2)))
        if int(body["parked"]) > len(rows):
            out.print(Text(f"... and {number(int(body['parked']) - len(rows))} more", style="dim"))
    out.print(
        Text(
            'Fix the cause, then un-park them to send them again (README, "Parked outbox rows").',
            style="dim",
        )
    )


def _parked_row_details(row: dict[str, Any]) -> Table:
    details = key_value_table()
    details.add_row("topic", str(row.get("topic")))
    details.add_row("key", str(row.get("key") if row.get("key") is not None else "-"))
    details.add_row("event", f"{row.get('event_type')} {row.get('event_id')}")
    details.add_row("ukuran (bytes)", number(int(row.get("bytes") or 0)))
    details.add_row("dibuat (created at)", waktu_text(row.get("created_at")))
    details.add_row("diparkir (parked at)", waktu_text(row.get("parked_at")))
    details.add_row("alasan (reason)", str(row.get("reason") or "-"))
    return details


def main() -> None:
    """The `muba` console script."""
    try:
        app(prog_name="muba")
    except KeyboardInterrupt:  # pragma: no cover - interactive
        err.print("Interrupted.")
        sys.exit(130)


__all__ = ["app", "main"]
