-- engram 0004 down (PostgreSQL): nothing to remove.
SELECT 1;
