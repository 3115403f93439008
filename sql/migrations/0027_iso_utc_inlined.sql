-- iso_utc was declared IMMUTABLE over to_char, which is STABLE: PostgreSQL never inlines a SQL
-- function whose body is less stable than its label, so every call site of every statement ran
-- it as a function of its own, its body read and planned again per statement (the claims, lists
-- and pages all format their times with it). STABLE is what it is, and inlined it costs nothing.
ALTER FUNCTION iso_utc(timestamptz) STABLE;
