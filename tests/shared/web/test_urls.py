from shared.web.urls import base_url, instance_url


def test_configuration_wins() -> None:
    headers = {"x-forwarded-host": "proxy.example", "host": "evil.example"}
    assert base_url("https://dicom.example/", headers, "http", ("127.0.0.1", 7071)) == (
        "https://dicom.example"
    )


def test_forwarded_headers_before_socket_address() -> None:
    assert (
        base_url(None, {"forwarded": 'for=1.2.3.4;proto=https;host="a.example"'}, "http", None)
        == "https://a.example"
    )
    assert (
        base_url(
            None, {"x-forwarded-host": "b.example:8443", "x-forwarded-proto": "https"}, "http", None
        )
        == "https://b.example:8443"
    )


def test_bare_host_header_is_ignored() -> None:
    headers = {"host": "127.0.0.1"}
    assert base_url(None, headers, "http", ("127.0.0.1", 7071)) == "http://127.0.0.1:7071"
    assert base_url(None, headers, "https", ("::1", 443)) == "https://[::1]"


def test_uids_are_path_segments() -> None:
    assert instance_url("http://h/v2", "1.2", "3.4", "5.6") == (
        "http://h/v2/studies/1.2/series/3.4/instances/5.6"
    )
