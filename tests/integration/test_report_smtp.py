"""The daily report goes out as a real SMTP conversation (a minimal server on loopback)."""

from __future__ import annotations

from tests.unit.test_analytics import D, TZ, s  # noqa: F401 - the hand-counted day, as a fixture


def test_daily_report_by_email_to_a_local_smtp_server(s):  # noqa: F811 - the fixture above
    """Text and HTML in one message, the Lost Call Rate in the subject."""
    import socket
    import threading

    from pbx_daemon.crm.stats.report import build_daily, send_mail

    received = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve():
        conn, _ = server.accept()
        f = conn.makefile("rwb")

        def say(line):
            f.write(line.encode() + b"\r\n")
            f.flush()
        say("220 test")
        data = False
        for raw in f:
            line = raw.decode().rstrip("\r\n")
            if data:
                if line == ".":
                    data = False
                    say("250 ok")
                else:
                    received.append(line)
                continue
            verb = line.split(" ")[0].upper()
            if verb == "DATA":
                data = True
                say("354 go")
            elif verb == "QUIT":
                say("221 bye")
                break
            else:
                say("250 ok")
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    send_mail(build_daily(s, D, TZ), host="127.0.0.1", port=server.getsockname()[1], starttls=False,
              user="", password="", sender="pbx@example.ru", recipients=["owner@example.ru"], timeout=5)
    thread.join(5)
    server.close()
    body = "\n".join(received)
    assert "Subject: pbx-crm 20.11.2026: Lost Call Rate 50.0 %" in body and "text/html" in body
