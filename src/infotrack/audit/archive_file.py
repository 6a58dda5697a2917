"""The archive file: a zip of ``rows.jsonl``, ``erasures.jsonl`` and ``manifest.json``.

``rows.jsonl`` holds one JSON object per trail row (every column of ``informationtra``, our
times as ``YYYY-MM-DD HH:MM:SS``, everything else as stored), in id order. ``erasures.jsonl``
holds the erasure-ledger entries (documents and their MACs) of the archived rows whose
personal data was erased, so the file checks on its own. ``manifest.json`` says what the file
holds (row count, id range, per chain ``[first_seq, first_prev, last_seq, last_hash]``, the
SHA-256 of both other members) and carries a MAC under the audit key over all of it.

Checking a file needs only the file and the key: :func:`verify_archive`.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from infotrack.audit.archive_rows import (
    MAX_LISTED,
    ChainSpan,
    RowChecker,
    RowProblem,
)
from infotrack.audit.chain import CHAIN_COLUMNS, PERSONAL_COLUMNS, PLAIN_COLUMNS, AuditKey
from infotrack.audit.ledger import (
    ErasureLedger,
    archive_document,
    erased_row_document,
    erasure_document,
)

FORMAT = "infotrack-archive/1"
MANIFEST = "manifest.json"
ROWS = "rows.jsonl"
ERASURES = "erasures.jsonl"
# Columns every archived row must have for its chain to be checked.
REQUIRED_COLUMNS = ("id", *CHAIN_COLUMNS, *PLAIN_COLUMNS, *PERSONAL_COLUMNS)

_line = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class ArchiveWriter:
    """Writes one archive file: rows first (streamed), then erasure entries and the manifest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] = path.open("xb")  # never overwrite anything
        self._zip = zipfile.ZipFile(self._file, "w", compression=zipfile.ZIP_DEFLATED)
        self._rows: IO[bytes] = self._zip.open(ROWS, "w", force_zip64=True)
        self._rows_sha = hashlib.sha256()

    def add_row(self, row: Mapping[str, Any]) -> None:
        """Append one row (its values as :func:`~infotrack.audit.archive_rows.jsonable` gives)."""
        data = _line(row).encode() + b"\n"
        self._rows.write(data)
        self._rows_sha.update(data)

    def finish(
        self, erasures: list[dict[str, Any]], manifest: dict[str, Any], key: AuditKey
    ) -> dict[str, Any]:
        """Write the erasure entries and the manifest (hashes and MAC added), then close the
        file and force it to disk; the manifest as written."""
        self._rows.close()
        data = b"".join(_line(entry).encode() + b"\n" for entry in erasures)
        self._zip.writestr(ERASURES, data)
        manifest = dict(manifest)
        manifest["rows_sha256"] = self._rows_sha.hexdigest()
        manifest["erasures_sha256"] = hashlib.sha256(data).hexdigest()
        manifest["format"] = FORMAT
        manifest["key_id"] = key.key_id
        manifest.pop("mac", None)
        manifest["mac"] = key.mac(archive_document(manifest))
        text = json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2)
        self._zip.writestr(MANIFEST, text.encode())
        self._zip.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return manifest

    def discard(self) -> None:
        """Close and remove the file (a failed archive leaves nothing behind)."""
        for closing in (self._rows.close, self._zip.close, self._file.close):
            try:
                closing()
            except Exception:  # already broken: removing the file is what matters
                pass
        self.path.unlink(missing_ok=True)


def erasure_entries(erasures: list[Any], erased_rows: list[Any]) -> list[dict[str, Any]]:
    """The ledger entries an archive carries, as ``{"document", "mac"}`` lines: each erasure
    followed by its entries for archived rows, in ledger order."""
    by_erasure: dict[int, list[Any]] = {}
    for r in erased_rows:
        by_erasure.setdefault(r.erasure_id, []).append(r)
    entries: list[dict[str, Any]] = []
    for e in sorted(erasures, key=lambda e: e.id):
        document = erasure_document(
            e.id, e.erased_at, e.operator, e.subject, e.reason, e.row_count, e.key_id
        )
        entries.append({"document": document, "mac": e.mac})
        for r in sorted(by_erasure.get(e.id, []), key=lambda r: r.id):
            document = erased_row_document(r.erasure_id, r.row_id, r.before, r.after)
            entries.append({"entry_id": r.id, "document": document, "mac": r.mac})
    return entries


