"""Converting whole instances to Explicit VR Little Endian keeps every pixel, whatever the file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from shared.dicom.transfer_syntaxes import EXPLICIT_VR_LITTLE_ENDIAN
from shared.errors import NotAcceptable
from shared.pixels.transcode import convert, pixel_attributes

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.mark.parametrize(
    "name",
    [
        # Its transfer syntax is JPEG Baseline (explicit VR), its data set implicit VR.
        "SC_rgb_jpeg.dcm",
        # Big endian, 8-bit RGB in OB, colour-by-plane.
        "ExplVR_BigEnd.dcm",
    ],
)
def test_converted_pixels_are_pydicoms(name: str) -> None:
    data = Path(str(get_testdata_file(name))).read_bytes()
    converted = dcmread(io.BytesIO(convert(data, EXPLICIT_VR_LITTLE_ENDIAN)))
    assert converted.file_meta.TransferSyntaxUID == EXPLICIT_VR_LITTLE_ENDIAN
    assert np.array_equal(converted.pixel_array, dcmread(io.BytesIO(data)).pixel_array)


@pytest.mark.parametrize("value", ["x", "1e999", {}])
def test_malformed_pixel_attributes_are_not_acceptable(value: object) -> None:
    with pytest.raises(NotAcceptable):
        pixel_attributes({"00280010": {"vr": "US", "Value": [value]}})
