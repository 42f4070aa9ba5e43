"""DICOM data: Part 10 parsing, the JSON model, validation, the forms that search compares."""
