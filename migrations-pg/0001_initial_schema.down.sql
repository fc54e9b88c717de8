-- engram 0001 down: drops everything 0001 created (PostgreSQL).
DROP TABLE memory_clusters;
DROP TABLE memories;
