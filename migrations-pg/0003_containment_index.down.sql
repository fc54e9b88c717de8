-- engram 0003 down (PostgreSQL): nothing to remove.
SELECT 1;
