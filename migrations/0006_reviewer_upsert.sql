-- A reviewer's row by platform id, created on first sight, its display name kept current; one
-- round trip, safe when one new reviewer's first clicks arrive at once through several
-- connections. INSERT ... ON CONFLICT (platform, user_id) arbitrates only that index: the
-- concurrent insert also meets reviewers_pseudonym (the pseudonym is derived from the same
-- platform id), which it does not arbitrate, so the second insert failed with a unique
-- violation. ON CONFLICT DO NOTHING without a target arbitrates every unique index; it waits
-- for the other insert to commit, and the next statement (a fresh snapshot under READ
-- COMMITTED) reads the row it made.
CREATE OR REPLACE FUNCTION confab_upsert_reviewer(
  p_platform text,
  p_user_id text,
  p_display_name text,
  p_pseudonym text
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  found_id integer;
  found_name text;
BEGIN
  FOR attempt IN 1..3 LOOP
    SELECT id, display_name INTO found_id, found_name FROM reviewers WHERE platform = p_platform AND user_id = p_user_id;
    IF FOUND THEN
      IF found_name IS DISTINCT FROM p_display_name THEN
        UPDATE reviewers SET display_name = p_display_name WHERE id = found_id;
      END IF;
      RETURN found_id;
    END IF;
    INSERT INTO reviewers (platform, user_id, display_name, pseudonym)
    VALUES (p_platform, p_user_id, p_display_name, p_pseudonym)
    ON CONFLICT DO NOTHING
    RETURNING id INTO found_id;
    IF FOUND THEN
      RETURN found_id;
    END IF;
  END LOOP;
  -- Only a pseudonym taken by another platform id gets here (an HMAC collision, or rows
  -- written under another install secret).
  RAISE EXCEPTION 'reviewer %:% has pseudonym %, which another reviewer already has', p_platform, p_user_id, p_pseudonym
    USING ERRCODE = 'unique_violation';
END
$$;
