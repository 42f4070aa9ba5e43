"""Fuzzing the whole HTTP surface through the local host: mutated DICOM files and malformed
requests of every kind, none of which may get a 5xx. ``test_http_surface`` runs a bounded number
of examples in ``make test``; ``python -m tests.fuzz`` (``make fuzz``) a long run with counts."""
