"""The e-mail outbox: e-mails the daemon owes (``mail_outbox``), never lost to an SMTP
server that is down for a while.

* :func:`.store.queue` adds an e-mail in the caller's session: it is committed with what
  it tells (the escalation that sets ``tasks.escalated_at``) or rolled back with it;
* :mod:`.rules` decides (pure) when a failed e-mail is tried again and when it is given up;
* :class:`.store.Outbox` sends the rows that are due (blocking SQL and SMTP: the daemon
  runs it on its mail thread) and records each outcome.
"""
