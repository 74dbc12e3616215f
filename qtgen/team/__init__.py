"""A team on one queue: who acts (`person`), the studio's accounts, invitations and sessions (`accounts`), who is
working on which draft and what became of it (`board`), and question lists a writer uploads (`uploads`)."""
