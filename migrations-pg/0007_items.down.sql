-- engram 0007 down: no items (PostgreSQL). The items are lost.
DROP TABLE items;
