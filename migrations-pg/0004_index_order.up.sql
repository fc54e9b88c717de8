-- engram 0004: the containment index keeps each memory's timestamps beside its ref.
-- On SQLite this lets a page of a selective filter sort its candidates without reading
-- their rows. PostgreSQL's GIN indexes need nothing of the kind; the migration exists so
-- that both dialects have the same versions.
SELECT 1;