def replay_erasures(
    entries: list[Any], key: AuditKey, problem: Callable[[str], None]
) -> ErasureLedger:
    """The erased rows' commitments from an archive's entries, each MAC checked (as
    :func:`infotrack.audit.ledger.load_erasures` does with the database's ledger)."""
    state = ErasureLedger()
    valid: set[int] = set()
    for number, entry in enumerate(entries, 1):
        document = entry.get("document") if isinstance(entry, dict) else None
        if not isinstance(document, dict) or not key.check_mac(document, entry.get("mac")):
            problem(f"{ERASURES} 第 {number} 行:MAC 不符")
            continue
        if document.get("kind") == "erasure":
            valid.add(document["id"])
            continue
        if document.get("kind") != "erased_row" or document.get("erasure_id") not in valid:
            problem(f"{ERASURES} 第 {number} 行:不属于本文件中任何有效的删除记录")
            continue
        row_id = document["row_id"]
        if not state.record(row_id, document["before"], document["after"]):
            problem(f"{ERASURES} 第 {number} 行:行 {row_id} 的多次删除记录前后不衔接")
    return state


@dataclass
class ArchiveReport:
    """What checking an archive file found."""

    path: Path
    manifest: dict[str, Any] | None = None
    file_sha256: str | None = None
    rows: int = 0
    unchained: int = 0
    erased: int = 0
    min_id: int | None = None
    max_id: int | None = None
    chains: dict[int, ChainSpan] = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return self.problem_count == 0

    def add(self, detail: str, row_id: int | None = None) -> None:
        """Count a problem; list it while there is room."""
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(RowProblem(detail, row_id))


class ArchiveUnreadable(Exception):
    """The file is not an archive we can open (the message says why, in Chinese)."""


