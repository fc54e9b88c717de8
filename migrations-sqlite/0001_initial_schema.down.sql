-- engram 0001 down: drops everything 0001 created (SQLite).
DROP TABLE memory_clusters;
DROP TABLE memories;
