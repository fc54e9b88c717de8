-- engram 0007 down: no items (SQLite). The items are lost.
DROP TABLE items;
