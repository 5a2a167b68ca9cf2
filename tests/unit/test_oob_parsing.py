"""The pure parts of the OOB probes: judging an HTTP reply as AMT, Digest authentication, the WS-Man power
state, RMCP ping/pong, and SMBIOS records, on bytes shaped after the real samples."""

from __future__ import annotations

import pytest

from collectors.oob import http, rmcp
from collectors.oob.local import SmbiosParseError, firmware_version, parse_smbios_oob
from tests.oob_fixtures import AMT_401_BODY, AMT_REALM, DMIDECODE, amt_pong_oem, power_reply

AMT_401 = (b"HTTP/1.1 401 Unauthorized\r\n"
           b'WWW-Authenticate: Digest realm="Digest:727734D63A1FC0423736E48DA554E462", '
           b'nonce="B9AX94iAAAAAAAAAx6rrSfPHGUrx/3uA",stale="false",qop="auth"\r\n'
           b"Content-Type: text/html\r\nServer: Intel(R) Active Management Technology 15.0.23.1706\r\n"
           b"Content-Length: 693\r\nConnection: close\r\n\r\n")


def response(raw: bytes, body: bytes = b"") -> http.HttpResponse:
    split = http.split_head(raw)
    assert split is not None
    status, headers = http.parse_head(split[0])
    return http.HttpResponse(status, headers, body)


def test_the_real_amt_401_is_amt_with_its_version_and_realm() -> None:
    verdict = http.judge_wsman(response(AMT_401, AMT_401_BODY))
    assert verdict.amt
    assert verdict.version == "15.0.23.1706"
    assert verdict.realm == AMT_REALM


def test_a_banner_without_the_digest_realm_is_not_amt() -> None:
    # Realtek DASH firmware hard-codes the AMT banner in its SOAP replies.
    dash = (b"HTTP/1.1 200 OK\r\nServer: Intel(R) Active Management Technology 3.0.5\r\n"
            b"Content-Type: application/soap+xml\r\n\r\n")
    verdict = http.judge_wsman(response(dash))
    assert not verdict.amt
    assert verdict.version == "3.0.5"
    assert "banner alone is not proof" in verdict.detail


def test_a_digest_realm_that_is_not_amts_is_not_amt() -> None:
    other = AMT_401.replace(b"Digest:727734D63A1FC0423736E48DA554E462", b"camera")
    assert not http.judge_wsman(response(other)).amt


def test_a_realm_without_the_amt_banner_is_not_amt() -> None:
    no_banner = AMT_401.replace(b"Server: Intel(R) Active Management Technology 15.0.23.1706", b"Server: lighttpd")
    verdict = http.judge_wsman(response(no_banner))
    assert not verdict.amt
    assert "lighttpd" in verdict.detail


def test_the_amt_7_banner_of_a_303_gives_a_three_part_version() -> None:
    raw = (b"HTTP/1.1 303 See Other\r\nLocation: /logon.htm\r\nContent-Length: 0\r\n"
           b"Server: Intel(R) Active Management Technology 7.1.91\r\n\r\n")
    assert http.amt_version(response(raw)) == "7.1.91"


def test_garbage_is_not_an_http_response() -> None:
    with pytest.raises(http.HttpParseError):
        http.parse_head(b"SSH-2.0-OpenSSH_9.2p1 Debian-2")


def test_digest_response_matches_rfc_2617s_worked_example() -> None:
    challenge = http.Challenge(realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                               qop=("auth", "auth-int"), opaque="5ccc069c403ebaf9f0171e9517f40e41")
    header = http.digest_authorization(challenge, "Mufasa", "Circle Of Life", "GET", "/dir/index.html",
                                       cnonce="0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert "nc=00000001" in header and "qop=auth" in header
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header
    assert "Circle Of Life" not in header


def test_the_amt_challenge_is_parsed_with_its_qop() -> None:
    challenge = http.digest_challenge(response(AMT_401))
    assert challenge is not None
    assert (challenge.realm, challenge.nonce, challenge.qop) == (
        AMT_REALM, "B9AX94iAAAAAAAAAx6rrSfPHGUrx/3uA", ("auth",))


def test_power_state_is_read_from_the_ws_man_reply_and_absurd_values_are_unknown() -> None:
    assert http.power_state(power_reply(8)) == 8
    assert http.power_state(power_reply(99)) is None
    assert http.power_state(b"<Envelope/>") is None


def test_chunked_bodies_decode_and_say_whether_they_are_complete() -> None:
    assert http.dechunk(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n") == (b"hello world", True)
    assert http.dechunk(b"5\r\nhel") == (b"hel", False)
    with pytest.raises(http.HttpParseError):
        http.dechunk(b"zz\r\n")


def test_an_amt_pong_gives_version_and_provisioning_state() -> None:
    pong = rmcp.parse_pong(rmcp.pong(7, enterprise=343, entities=0x81, interactions=0x20,
                                     oem=amt_pong_oem(11, 6, 2, 16993)), 7)
    assert pong is not None
    assert (pong.product, pong.amt_version, pong.provisioning, pong.amt_port) == ("Intel AMT", "11.6", "post", 16993)


def test_a_bmc_pong_is_ipmi_and_a_pong_for_another_tag_or_an_ack_is_ignored() -> None:
    bmc = rmcp.pong(9, enterprise=674, entities=0x81, interactions=0)
    parsed = rmcp.parse_pong(bmc, 9)
    assert parsed is not None and parsed.product == "IPMI" and parsed.provisioning == ""
    assert rmcp.parse_pong(bmc, 10) is None
    assert rmcp.parse_pong(bytes([0x06, 0x00, 0xFF, 0x86]), 9) is None
    assert rmcp.parse_pong(bmc[:20], 9) is None


def test_the_ping_is_what_a_responder_recognises() -> None:
    assert rmcp.ping_tag(rmcp.ping(42)) == 42
    assert rmcp.ping(0)[:4] == bytes([0x06, 0x00, 0xFF, 0x06])
    with pytest.raises(ValueError):
        rmcp.ping(255)


def test_smbios_amt_record_with_flags_set_is_amt_and_all_zero_is_not() -> None:
    vpro = parse_smbios_oob(DMIDECODE["elitedesk-800-g3"])
    assert vpro.amt_enabled and vpro.amt_flags == (bytes([1, 1, 1, 1, 1]),)
    zero = parse_smbios_oob(DMIDECODE["nuc7-zero-record"])
    assert zero.amt_flags and not zero.amt_enabled
    assert parse_smbios_oob(DMIDECODE["nuc11-i5"]).amt_flags == ()


def test_smbios_type_38_names_the_bmc_interface() -> None:
    assert parse_smbios_oob(DMIDECODE["poweredge"]).ipmi_interfaces == ("KCS (Keyboard Control Style)",)


def test_text_that_is_not_dmidecode_output_is_refused() -> None:
    with pytest.raises(SmbiosParseError):
        parse_smbios_oob("/dev/mem: Permission denied\n")


def test_mei_firmware_version_takes_the_first_block() -> None:
    assert firmware_version("0:11.6.12.3202\n0:11.6.12.3202\n") == "11.6.12.3202"
    assert firmware_version("garbage") == ""
    assert firmware_version(None) == ""
