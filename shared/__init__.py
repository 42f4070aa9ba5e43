"""The service's logic, shared by every HTTP function.

pydicom reports invalid values by logging and warning with the value included; values may be
patient data, so value validation while reading is switched off here (the store validates what it
indexes itself, see ``shared.dicom.validation``) and pydicom's own log is kept to errors. The Azure
SDKs log every request and its headers at INFO; that is noise at best, so they log warnings only.
"""

import logging

from pydicom import config as _pydicom_config

_pydicom_config.settings.reading_validation_mode = _pydicom_config.IGNORE
logging.getLogger("pydicom").setLevel(logging.ERROR)
logging.getLogger("azure").setLevel(logging.WARNING)
