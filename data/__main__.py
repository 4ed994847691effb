"""Command line: ``python -m data build|import|export|template|imports|remove|incidents|briefing|accounts``.

::

    python -m data build [--out PATH]
    python -m data import FILE --layer L --user U [--password-file F] [--crs wgs84|gcj02|bd09|EPSG:N] [--mode all|valid] [--encoding E] --report R.json
    python -m data export --layer L|all --out F
    python -m data template --layer L --out F
    python -m data imports
    python -m data remove IMPORT_ID --user U [--password-file F]
    python -m data incidents
    python -m data briefing INCIDENT_ID --out FILE.docx|FILE.pdf [--format docx|pdf]
    python -m data accounts create --username U --department D --jurisdiction CODE --role R [--role R ...] [--password-file F]
    python -m data accounts list

``import`` and ``remove`` sign in as ``--user`` (the password from the first line of
``--password-file``, else asked with getpass) and are allowed only to a data administrator
within whose jurisdiction every record lies; a refused sign-in or action exits with status
4 and writes nothing.  ``import`` exits with status 1 when nothing was imported (the report
says why, row by row), 3 when the workspace is held by a running app.  ``briefing`` exits with status 2
for an unknown incident or format.  ``accounts create`` makes the first system administrator
(only while no enabled one exists; the password is read with getpass, or from the first line
of ``--password-file``, never from the command line) and exits with status 2 when refused.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
import time
from pathlib import Path

from data.dataset import build as build_mod
from data.dataset import store

#: Exit status when nothing was imported / when the workspace is unusable.
EXIT_NOTHING_IMPORTED = 1
EXIT_WORKSPACE = 3
#: Exit status when the sign-in or the permission table refuses.
EXIT_REFUSED = 4


def _parser() -> argparse.ArgumentParser:
    from data.imports.exporters import EXPORT_FORMATS
    from data.imports.fields import IMPORT_LAYERS
    from data.imports.importers import MODES
    from data.imports.readers import ENCODINGS

    parser = argparse.ArgumentParser(prog="python -m data", description="Build the embedded dataset; import and export users' data.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="build the embedded dataset (offline) from installed packages and data/samples")
    p_build.add_argument("--out", help=f"output DuckDB file (default {store.dataset_path()})")
    p_build.add_argument("--samples", help="folder of sample CSVs (default data/samples)")

    def signs_in(p):
        p.add_argument("--user", required=True, help="username of the data administrator who imports or removes (signed in, then checked)")
        p.add_argument("--password-file", help="read the password from the first line of this file (default: ask with getpass)")

    def places(p):
        p.add_argument("--dataset", help="embedded dataset (default $YRD_DATASET or data/build/yrd.duckdb)")
        p.add_argument("--workspace", help="user-data workspace (default $YRD_WORKSPACE or data/build/workspace.duckdb)")

    p_imp = sub.add_parser("import", help="check a file and import it into the workspace, in one transaction", allow_abbrev=False)
    p_imp.add_argument("file", help="CSV, XLSX, GeoJSON, GeoPackage or zipped Shapefile")
    p_imp.add_argument("--layer", required=True, choices=IMPORT_LAYERS)
    p_imp.add_argument("--crs", default="auto", help="auto (from the file, else WGS84), wgs84, cgcs2000, gcj02, bd09 or EPSG:N")
    p_imp.add_argument("--mode", default="all", choices=MODES, help="all: any bad row refuses the file; valid: import the valid rows")
    p_imp.add_argument("--encoding", default="auto", choices=ENCODINGS)
    p_imp.add_argument("--sheet", help="sheet (XLSX), layer (GeoPackage) or shapefile (zip) to read")
    p_imp.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN", help="map a field to a file column (repeatable; COLUMN empty to unmap)")
    p_imp.add_argument("--report", required=True, help="write the report (every row's outcome) to this JSON file")
    p_imp.add_argument("--source", default="", help="where the data comes from")
    p_imp.add_argument("--licence", default="", help="licence or terms of use of the data")
    signs_in(p_imp)
    places(p_imp)

    p_exp = sub.add_parser("export", help="export a layer (or 'all') to GeoJSON, GeoPackage, CSV or XLSX")
    p_exp.add_argument("--layer", required=True, choices=(*IMPORT_LAYERS, "all"))
    p_exp.add_argument("--out", required=True, help="output file; the format follows the extension")
    p_exp.add_argument("--format", choices=EXPORT_FORMATS, help="format when the extension does not say")
    p_exp.add_argument("--origin", help="only records of this origin ('base' or an import id)")
    places(p_exp)

    p_tpl = sub.add_parser("template", help="write an import template for a layer (.xlsx or .csv) with an example row")
    p_tpl.add_argument("--layer", required=True, choices=IMPORT_LAYERS)
    p_tpl.add_argument("--out", required=True)
    p_tpl.add_argument("--lang", choices=("zh", "en"), default="zh", help="column names in Chinese (default) or English")

    p_list = sub.add_parser("imports", help="list the imports in the workspace")
    places(p_list)
    p_rm = sub.add_parser("remove", help="remove one import (its records and provenance) from the workspace", allow_abbrev=False)
    p_rm.add_argument("import_id")
    signs_in(p_rm)
    places(p_rm)

    p_inc = sub.add_parser("incidents", help="list the incidents in the workspace (id, title, phase, lead jurisdiction); drills only with --drills")
    p_inc.add_argument("--drills", action="store_true", help="list drills (演练) too, marked")
    places(p_inc)
    p_brief = sub.add_parser("briefing", help="write an incident's briefing (情况简报) with its map, as DOCX or PDF")
    p_brief.add_argument("incident_id")
    p_brief.add_argument("--out", required=True, help="output file; .docx or .pdf gives the format")
    p_brief.add_argument("--format", choices=("docx", "pdf"), help="format when the extension does not say")
    places(p_brief)

    from data.accounts.authority import ROLES
    from data.schema import DEPARTMENTS

    p_acc = sub.add_parser("accounts", help="bootstrap the first system administrator; list the accounts")
    acc_sub = p_acc.add_subparsers(dest="accounts_command", required=True)
    p_acc_create = acc_sub.add_parser("create", help="create the first system administrator (refused once an enabled one exists)",
                                      allow_abbrev=False)  # `--password X` must not pass for `--password-file X`
    p_acc_create.add_argument("--username", required=True)
    p_acc_create.add_argument("--display-name", help="the holder's name (default: the username)")
    p_acc_create.add_argument("--department", required=True, choices=DEPARTMENTS)
    p_acc_create.add_argument("--jurisdiction", required=True, help="jurisdiction code of the dataset, e.g. 310000 (上海市)")
    p_acc_create.add_argument("--role", action="append", required=True, choices=ROLES, help="a role (repeatable); sysadmin is required")
    p_acc_create.add_argument("--password-file", help="read the password from the first line of this file (default: ask with getpass)")
    p_acc_create.add_argument("--must-change", action="store_true", help="make the holder change the password at first sign-in")
    places(p_acc_create)
    p_acc_list = acc_sub.add_parser("list", help="list the accounts (roles, state, last sign-in)")
    places(p_acc_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.command == "build" else logging.WARNING, format="%(message)s")
    if args.command == "build":
        start = time.perf_counter()
        kwargs = {"samples_dir": build_mod.Path(args.samples)} if args.samples else {}
        try:
            path = build_mod.build(args.out, **kwargs)
        except build_mod.BuildError as exc:
            print(f"数据集构建失败 / build failed: {exc}", file=sys.stderr)
            return 1
        print(f"dataset built: {path} in {time.perf_counter() - start:.1f} s")
        return 0
    if args.command == "template":
        from data.imports.exporters import template

        fmt = Path(args.out).suffix.lower().lstrip(".")
        try:
            Path(args.out).write_bytes(template(args.layer, fmt, lang=args.lang))
        except ValueError as exc:
            print(f"template: {exc}", file=sys.stderr)
            return 2
        print(f"template for {args.layer} written to {args.out}")
        return 0
    return _with_store(args)


def _with_store(args) -> int:
    from data.storage.workspace import Workspace, WorkspaceError

    try:
        workspace = Workspace(args.workspace)
    except WorkspaceError as exc:
        print(f"工作区不可用 / {exc}", file=sys.stderr)
        return EXIT_WORKSPACE
    try:
        with store.Store(args.dataset, workspace=workspace) as st:
            commands = {"import": _import, "export": _export, "imports": _list, "remove": _remove, "incidents": _incidents, "briefing": _briefing,
                        "accounts": _accounts}  # fmt: skip
            return commands[args.command](args, st, workspace)
    except store.DatasetError as exc:
        print(f"数据集不可用 / {exc}", file=sys.stderr)
        return 1
    except WorkspaceError as exc:
        print(f"工作区写入失败 / {exc}", file=sys.stderr)
        return EXIT_WORKSPACE
    finally:
        workspace.close()


def _sign_in(args, st, workspace):
    """(accounts, session) of ``--user`` signed in with its password, or (None, exit status) after a message."""
    from data.accounts.accounts import Accounts, AuthError

    try:
        password = _password(args, twice=False)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"无法读取密码文件 / `--password-file` {args.password_file!r} cannot be read: {exc}", file=sys.stderr)
        return None, 2
    accounts = Accounts(workspace, jurisdictions=set(st.jurisdictions()["code"]))
    try:
        return accounts, accounts.authenticate(args.user, password or "")
    except AuthError as exc:
        print(f"登录失败 / sign-in refused: {_refusal(exc, st)}", file=sys.stderr)
        return None, EXIT_REFUSED


def _refusal(exc, st) -> str:
    """An `AuthError` or `Refused` in Chinese, then English, jurisdictions by name (`layers.accounts.error_text`)."""
    from layers.accounts import error_text

    jur = st.jurisdictions()
    names = dict(zip(jur["code"], jur["name"], strict=True))
    return f"{error_text(exc, 'zh', names)} / {error_text(exc, 'en', names)}"


def _import(args, st, workspace) -> int:
    from data.accounts.accounts import AuthError
    from data.imports.importers import ImportRejected, import_file, rejected_report

    mapping = {}
    for item in args.map:
        field, sep, column = item.partition("=")
        if not sep:
            print(f"`--map` was {item!r}; write FIELD=COLUMN.", file=sys.stderr)
            return 2
        mapping[field.strip()] = column or None
    report_path = Path(args.report)
    accounts, session = _sign_in(args, st, workspace)
    if accounts is None:
        return session
    try:
        report = import_file(
            args.file, args.layer, store=st, workspace=workspace, by=session, accounts=accounts, crs=args.crs, mode=args.mode,
            encoding=args.encoding, sheet=args.sheet, mapping=mapping, source=args.source, licence=args.licence,
        )
    except AuthError as exc:  # the permission table refused (audited): nothing was written
        print(f"导入被拒绝 / import refused: {_refusal(exc, st)}", file=sys.stderr)
        return EXIT_REFUSED
    except ImportRejected as exc:
        report_path.write_text(json.dumps(rejected_report(Path(args.file).name, args.layer, exc.issue), ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"导入失败 / import refused: {exc}", file=sys.stderr)
        return EXIT_NOTHING_IMPORTED
    except (ValueError, OSError) as exc:
        print(f"导入失败 / import refused: {exc}", file=sys.stderr)
        return 2
    report_path.write_text(report.to_json(), encoding="utf-8")
    for warning in report.warnings:
        print(f"warning: {warning.message}", file=sys.stderr)
    shown = list(report.reasons.items())[:10]
    for k, issues in shown:
        print(f"row {report.rows['row'].iat[k]}: rejected: {'; '.join(i.message for i in issues)}", file=sys.stderr)
    if report.n_rejected > len(shown):
        print(f"... {report.n_rejected - len(shown)} more rejected rows in {report_path}", file=sys.stderr)
    if not report.committed:
        print(f"nothing imported: {report.error.message if report.error else 'no rows'} Report: {report_path}", file=sys.stderr)
        return EXIT_NOTHING_IMPORTED
    print(f"imported {report.n_imported:,} of {report.total:,} rows into {report.layer} (import {report.import_id}); report: {report_path}")
    return 0


def _export(args, st, workspace) -> int:
    from data.imports.exporters import DATASET_FORMATS, EXPORT_FORMATS, export_dataset, export_layer

    out = Path(args.out)
    fmt = args.format or {".json": "geojson"}.get(out.suffix.lower(), out.suffix.lower().lstrip("."))
    allowed = DATASET_FORMATS if args.layer == "all" else EXPORT_FORMATS
    if fmt not in allowed:
        print(f"`--out` {out.name!r} gives format {fmt!r}; expected one of {allowed} (or pass --format).", file=sys.stderr)
        return 2
    data = export_dataset(st, fmt) if args.layer == "all" else export_layer(st, args.layer, fmt, origin=args.origin)
    out.write_bytes(data)
    print(f"exported {args.layer} to {out} ({len(data) / 1024:,.0f} KiB)")
    return 0


def _list(args, st, workspace) -> int:
    imports = workspace.imports()
    if imports.empty:
        print("no imports in the workspace")
    for r in imports.itertuples():
        print(f"{r.import_id}  {r.layer:<10} {r.rows_accepted:>7,} of {r.rows_total:>7,} rows  {r.file_name}  {r.crs}  by {r.who} at {r.imported_at}")
    return 0


def _remove(args, st, workspace) -> int:
    from data.accounts.accounts import AuthError
    from data.imports.importers import ImportContext, ImportRejected, remove

    accounts, session = _sign_in(args, st, workspace)
    if accounts is None:
        return session
    try:
        n = remove(workspace, args.import_id, by=session, accounts=accounts, context=ImportContext.from_store(st))
    except AuthError as exc:
        print(f"撤销被拒绝 / removal refused: {_refusal(exc, st)}", file=sys.stderr)
        return EXIT_REFUSED
    except ImportRejected as exc:
        print(f"撤销被拒绝 / removal refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"removed import {args.import_id} ({n:,} records)")
    return 0


def _incidents(args, st, workspace) -> int:
    from data.incidents.briefing import PHASE_LABELS
    from data.incidents.log import IncidentLog

    incidents = IncidentLog(workspace).incidents(drills=args.drills)
    if incidents.empty:
        print("no incidents in the workspace" + ("" if args.drills else " (drills are listed with --drills)"))
    for r in incidents.itertuples():
        print(f"{'【演练】' if r.drill else ''}{r.incident_id}  {PHASE_LABELS.get(r.phase, r.phase)}（{r.phase}）  {r.lead_name}（{r.lead_code}）  {r.title}  {r.at:%Y-%m-%d %H:%M}")
    return 0


def _briefing(args, st, workspace) -> int:
    from data.accounts.accounts import Accounts
    from data.incidents import board
    from data.incidents.briefing import FORMATS, briefing
    from data.incidents.log import IncidentError, IncidentLog
    from data.schema import now_beijing

    out = Path(args.out)
    fmt = args.format or out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        print(f"`--out` {out.name!r} gives format {fmt!r}; expected one of {FORMATS} (or pass --format).", file=sys.stderr)
        return 2
    incidents = IncidentLog(workspace)
    try:
        rows = incidents.rows(args.incident_id)
    except IncidentError as exc:
        print(f"事件不存在 / {exc} List them with `python -m data incidents`.", file=sys.stderr)
        return 2
    now = now_beijing()
    counties = st.jurisdictions("county", detail="display")
    names = dict(zip(counties["code"], counties["name"], strict=True))
    signers = {a.username: f"{a.display_name}（{names.get(a.jurisdiction) or a.jurisdiction}）" for a in Accounts(workspace).accounts()}
    data = briefing(board.build(rows, now=now), counties, fmt=fmt, names=names, generated_at=now, signers=signers)
    try:
        out.write_bytes(data)
    except OSError as exc:
        print(f"简报写入失败 / cannot write {out}: {exc}", file=sys.stderr)
        return 2
    print(f"briefing of {args.incident_id} written to {out} ({len(data) / 1024:,.0f} KiB)")
    return 0


def _password(args, *, twice: bool = True) -> str | None:
    """A password: the first line of `--password-file`, else typed (a new account's `twice`: None when the two differ)."""
    if args.password_file:
        lines = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        return lines[0] if lines else ""
    first = getpass.getpass("密码 / password: ")
    if twice and getpass.getpass("再次输入 / again: ") != first:
        return None
    return first


def _accounts(args, st, workspace) -> int:
    from data.accounts.accounts import Accounts, AuthError

    accounts = Accounts(workspace, jurisdictions=set(st.jurisdictions()["code"]))
    if args.accounts_command == "list":
        items = accounts.accounts()
        if not items:
            print("no accounts in the workspace")
        for a in items:
            state = "disabled" if a.disabled else "must change password" if a.must_change_password else "active"
            print(f"{a.username}  {a.display_name}  {a.department}  {a.jurisdiction}  {','.join(a.roles)}  {state}  last sign-in {a.last_sign_in or '—'}")
        return 0
    try:
        password = _password(args)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"`--password-file` {args.password_file!r} cannot be read: {exc}", file=sys.stderr)
        return 2
    if password is None:
        print("两次输入的密码不一致 / the two passwords differ; nothing was created.", file=sys.stderr)
        return 2
    try:
        account = accounts.bootstrap(username=args.username, display_name=args.display_name or args.username, department=args.department,
                                     jurisdiction=args.jurisdiction, roles=args.role, password=password, by=f"cli:{getpass.getuser()}",
                                     must_change=args.must_change)  # fmt: skip
    except AuthError as exc:
        print(f"账户未创建 / account not created: {exc}", file=sys.stderr)
        return 2
    print(f"account {account.username} created ({','.join(account.roles)}, {account.department}, {account.jurisdiction})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