def open_archive(path: Path) -> zipfile.ZipFile:
    """The archive's zip, or :class:`ArchiveUnreadable`."""
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ArchiveUnreadable(f"文件不存在:{path}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveUnreadable(f"无法作为归档文件打开 {path}:{exc}") from None


def read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    """The manifest, or :class:`ArchiveUnreadable`."""
    try:
        manifest = json.loads(archive.read(MANIFEST))
    except KeyError:
        raise ArchiveUnreadable(f"归档文件中没有 {MANIFEST}") from None
    except (ValueError, zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise ArchiveUnreadable(f"{MANIFEST} 无法读取:{exc}") from None
    if not isinstance(manifest, dict):
        raise ArchiveUnreadable(f"{MANIFEST} 不是 JSON 对象")
    return manifest


def iter_lines(archive: zipfile.ZipFile, name: str, digest: Any = None) -> Iterator[bytes]:
    """The lines of one member (``digest``, a hashlib object, sees every byte)."""
    with archive.open(name) as member:
        for line in member:
            if digest is not None:
                digest.update(line)
            yield line


def verify_archive(
    path: Path, key: AuditKey, on_row: Callable[[dict[str, Any]], None] | None = None
) -> ArchiveReport:
    """Check everything the file and the key can tell: the manifest's MAC, both members'
    SHA-256, every row's hash and every link, the counts and the id range."""
    report = ArchiveReport(path)
    try:
        report.file_sha256 = _file_sha256(path)
        with open_archive(path) as archive:
            manifest = read_manifest(archive)
            report.manifest = manifest
            _check_manifest(report, manifest, key)
            erasure_list = _read_erasures(report, archive, manifest)
            erasures = replay_erasures(erasure_list, key, report.add)
            checker = RowChecker(key, erasures)
            _check_rows(report, archive, manifest, checker, on_row)
    except ArchiveUnreadable as exc:
        report.add(str(exc))
        return report
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        report.add(f"归档文件已损坏:{exc}")
        return report
    _check_chains(report, manifest, checker, key)
    _check_counts(report, manifest, checker)
    return report


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except FileNotFoundError:
        raise ArchiveUnreadable(f"文件不存在:{path}") from None
    return digest.hexdigest()


def _check_manifest(report: ArchiveReport, manifest: dict[str, Any], key: AuditKey) -> None:
    if manifest.get("format") != FORMAT:
        report.add(f"不认识的归档格式 {manifest.get('format')!r}(应为 {FORMAT})")
    if manifest.get("key_id") != key.key_id:
        report.add(
            f"归档由另一个审计密钥签署(key_id {manifest.get('key_id')},当前密钥 {key.key_id}),"
            "本密钥无法校验"
        )
    elif not key.check_mac(archive_document(manifest), manifest.get("mac")):
        report.add("清单(manifest.json)的 MAC 不符:清单被改动过,或不是用本密钥生成的")


def _read_erasures(
    report: ArchiveReport, archive: zipfile.ZipFile, manifest: dict[str, Any]
) -> list[Any]:
    digest = hashlib.sha256()
    entries: list[Any] = []
    try:
        for number, line in enumerate(iter_lines(archive, ERASURES, digest), 1):
            try:
                entries.append(json.loads(line))
            except ValueError:
                report.add(f"{ERASURES} 第 {number} 行不是合法的 JSON")
    except KeyError:
        report.add(f"归档文件中没有 {ERASURES}")
        return []
    if digest.hexdigest() != manifest.get("erasures_sha256"):
        report.add(f"{ERASURES} 的 SHA-256 与清单不符:内容被改动过")
    return entries


def _check_rows(
    report: ArchiveReport,
    archive: zipfile.ZipFile,
    manifest: dict[str, Any],
    checker: RowChecker,
    on_row: Callable[[dict[str, Any]], None] | None,
) -> None:
    before = manifest.get("before")
    digest = hashlib.sha256()
    last_id: int | None = None
    try:
        lines = iter_lines(archive, ROWS, digest)
        for number, line in enumerate(lines, 1):
            row = _parse_row(report, number, line)
            if row is None:
                continue
            row_id = row["id"]
            if last_id is not None and row_id <= last_id:
                report.add(f"{ROWS} 第 {number} 行:行ID {row_id} 不是递增的", row_id)
            last_id = row_id
            report.min_id = row_id if report.min_id is None else min(report.min_id, row_id)
            report.max_id = row_id if report.max_id is None else max(report.max_id, row_id)
            when = row.get("operationTime")
            if not isinstance(before, str) or not isinstance(when, str) or not when < before:
                report.add(f"行 {row_id} 的操作时间 {when} 不早于归档截止时间 {before}", row_id)
            checker.add(row)
            if on_row is not None:
                on_row(row)
    except KeyError:
        report.add(f"归档文件中没有 {ROWS}")
        return
    if digest.hexdigest() != manifest.get("rows_sha256"):
        report.add(f"{ROWS} 的 SHA-256 与清单不符:内容被改动过")


def _parse_row(report: ArchiveReport, number: int, line: bytes) -> dict[str, Any] | None:
    try:
        row = json.loads(line)
    except ValueError:
        report.add(f"{ROWS} 第 {number} 行不是合法的 JSON")
        return None
    if not isinstance(row, dict):
        report.add(f"{ROWS} 第 {number} 行不是 JSON 对象")
        return None
    missing = [name for name in REQUIRED_COLUMNS if name not in row]
    row_id = row.get("id")
    if missing or not isinstance(row_id, int) or isinstance(row_id, bool):
        report.add(f"{ROWS} 第 {number} 行缺少字段或行ID无效:{', '.join(missing) or 'id'}")
        return None
    return row


def _check_chains(
    report: ArchiveReport, manifest: dict[str, Any], checker: RowChecker, key: AuditKey
) -> None:
    listed = manifest.get("chains")
    if not isinstance(listed, dict):
        report.add("清单缺少 chains")
        listed = {}
    starts: dict[int, tuple[int, str]] = {}
    for name, entry in listed.items():
        if not (
            str(name).isdigit()
            and isinstance(entry, list)
            and len(entry) == 4
            and all(isinstance(v, int) for v in entry[0::2])
            and all(isinstance(v, str) for v in entry[1::2])
        ):
            report.add(f"清单中链 {name} 的记录格式不正确")
            continue
        chain_id, (first_seq, first_prev, _last_seq, _last_hash) = int(name), entry
        starts[chain_id] = (first_seq, first_prev)
        if first_seq == 1 and first_prev != key.genesis(chain_id):
            report.add(f"链 {chain_id} 的第一行没有接在该链的起点上")
    spans = checker.link_chains(starts.get)
    for chain_id in sorted(set(starts) - set(spans)):
        report.add(f"清单列出的链 {chain_id} 在文件中没有任何行")
    for chain_id, span in spans.items():
        entry = listed.get(str(chain_id))
        if entry is not None and entry != span.entry():
            report.add(
                f"链 {chain_id}:文件中的行为序号 {span.first_seq}–{span.last_seq},"
                f"与清单记录的 {entry[0]}–{entry[2]} 不符"
            )
    report.chains = spans
    for problem in checker.problems:
        report.add(problem.detail, problem.row_id)
    report.problem_count += checker.problem_count - len(checker.problems)


def _check_counts(report: ArchiveReport, manifest: dict[str, Any], checker: RowChecker) -> None:
    report.rows = checker.rows
    report.unchained = checker.unchained
    report.erased = checker.erased
    expected = {
        "row_count": (checker.rows, "行数"),
        "unchained_rows": (checker.unchained, "不在链上的行数"),
        "erased_rows": (checker.erased, "已删除个人信息的行数"),
        "min_id": (report.min_id, "最小行ID"),
        "max_id": (report.max_id, "最大行ID"),
    }
    for name, (found, label) in expected.items():
        if manifest.get(name) != found:
            report.add(f"{label}与清单不符:文件中为 {found},清单记录 {manifest.get(name)}")
