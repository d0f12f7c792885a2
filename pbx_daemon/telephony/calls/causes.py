"""Q.850 hangup causes, as Asterisk reports them (``ChannelDestroyed.cause``) and as we
send them (``DELETE /channels/<id>?reason_code=``).

A phone that rejects a call gives 21, a busy one 17; a phone that rang out gives 19 (or
18 when it never even sent 180 Ringing); 16 is an ordinary hang-up.
"""

NORMAL = 16
BUSY = 17
NO_USER_RESPONSE = 18
NO_ANSWER = 19
REJECTED = 21
