"""The desk: the web console of the legal brigade, the rights office and supervisors."""
