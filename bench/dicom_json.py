"""CPU cost of the DICOM JSON made at ingest: milliseconds of CPU per call of
``shared.dicom.dicom_json.to_dicom_json`` on heads of pydicom's test files.

Each head is parsed as the store parses it (``InstanceParser``: values over 1 KiB deferred, no
pixel data). Converting a head makes pydicom keep the elements it converted, so every call gets
a head of its own, parsed beforehand; only the calls are timed, with ``time.process_time``, so
other processes on a busy machine do not count. The figure is the median of the rounds.

    .venv/bin/python -m bench.dicom_json [--calls 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from pydicom.data import get_charset_files, get_testdata_file

from bench.common import report
from shared.dicom.dicom_json import to_dicom_json
from shared.dicom.instance_parser import InstanceParser, ParsedInstance
from shared.uid_index.sidecar import bulk_data_path

FILES = {
    "CT_small.dcm": "CT, ISO_IR 100",
    "MR_small.dcm": "MR, no character set",
    "eCT_Supplemental.dcm": "enhanced CT, functional group sequences",
    "waveform_ecg.dcm": "ECG, a sequence of 77 items",
    "J2K_pixelrep_mismatch.dcm": "ISO 2022 IR 13 and IR 87 (escape sequences)",
    "chrRuss.dcm": "ISO_IR 144 (Cyrillic)",
}


@dataclass
class Result:
    file: str
    what: str
    elements: int
    ms_per_call: float


def _path(name: str) -> Path:
    found = get_testdata_file(name) or next(iter(get_charset_files(name)), None)
    if found is None:
        raise FileNotFoundError(name)
    return Path(found)


def _parsed(data: bytes, stack: ExitStack) -> ParsedInstance:
    """The head as the store has it; the parser stays open, deferred values are read from it."""
    parser = stack.enter_context(InstanceParser())
    parser.feed(data)
    return parser.finish()


def _elements(json: dict[str, object]) -> int:
    count = 0
    for element in json.values():
        count += 1
        if isinstance(element, dict) and element.get("vr") == "SQ":
            for item in element.get("Value", []):
                count += _elements(item)
    return count


def _round(data: bytes, calls: int) -> float:
    """CPU milliseconds per call over `calls` heads parsed beforehand."""
    with ExitStack() as stack:
        heads = [_parsed(data, stack) for _ in range(calls)]
        started = time.process_time()
        for head in heads:
            to_dicom_json(head.dataset, bulk_data_path, head.pixel_data)
        return 1000 * (time.process_time() - started) / calls


def measure(name: str, calls: int, rounds: int) -> Result:
    data = _path(name).read_bytes()
    with ExitStack() as stack:
        head = _parsed(data, stack)
        elements = _elements(to_dicom_json(head.dataset, bulk_data_path, head.pixel_data))
    ms = statistics.median(_round(data, calls) for _ in range(rounds))
    return Result(name, FILES[name], elements, round(ms, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = [measure(name, args.calls, args.rounds) for name in FILES]
    report("dicom_json", results)


if __name__ == "__main__":
    main()
