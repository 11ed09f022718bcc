-- Issue 5's item lifecycle in the vote transaction: an item closes at p_votes_to_close decisive
-- votes only when the posterior of its leading label clears p_posterior_threshold; a contested
-- item stays open for more votes until p_max_votes, then closes anyway. Every close is appended
-- to explanation_state_changes. The rules and the posterior are those of closeDecision and
-- leadPosterior in src/core/labels/queue-priority.ts (tests/db/close-policy.test.ts checks the
-- two agree); they run here so a vote stays one round trip and closes an item exactly once.

-- P(share of the leading label > 1/2 | votes) under a uniform Beta(1, 1) prior:
-- P(Binomial(n, 1/2) <= a - 1) with a = lead + 1, b = trail + 1, n = a + b - 1, summed in log
-- space so large counts neither overflow nor underflow. A tie is 0.5.
CREATE OR REPLACE FUNCTION confab_lead_posterior(p_faithful integer, p_confabulated integer)
RETURNS double precision
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  a integer := greatest(p_faithful, p_confabulated) + 1;
  b integer := least(p_faithful, p_confabulated) + 1;
  n integer := a + b - 1;
  log_c double precision := 0;
  log_half_n double precision := -n * ln(2);
  total double precision := 0;
BEGIN
  IF p_faithful = p_confabulated THEN
    RETURN 0.5;
  END IF;
  FOR k IN 0..(a - 1) LOOP
    IF k > 0 THEN
      log_c := log_c + ln(n - k + 1) - ln(k);
    END IF;
    total := total + exp(log_c + log_half_n);
  END LOOP;
  RETURN total;
END
$$;
--> statement-breakpoint
DROP FUNCTION IF EXISTS confab_cast_vote(integer, integer, integer, text, text, boolean, jsonb, boolean, integer);
--> statement-breakpoint
CREATE OR REPLACE FUNCTION confab_cast_vote(
  p_explanation integer,
  p_workspace integer,
  p_reviewer integer,
  p_label text,
  p_note text,
  p_set_note boolean,
  p_marked jsonb,
  p_set_marked boolean,
  p_votes_to_close integer,
  p_posterior_threshold double precision,
  p_max_votes integer
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
  posterior double precision;
  close_reason text := NULL;
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
      'note', existing.note, 'marked_claims', existing.marked_claims,
      'posterior', confab_lead_posterior(item.faithful_votes, item.confabulated_votes));
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
  posterior := confab_lead_posterior(f, c);
  IF f + c >= p_votes_to_close THEN
    IF posterior >= p_posterior_threshold AND f <> c THEN
      close_reason := 'votes';
    ELSIF f + c >= p_max_votes THEN
      close_reason := 'max_votes';
    END IF;
  END IF;
  UPDATE explanations
  SET faithful_votes = f, confabulated_votes = c, unsure_votes = u, decisive_votes = f + c,
      state = CASE WHEN close_reason IS NOT NULL THEN 'closed' ELSE state END,
      closed_reason = coalesce(close_reason, closed_reason),
      closed_at = CASE WHEN close_reason IS NOT NULL THEN now() ELSE closed_at END
  WHERE id = p_explanation;
  IF close_reason IS NOT NULL THEN
    INSERT INTO explanation_state_changes (explanation_id, state, reason, faithful_votes, confabulated_votes)
    VALUES (p_explanation, 'closed', close_reason, f, c);
  END IF;

  RETURN jsonb_build_object(
    'outcome', CASE WHEN had_vote THEN 'changed' ELSE 'recorded' END,
    'previous', CASE WHEN had_vote THEN existing.label END,
    'state', CASE WHEN close_reason IS NOT NULL THEN 'closed' ELSE 'open' END,
    'closed_now', close_reason IS NOT NULL,
    'closed_reason', close_reason,
    'faithful', f, 'confabulated', c, 'unsure', u,
    'note', new_note, 'marked_claims', new_marked,
    'posterior', posterior);
END
$$;
