#!/usr/bin/env python3
"""The closing line of scripts/test, read from the TRX results: the counts, then every failed test by name and every
error of the run itself (a class or collection cleanup that failed counts as a failure of the run but is no test)."""
import sys
import xml.etree.ElementTree as ET

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}


def main(path: str, exit_code: int) -> int:
    root = ET.parse(path).getroot()
    counters = root.find("t:ResultSummary/t:Counters", NS)
    passed = int(counters.get("passed", "0")) if counters is not None else 0
    failed_count = int(counters.get("failed", "0")) if counters is not None else 0
    skipped = int(counters.get("notExecuted", "0")) if counters is not None else 0
    failures = {}
    for r in root.iterfind(".//t:UnitTestResult", NS):
        if r.get("outcome") in ("Failed", "Error", "Timeout", "Aborted"):
            failures.setdefault(r.get("testName", "?"), r)
    failed = sorted(failures)
    errors = []
    for info in root.iterfind("t:ResultSummary/t:RunInfos/t:RunInfo", NS):
        if info.get("outcome") in ("Error", "Failed"):
            text = (info.findtext("t:Text", default="", namespaces=NS) or "").strip()
            first = text.splitlines()[0] if text else "(no text)"
            if first.endswith("[FAIL]"):
                continue  # a failed test, already named from its result
            # "[xUnit.net 00:01:24.16]     [Test Class Cleanup Failure (X)] Npgsql.PostgresException": keep from the bracket on
            marker = first.find("] ")
            errors.append(first[marker + 2:].strip() if first.startswith("[xUnit.net") and marker >= 0 else first)
    # CI shows only the end of the output: each failure comes with its message and where it was thrown.
    for name in failed:
        print(f"FAILED: {name}")
        for line in why(failures[name]):
            print(f"    {line}")
    for error in errors:
        print(f"RUN ERROR: {error}")
    line = f"{passed} passed, {max(failed_count, len(failed))} failed, {skipped} skipped"
    if failed:
        line += "; failed: " + ", ".join(failed)
    if errors:
        line += "; run errors: " + "; ".join(errors)
    if exit_code != 0 and not failed and not errors:
        line += f"; dotnet test exited with code {exit_code} (see the log above)"
    print(line)
    if passed == 0 and exit_code == 0:
        print("test: no test ran", file=sys.stderr)
        return 1
    return 1 if (failed or errors) and exit_code == 0 else exit_code


def why(result, message_lines: int = 12, stack_lines: int = 6) -> list:
    """The first lines of a failed test's message and of its stack trace."""
    info = result.find("t:Output/t:ErrorInfo", NS)
    if info is None:
        return []
    message = (info.findtext("t:Message", default="", namespaces=NS) or "").strip().splitlines()
    stack = [l.strip() for l in (info.findtext("t:StackTrace", default="", namespaces=NS) or "").strip().splitlines()]
    lines = message[:message_lines] + (["..."] if len(message) > message_lines else [])
    return lines + stack[:stack_lines]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
