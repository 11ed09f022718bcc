-- One vote in one round trip. A vote is the hottest path (every button click), and on PGlite
-- each statement costs a round trip through WASM; doing the whole vote in one function call
-- is what meets the 500 votes/s target. The rules are those of src/core/votes.ts, which calls
-- this and documents them:
--   - lock the explanation row first, so votes on one item are counted one after another and
--     close it exactly once, even from several bot processes;
--   - an identical second vote changes nothing (even on a closed item);
--   - a closed item refuses any other vote;
--   - every write appends to vote_history;
--   - the item closes when faithful + confabulated reaches p_votes_to_close.
-- Each statement in PL/pgSQL takes a fresh snapshot under READ COMMITTED, so the vote lookup
-- after the lock sees a vote committed by a concurrent click of the same reviewer.
CREATE OR REPLACE FUNCTION confab_cast_vote(
  p_explanation integer,
  p_workspace integer,
  p_reviewer integer,
  p_label text,
  p_note text,
  p_set_note boolean,
  p_marked jsonb,
  p_set_marked boolean,
  p_votes_to_close integer
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  item explanations%ROWTYPE;
  existing votes%ROWTYPE;
  had_vote boolean;
  new_note text;
  new_marked jsonb;
  new_vote_id integer;
  f integer;
  c integer;
  u integer;
  closes boolean;
BEGIN
  SELECT * INTO item FROM explanations WHERE id = p_explanation FOR UPDATE;
  IF NOT FOUND OR item.workspace_id <> p_workspace THEN
    RETURN jsonb_build_object('outcome', 'not_found');
  END IF;

  SELECT * INTO existing FROM votes WHERE explanation_id = p_explanation AND reviewer_id = p_reviewer;
  had_vote := FOUND;
  IF had_vote AND existing.label = p_label
     AND (NOT p_set_note OR existing.note IS NOT DISTINCT FROM p_note)
     AND (NOT p_set_marked OR existing.marked_claims = p_marked) THEN
    RETURN jsonb_build_object(
      'outcome', 'unchanged', 'state', item.state, 'closed_now', false,
      'faithful', item.faithful_votes, 'confabulated', item.confabulated_votes, 'unsure', item.unsure_votes,
      'note', existing.note, 'marked_claims', existing.marked_claims);
  END IF;

  IF item.state = 'closed' THEN
    RETURN jsonb_build_object('outcome', 'closed', 'closed_reason', item.closed_reason);
  END IF;

  new_note := CASE WHEN p_set_note THEN p_note WHEN had_vote THEN existing.note ELSE NULL END;
  new_marked := CASE WHEN p_set_marked THEN p_marked WHEN had_vote THEN existing.marked_claims ELSE '[]'::jsonb END;
  IF had_vote THEN
    UPDATE votes SET label = p_label, note = new_note, marked_claims = new_marked, updated_at = now()
    WHERE id = existing.id;
    new_vote_id := existing.id;
  ELSE
    INSERT INTO votes (explanation_id, reviewer_id, label, note, marked_claims)
    VALUES (p_explanation, p_reviewer, p_label, new_note, new_marked)
    RETURNING id INTO new_vote_id;
  END IF;
  INSERT INTO vote_history (vote_id, explanation_id, reviewer_id, label, previous_label, note, marked_claims)
  VALUES (new_vote_id, p_explanation, p_reviewer, p_label, CASE WHEN had_vote THEN existing.label END, new_note, new_marked);

  f := item.faithful_votes + (p_label = 'faithful')::int - (had_vote AND existing.label = 'faithful')::int;
  c := item.confabulated_votes + (p_label = 'confabulated')::int - (had_vote AND existing.label = 'confabulated')::int;
  u := item.unsure_votes + (p_label = 'unsure')::int - (had_vote AND existing.label = 'unsure')::int;
  closes := f + c >= p_votes_to_close;
  UPDATE explanations
  SET faithful_votes = f, confabulated_votes = c, unsure_votes = u, decisive_votes = f + c,
      state = CASE WHEN closes THEN 'closed' ELSE state END,
      closed_reason = CASE WHEN closes THEN 'votes' ELSE closed_reason END,
      closed_at = CASE WHEN closes THEN now() ELSE closed_at END
  WHERE id = p_explanation;

  RETURN jsonb_build_object(
    'outcome', CASE WHEN had_vote THEN 'changed' ELSE 'recorded' END,
    'previous', CASE WHEN had_vote THEN existing.label END,
    'state', CASE WHEN closes THEN 'closed' ELSE 'open' END, 'closed_now', closes,
    'faithful', f, 'confabulated', c, 'unsure', u,
    'note', new_note, 'marked_claims', new_marked);
END
$$;
