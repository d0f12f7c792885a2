"""pbx-crm: the daemon and the domain it shares with the admin."""
